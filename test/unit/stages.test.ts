/**
 * The stage commands are derived from the module's introspection: their flags, types, defaults and help come
 * from the functions' signatures and JSDoc (src/index.ts, scanned by the SDK), and a function added to the
 * module becomes a command with no CLI change. Pure: yargs parses and renders help, nothing runs.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ownPipelineHome } from "../support/home.ts";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import yargs, { type CommandModule } from "yargs";
import { findModule, loadModuleSpec, type ModuleSpec } from "../../pipeline/introspect.ts";
import { callArguments, summary } from "../../pipeline/function-options.ts";
import { moduleCommandNames, STAGES, stageCommands, stageOptions, stagesOf } from "../../pipeline/commands/stages.ts";
import { k8sCommand } from "../../pipeline/commands/k8s.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

// Scans go to a PIPELINE_HOME of this file's own while its tests run.
ownPipelineHome(test, "pipeline-stages-unit-");

let own: Promise<ModuleSpec> | undefined;
const toolSpec = () => (own ??= loadModuleSpec(findModule(ROOT)!));

/** yargs over some commands, its errors thrown instead of printed. */
function cli(commands: CommandModule<any, any>[], args: string[]) {
  let y = yargs(args)
    .scriptName("pipeline")
    .exitProcess(false)
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    });
  for (const c of commands) y = y.command(c as never);
  return y;
}

async function helpOf(commands: CommandModule<any, any>[], args: string[]): Promise<string> {
  let out = "";
  const y = cli(commands, [...args, "--help"]).wrap(200);
  await y.parseAsync(args.concat("--help"), {}, (_err, _argv, output) => {
    out = output;
  });
  return out;
}

test("every stage names a function of the module; its flags are exactly that function's arguments", async () => {
  const spec = await toolSpec();
  const stages = stagesOf(spec);
  assert.equal(
    stages.map((s) => s.name),
    STAGES.map((s) => s.name),
  );
  const build = stages.find((s) => s.name === "build")!;
  assert.equal(
    build.spec.args.map((a) => a.flag),
    ["source", "gpu", "avx", "test", "variant"],
  );
  assert.is(build.output, "directory");
  assert.is(stages.find((s) => s.name === "image")!.output, "container");
  assert.is(stages.find((s) => s.name === "sbom")!.output, "file");
  // test writes testReport's folder and takes test's flags (the same arguments).
  const t = stages.find((s) => s.name === "test")!;
  assert.is(t.resultSpec.name, "testReport");
  assert.equal(
    t.resultSpec.args.map((a) => a.name),
    t.spec.args.map((a) => a.name),
  );
  // Summaries are the JSDoc's first sentence.
  assert.is(build.describe, summary(spec.functions.find((f) => f.name === "build")!.description));
  assert.match(build.describe, /^Configure and compile the project$/);
});

test("a stage command parses its function's flags: --no-avx, --test, --variant; the method gets them in order", async () => {
  const spec = await toolSpec();
  const build = stagesOf(spec).find((s) => s.name === "build")!;
  const argv = (await stageOptions(yargs(["--no-avx", "--test", "--variant", "cpu"]).exitProcess(false), [
    build,
  ]).parseAsync()) as Record<string, unknown>;
  assert.equal(callArguments(build.spec, argv, { source: undefined }), [undefined, false, false, true, "cpu"]);
  // Left out, the function's own defaults apply: gpu=false, avx=true, test=false, variant="".
  const none = (await stageOptions(yargs([]).exitProcess(false), [build]).parseAsync()) as Record<string, unknown>;
  assert.equal(callArguments(build.spec, none, { source: undefined }), [undefined, false, true, false, ""]);
});

test("help comes from the JSDoc: a stage's summary, its flags' descriptions and defaults; k8s's required flags", async () => {
  const spec = await toolSpec();
  const commands = stageCommands(spec, ROOT);
  const top = await helpOf(commands, []);
  assert.match(top, /pipeline build\s+Configure and compile the project/);
  assert.match(top, /pipeline image-tag \[words\.\.\]\s+The image's tag by the config's scheme/);
  const build = await helpOf(commands, ["build"]);
  assert.match(build, /--avx\s+Build the AVX kernels \(AVX=ON\).*\(--no-avx: false\)\s+\[boolean\] \[default: true\]/);
  assert.match(build, /--source\s+The project's source tree/);
  assert.match(build, /--out\s+Write the result to this folder/);
  const image = await helpOf(commands, ["image"]);
  assert.match(image, /--variant\s+The variant: cpu, cpu-noavx.*\[string\] \[default: "cpu"\]/);
  assert.match(image, /--sbom\s/);
  assert.match(image, /--tarball\s/);
  const k8s = await helpOf([k8sCommand(spec) as CommandModule<any, any>], ["k8s"]);
  assert.match(k8s, /--workers\s+How many workers \(pods\), 1 to 1000\s+\[number\] \[required\]/);
  assert.match(k8s, /--image\s+The image reference.*\[string\] \[required\]/);
});

test("a function added to the module becomes a command with no CLI change; one the table names stays a stage", async () => {
  // A scratch copy of the module with one more @func(), scanned by the SDK as the CLI scans the real one.
  const dir = mkdtempSync(join(tmpdir(), "pipeline-newfunc-"));
  try {
    mkdirSync(join(dir, "src"));
    for (const shared of ["modules", "node_modules", "package.json", "tsconfig.json"])
      symlinkSync(join(ROOT, shared), join(dir, shared));
    writeFileSync(join(dir, "dagger.json"), readFileSync(join(ROOT, "dagger.json")));
    const source = readFileSync(join(ROOT, "src", "index.ts"), "utf8");
    const added = source.replace(
      /\n}\s*$/,
      `
  /**
   * The nightly variant's wheel, as a framework team would add it.
   *
   * @param python The Python version to build for
   */
  @func()
  async nightlyWheel(python = "3.11"): Promise<Directory> {
    return dag.directory().withNewFile("python", python);
  }
}
`,
    );
    assert.is.not(added, source);
    writeFileSync(join(dir, "src", "index.ts"), added);
    const spec = await loadModuleSpec(findModule(dir)!);
    assert.ok(moduleCommandNames(spec).includes("nightly-wheel"));
    const help = await helpOf(stageCommands(spec, dir), []);
    assert.match(help, /pipeline nightly-wheel \[words\.\.\]\s+The nightly variant's wheel, as a framework team would add it/);
    assert.match(help, /pipeline build\s+Configure and compile the project/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a stage the module lacks is refused naming the function", async () => {
  const spec = await toolSpec();
  const lacking = { ...spec, functions: spec.functions.filter((f) => f.name !== "package") };
  assert.throws(() => stagesOf(lacking), /has no function package/);
});

test.run();
