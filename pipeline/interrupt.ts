/**
 * Ctrl-C handling. The first SIGINT (or SIGTERM) aborts the run in flight: the build is cancelled,
 * temporary outputs are removed, and the CLI exits 130. A second one removes what is left and exits at once.
 */
import { rmSync } from "node:fs";
import { activeTemps } from "./outputs.ts";
import { EXIT_INTERRUPTED } from "../modules/errors.ts";

const controller = new AbortController();
export const interrupted: AbortSignal = controller.signal;

export function installInterruptHandlers(): void {
  const onSignal = () => {
    if (!controller.signal.aborted) {
      controller.abort();
      return;
    }
    for (const p of activeTemps) rmSync(p, { recursive: true, force: true });
    process.exit(EXIT_INTERRUPTED);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
