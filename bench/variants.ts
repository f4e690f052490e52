/**
 * The example (examples/minipaddle) and the third-party adoption examples (examples/thirdparty/) as a
 * benchmark: for each (faiss with --faiss), the no-AVX variant with its tests (the README's reduced configuration), measured in one run:
 *   - a cold build and a one-file incremental build through `pipeline build --test`, against host cmake +
 *     ninja with the same configure arguments (from the same build steps; no ccache on either side);
 *   - what the ISA check adds to a build: its step's own time, and an incremental build with checks.isa on
 *     against one with it off;
 *   - what the emulated run adds to `test`: `test` with the emulated run off, then on (the build and the native
 *     tests come from the cache the second time, so the difference is the emulated run).
 * Prints figures and ratios; no assertions. The engine's toolchain layers are not part of the cold figure (a
 * first run builds the dev image before it: run the bench twice, or run `pipeline build` of the example once).
 *
 * Host packages (Debian 12, as root):
 *   apt-get install -y cmake ninja-build build-essential libopenblas-dev libgflags-dev googletest
 * The pinned source tarballs are looked for in ../shared/thirdparty (or $THIRDPARTY_DIR).
 *   npx tsx bench/variants.ts [--faiss] [--only minipaddle|ncnn|faiss]
 */
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { commandsFor } from "../modules/compile.ts";
import { parseConfig } from "../modules/config.ts";
import { variantFromSwitches } from "../modules/variants.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "pipeline", "bin.mjs");
const tarballs = process.env.THIRDPARTY_DIR ?? join(root, "..", "shared", "thirdparty");

interface Project {
  name: string;
  /** A pinned source tarball in the tarballs folder, unpacked to `top`; or a source folder of this repository. */
  tarball?: string;
  top: string;
  /** The source folder (the example) when there is no tarball. */
  dir?: string;
  /** The project's config (default: examples/thirdparty/NAME/pipeline.yaml). */
  config?: string;
  /** The file a one-file edit touches (a SIMD kernel the variant compiles). */
  edit: string;
}
const PROJECTS: Project[] = [
  // The example, with its own config (the repository's pipeline.yaml): the project every README command builds.
  {
    name: "minipaddle",
    dir: join(root, "examples", "minipaddle"),
    top: "minipaddle",
    config: join(root, "pipeline.yaml"),
    edit: "src/kernels_scalar.cc",
  },
  { name: "ncnn", tarball: "ncnn-a4d2ea1.tar.gz", top: "ncnn-a4d2ea1", edit: "src/layer/x86/relu_x86.cpp" },
  ...(process.argv.includes("--faiss")
    ? [{ name: "faiss", tarball: "faiss-02dbb4e.tar.gz", top: "faiss-02dbb4e", edit: "faiss/utils/distances_simd.cpp" }]
    : []),
];

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const ratio = (a: number, b: number) => (a / b).toFixed(2);

/** Runs a command; returns its wall time (ms) and its output. Throws with the output's tail on failure. */
function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? root,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve({ ms, out });
      else reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}\n${out.slice(-4000)}`));
    });
  });
}
const pipeline = (args: string[]) => run(process.execPath, [bin, ...args, "--progress", "plain"], { env: { CI: "1" } });

/** The seconds BuildKit reports for the steps whose command contains `needle` (`#N DONE 12.3s`), summed. */
function stepSeconds(log: string, needle: string): number | undefined {
  const ids = new Set<string>();
  for (const l of log.split("\n")) {
    const m = /^#(\d+) \[/.exec(l);
    if (m && l.includes(needle)) ids.add(m[1]!);
  }
  let total: number | undefined;
  for (const l of log.split("\n")) {
    const m = /^#(\d+) DONE ([\d.]+)s/.exec(l);
    if (m && ids.has(m[1]!)) total = (total ?? 0) + Number(m[2]);
  }
  return total;
}

/** A copy of the example config with changes, written next to the others in `dir`. */
function configVariant(project: Project, dir: string, name: string, change: (doc: Record<string, any>) => void): string {
  const doc = parseYaml(
    readFileSync(project.config ?? join(root, "examples", "thirdparty", project.name, "pipeline.yaml"), "utf8"),
  ) as Record<string, any>;
  change(doc);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringifyYaml(doc));
  return file;
}

