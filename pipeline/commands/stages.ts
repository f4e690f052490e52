/**
 * One CLI command per stage of the Dagger module (src/index.ts), derived from the module's own introspection:
 * a stage command's flags, their types, defaults and help text are the function's arguments and JSDoc, its
 * summary is the function's. This table adds only what a command line needs besides: where the result goes
 * when no output flag is given, what runs after it (the test verdict, an image's SBOM), examples, and the few
 * options that are the CLI's own (--sbom, docs --serve). A function the table does not name is still a
 * command: it runs as `pipeline call FUNCTION ...` would.
 */
import type { ArgumentsCamelCase, Argv, CommandModule, Options } from "yargs";
import { resolve } from "node:path";
import { checkOutput, execute, type ExecuteOptions, type Runnable } from "../execute.ts";
import { serveDocs } from "../docs-serve.ts";
import { type EngineArgs, engineOptions, executeOptions } from "../options.ts";
import { loadProject, type Project } from "../project.ts";
import { type OutputRequest, projectProtectedDirs } from "../outputs.ts";
import { booleanValues, forceOption } from "../output-options.ts";
import type { FunctionSpec, ModuleSpec } from "../introspect.ts";
import { callArguments, functionNamed, functionOptions, summary, switchFlags } from "../function-options.ts";
import { imageRef, selectVariant, variantByName } from "../../modules/variants.ts";
import { UsageError } from "../../modules/errors.ts";
import { appName, checkProgramFolder } from "../app.ts";
import { appRef } from "../../modules/app.ts";
import { rawWords, runCall } from "./call.ts";
import { stampRecorder } from "../stamp.ts";
import { trace } from "../trace.ts";

/** The parsed flags of a stage command: the function's arguments by name, and the CLI's own. */
export type StageFlags = Record<string, unknown> & {
  variant?: string;
  source?: string;
  sbom?: string;
  port?: number;
  serve?: boolean;
};

interface StageArgs extends EngineArgs {
  config?: string;
  source?: string;
  out?: string;
  tag?: string;
  tarball?: string;
  force: boolean;
  [flag: string]: unknown;
}

/** What the CLI adds to a module function to make it a stage command. */
export interface Stage {
  /** The command's name: the function's, in kebab-case. */
  name: string;
  /** The function whose arguments and JSDoc give the flags and the summary (default: the command's name in camelCase). */
  fn?: string;
  /** The function whose result the command writes, when not `fn` (it takes the same arguments). */
  resultFn?: string;
  /** Added to the summary in `--help`: what the command does with the result by default. */
  result?: string;
  /** What --source is: a CMake project (the default), or a program folder (app). */
  sourceKind?: "cmake" | "program";
  /** Options that are the command line's own, not arguments of the function. */
  options?: Record<string, Options>;
  examples: Array<[string, string]>;
  /** Checks on the host and flag values the CLI fills before the call (the app's name from its folder). */
  prepare?(project: Project, a: StageFlags): void;
  /** What runs instead of a build when --serve is given (docs: the live preview). */
  serve?(project: Project, a: StageFlags, opts: ExecuteOptions): Promise<void>;
  /** Where the result goes when no output flag is given (default: built only). */
  defaultOutput?(project: Project, a: StageFlags): OutputRequest;
  /** What runs after the main result was written: the test stage's verdict, an image's SBOM. */
  after?(
    project: Project,
    a: StageFlags,
    main: OutputRequest,
    call: (fn: string) => Promise<Runnable>,
  ): Promise<Array<{ run: Runnable; to: OutputRequest; what: string }>>;
}

/** A stage with its module function resolved. */
export interface StageCommand extends Stage {
  module: ModuleSpec;
  spec: FunctionSpec;
  resultSpec: FunctionSpec;
  describe: string;
  output: "container" | "directory" | "file";
}

