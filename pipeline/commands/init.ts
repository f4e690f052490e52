/**
 * `pipeline init`: adopt the tool in a framework's repository. Reads the CMake project (its name, version and
 * the options that look like GPU, ISA and test switches) and writes a commented pipeline.yaml with variants
 * filled in, plus a dagger.json, tsconfig.json and a starter module (src/index.ts) whose functions compose
 * the building blocks, so `pipeline build`, `pipeline call` and `dagger call` work there at once.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { promises as fs } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import type { ArgumentsCamelCase, Argv } from "yargs";
import { UsageError } from "../../modules/errors.ts";

interface Args {
  source?: string;
  force: boolean;
}

export const command = "init";
export const describe =
  "Write a commented pipeline.yaml (name, version, variants from the CMake project's options), dagger.json and a starter module here";

export function builder(y: Argv): Argv<Args> {
  return y
    .option("source", { type: "string", describe: "The CMake project (default: this folder)" })
    .option("force", { type: "boolean", default: false, describe: "Overwrite files that exist" })
    .example("$0 init", "in a framework's repository: pipeline.yaml, dagger.json, tsconfig.json, src/index.ts, src/package.json")
    .example("$0 init && $0 build --no-avx --out out/noavx", "then build its no-AVX variant") as Argv<Args>;
}

/** A CMake `option(NAME "help" DEFAULT)` found in the project. */
export interface CMakeOption {
  name: string;
  help: string;
  default: "ON" | "OFF" | "";
}

export interface CMakeProject {
  name: string;
  version?: string;
  options: CMakeOption[];
}

/** The project's name, version and options, from its CMakeLists.txt files and *.cmake modules (pure over the texts). */
export function readCMake(texts: string[]): CMakeProject {
  const strip = (t: string) => t.replace(/#\[(=*)\[[\s\S]*?\]\1\]/g, "").replace(/#.*$/gm, "");
  const top = strip(texts[0] ?? "");
  const project = /\bproject\s*\(\s*([A-Za-z0-9_.+-]+)([^)]*)\)/i.exec(top);
  if (!project) throw new UsageError("CMakeLists.txt has no project(NAME ...) command; is this the top of a CMake project?");
  const version = /\bVERSION\s+([0-9][0-9A-Za-z.+~-]*)/.exec(project[2] ?? "")?.[1];
  const options = new Map<string, CMakeOption>();
  for (const text of texts.map(strip)) {
    for (const m of text.matchAll(/\boption\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s+"([^"]*)"\s*([A-Za-z0-9_${}]*)\s*\)/gi)) {
      const def = (m[3] ?? "").toUpperCase();
      if (!options.has(m[1]!))
        options.set(m[1]!, { name: m[1]!, help: m[2]!, default: def === "ON" || def === "OFF" ? def : "" });
    }
  }
  return { name: project[1]!, version, options: [...options.values()] };
}

/** ISA switches above x86-64-v3 (AVX-512 and friends, AMD's XOP, VNNI, AMX): OFF in every variant. */
const ABOVE_V3 = /AVX512|AVX_?512|VNNI|XOP|AMX|AVXNE|FP16|BF16|IFMA|VBMI/i;
/** ISA switches of x86-64-v3 (AVX, AVX2, FMA, F16C, BMI): ON in the avx variant, OFF in noavx. */
const V3 = /AVX|FMA|F16C|BMI|LZCNT|MOVBE/i;

