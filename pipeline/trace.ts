/**
 * PIPELINE_TRACE=1: the CLI prints when each of its own phases ended, in seconds since the command started
 * (`pipeline: trace 0.412s config loaded`), to tell its own time from the engine's. The command started when
 * its process did, or, run by a warm process (warm.mjs), when the process that handed it over did.
 */
export function trace(what: string): void {
  const on = process.env.PIPELINE_TRACE;
  if (!on || on === "0") return;
  const origin = (globalThis as Record<symbol, unknown>)[Symbol.for("pipeline.timeOrigin")];
  const since = performance.timeOrigin + performance.now() - (typeof origin === "number" ? origin : performance.timeOrigin);
  process.stderr.write(`pipeline: trace ${(since / 1000).toFixed(3)}s ${what}\n`);
}