/** Where an image's SBOM goes: --sbom, else next to its tarball, else out/sbom/NAME_TAG.cdx.json. */
export function sbomPath(p: Project, a: StageFlags, main: OutputRequest): string {
  if (a.sbom) return a.sbom;
  if (main.kind === "tarball") return main.path.replace(/(\.tar)?$/, ".sbom.cdx.json");
  return `out/sbom/${sbomFileName(main.kind === "tag" ? main.image : imageRef(p.cfg, variantByName(p.cfg, a.variant || "cpu")))}`;
}

/** An image's SBOM file name: [REGISTRY/]NAME:TAG -> NAME_TAG.cdx.json. */
export function sbomFileName(ref: string): string {
  return `${ref.replace(/^.*\//, "").replace(":", "_")}.cdx.json`;
}

const sbomOption: Options = {
  type: "string",
  describe: "Write the image's SBOM here (default: next to the tarball, else out/sbom/)",
};

/** The stage commands, in the order `--help` lists them. Flags and summaries come from the module. */
export const STAGES: Stage[] = [
  {
    name: "dev-image",
    result: "loaded as NAME-dev:VERSION[-gpu]",
    examples: [
      ["$0 dev-image", "build and load minipaddle-dev:0.1.0"],
      ["docker run --rm -v $PWD/examples/minipaddle:/src -e TEST=ON minipaddle-dev:0.1.0", "then build a source tree with it"],
    ],
    defaultOutput: (p, a) => ({ kind: "tag", image: `${p.cfg.name}-dev:${p.cfg.version}${a.gpu ? "-gpu" : ""}` }),
  },
  {
    name: "build",
    examples: [
      ["$0 build", "build the project the config names (here: examples/minipaddle)"],
      ["$0 build --no-avx --out out/build-noavx", "a build with no AVX instructions, written to out/build-noavx"],
      ["$0 build --gpu --test --source ~/myproject", "the CUDA build of another source tree, with its tests"],
    ],
  },
  {
    name: "test",
    resultFn: "testReport",
    result: "the report (junit.xml, test.log) goes to out/test-VARIANT",
    examples: [
      ["$0 test", "run the tests; the report lands in out/test-cpu"],
      ["$0 test --no-avx --out reports/", "test the no-AVX build, report in reports/"],
    ],
    defaultOutput: (p, a) => ({
      kind: "export",
      path: `out/test-${selectVariant(p.cfg, a as { gpu: boolean; avx: boolean }).name}`,
    }),
    after: async (_p, _a, _main, call) => [{ run: await call("test"), to: { kind: "sync" }, what: "test verdict" }],
  },
  {
    name: "docs",
    result: "written to out/docs",
    options: {
      serve: {
        type: "boolean",
        default: false,
        describe: "Serve a live preview (sphinx-autobuild in the dev image) on --port (default 8000) instead of building",
      },
      port: { type: "number", describe: "The port --serve listens on (default 8000)" },
    },
    examples: [
      ["$0 docs --out out/docs", "build the site into out/docs (open out/docs/index.html)"],
      ["$0 docs --strict", "fail on any warning (a broken reference, an undocumented public symbol), naming file and line"],
      ["$0 docs --serve --port 8000", "live preview of the docs at http://127.0.0.1:8000/, rebuilt on save"],
    ],
    serve: (p, a, opts) => serveDocs(p, { source: a.source, port: a.port, execute: opts }),
    defaultOutput: () => ({ kind: "export", path: "out/docs" }),
  },
  {
    name: "package",
    result: "written to out/package",
    examples: [
      ["$0 package", "out/package/minipaddle_0.1.0_amd64.deb and its lintian report"],
      ["$0 package --gpu --no-avx --out debs/", "the CUDA, no-AVX package minipaddle-gpu-noavx into debs/"],
      ["sudo apt install ./out/package/minipaddle_0.1.0_amd64.deb", "then install it on a host without Docker"],
    ],
    defaultOutput: () => ({ kind: "export", path: "out/package" }),
  },
  {
    name: "image",
    result: "loaded as NAME:TAG; its SBOM goes next to it",
    options: { sbom: sbomOption },
    examples: [
      ["$0 image", "load minipaddle:0.1.0; SBOM in out/sbom/minipaddle_0.1.0.cdx.json"],
      [
        "$0 image --variant gpu-noavx --tarball out/gpu-noavx.tar",
        "save minipaddle:0.1.0-gpu-noavx as a tarball, SBOM next to it",
      ],
      ["docker run --rm -v $PWD:/work minipaddle:0.1.0 /work/a.py", "then run a Python program with minipaddle importable"],
    ],
    defaultOutput: (p, a) => ({ kind: "tag", image: imageRef(p.cfg, variantByName(p.cfg, a.variant || "cpu")) }),
    after: async (p, a, main, call) => [
      { run: await call("sbom"), to: { kind: "export", path: sbomPath(p, a, main) }, what: "SBOM" },
    ],
  },
  {
    name: "sbom",
    result: "written to out/sbom/NAME_TAG.cdx.json",
    examples: [["$0 sbom --variant gpu --out gpu.cdx.json", "the SBOM of minipaddle:0.1.0-gpu"]],
    defaultOutput: (p, a) => ({ kind: "export", path: sbomPath(p, a, { kind: "sync" }) }),
  },
  {
    name: "book",
    result: "loaded as NAME-book:TAG",
    examples: [
      ["$0 book", "load minipaddle-book:0.1.0"],
      ["$0 book --variant gpu --port 9999", "minipaddle-book:0.1.0-gpu, on port 9999"],
      [
        "docker run --rm --network host -e JUPYTER_TOKEN=secret minipaddle-book:0.1.0",
        "then open http://127.0.0.1:8888/?token=secret",
      ],
    ],
    defaultOutput: (p, a) => ({ kind: "tag", image: bookRef(p, a.variant || "cpu") }),
  },
  {
    name: "app",
    result: "loaded as APP:TAG; its SBOM goes next to it",
    sourceKind: "program",
    options: { sbom: sbomOption },
    examples: [
      ["$0 app --source examples/apps/linear", "load linear:0.1.0: minipaddle:0.1.0 with the program at /app; SBOM in out/sbom/"],
      ["$0 app --source ~/job --entry train.py --variant gpu --name trainer", "trainer:0.1.0-gpu running train.py"],
      ["docker run --rm linear:0.1.0", "then run the program (its arguments after the image)"],
      ["$0 k8s --image linear:0.1.0 --app --workers 3 --rehearse", "and rehearse it as a 3-worker Kubernetes job"],
    ],
    prepare: (p, a) => {
      checkProgramFolder(p, a);
      // The image is named after the program folder unless --name or the config's app.name says otherwise.
      a.name = appName(p, a);
    },
    defaultOutput: (p, a) => ({
      kind: "tag",
      image: appRef(p.cfg, variantByName(p.cfg, a.variant || "cpu"), String(a.name)),
    }),
    after: async (p, a, main, call) => [
      { run: await call("appSbom"), to: { kind: "export", path: sbomPath(p, a, main) }, what: "SBOM" },
    ],
  },
];

