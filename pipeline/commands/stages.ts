/**
 * One CLI command per stage of the Dagger module, with the same name and flags as the Dagger function:
 * the handler loads the project, calls the module's method and hands its lazy result to an executor.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import type { Container, Directory } from "@dagger.io/dagger";
import { execute } from "../execute.ts";
import { type EngineArgs, engineOptions, executeOptions } from "../options.ts";
import { loadProject, type Project } from "../project.ts";
import type { OutputRequest } from "../outputs.ts";

/** The switches a stage's method takes. */
export interface StageFlags {
  gpu: boolean;
  avx: boolean;
  test: boolean;
}

interface StageArgs extends EngineArgs, StageFlags {
  config?: string;
  source?: string;
  out?: string;
  tag?: string;
  tarball?: string;
}

export interface Stage {
  name: string;
  describe: string;
  flags: Array<"source" | "gpu" | "avx" | "test">;
  output: "container" | "directory";
  examples: Array<[string, string]>;
  /** Calls the module's method for these flags. */
  call(project: Project, a: StageFlags): Promise<Container | Directory>;
  /** Where the result goes when no output flag is given. */
  defaultOutput?(project: Project, a: StageFlags): OutputRequest;
  /** Runs after the main result was written (the test stage's verdict). */
  after?(project: Project, a: StageFlags): Promise<Container | Directory>;
}

const variant = (a: StageFlags) => `${a.gpu ? "gpu" : "cpu"}${a.avx ? "" : "-noavx"}`;

export const STAGES: Stage[] = [
  {
    name: "dev-image",
    describe: "Build the development image (toolchain, Sphinx, code browser, sshd; CUDA with --gpu) and load it as NAME-dev:VERSION[-gpu]",
    flags: ["gpu"],
    output: "container",
    examples: [
      ["$0 dev-image", "build and load minipaddle-dev:0.1.0"],
      ["docker run --rm -v $PWD/examples/minipaddle:/src -e TEST=ON minipaddle-dev:0.1.0", "then build a source tree with it"],
    ],
    call: (p, a) => p.pipeline.devImage(a.gpu),
    defaultOutput: (p, a) => ({ kind: "tag", image: `${p.cfg.name}-dev:${p.cfg.version}${a.gpu ? "-gpu" : ""}` }),
  },
  {
    name: "build",
    describe: "Configure and compile the project in the development image; the result is the build tree",
    flags: ["source", "gpu", "avx", "test"],
    output: "directory",
    examples: [
      ["$0 build", "build the project the config names (here: examples/minipaddle)"],
      ["$0 build --no-avx --out out/build-noavx", "a build with no AVX instructions, written to out/build-noavx"],
      ["$0 build --gpu --test --source ~/myproject", "the CUDA build of another source tree, with its tests"],
    ],
    call: (p, a) => p.pipeline.build(p.source, a.gpu, a.avx, a.test),
  },
  {
    name: "test",
    describe: "Build with tests and run them (ctest and the Python tests); writes junit.xml, fails naming failed tests",
    flags: ["source", "gpu", "avx"],
    output: "directory",
    examples: [
      ["$0 test", "run the tests; the report lands in out/test-cpu"],
      ["$0 test --no-avx --out reports/", "test the no-AVX build, report in reports/"],
    ],
    call: (p, a) => p.pipeline.testReport(p.source, a.gpu, a.avx),
    defaultOutput: (_p, a) => ({ kind: "export", path: `out/test-${variant(a)}` }),
    after: (p, a) => p.pipeline.test(p.source, a.gpu, a.avx),
  },
  {
    name: "docs",
    describe: "Build the documentation site: Sphinx HTML (api/), the hyperlinked code browser (browse/), an index page",
    flags: ["source"],
    output: "directory",
    examples: [["$0 docs --out out/docs", "build the site into out/docs (open out/docs/index.html)"]],
    call: (p) => p.pipeline.docs(p.source),
    defaultOutput: () => ({ kind: "export", path: "out/docs" }),
  },
];

/** The options every stage command shares, for `plan STAGE` too. */
export function stageOptions<T>(y: Argv<T>, stage: Stage): Argv<T & StageArgs> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- options are added by a table
  let out: Argv<any> = y.option("config", { type: "string", describe: "The project config (default: ./pipeline.yaml)" });
  if (stage.flags.includes("source")) out = out.option("source", { type: "string", describe: "The source tree to build (default: the config's source)" });
  if (stage.flags.includes("gpu")) out = out.option("gpu", { type: "boolean", default: false, describe: "GPU=ON: build the CUDA code" });
  if (stage.flags.includes("avx")) out = out.option("avx", { type: "boolean", default: true, describe: "AVX=ON; --no-avx builds code with no AVX instructions" });
  if (stage.flags.includes("test")) out = out.option("test", { type: "boolean", default: false, describe: "TEST=ON: build the tests too" });
  return out as Argv<T & StageArgs>;
}

function commandFor(stage: Stage): CommandModule<object, StageArgs> {
  return {
    command: stage.name,
    describe: stage.describe,
    builder: (y: Argv) => {
      let b = engineOptions(stageOptions(y, stage));
      if (stage.output === "directory") b = b.option("out", { type: "string", describe: "Write the result to this folder (atomically)" });
      else {
        b = b
          .option("tag", { type: "string", describe: "Load the image into the engine under this tag" })
          .option("tarball", { type: "string", describe: "Save the image as a tarball here instead" })
          .conflicts("tag", "tarball");
      }
      for (const [cmd, what] of stage.examples) b = b.example(cmd, what);
      return b as Argv<StageArgs>;
    },
    handler: async (argv: ArgumentsCamelCase<StageArgs>) => {
      const project = await loadProject({ config: argv.config, source: argv.source });
      const request: OutputRequest =
        argv.out !== undefined ? { kind: "export", path: argv.out }
        : argv.tag !== undefined ? { kind: "tag", image: argv.tag }
        : argv.tarball !== undefined ? { kind: "tarball", path: argv.tarball }
        : stage.defaultOutput?.(project, argv) ?? { kind: "sync" };
      const opts = { ...executeOptions(argv), mirrors: project.cfg.mirrors };
      await execute(await stage.call(project, argv), request, opts);
      if (request.kind === "export") process.stderr.write(`pipeline: ${stage.name} result written to ${request.path}\n`);
      if (request.kind === "tag") process.stderr.write(`pipeline: ${stage.name} image loaded as ${request.image}\n`);
      if (stage.after) await execute(await stage.after(project, argv), { kind: "sync" }, opts);
    },
  };
}

export const stageCommands = STAGES.map(commandFor);
