/** The output flags: where a run's result goes. At most one; none = build only (sync). */
import type { Argv } from "yargs";
import type { OutputRequest } from "./outputs.ts";

export interface OutputArgs {
  export?: string;
  tag?: string;
  tarball?: string;
}

export function outputOptions<T>(y: Argv<T>): Argv<T & OutputArgs> {
  return y
    .option("export", { type: "string", describe: "Write a Directory or File result to this host path (atomically)", group: "Output:" })
    .option("tag", { type: "string", describe: "Load a Container result into the engine as this image tag", group: "Output:" })
    .option("tarball", { type: "string", describe: "Save a Container result as an image tarball at this path", group: "Output:" })
    .conflicts("export", ["tag", "tarball"])
    .conflicts("tag", "tarball") as Argv<T & OutputArgs>;
}

export function outputRequest(argv: OutputArgs): OutputRequest {
  if (argv.export !== undefined) return { kind: "export", path: argv.export };
  if (argv.tag !== undefined) return { kind: "tag", image: argv.tag };
  if (argv.tarball !== undefined) return { kind: "tarball", path: argv.tarball };
  return { kind: "sync" };
}