/** Commands of the CLI's own that run a module function their own way (their flags still come from it). */
export const OWN_COMMANDS: Record<string, string> = { release: "release", k8s: "k8s" };

const camelName = (command: string) => command.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** What a stage's result is, from the function's return type. */
function outputKind(fn: FunctionSpec): StageCommand["output"] {
  const t = fn.returns;
  if (t.kind === "object" && t.name === "Container") return "container";
  if (t.kind === "object" && t.name === "File") return "file";
  if (t.kind === "object" && t.name === "Directory") return "directory";
  throw new UsageError(`stage ${fn.command}: the module's ${fn.name} returns ${t.kind}, not a Container, Directory or File`);
}

/** The stage commands of a module: the table, each entry with its function (a usage error when the module lacks it). */
export function stagesOf(spec: ModuleSpec): StageCommand[] {
  return STAGES.map((st) => {
    const fn = functionNamed(spec, st.fn ?? camelName(st.name));
    const resultSpec = st.resultFn ? functionNamed(spec, st.resultFn) : fn;
    const text = summary(fn.description);
    return {
      ...st,
      module: spec,
      spec: fn,
      resultSpec,
      describe: st.result ? `${text}; ${st.result}` : text,
      output: outputKind(resultSpec),
    };
  });
}

/** The module's functions no stage or own command covers: each is a command that runs as `pipeline call` does. */
export function otherFunctions(spec: ModuleSpec): FunctionSpec[] {
  const covered = new Set([
    ...STAGES.flatMap((st) => [st.fn ?? camelName(st.name), ...(st.resultFn ? [st.resultFn] : [])]),
    ...Object.values(OWN_COMMANDS),
  ]);
  return spec.functions.filter((f) => !covered.has(f.name));
}

