/** Small helpers for running other programs (docker, buildctl, mmdebstrap). */
import { spawn } from "node:child_process";
import { constants, promises as fs } from "node:fs";
import { delimiter, join } from "node:path";

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and captures its output; never throws for a non-zero exit. */
export function capture(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string; signal?: AbortSignal } = {},
): Promise<Captured> {
  return new Promise((resolvePromise) => {
    const withInput = opts.input !== undefined;
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: [withInput ? "pipe" : "ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    const onAbort = () => child.kill("SIGINT");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      resolvePromise({ code: 127, stdout, stderr: stderr + String(err.message) });
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (withInput) {
      // A child may exit without reading its input: that is its answer, not our error.
      child.stdin!.on("error", () => {});
      child.stdin!.end(opts.input);
    }
  });
}

/** The full path of an executable on PATH, or undefined. */
export async function which(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (name.includes("/")) return (await isExecutable(name)) ? name : undefined;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when a process with this PID exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