/** Which options look like the GPU, ISA and test switches. */
export function classify(options: CMakeOption[]) {
  const isIsa = (o: CMakeOption) =>
    /(^|_)(AVX\w*|SSE\w*|FMA|F16C|BMI\d?|XOP|SIMD|AMX|VNNI)($|_)/i.test(o.name) || /\bAVX|\bSIMD\b/i.test(o.help);
  return {
    cuda: options.filter((o) => /CUDA/i.test(o.name) || /\bCUDA\b/.test(o.help)),
    otherGpu: options.filter((o) => !/CUDA/i.test(o.name) && /GPU|VULKAN|OPENCL|ROCM|HIP|METAL/i.test(o.name)),
    isa: options.filter(isIsa).filter((o) => !/RUNTIME|DISPATCH/i.test(o.name)),
    dispatch: options.filter((o) => isIsa(o) || /CPU/i.test(o.name)).filter((o) => /RUNTIME|DISPATCH/i.test(o.name)),
    test: options.find((o) => o.name === "BUILD_TESTING") ?? options.find((o) => /TEST/i.test(o.name) && !/BENCH/i.test(o.name)),
  };
}

const yamlList = (words: string[]) => `[${words.join(", ")}]`;

/** The commented pipeline.yaml for a CMake project (pure). */
export function configText(p: CMakeProject, source = "."): string {
  const c = classify(p.options);
  const name =
    p.name
      .toLowerCase()
      .replace(/[^a-z0-9.+-]+/g, "-")
      .replace(/^[^a-z0-9]+/, "") || "project";
  const cpuArgs = [...c.cuda, ...c.otherGpu].map((o) => `-D${o.name}=OFF`);
  const dispatchOff = c.dispatch.map((o) => `-D${o.name}=OFF`);
  const avxArgs = [
    ...dispatchOff,
    ...c.isa.map(
      (o) => `-D${o.name}=${ABOVE_V3.test(o.name) ? "OFF" : V3.test(o.name) || /SSE|SIMD/i.test(o.name) ? "ON" : "OFF"}`,
    ),
  ];
  const noavxArgs = [
    ...dispatchOff,
    ...c.isa.map((o) => `-D${o.name}=${ABOVE_V3.test(o.name) || V3.test(o.name) ? "OFF" : "ON"}`),
  ];
  const found = (os: CMakeOption[]) => (os.length ? os.map((o) => o.name).join(", ") : "none");
  const lines = [
    `# pipeline.yaml for ${p.name}, written by \`pipeline init\` from its CMake project. Every key is documented in`,
    "# the pipeline README (Usage, Variants); check the variants below against the project's own build docs.",
    `name: ${name}`,
    p.version
      ? `version: "${p.version}"           # from project(VERSION); remove it to use git describe`
      : "# version: 1.0.0               # none in project(): git describe decides (else 0.0.0)",
    `source: ${source}`,
    "",
    "cmake:",
    "  options:",
    c.test
      ? `    test: ${c.test.name}   # the option TEST=ON (\`pipeline test\`, \`build --test\`) sets`
      : "    # test: BUILD_TESTING   # no option that looks like a test switch was found",
    "  args: []                      # configure arguments common to every variant",
    "",
    "# Variants: each value carries its own CMake arguments. Options that look like switches:",
    `#   CUDA: ${found(c.cuda)}; other GPU backends: ${found(c.otherGpu)}`,
    `#   ISA: ${found(c.isa)}; runtime dispatch: ${found(c.dispatch)}`,
    "# Every build is checked against its variant's ISA floor (avx: x86-64-v3, noavx: x86-64-v2): an option",
    "# left on that needs more (AVX-512, XOP, VNNI) fails the build, naming the file.",
    "variants:",
    "  accel:",
    `    cpu: { cmake: ${yamlList(cpuArgs)} }`,
    c.cuda.length
      ? `    gpu: { cmake: ${yamlList(c.cuda.map((o) => `-D${o.name}=ON`))} }`
      : "    gpu: false                  # no CUDA option found",
    "  isa:",
    `    avx: { cmake: ${yamlList(avxArgs)} }`,
    `    noavx: { cmake: ${yamlList(noavxArgs)} }`,
    "",
    "image:",
    `  variants: ${yamlList(c.cuda.length ? ["cpu", "cpu-noavx", "gpu", "gpu-noavx"] : ["cpu", "cpu-noavx"])}`,
    "",
  ];
  return lines.join("\n");
}

