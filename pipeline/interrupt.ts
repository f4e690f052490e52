/**
 * Ctrl-C and kill handling. The first SIGINT (or SIGTERM) aborts the run in flight: the build is cancelled,
 * temporary outputs are removed, and the CLI exits 130 for SIGINT, 143 for SIGTERM (128 + the signal's
 * number, as shells report it). A second one removes what is left and exits at once.
 */
import { rmSync } from "node:fs";
import { activeTemps } from "./outputs.ts";
import { EXIT_INTERRUPTED, EXIT_TERMINATED } from "../modules/errors.ts";

const controller = new AbortController();
/** Aborted by the first signal; its reason is the signal's name ("SIGINT" or "SIGTERM"). */
export const interrupted: AbortSignal = controller.signal;

/** The exit code for a run stopped by `signal`. */
export function exitCodeFor(signal: NodeJS.Signals): number {
  return signal === "SIGTERM" ? EXIT_TERMINATED : EXIT_INTERRUPTED;
}

export function installInterruptHandlers(): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      controller.abort(signal);
      return;
    }
    for (const p of activeTemps) rmSync(p, { recursive: true, force: true });
    process.exit(exitCodeFor(controller.signal.reason as NodeJS.Signals));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