/** The book image's default reference: NAME-book:TAG, tagged like the production image it builds on. */
export function bookRef(p: Project, v: string): string {
  const [name, tag] = imageRef(p.cfg, variantByName(p.cfg, v)).split(/:(?=[^:]*$)/);
  return `${name}-book:${tag}`;
}

/** The options of stage commands (one, or for `plan` all of them): --config, the functions' arguments, the CLI's own. */
export function stageOptions<T>(y: Argv<T>, stages: StageCommand[]): Argv<T & StageArgs> {
  let out: Argv<any> = y.option("config", { type: "string", describe: "The project config (default: ./pipeline.yaml)" });
  const seen = new Set<string>();
  for (const st of stages) {
    const fresh = st.spec.args.filter((a) => !seen.has(a.name)).map((a) => a.name);
    out = functionOptions(
      out,
      st.spec,
      st.spec.args.map((a) => a.name).filter((n) => !fresh.includes(n)),
    );
    for (const n of fresh) seen.add(n);
    for (const [flag, o] of Object.entries(st.options ?? {})) if (!seen.has(flag)) out = out.option(flag, o);
    for (const flag of Object.keys(st.options ?? {})) seen.add(flag);
  }
  // yargs takes `--avx=maybe` as false: a switch given any value but true/false is refused instead.
  const own = stages.flatMap((st) =>
    Object.entries(st.options ?? {})
      .filter(([, o]) => o.type === "boolean")
      .map(([f]) => f),
  );
  out = out.check(booleanValues([...switchFlags(stages.map((st) => st.spec)), ...own, "force"]));
  return out as Argv<T & StageArgs>;
}

/** Calls a function of the module's main object with the command's flags (the loaded --source as `source`). */
export async function callStage(
  project: Project,
  stage: StageCommand,
  a: StageFlags,
  fn = stage.resultSpec.name,
): Promise<Runnable> {
  const spec = functionNamed(stage.module, fn);
  const method = (project.pipeline as unknown as Record<string, unknown>)[fn];
  if (typeof method !== "function") throw new UsageError(`the module's ${stage.module.className} has no method ${fn}`);
  return (method as (...args: unknown[]) => Promise<Runnable>).apply(
    project.pipeline,
    callArguments(spec, a, { source: project.source }),
  );
}

