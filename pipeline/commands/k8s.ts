/**
 * `pipeline k8s --image REF --workers N`: Kubernetes manifests for a distributed job of a production image
 * (an Indexed Job and its headless Service), validated against the Kubernetes object schemas, written as YAML.
 */
import type { ArgumentsCamelCase, Argv } from "yargs";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execute } from "../execute.ts";
import { fileMarker } from "../outputs.ts";
import { booleanValues, forceOption } from "../output-options.ts";
import { type EngineArgs, engineOptions, executeOptions } from "../options.ts";
import { loadProject } from "../project.ts";
import { STANDARD_VARIANTS } from "../../modules/variants.ts";
import { checkImageRef } from "../../modules/k8s.ts";
import { UsageError } from "../../modules/errors.ts";

interface Args extends EngineArgs {
  config?: string;
  image: string;
  workers: number;
  variant?: string;
  out?: string;
  print: boolean;
  force: boolean;
}

export const command = "k8s";
export const describe = "Write Kubernetes manifests (an Indexed Job of N workers and a headless Service) for a production image";

export function builder(y: Argv): Argv<Args> {
  return engineOptions(y)
    .option("config", { type: "string", describe: "The project config (default: ./pipeline.yaml)" })
    .option("image", { type: "string", demandOption: true, describe: "The image reference the workers run" })
    .option("workers", { type: "number", demandOption: true, describe: "How many workers (pods), 1 to 1000" })
    .option("variant", { type: "string", describe: `The image's variant (${STANDARD_VARIANTS.join(", ")}, or one the config adds) (default: read from its tag); GPU variants get a GPU limit` })
    .option("out", { type: "string", describe: "Write the YAML here (default: out/k8s/NAME.yaml)" })
    .option("print", { type: "boolean", default: false, describe: "Print the YAML on stdout instead of writing a file" })
    .option("force", forceOption)
    .check(booleanValues(["print", "force"]))
    .example("$0 k8s --image 127.0.0.1:5000/minipaddle:0.1.0-gpu --workers 4", "out/k8s/minipaddle.yaml: 4 GPU workers")
    .example("$0 k8s --image minipaddle:0.1.0 --workers 2 --print | kubectl apply -f -", "apply 2 CPU workers") as Argv<Args>;
}

export async function handler(argv: ArgumentsCamelCase<Args>): Promise<void> {
  if (argv.print && argv.out !== undefined) throw new UsageError("--print and --out both say where the YAML goes; give one");
  // Refused before the project loads or anything runs.
  const bad = checkImageRef(argv.image);
  if (bad) throw new UsageError(`--image '${argv.image}': not an image reference (${bad})`);
  const project = await loadProject({ config: argv.config });
  const manifests = await project.pipeline.k8s(argv.image, argv.workers, argv.variant ?? "");
  const toStdout = argv.print;
  const path = toStdout ? join(tmpdir(), `pipeline-k8s-${process.pid}.yaml`) : (argv.out ?? `out/k8s/${project.cfg.name}.yaml`);
  const request = { kind: "export" as const, path, ...(argv.out !== undefined ? { flag: "--out" } : {}) };
  await execute(manifests, request, { ...executeOptions(argv), progress: "quiet", say: () => {}, force: argv.force });
  if (toStdout) {
    process.stdout.write(readFileSync(path, "utf8"));
    rmSync(path, { force: true });
    rmSync(fileMarker(path), { force: true });
  } else {
    process.stderr.write(`pipeline: k8s manifests for ${argv.workers} worker(s) of ${argv.image} written to ${path}\n`);
  }
}
