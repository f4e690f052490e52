/**
 * One CLI command per stage of the Dagger module, with the same name and flags as the Dagger function:
 * the handler loads the project, calls the module's method and hands its lazy result to an executor.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import type { Container, Directory, File } from "@dagger.io/dagger";
import { resolve } from "node:path";
import { checkOutput, execute, type ExecuteOptions, type Runnable } from "../execute.ts";
import { serveDocs } from "../docs-serve.ts";
import { type EngineArgs, engineOptions, executeOptions } from "../options.ts";
import { loadProject, type Project } from "../project.ts";
import { type OutputRequest, projectProtectedDirs } from "../outputs.ts";
import { booleanValues, forceOption } from "../output-options.ts";
import { imageRef, selectVariant, STANDARD_VARIANTS, variantByName } from "../../modules/variants.ts";
import { appName, checkProgramFolder } from "../app.ts";
import { appRef } from "../../modules/app.ts";

/** The switches a stage's method takes. */
export interface StageFlags {
  gpu: boolean;
  avx: boolean;
  test: boolean;
  variant: string;
  emulate: boolean;
  sbom?: string;
  port?: number;
  /** docs: warnings are errors. */
  strict?: boolean;
  /** docs: a live preview instead of a build. */
  serve?: boolean;
  entry?: string;
  name?: string;
  /** --source as given (the app stage names its image after the program folder). */
  source?: string;
}

interface StageArgs extends EngineArgs, StageFlags {
  config?: string;
  source?: string;
  out?: string;
  tag?: string;
  tarball?: string;
  force: boolean;
}

