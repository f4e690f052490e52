/**
 * `pipeline k8s --rehearse`: runs a Job's workers (pipeline/rehearsal.ts turns the manifests into docker runs)
 * as containers on the local Docker engine, streams their logs with a worker prefix, and ends with the Job's
 * verdict: every worker succeeded, or the Job failed (backoffLimit 0: the first failure fails it, and the
 * other workers are stopped, as Kubernetes would). Its containers are removed at the end and on Ctrl-C.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { findBuildkit, dockerEnv, type DetectOptions } from "./engines/detect.ts";
import { capture } from "./proc.ts";
import { interrupted, exitCodeFor } from "./interrupt.ts";
import { parseManifests, rehearsalRuns, type WorkerRun } from "./rehearsal.ts";
import { PipelineError, StepError, UsageError } from "../modules/errors.ts";

/** How long the other workers get to finish on their own after the first one failed, before they are stopped. */
const GRACE_MS = 3000;

export interface WorkerOutcome {
  index: number;
  /** The container's exit code (docker run's), or undefined when the rehearsal stopped it. */
  code?: number;
  stopped: boolean;
}

/** A TCP port on loopback that nothing listens on now. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The Job's verdict as one line: undefined when every worker succeeded, else who failed and how. */
export function verdict(outcomes: WorkerOutcome[]): string | undefined {
  const failed = outcomes.filter((o) => !o.stopped && o.code !== 0);
  if (failed.length === 0 && outcomes.every((o) => !o.stopped)) return undefined;
  const stopped = outcomes.filter((o) => o.stopped);
  const parts = failed.map((o) => `worker-${o.index} exited with ${o.code}`);
  if (stopped.length) parts.push(`${stopped.map((o) => `worker-${o.index}`).join(", ")} stopped when the job failed`);
  return `the job failed: ${parts.join("; ")}`;
}

/** Writes `chunk` a line at a time with `prefix`, keeping a partial last line for the next chunk. */
function prefixer(prefix: string, write: (s: string) => void): { push(chunk: Buffer | string): void; end(): void } {
  let rest = "";
  return {
    push(chunk) {
      const text = rest + chunk.toString();
      const lines = text.split("\n");
      rest = lines.pop()!;
      if (lines.length) write(lines.map((l) => `${prefix}${l}\n`).join(""));
    },
    end() {
      if (rest) write(`${prefix}${rest}\n`);
      rest = "";
    },
  };
}

export interface RehearseOptions extends DetectOptions {
  /** The loopback port the workers meet on (default: a free one). */
  port?: number;
  out?: (s: string) => void;
  err?: (s: string) => void;
}

/**
 * Rehearses the Job the manifest YAML describes. Resolves when every worker succeeded; throws StepError (exit 1)
 * naming the failed workers and their exit codes otherwise, PipelineError 130/143 when interrupted.
 */
export async function rehearse(yaml: string, opts: RehearseOptions = {}): Promise<void> {
  const out = opts.out ?? ((s) => process.stdout.write(s));
  const err = opts.err ?? ((s) => process.stderr.write(s));
  const endpoint = await findBuildkit(opts);
  if (endpoint.kind !== "docker")
    throw new UsageError(
      `a rehearsal runs containers with Docker; the engine found is ${endpoint.via} (buildkitd runs no containers)`,
    );
  const env = dockerEnv(endpoint, opts.env ?? process.env);
  const docker = endpoint.client;
  const port = opts.port ?? (await freeLoopbackPort());
  const prefix = `pipeline-rehearsal-${process.pid}-${Date.now().toString(36)}`;
  const runs = rehearsalRuns(parseManifests(yaml), { port, prefix });
  const image = runs[0]!.image;

  // The image once, before the workers start (Kubernetes pulls it per node; here one pull serves all).
  if ((await capture(docker, ["image", "inspect", "--format", "{{.Id}}", image], { env, timeoutMs: 30_000 })).code !== 0) {
    err(`pipeline: ${image} is not on the engine; pulling it\n`);
    const pull = await capture(docker, ["pull", image], { env, signal: interrupted });
    if (pull.code !== 0)
      throw new StepError(
        `the rehearsal's image ${image} is neither on the engine nor pullable: ${pull.stderr.trim().split("\n").pop()}`,
      );
  }

  err(`pipeline: rehearsing ${runs.length} worker(s) of ${image} on the local engine (host network, MASTER_PORT ${port})\n`);
  const removeAll = () => capture(docker, ["rm", "-f", ...runs.map((r) => r.container)], { env, timeoutMs: 60_000 });
  const outcomes: WorkerOutcome[] = runs.map((r) => ({ index: r.index, stopped: false }));
  const stopping = new Set<number>();
  let graceTimer: NodeJS.Timeout | undefined;
  const stopOthers = () => {
    for (const o of outcomes) {
      if (o.code === undefined && !stopping.has(o.index)) {
        stopping.add(o.index);
        void capture(docker, ["kill", runs[o.index]!.container], { env, timeoutMs: 30_000 });
      }
    }
  };
  const onInterrupt = () => void removeAll();
  interrupted.addEventListener("abort", onInterrupt, { once: true });
  try {
    await Promise.all(
      runs.map(
        (run: WorkerRun) =>
          new Promise<void>((resolve) => {
            const child = spawn(docker, run.args, { env, stdio: ["ignore", "pipe", "pipe"] });
            const tag = `[worker-${run.index}] `;
            const o = prefixer(tag, out);
            const e = prefixer(tag, err);
            child.stdout.on("data", (d: Buffer) => o.push(d));
            child.stderr.on("data", (d: Buffer) => e.push(d));
            const finish = (code: number) => {
              o.end();
              e.end();
              const outcome = outcomes[run.index]!;
              outcome.code = code;
              outcome.stopped = stopping.has(run.index);
              if (code !== 0 && !outcome.stopped && !interrupted.aborted) {
                // The Job has failed (backoffLimit 0): the others get a moment to end on their own, then are stopped.
                graceTimer ??= setTimeout(stopOthers, GRACE_MS);
              }
              resolve();
            };
            child.on("error", (x) => {
              e.push(`cannot run ${docker}: ${x.message}\n`);
              finish(127);
            });
            child.on("close", (code, signal) => finish(code ?? (signal ? 128 : 1)));
          }),
      ),
    );
  } finally {
    if (graceTimer) clearTimeout(graceTimer);
    interrupted.removeEventListener("abort", onInterrupt);
    await removeAll();
  }
  if (interrupted.aborted) {
    const signal = interrupted.reason as NodeJS.Signals;
    throw new PipelineError(`interrupted (${signal}): the rehearsal's containers were removed`, exitCodeFor(signal));
  }
  const failure = verdict(outcomes);
  if (failure) throw new StepError(`k8s rehearsal: ${failure}`);
  err(`pipeline: k8s rehearsal: all ${runs.length} worker(s) succeeded\n`);
}
