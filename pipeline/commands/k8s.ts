/**
 * `pipeline k8s --image REF --workers N`: Kubernetes manifests for a distributed job of a production image
 * (an Indexed Job and its headless Service), validated against the Kubernetes object schemas, written as YAML.
 * `--app`: the image is an application image (its entrypoint runs the program). `--rehearse`: the same
 * manifests run here, one container per worker on the local engine (pipeline/rehearse.ts).
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execute } from "../execute.ts";
import { fileMarker } from "../outputs.ts";
import { booleanValues, forceOption } from "../output-options.ts";
import { type EngineArgs, engineOptions, executeOptions } from "../options.ts";
import { loadProject } from "../project.ts";
import type { ModuleSpec } from "../introspect.ts";
import { functionNamed, functionOptions } from "../function-options.ts";
import { checkImageRef, jobNameOfImage } from "../../modules/k8s.ts";
import { UsageError } from "../../modules/errors.ts";
import { rehearse } from "../rehearse.ts";

interface Args extends EngineArgs {
  config?: string;
  image: string;
  workers: number;
  variant?: string;
  out?: string;
  print: boolean;
  force: boolean;
  app: boolean;
  rehearse: boolean;
}

/** `k8s`: --image, --workers, --variant and --app are the module's k8s function's arguments; the rest are the CLI's. */
export function k8sCommand(spec: ModuleSpec): CommandModule<object, Args> {
  const fn = functionNamed(spec, "k8s");
  return {
    command: "k8s",
    describe:
      "Write Kubernetes manifests (an Indexed Job of N workers and a headless Service) for a production or application image; --rehearse runs them here",
    builder: (y: Argv) =>
      functionOptions(engineOptions(y), fn)
        .option("config", { type: "string", describe: "The project config (default: ./pipeline.yaml)" })
        .option("out", { type: "string", describe: "Write the YAML here (default: out/k8s/NAME.yaml)" })
        .option("print", { type: "boolean", default: false, describe: "Print the YAML on stdout instead of writing a file" })
        .option("rehearse", {
          type: "boolean",
          default: false,
          describe:
            "Run the job here first: one container per worker on the local engine (host network), with the env Kubernetes gives; exits 1 naming failed workers",
        })
        .option("force", forceOption)
        .check(booleanValues(["print", "force", "app", "rehearse"]))
        .example("$0 k8s --image 127.0.0.1:5000/minipaddle:0.1.0-gpu --workers 4", "out/k8s/minipaddle.yaml: 4 GPU workers")
        .example("$0 k8s --image minipaddle:0.1.0 --workers 2 --print | kubectl apply -f -", "apply 2 CPU workers")
        .example(
          "$0 k8s --image linear:0.1.0 --app --workers 3 --rehearse",
          "run the application's 3 workers here, as the cluster would",
        ) as Argv<Args>,
    handler,
  };
}

async function handler(argv: ArgumentsCamelCase<Args>): Promise<void> {
  if (argv.print && argv.out !== undefined) throw new UsageError("--print and --out both say where the YAML goes; give one");
  if (argv.print && argv.rehearse)
    throw new UsageError(
      "--print writes the YAML on stdout, where a rehearsal streams its workers' logs; give one (--out FILE keeps the YAML)",
    );
  // Refused before the project loads or anything runs.
  const bad = checkImageRef(argv.image);
  if (bad) throw new UsageError(`--image '${argv.image}': not an image reference (${bad})`);
  const project = await loadProject({ config: argv.config });
  const manifests = await project.pipeline.k8s(argv.image, argv.workers, argv.variant ?? "", argv.app);
  const name = argv.app ? jobNameOfImage(argv.image) : project.cfg.name;
  // A rehearsal writes the manifests only where --out says; it reads them back from the file either way.
  const toStdout = argv.print;
  const temporary = toStdout || (argv.rehearse && argv.out === undefined);
  const path = temporary ? join(tmpdir(), `pipeline-k8s-${process.pid}.yaml`) : (argv.out ?? `out/k8s/${name}.yaml`);
  const request = { kind: "export" as const, path, ...(argv.out !== undefined ? { flag: "--out" } : {}) };
  await execute(manifests, request, { ...executeOptions(argv), progress: "quiet", say: () => {}, force: argv.force });
  const yaml = readFileSync(path, "utf8");
  if (temporary) {
    rmSync(path, { force: true });
    rmSync(fileMarker(path), { force: true });
  }
  if (toStdout) process.stdout.write(yaml);
  else if (!temporary)
    process.stderr.write(`pipeline: k8s manifests for ${argv.workers} worker(s) of ${argv.image} written to ${path}\n`);
  // The rehearsal runs what the manifests say: the YAML just written is its only input.
  if (argv.rehearse) await rehearse(yaml, { engine: argv.engine, buildkitAddr: argv["buildkit-addr"] });
}