/** A CLI command for a stage of the Dagger module: its name, flags, the method it calls and where its result goes. */
export interface StageCommand {
  name: string;
  describe: string;
  flags: Array<
    "source" | "gpu" | "avx" | "test" | "variant" | "emulate" | "sbom" | "port" | "entry" | "name" | "strict" | "serve"
  >;
  /** What --source is: a CMake project (the default), or a program folder (app). */
  sourceKind?: "cmake" | "program";
  output: "container" | "directory" | "file";
  examples: Array<[string, string]>;
  /** What runs instead of a build when --serve is given (docs: the live preview). */
  serve?(project: Project, a: StageFlags & { source?: string }, opts: ExecuteOptions): Promise<void>;
  /** Calls the module's method for these flags. */
  call(project: Project, a: StageFlags): Promise<Container | Directory | File>;
  /** Where the result goes when no output flag is given. */
  defaultOutput?(project: Project, a: StageFlags): OutputRequest;
  /** What runs after the main result was written: the test stage's verdict, an image's SBOM. */
  after?(
    project: Project,
    a: StageFlags,
    main: OutputRequest,
  ): Promise<Array<{ run: Runnable; to: OutputRequest; what: string }>>;
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

export const STAGES: StageCommand[] = [
  {
    name: "dev-image",
    describe:
      "Build the development image (toolchain, Sphinx, code browser, sshd; CUDA with --gpu) and load it as NAME-dev:VERSION[-gpu]",
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
    flags: ["source", "gpu", "avx", "test", "variant"],
    output: "directory",
    examples: [
      ["$0 build", "build the project the config names (here: examples/minipaddle)"],
      ["$0 build --no-avx --out out/build-noavx", "a build with no AVX instructions, written to out/build-noavx"],
      ["$0 build --gpu --test --source ~/myproject", "the CUDA build of another source tree, with its tests"],
    ],
    call: (p, a) => p.pipeline.build(p.source, a.gpu, a.avx, a.test, a.variant),
  },
  {
    name: "test",
    describe: "Build with tests and run them (ctest and the Python tests); writes junit.xml, fails naming failed tests",
    flags: ["source", "gpu", "avx", "variant", "emulate"],
    output: "directory",
    examples: [
      ["$0 test", "run the tests; the report lands in out/test-cpu"],
      ["$0 test --no-avx --out reports/", "test the no-AVX build, report in reports/"],
    ],
    call: (p, a) => p.pipeline.testReport(p.source, a.gpu, a.avx, a.variant, a.emulate),
    defaultOutput: (p, a) => ({ kind: "export", path: `out/test-${selectVariant(p.cfg, a).name}` }),
    after: async (p, a) => [
      { run: await p.pipeline.test(p.source, a.gpu, a.avx, a.variant, a.emulate), to: { kind: "sync" }, what: "test verdict" },
    ],
  },
  {
    name: "docs",
    describe:
      "Build the documentation site (furo): API from Doxygen comments and docstrings, pages, notebooks, the code browser (browse/)",
    flags: ["source", "strict", "serve", "port"],
    output: "directory",
    examples: [
      ["$0 docs --out out/docs", "build the site into out/docs (open out/docs/index.html)"],
      ["$0 docs --strict", "fail on any warning (a broken reference, an undocumented public symbol), naming file and line"],
      ["$0 docs --serve --port 8000", "live preview of the docs at http://127.0.0.1:8000/, rebuilt on save"],
    ],
    serve: (p, a, opts) => serveDocs(p, { source: a.source, port: a.port, execute: opts }),
    call: (p, a) => p.pipeline.docs(p.source, a.strict ?? false),
    defaultOutput: () => ({ kind: "export", path: "out/docs" }),
  },
  {
    name: "package",
    describe: "Build the Debian package (NAME[-gpu][-noavx]_VERSION_ARCH.deb) with its runtime Depends; fails on lintian errors",
    flags: ["source", "gpu", "avx", "variant"],
    output: "directory",
    examples: [
      ["$0 package", "out/package/minipaddle_0.1.0_amd64.deb and its lintian report"],
      ["$0 package --gpu --no-avx --out debs/", "the CUDA, no-AVX package minipaddle-gpu-noavx into debs/"],
      ["sudo apt install ./out/package/minipaddle_0.1.0_amd64.deb", "then install it on a host without Docker"],
    ],
    call: (p, a) => p.pipeline.package(p.source, a.gpu, a.avx, a.variant),
    defaultOutput: () => ({ kind: "export", path: "out/package" }),
  },
  {
    name: "image",
    describe:
      "Build a production image (runtime base + the package; no compilers; non-root) and load it as NAME:TAG; its SBOM goes next to it",
    flags: ["source", "variant", "sbom"],
    output: "container",
    examples: [
      ["$0 image", "load minipaddle:0.1.0; SBOM in out/sbom/minipaddle_0.1.0.cdx.json"],
      [
        "$0 image --variant gpu-noavx --tarball out/gpu-noavx.tar",
        "save minipaddle:0.1.0-gpu-noavx as a tarball, SBOM next to it",
      ],
      ["docker run --rm -v $PWD:/work minipaddle:0.1.0 /work/a.py", "then run a Python program with minipaddle importable"],
    ],
    call: (p, a) => p.pipeline.image(p.source, a.variant || "cpu"),
    defaultOutput: (p, a) => ({ kind: "tag", image: imageRef(p.cfg, variantByName(p.cfg, a.variant || "cpu")) }),
    after: async (p, a, main) => [
      {
        run: await p.pipeline.sbom(p.source, a.variant || "cpu"),
        to: { kind: "export", path: sbomPath(p, a, main) },
        what: "SBOM",
      },
    ],
  },
  {
    name: "sbom",
    describe:
      "Write a production image's software bill of materials (CycloneDX 1.5 JSON: Debian packages inside, the project's files)",
    flags: ["source", "variant"],
    output: "file",
    examples: [["$0 sbom --variant gpu --out gpu.cdx.json", "the SBOM of minipaddle:0.1.0-gpu"]],
    call: (p, a) => p.pipeline.sbom(p.source, a.variant || "cpu"),
    defaultOutput: (p, a) => ({ kind: "export", path: sbomPath(p, a, { kind: "sync" }) }),
  },
  {
    name: "book",
    describe: "Build the book: Jupyter and the example notebooks on a production image, loaded as NAME-book:TAG",
    flags: ["source", "variant", "port"],
    output: "container",
    examples: [
      ["$0 book", "load minipaddle-book:0.1.0"],
      ["$0 book --variant gpu --port 9999", "minipaddle-book:0.1.0-gpu, on port 9999"],
      [
        "docker run --rm --network host -e JUPYTER_TOKEN=secret minipaddle-book:0.1.0",
        "then open http://127.0.0.1:8888/?token=secret",
      ],
    ],
    call: (p, a) => p.pipeline.book(p.source, a.variant || "cpu", a.port ?? 0),
    defaultOutput: (p, a) => ({ kind: "tag", image: bookRef(p, a.variant) }),
  },
  {
    name: "app",
    describe:
      "Build an application image: a program folder (entry program, data, the Debian packages it lists) on a production image, loaded as APP:TAG",
    flags: ["source", "entry", "variant", "name", "sbom"],
    sourceKind: "program",
    output: "container",
    examples: [
      ["$0 app --source examples/apps/linear", "load linear:0.1.0: minipaddle:0.1.0 with the program at /app; SBOM in out/sbom/"],
      ["$0 app --source ~/job --entry train.py --variant gpu --name trainer", "trainer:0.1.0-gpu running train.py"],
      ["docker run --rm linear:0.1.0", "then run the program (its arguments after the image)"],
      ["$0 k8s --image linear:0.1.0 --app --workers 3 --rehearse", "and rehearse it as a 3-worker Kubernetes job"],
    ],
    call: (p, a) => {
      checkProgramFolder(p, a);
      return p.pipeline.app(p.source, a.entry ?? "", a.variant || "cpu", appName(p, a));
    },
    defaultOutput: (p, a) => ({ kind: "tag", image: appRef(p.cfg, variantByName(p.cfg, a.variant || "cpu"), appName(p, a)) }),
    after: async (p, a, main) => [
      {
        run: await p.pipeline.appSbom(p.source, a.entry ?? "", a.variant || "cpu", appName(p, a)),
        to: { kind: "export", path: sbomPath(p, a, main) },
        what: "SBOM",
      },
    ],
  },
];

/** The book image's default reference: NAME-book:TAG, tagged like the production image it builds on. */
export function bookRef(p: Project, v: string): string {
  const [name, tag] = imageRef(p.cfg, variantByName(p.cfg, v)).split(/:(?=[^:]*$)/);
  return `${name}-book:${tag}`;
}

/** The options every stage command shares, for `plan STAGE` too. */
export function stageOptions<T>(y: Argv<T>, stage: StageCommand): Argv<T & StageArgs> {
  // options are added by a table
  let out: Argv<any> = y.option("config", { type: "string", describe: "The project config (default: ./pipeline.yaml)" });
  if (stage.flags.includes("source")) {
    out = out.option("source", {
      type: "string",
      describe:
        stage.sourceKind === "program"
          ? "The program folder (default: the config's app.source)"
          : "The source tree to build (default: the config's source)",
    });
  }
  if (stage.flags.includes("gpu"))
    out = out.option("gpu", { type: "boolean", default: false, describe: "GPU=ON: build the CUDA code" });
  if (stage.flags.includes("avx"))
    out = out.option("avx", {
      type: "boolean",
      default: true,
      describe: "AVX=ON; --no-avx builds code with no AVX instructions",
    });
  if (stage.flags.includes("test"))
    out = out.option("test", { type: "boolean", default: false, describe: "TEST=ON: build the tests too" });
  if (stage.flags.includes("variant")) {
    // Stages that build take the variant from --gpu/--avx unless it is named; image stages default to cpu.
    const fromSwitches = stage.flags.includes("avx");
    out = out.option("variant", {
      type: "string",
      default: fromSwitches ? "" : "cpu",
      describe: fromSwitches
        ? `A variant by name (${STANDARD_VARIANTS.join(", ")}, or one the config adds); overrides --gpu and --avx`
        : `The production image variant (${STANDARD_VARIANTS.join(", ")}, or one the config adds)`,
    });
  }
  if (stage.flags.includes("emulate")) {
    out = out.option("emulate", {
      type: "boolean",
      default: true,
      describe: "Also run the tests on an emulated CPU at the variant's ISA floor (qemu-user); --no-emulate skips it",
    });
  }
  if (stage.flags.includes("entry"))
    out = out.option("entry", {
      type: "string",
      describe:
        "The program the image runs, relative to the folder: a .py or .sh file (default: the config's app.entry, main.py)",
    });
  if (stage.flags.includes("name"))
    out = out.option("name", {
      type: "string",
      describe: "The application's name, its image's name (default: the config's app.name, else the program folder's name)",
    });
  if (stage.flags.includes("port"))
    out = out.option("port", { type: "number", describe: "The port it serves on (default: the config's)" });
  if (stage.flags.includes("strict"))
    out = out.option("strict", {
      type: "boolean",
      default: false,
      describe: "Warnings are errors (sphinx -W --keep-going; undocumented public symbols from Doxygen)",
    });
  if (stage.flags.includes("serve"))
    out = out.option("serve", {
      type: "boolean",
      default: false,
      describe: "Serve a live preview (sphinx-autobuild in the dev image) on --port (default 8000) instead of building",
    });
  if (stage.flags.includes("sbom"))
    out = out.option("sbom", {
      type: "string",
      describe: "Write the image's SBOM here (default: next to the tarball, else out/sbom/)",
    });
  // yargs takes `--avx=maybe` as false: a switch given any value but true/false is refused instead.
  out = out.check(booleanValues(["gpu", "avx", "test", "force", "strict", "serve"]));
  return out as Argv<T & StageArgs>;
}

function commandFor(stage: StageCommand): CommandModule<object, StageArgs> {
  return {
    command: stage.name,
    describe: stage.describe,
    builder: (y: Argv) => {
      let b = engineOptions(stageOptions(y, stage));
      if (stage.output !== "container")
        b = b.option("out", {
          type: "string",
          describe: `Write the result to this ${stage.output === "file" ? "file" : "folder"} (atomically)`,
        });
      else {
        b = b
          .option("tag", { type: "string", describe: "Load the image into the engine under this tag" })
          .option("tarball", { type: "string", describe: "Save the image as a tarball here instead" })
          .conflicts("tag", "tarball");
      }
      b = b.option("force", forceOption);
      for (const [cmd, what] of stage.examples) b = b.example(cmd, what);
      return b as Argv<StageArgs>;
    },
    handler: async (argv: ArgumentsCamelCase<StageArgs>) => {
      const project = await loadProject({ config: argv.config, source: argv.source, cmake: stage.sourceKind !== "program" });
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
      const main = await stage.call(project, argv);
      // Every output path is checked before anything builds, the later ones (an SBOM) too.
      const later = (await stage.after?.(project, argv, request)) ?? [];
      await checkOutput(main, request, opts);
      for (const next of later) await checkOutput(next.run, next.to, opts);
      await execute(main, request, opts);
      if (request.kind === "export") process.stderr.write(`pipeline: ${stage.name} result written to ${request.path}\n`);
      if (request.kind === "tag") process.stderr.write(`pipeline: ${stage.name} image loaded as ${request.image}\n`);
      for (const next of later) {
        await execute(next.run, next.to, opts);
        if (next.to.kind === "export") process.stderr.write(`pipeline: ${stage.name} ${next.what} written to ${next.to.path}\n`);
      }
    },
  };
}

export const stageCommands = STAGES.map(commandFor);