/** The module's main object's class name: the module name in PascalCase, as Dagger names it. */
export function className(name: string): string {
  return (
    name
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean)
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join("") || "Project"
  );
}

/** A starter module: functions of its own that compose the building blocks; `pipeline call` and `dagger call` run them. */
export function moduleText(name: string): string {
  return `/**
 * ${name}'s own stages, next to pipeline's (build, test, package, image, ...). Each function composes lazy
 * Dagger objects: \`pipeline call FUNCTION ...\` runs it on BuildKit, \`dagger call FUNCTION ...\` on Dagger.
 */
import { type Container, func, object } from ${JSON.stringify("@dagger.io/dagger")};
import { debianBase, withAptPackages } from "pipeline/modules/apt.ts";

@object()
export class ${className(name)} {
  /**
   * A Debian container that says hello: a starting point for a stage of your own.
   *
   * @param name Who to greet
   */
  @func()
  greeting(name = "world"): Container {
    return debianBase("bookworm").withExec(["echo", \`hello \${name} from ${name}\`]);
  }

  /**
   * A container with extra Debian packages, built on pipeline's cached apt installs.
   *
   * @param packages Debian package names
   */
  @func()
  toolbox(packages: string[] = ["file"]): Container {
    return withAptPackages(debianBase("bookworm"), packages);
  }
}
`;
}

const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "experimentalDecorators": true,
    "allowImportingTsExtensions": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["src/**/*.ts"]
}
`;

/** CMakeLists.txt and *.cmake texts of the project, the top one first (bounded: big trees have thousands). */
function cmakeTexts(dir: string): string[] {
  const out = [readFileSync(join(dir, "CMakeLists.txt"), "utf8")];
  const walk = (d: string, depth: number) => {
    if (depth > 4 || out.length > 400) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith(".") || ["build", "node_modules", "third_party", "3rdparty"].includes(e.name)) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if ((e.name === "CMakeLists.txt" && d !== dir) || e.name.endsWith(".cmake")) {
        if (statSync(p).size < 1 << 20) out.push(readFileSync(p, "utf8"));
      }
    }
  };
  walk(dir, 0);
  return out;
}

export async function handler(argv: ArgumentsCamelCase<Args>): Promise<void> {
  const root = resolve(".");
  const src = resolve(argv.source ?? ".");
  if (!existsSync(join(src, "CMakeLists.txt"))) {
    throw new UsageError(
      `${argv.source ? `--source ${argv.source}` : root}: no CMakeLists.txt; run init at the top of a CMake project or pass --source DIR`,
    );
  }
  const project = readCMake(cmakeTexts(src));
  const name = configText(project).match(/^name: (.*)$/m)![1]!;
  const rel = relative(root, src) || ".";
  const files: Array<[string, string]> = [
    ["pipeline.yaml", configText(project, rel.startsWith("..") ? src : rel)],
    ["dagger.json", JSON.stringify({ name, engineVersion: "v0.21.9", sdk: { source: "typescript" } }, null, 2) + "\n"],
    ["tsconfig.json", TSCONFIG],
    [join("src", "index.ts"), moduleText(name)],
    // The module is an ES module whatever the repository's own package.json says (Dagger's runtime loads it so).
    [join("src", "package.json"), JSON.stringify({ type: "module" }, null, 2) + "\n"],
  ];
  const existing = files.map(([f]) => f).filter((f) => existsSync(join(root, f)));
  if (existing.length && !argv.force)
    throw new UsageError(
      `init: ${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""} here; nothing written (--force overwrites)`,
    );
  for (const [f, text] of files) {
    await fs.mkdir(join(root, f, ".."), { recursive: true });
    await fs.writeFile(join(root, f), text);
    process.stderr.write(`pipeline: init wrote ${f}\n`);
  }
  process.stderr.write(
    `pipeline: ${basename(root)} is set up for ${project.name}: try \`pipeline build --no-avx --out out/noavx\` and \`pipeline call greeting --name you stdout\`\n`,
  );
}
