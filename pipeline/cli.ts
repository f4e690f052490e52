/**
 * The `pipeline` CLI. Each command calls the same functions as `dagger call` and hands the lazy result to an
 * executor. Errors end in one `pipeline: ...` line (or a few, for a failed step) and the exit codes of the
 * design notes: 2 bad input, 1 failed step, 3 no engine, 130 interrupted.
 */
import yargs from "yargs";
import { PipelineError, UsageError } from "../modules/errors.ts";
import { installInterruptHandlers } from "./interrupt.ts";
import * as run from "./commands/run.ts";
import * as plan from "./commands/plan.ts";
import * as engine from "./commands/engine.ts";
import * as cache from "./commands/cache.ts";
import { stageCommands } from "./commands/stages.ts";
import * as release from "./commands/release.ts";
import * as k8s from "./commands/k8s.ts";
import * as init from "./commands/init.ts";
import pkg from "../package.json" with { type: "json" };

export async function main(args: string[]): Promise<void> {
  installInterruptHandlers();
  try {
    await yargs(args)
      .scriptName("pipeline")
      .usage("$0 <command> [options]\n\nBuild C++/CUDA/Python ML frameworks from TypeScript stages, on Dagger or BuildKit.")
      .command(run)
      .command(plan)
      .command(engine)
      .command(cache)
      .command(stageCommands)
      .command(release)
      .command(k8s)
      .command(init)
      .command(await import("./commands/call.ts"))
      .demandCommand(1, "Say which command to run; see the list above.")
      .recommendCommands()
      .strict()
      .help()
      .alias("h", "help")
      .version(pkg.version)
      .describe("version", "Show pipeline's version")
      .wrap(Math.min(110, process.stdout.columns || 110))
      .fail((msg, err) => {
        if (err) throw err;
        throw new UsageError(msg);
      })
      .parseAsync();
    process.exit(0);
  } catch (err) {
    if (err instanceof PipelineError) {
      process.stderr.write(`pipeline: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`pipeline: internal error: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  }
}