async function bench(project: Project): Promise<void> {
  const tarball = project.tarball ? join(tarballs, project.tarball) : undefined;
  if (tarball && !existsSync(tarball)) {
    console.log(`${project.name}: skipped, the pinned source tarball ${tarball} is missing`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), `pipeline-bench-${project.name}-`));
  try {
    const ours = join(work, "pipeline");
    const host = join(work, "host");
    for (const d of [ours, host]) {
      mkdirSync(d);
      if (tarball) execFileSync("tar", ["xzf", tarball, "-C", d]);
      else cpSync(project.dir!, join(d, project.top), { recursive: true, filter: (p) => !/\/build[^/]*$/.test(p) });
    }
    const oursSrc = join(ours, project.top);
    const hostSrc = join(host, project.top);
    // A define no earlier run used makes every compile command new: the pipeline's restored build tree
    // recompiles everything (a cold build on a warm toolchain), and ccache is off on both sides.
    const tag = `-DPIPELINE_BENCH_${Date.now()}`;
    const common = (doc: Record<string, any>) => {
      doc.cmake.args = [...(doc.cmake.args ?? []), `-DCMAKE_C_FLAGS=${tag}`, `-DCMAKE_CXX_FLAGS=${tag}`];
      // ccache off (in its preprocessor mode a define no code reads would still hit). The example's config has no
      // variants section: its no-AVX value is the shorthand's, written out here with the variable added.
      doc.variants ??= {};
      doc.variants.isa ??= {};
      doc.variants.isa.noavx ??= { cmake: [`-D${doc.cmake?.options?.avx ?? "WITH_AVX"}=OFF`], floor: "x86-64-v2" };
      doc.variants.isa.noavx.env = { ...(doc.variants.isa.noavx.env ?? {}), CCACHE_DISABLE: "1" };
    };
    const withCheck = configVariant(project, work, "isa-on", common);
    const noCheck = configVariant(project, work, "isa-off", (d) => (common(d), ((d.checks ??= {}).isa = false)));
    const noEmulate = configVariant(
      project,
      work,
      "emulate-off",
      (d) => (common(d), (((d.checks ??= {}).emulate ??= {}).enabled = false)),
    );

    // The host runs the very configure/build commands the stage runs (paths mapped, no ccache launcher).
    const cfg = parseConfig(readFileSync(withCheck, "utf8"), withCheck, "0.0.0");
    const variant = variantFromSwitches(cfg, { gpu: false, avx: false });
    const mapPath = (w: string) => w.replace(/(^|=)\/src(?=\/|$)/g, `$1${hostSrc}`);
    const [configure, build] = commandsFor(cfg, variant, true).map((c) =>
      c.filter((w) => !w.includes("COMPILER_LAUNCHER")).map(mapPath),
    );
    const hostEnv = variant.env;
    const hostBuild = () => run(build![0]!, build!.slice(1), { env: hostEnv });
    const ourBuild = (config: string) => pipeline(["build", "--test", "--no-avx", "--config", config, "--source", oursSrc]);
    const edit = (i: number) => {
      const line = `\nnamespace { [[maybe_unused]] const int pipeline_bench_edit_${Date.now()}_${i} = ${i}; }\n`;
      appendFileSync(join(oursSrc, project.edit), line);
      appendFileSync(join(hostSrc, project.edit), line);
    };

    console.log(
      `${project.name} (${variant.name}, tests on; host: ${configure!.slice(0, 2).join(" ")} ... + ${build!.join(" ")})`,
    );
    // Cold.
    const coldOurs = await ourBuild(withCheck);
    const hostConfigure = await run(configure![0]!, configure!.slice(1), { env: hostEnv });
    const coldHost = await hostBuild();
    const coldHostTotal = hostConfigure.ms + coldHost.ms;
    const isaCold = stepSeconds(coldOurs.out, "isa_check.py");
    console.log(
      `  cold build: pipeline ${secs(coldOurs.ms)}, host cmake+ninja ${secs(coldHostTotal)} (configure ${secs(hostConfigure.ms)}): ratio ${ratio(coldOurs.ms, coldHostTotal)}`,
    );
    console.log(
      `  ISA check step in the cold build: ${isaCold === undefined ? "not found in the progress log" : `${isaCold.toFixed(1)} s (${((isaCold * 1000 * 100) / coldOurs.ms).toFixed(0)}% of the build)`}`,
    );

    // One-file edit, with the ISA check and without.
    edit(1);
    const incOurs = await ourBuild(withCheck);
    const incHost = await hostBuild();
    const isaInc = stepSeconds(incOurs.out, "isa_check.py");
    edit(2);
    const incNoCheck = await ourBuild(noCheck);
    await hostBuild();
    console.log(
      `  one-file incremental build (${project.edit}): pipeline ${secs(incOurs.ms)}, host ninja ${secs(incHost.ms)}: ratio ${ratio(incOurs.ms, incHost.ms)}`,
    );
    console.log(
      `  ISA check: incremental build with it ${secs(incOurs.ms)}, without it (checks.isa: false) ${secs(incNoCheck.ms)}: adds ${secs(incOurs.ms - incNoCheck.ms)}; its step ${isaInc === undefined ? "?" : `${isaInc.toFixed(1)} s`}`,
    );

    // test without the emulated run, then with it (build and native tests cached the second time).
    const help = (await run(process.execPath, [bin, "test", "--help"])).out;
    const flag = help.includes("--emulate");
    const testOff = await pipeline(
      flag
        ? ["test", "--no-avx", "--emulate=false", "--config", withCheck, "--source", oursSrc]
        : ["test", "--no-avx", "--config", noEmulate, "--source", oursSrc],
    );
    const testOn = await pipeline(["test", "--no-avx", "--config", withCheck, "--source", oursSrc]);
    const emuStep = stepSeconds(testOn.out, "emulate_tests.py");
    const ctestStep = stepSeconds(testOff.out, "pipeline-build test");
    console.log(
      `  test without the emulated run (${flag ? "--emulate=false" : "checks.emulate.enabled: false"}) ${secs(testOff.ms)} (ctest step ${ctestStep === undefined ? "?" : `${ctestStep.toFixed(1)} s`}); then with it ${secs(testOn.ms)}: emulated run step ${emuStep === undefined ? "?" : `${emuStep.toFixed(1)} s`}`,
    );
    const emuLog = /emulate: \d+ passed, \d+ failed on [^\n]*/.exec(testOn.out)?.[0];
    if (emuLog) console.log(`  ${emuLog}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// --only NAME: one project (minipaddle, ncnn or faiss).
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
for (const p of PROJECTS) if (!only || p.name === only) await bench(p);
