/** Options every command that runs something shares: which engine, and how progress is shown. */
import type { Argv } from "yargs";
import type { EngineChoice } from "./engines/detect.ts";
import type { ProgressMode } from "./progress.ts";
import type { ExecuteOptions } from "./execute.ts";
import { interrupted } from "./interrupt.ts";

export interface EngineArgs {
  engine: EngineChoice;
  "buildkit-addr"?: string;
  progress: ProgressMode;
}

export function engineOptions<T>(y: Argv<T>): Argv<T & EngineArgs> {
  return y
    .option("engine", {
      choices: ["auto", "dagger", "buildkit"] as const,
      default: "auto" as EngineChoice,
      describe: "Engine to run on: auto = Dagger when a Dagger session or the dagger CLI is present, else BuildKit",
      group: "Engine:",
    })
    .option("buildkit-addr", {
      type: "string",
      describe: "Address of a standalone buildkitd to drive with buildctl (default: $BUILDKIT_HOST, else Docker's BuildKit)",
      group: "Engine:",
    })
    .option("progress", {
      choices: ["auto", "plain", "tty", "quiet"] as const,
      default: "auto" as ProgressMode,
      describe:
        "Progress display: plain log lines, a compact live view, or quiet (a line per run) (auto: tty on a terminal, plain in CI)",
      group: "Engine:",
    }) as Argv<T & EngineArgs>;
}

export function executeOptions(argv: EngineArgs): ExecuteOptions {
  return { engine: argv.engine, buildkitAddr: argv["buildkit-addr"], progress: argv.progress, signal: interrupted };
}
