/** The output flags: where a run's result goes. At most one; none = build only (sync). */
import type { Argv } from "yargs";
import type { OutputRequest } from "./outputs.ts";
import { UsageError } from "../modules/errors.ts";

export interface OutputArgs {
  export?: string;
  tag?: string;
  tarball?: string;
  force: boolean;
}

export function outputOptions<T>(y: Argv<T>): Argv<T & OutputArgs> {
  return y
    .option("export", {
      type: "string",
      describe: "Write a Directory or File result to this host path (atomically)",
      group: "Output:",
    })
    .option("tag", { type: "string", describe: "Load a Container result into the engine as this image tag", group: "Output:" })
    .option("tarball", { type: "string", describe: "Save a Container result as an image tarball at this path", group: "Output:" })
    .option("force", forceOption)
    .conflicts("export", ["tag", "tarball"])
    .conflicts("tag", "tarball")
    .check(booleanValues(["force"])) as Argv<T & OutputArgs>;
}

/** --force: the one way to replace a folder or file at the output path that this tool did not write. */
export const forceOption = {
  type: "boolean",
  default: false,
  describe: "Replace what is at the output path even when this tool did not write it (a folder of files, a file)",
  group: "Output:",
} as const;

export function outputRequest(argv: OutputArgs): OutputRequest {
  if (argv.export !== undefined) return { kind: "export", path: argv.export, flag: "--export" };
  if (argv.tag !== undefined) return { kind: "tag", image: argv.tag };
  if (argv.tarball !== undefined) return { kind: "tarball", path: argv.tarball, flag: "--tarball" };
  return { kind: "sync" };
}

/**
 * A yargs check that refuses a boolean flag given a value other than true or false (`--avx=maybe`, which
 * yargs would take as false). `--avx`, `--no-avx`, `--avx=true` and `--avx=false` pass.
 */
export function booleanValues(names: string[], args: string[] = process.argv.slice(2)): () => true {
  return () => {
    const bad = badBoolean(names, args);
    if (bad) throw new UsageError(bad);
    return true;
  };
}

/** The message for the first boolean flag in `args` given a value other than true/false, or undefined. */
export function badBoolean(names: string[], args: string[]): string | undefined {
  for (const arg of args) {
    if (arg === "--") break;
    const m = /^--(no-)?([^=]+)=(.*)$/.exec(arg);
    if (!m || !names.includes(m[2]!)) continue;
    if (m[1]) return `--no-${m[2]} takes no value; got '${arg}'`;
    if (m[3] !== "true" && m[3] !== "false")
      return `--${m[2]} is a switch: give --${m[2]}, --no-${m[2]}, --${m[2]}=true or --${m[2]}=false, not '${m[3]}'`;
  }
  return undefined;
}