function commandFor(stage: StageCommand): CommandModule<object, StageArgs> {
  return {
    command: stage.name,
    describe: stage.describe,
    builder: (y: Argv) => {
      let b: Argv<any> = engineOptions(stageOptions(y, [stage])).usage(`$0 ${stage.name} [options]\n\n${stage.spec.description}`);
      if (stage.output !== "container")
        b = b.option("out", {
          type: "string",
          describe: `Write the result to this ${stage.output === "file" ? "file" : "folder"} (atomically)`,
          group: "Output:",
        });
      else {
        b = b
          .option("tag", { type: "string", describe: "Load the image into the engine under this tag", group: "Output:" })
          .option("tarball", { type: "string", describe: "Save the image as a tarball here instead", group: "Output:" })
          .conflicts("tag", "tarball");
      }
      b = b.option("force", forceOption);
      for (const [cmd, what] of stage.examples) b = b.example(cmd, what);
      return b as Argv<StageArgs>;
    },
    handler: async (argv: ArgumentsCamelCase<StageArgs>) => {
      trace("CLI loaded");
      const project = await loadProject({ config: argv.config, source: argv.source, cmake: stage.sourceKind !== "program" });
      trace("project loaded");
      stage.prepare?.(project, argv);
      if (argv.serve && stage.serve) return stage.serve(project, argv, executeOptions(argv));
      const request: OutputRequest =
        argv.out !== undefined
          ? { kind: "export", path: argv.out, flag: "--out" }
          : argv.tag !== undefined
            ? { kind: "tag", image: argv.tag }
            : argv.tarball !== undefined
              ? { kind: "tarball", path: argv.tarball, flag: "--tarball" }
              : (stage.defaultOutput?.(project, argv) ?? { kind: "sync" });
      // Outputs keep away from the project folder and its source trees (the config's and --source).
      const sources = [resolve(project.dir, project.cfg.source), ...(argv.source !== undefined ? [resolve(argv.source)] : [])];
      const opts = {
        ...executeOptions(argv),
        mirrors: project.cfg.mirrors,
        protectedDirs: projectProtectedDirs(project.dir, sources),
        force: argv.force,
      };
      const stamp = stampRecorder(project, request);
      const onInputs = stamp.onInputs;
      const main = await callStage(project, stage, argv);
      // Every output path is checked before anything builds, the later ones (an SBOM) too.
      const later = (await stage.after?.(project, argv, request, (fn) => callStage(project, stage, argv, fn))) ?? [];
      await checkOutput(main, request, opts);
      for (const next of later) await checkOutput(next.run, next.to, opts);
      await execute(main, request, { ...opts, onInputs });
      if (request.kind === "export") process.stderr.write(`pipeline: ${stage.name} result written to ${request.path}\n`);
      if (request.kind === "tag") process.stderr.write(`pipeline: ${stage.name} image loaded as ${request.image}\n`);
      for (const next of later) {
        await execute(next.run, next.to, { ...opts, onInputs });
        if (next.to.kind === "export") process.stderr.write(`pipeline: ${stage.name} ${next.what} written to ${next.to.path}\n`);
      }
      // All written: the same command line finds its result up to date until an input or an output changes.
      stamp.record(later.map((n) => n.to));
      trace("stamp recorded");
    },
  };
}

/** A function of the module in `modDir` as a command: the words after it are `pipeline call -m modDir FUNCTION`'s. */
export function functionCommand(fn: FunctionSpec, modDir: string): CommandModule<object, { words?: string[] }> {
  return {
    command: `${fn.command} [words..]`,
    describe: `${summary(fn.description) || `The module's ${fn.name}`} (runs as \`pipeline call ${fn.command}\`; --help lists its flags)`,
    builder: (y: Argv) => rawWords(y) as Argv<{ words?: string[] }>,
    handler: async () => {
      const raw = process.argv.slice(2);
      await runCall(["-m", modDir, fn.command, ...raw.slice(raw.indexOf(fn.command) + 1)]);
    },
  };
}

/** Every command the tool's module (in `modDir`) gives the CLI: its stages, then its other functions. */
export function stageCommands(spec: ModuleSpec, modDir: string): CommandModule<any, any>[] {
  return [...stagesOf(spec).map(commandFor), ...otherFunctions(spec).map((fn) => functionCommand(fn, modDir))];
}

/** The command names the tool's module gives the CLI (stages, release, k8s, its other functions). */
export function moduleCommandNames(spec: ModuleSpec): string[] {
  return [...STAGES.map((st) => st.name), ...Object.keys(OWN_COMMANDS), ...otherFunctions(spec).map((f) => f.command)];
}
