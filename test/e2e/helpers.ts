/** Running the real CLI against the real engine, as a user would. */
import * as assert from "uvu/assert";
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import { dockerEnv, findBuildkit } from "../../pipeline/engines/detect.ts";
import { which } from "../../pipeline/proc.ts";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = join(ROOT, "pipeline", "bin.mjs");
export const graph = (name: string) => join(ROOT, "test", "fixtures", "graphs", `${name}.ts`);

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function start(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, CI: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return start(args, env).done;
}

/** The "N steps, N cached, N run" summary the CLI prints at the end of a run. */
export function summary(stderr: string): { steps: number; cached: number; run: number } {
  const m = /(\d+) steps, (\d+) cached, (\d+) run/.exec(stderr);
  if (!m) throw new Error(`no summary in output:\n${stderr.slice(-2000)}`);
  return { steps: Number(m[1]), cached: Number(m[2]), run: Number(m[3]) };
}

const scratchDirs: string[] = [];
// Build trees, images and packages add up to hundreds of MB a run: scratch folders go when the test process
// ends, unless PIPELINE_KEEP_SCRATCH=1 keeps them to look at.
process.on("exit", () => {
  if (process.env.PIPELINE_KEEP_SCRATCH) return;
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

/** A new temporary folder, removed when the test process ends. */
export function scratch(prefix = "pipeline-e2e-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.push(dir);
  return dir;
}

/** Leftover temporaries that an export would have written next to its destination. */
export function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes(".pipeline-"));
}

export function explain(r: CliResult): string {
  return `exit ${r.code}\n--- stderr (tail) ---\n${r.stderr.slice(-3000)}`;
}

/** A Docker client bound to the engine the CLI uses (BuildKit on), for checking what a run produced. */
export async function dockerOnEngine(): Promise<(args: string[]) => SpawnSyncReturns<string>> {
  const endpoint = await findBuildkit();
  if (endpoint.kind !== "docker") throw new Error("these tests inspect images with Docker; run them against a Docker engine");
  const env = dockerEnv(endpoint);
  return (args) => spawnSync(endpoint.client, args, { env, encoding: "utf8", maxBuffer: 1 << 30 });
}

/** A TCP port on loopback that nothing listens on now (for servers run with host networking). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers (any HTTP status) or `ms` pass; returns the last response or undefined. */
export async function waitForHttp(url: string, ms: number): Promise<Response | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(5000) });
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return undefined;
}

/** Fails with the install command when a Debian-packaged tool a test drives is missing (the README's set-up installs it). */
export async function needTool(command: string, debianPackage: string): Promise<void> {
  if (!(await which(command)))
    throw new Error(
      `${command} is not installed; run: apt-get install -y ${debianPackage} (the README's set-up command installs it)`,
    );
}

/** PIDs of processes whose command line contains `needle` (other than the looking process). */
export function processesMatching(needle: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes(needle) && Number(pid) !== process.pid) out.push(Number(pid));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `run` of the slow fixture graph (a step that sleeps a number no other process has) exporting to
 * `out`, and waits until its step runs. Returns the CLI's process, its result, and the step's marker.
 */
export async function startSlowRun(out: string, env: NodeJS.ProcessEnv = {}, args: string[] = []) {
  const seconds = String(100_000 + Math.floor(Math.random() * 900_000));
  const run = start(["run", graph("slow"), "--export", out, ...args], { E2E_SLEEP: seconds, ...env });
  let stderr = "";
  run.child.stderr!.on("data", (d) => (stderr += d));
  const deadline = Date.now() + 120_000;
  while (processesMatching(`sleep ${seconds}`).length === 0) {
    if (Date.now() > deadline) throw new Error(`the step never started:\n${stderr}`);
    await sleep(100);
  }
  return { ...run, seconds };
}

/**
 * Whether the pipeline's own ISA check held at `floor` in this build: its verdict line (BuildKit prefixes each
 * line with `#N SECONDS `), or, on an engine that already ran this very check, its step reported CACHED
 * (BuildKit keeps only steps that succeeded, so a cached check is one that passed on the same files).
 */
export function isaHeld(r: { stdout: string; stderr: string }, floor: string): boolean {
  const log = r.stdout + r.stderr;
  if (log.split("\n").some((l) => /isa-check: \d+ files?, .*nothing above/.test(l) && l.includes(`nothing above ${floor}`)))
    return true;
  // The check runs as a step of its own (exec form) or inside the compile step's shell: either way a CACHED
  // step is one an earlier run of the same inputs held the floor in (a failing check fails its step).
  const step = new RegExp(`^#(\\d+) \\[.*isa_check\\.py(?:","|\\s+)--floor(?:","|\\s+)${floor}[\\s"]`, "m").exec(log);
  return step !== null && new RegExp(`^#${step[1]} CACHED$`, "m").test(log);
}

/** Headless Chromium: the page's DOM after it loaded. */
export function dumpDom(url: string): string {
  const r = spawnSync("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url], {
    encoding: "utf8",
    timeout: 60_000,
    maxBuffer: 1 << 28,
  });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}

/** The text of a DOM, tags gone and whitespace folded. */
export function domText(dom: string): string {
  return dom
    .replace(/<script[\s\S]*?<\/script>/g, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ");
}
