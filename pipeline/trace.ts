/**
 * PIPELINE_TRACE=1: the CLI prints when each of its own phases ended, in seconds since the process started
 * (`pipeline: trace 0.412s config loaded`), to tell its own time from the engine's.
 */
const on = !!process.env.PIPELINE_TRACE && process.env.PIPELINE_TRACE !== "0";

export function trace(what: string): void {
  if (on) process.stderr.write(`pipeline: trace ${(performance.now() / 1000).toFixed(3)}s ${what}\n`);
}
