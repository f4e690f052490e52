/**
 * The private engine: a dockerd with its own data root, exec root and socket under the state dir (no bridge,
 * no iptables), for machines where no BuildKit is reachable: up, down, status, prune. (`seed`, the Debian base
 * images for machines with no registry, is pipeline/engine-seed.ts.)
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, promises as fs, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EngineUnavailable, UsageError } from "../modules/errors.ts";
import { engineDir } from "./paths.ts";
import { capture, which } from "./proc.ts";
import {
  type BuildkitEndpoint,
  dockerClient,
  dockerEnv,
  engineKey,
  findBuildkit,
  privateEngineHost,
  privateEngineKey,
  processRunning,
  runningDockerd,
} from "./engines/detect.ts";
import { runningBuilds } from "./runs.ts";

type Say = (line: string) => void;

/** The build cache's size bound when neither `--cache-size` nor `$PIPELINE_ENGINE_CACHE` says another. */
export const DEFAULT_CACHE_SIZE = "20GB";

/** A size as dockerd reads it (go-units RAMInBytes): 20GB, 512MB, 1.5g, 10GiB. */
const SIZE = /^\d+(\.\d+)? ?[kKmMgGtTpP]?[iI]?[bB]?$/;

export function checkSize(size: string, what: string): string {
  const s = size.trim();
  if (!SIZE.test(s)) throw new UsageError(`${what}: expected a size such as 20GB, 512MB or 1.5TB, got '${size}'`);
  return s;
}

async function reachable(): Promise<BuildkitEndpoint | undefined> {
  try {
    return await findBuildkit();
  } catch (err) {
    if (err instanceof EngineUnavailable) return undefined;
    throw err;
  }
}

/** Mount points at or under any of `roots` (from /proc/self/mountinfo), deepest first. */
export function mountsUnder(roots: string[], mountinfo = "/proc/self/mountinfo"): string[] {
  let text: string;
  try {
    text = readFileSync(mountinfo, "utf8");
  } catch {
    return [];
  }
  const unescape = (f: string) => f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const points = text
    .split("\n")
    .filter(Boolean)
    .map((l) => unescape(l.split(" ")[4] ?? ""));
  const under = points.filter((m) => roots.some((r) => m === r || m.startsWith(`${r}/`)));
  return [...new Set(under)].sort((a, b) => b.length - a.length);
}

/**
 * Processes of build steps that outlived their engine: BuildKit runs each step in the cgroup
 * `.../buildkit/<id>`, with its bundle in `<data root>/buildkit/executor/<id>`.
 */
export function orphanSteps(dataRoot: string): number[] {
  const out: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((n) => /^\d+$/.test(n));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const id = /\/buildkit\/([a-z0-9]+)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, "utf8"))?.[1];
      if (id && existsSync(join(dataRoot, "buildkit", "executor", id)) && processRunning(Number(pid))) out.push(Number(pid));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Running processes whose command line contains `needle`. */
function processesWith(needle: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(needle) && processRunning(Number(pid)))
        out.push(Number(pid));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/**
 * A dockerd that was killed leaves its build steps running and its mounts on the host: BuildKit's overlay
 * mounts of the steps it ran and the bind mount of its data root. When the private dockerd is not running,
 * stop those steps and detach the mounts (lazily).
 */
async function cleanMounts(say: Say): Promise<void> {
  const p = engineDir();
  if (runningDockerd(p.pidfile)) return;
  // The containerd a killed dockerd started outlives it, holding its socket and state: a new dockerd would
  // wait for it and time out. Stop it first, and forget its pid file.
  const containerd = processesWith(join(p.execRoot, "containerd", "containerd.toml"));
  for (const pid of containerd) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  const stopped = Date.now() + 5000;
  while (containerd.some(processRunning) && Date.now() < stopped) await new Promise((r) => setTimeout(r, 100));
  await fs.rm(join(p.execRoot, "containerd", "containerd.pid"), { force: true });
  if (containerd.length > 0) say(`stopped the containerd (pid ${containerd.join(", ")}) a stopped engine left running`);
  const orphans = orphanSteps(p.dataRoot);
  for (const pid of orphans) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  const gone = Date.now() + 3000;
  while (orphans.some(processRunning) && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
  if (orphans.length > 0) say(`stopped ${orphans.length} build step process(es) a stopped engine left running`);
  const roots = [p.dataRoot, p.execRoot];
  let left = mountsUnder(roots);
  if (left.length === 0) return;
  const count = left.length;
  const umount = (await which("umount")) ?? "/bin/umount";
  let why = "";
  for (let round = 0; round < 3 && left.length > 0; round++) {
    for (const m of left) {
      const r = await capture(umount, ["-l", m]);
      if (r.code !== 0) why = r.stderr.trim();
    }
    left = mountsUnder(roots);
  }
  if (left.length > 0) {
    throw new EngineUnavailable(
      `could not unmount what a stopped engine left under ${p.dir} (${why}): ${left.join(", ")}; run: umount -l PATH`,
    );
  }
  say(`removed ${count} mount(s) a stopped engine left under ${p.dir}`);
}

export interface UpOptions {
  timeoutS?: number;
  /** The build cache's size bound (dockerd's builder GC); default $PIPELINE_ENGINE_CACHE, else DEFAULT_CACHE_SIZE. */
  cacheSize?: string;
}

/** The cache bound asked for: --cache-size, else $PIPELINE_ENGINE_CACHE, else the default. */
export function cacheSize(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined) return checkSize(flag, "--cache-size");
  if (env.PIPELINE_ENGINE_CACHE) return checkSize(env.PIPELINE_ENGINE_CACHE, "$PIPELINE_ENGINE_CACHE");
  return DEFAULT_CACHE_SIZE;
}

/** dockerd's config: BuildKit's garbage collector keeps the build cache under `keep`. */
export function daemonConfig(keep: string): object {
  return { builder: { gc: { enabled: true, defaultKeepStorage: keep } } };
}

/** The cache bound in the private engine's daemon.json, if it has one. */
function configuredCacheSize(): string | undefined {
  try {
    return JSON.parse(readFileSync(engineDir().config, "utf8"))?.builder?.gc?.defaultKeepStorage;
  } catch {
    return undefined;
  }
}

export async function engineUp(say: Say, opts: UpOptions = {}): Promise<void> {
  const timeoutS = opts.timeoutS ?? 60;
  const keep = cacheSize(opts.cacheSize);
  await cleanMounts(say);
  const existing = await reachable();
  if (existing) {
    const where = existing.kind === "docker" ? existing.host : existing.addr;
    say(`an engine is already reachable: ${existing.via} (${where}); nothing to start`);
    const running = configuredCacheSize();
    if (engineKey(existing) === privateEngineKey() && running !== keep && (opts.cacheSize || process.env.PIPELINE_ENGINE_CACHE)) {
      say(`its build cache limit is ${running ?? "unset"}; ${keep} takes effect when it restarts (engine down, then engine up)`);
    }
    return;
  }
  const dockerd = await which("dockerd");
  if (!dockerd) {
    throw new EngineUnavailable("dockerd is not installed; install it with: apt-get install -y docker.io");
  }
  const client = await dockerClient();
  if (!client) throw new EngineUnavailable("no Docker client with BuildKit; install one with: apt-get install -y docker.io");
  const p = engineDir();
  if (p.socket.length > 100)
    throw new UsageError(
      `the engine socket path is too long for a Unix socket: ${p.socket}; set PIPELINE_HOME to a shorter folder`,
    );
  await fs.mkdir(p.dir, { recursive: true });
  // A pidfile or socket left by a dockerd that is gone (a reboot, a kill) would stop a new one starting.
  if (!runningDockerd(p.pidfile)) await fs.rm(p.pidfile, { force: true });
  await fs.rm(p.socket, { force: true });
  await fs.writeFile(p.config, JSON.stringify(daemonConfig(keep), null, 2) + "\n");
  const log = openSync(p.log, "a");
  const child = spawn(
    dockerd,
    [
      "--config-file",
      p.config,
      "--data-root",
      p.dataRoot,
      "--exec-root",
      p.execRoot,
      "--pidfile",
      p.pidfile,
      "--host",
      `unix://${p.socket}`,
      "--bridge=none",
      "--iptables=false",
      "--ip-forward=false",
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  closeSync(log);
  let exited: number | null = null;
  child.on("exit", (code) => (exited = code ?? 1));
  child.unref();
  say(`starting dockerd (pid ${child.pid}), data in ${p.dataRoot}, build cache kept under ${keep} ...`);
  const host = `unix://${p.socket}`;
  const deadline = Date.now() + timeoutS * 1000;
  while (Date.now() < deadline) {
    if (exited !== null) break;
    const info = await capture(client.client, ["info", "--format", "{{.ServerVersion}}"], {
      env: { ...process.env, DOCKER_HOST: host },
      timeoutMs: 5000,
    });
    if (info.code === 0 && info.stdout.trim()) {
      say(`engine up: Docker ${info.stdout.trim()} with BuildKit, pid ${child.pid}`);
      say(`pipeline finds it without flags; for the docker client: export DOCKER_HOST=${host}`);
      if (process.env.DOCKER_HOST && process.env.DOCKER_HOST !== host) {
        say(
          `note: $DOCKER_HOST is set (${process.env.DOCKER_HOST}) and builds use it, not this engine: unset DOCKER_HOST to build here`,
        );
      }
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const tail = readFileSync(p.log, "utf8").trim().split("\n").slice(-8).join("\n  ");
  if (exited === null) child.pid && process.kill(child.pid, "SIGTERM");
  throw new EngineUnavailable(`dockerd did not come up within ${timeoutS}s (log ${p.log}):\n  ${tail}`);
}

export interface DownOptions {
  timeoutS?: number;
  /** Stop the engine even while builds run on it (they fail with exit 3). */
  force?: boolean;
}

export async function engineDown(say: Say, opts: DownOptions = {}): Promise<void> {
  const timeoutS = opts.timeoutS ?? 30;
  const p = engineDir();
  const pid = runningDockerd(p.pidfile);
  if (!pid) {
    say("no private engine is running");
    await fs.rm(p.socket, { force: true });
    await cleanMounts(say);
    return;
  }
  const builds = runningBuilds(privateEngineKey());
  const list = builds.map((b) => `pid ${b.pid} (${b.command}, since ${b.started})`).join("; ");
  if (builds.length > 0 && !opts.force) {
    throw new UsageError(
      `${builds.length} build(s) running on the private engine: ${list}. Stopping it would cut them off; ` +
        `wait for them, or stop it anyway with: npx pipeline engine down --force`,
    );
  }
  if (builds.length > 0) say(`stopping the engine under ${builds.length} running build(s) (--force): ${list}`);
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + timeoutS * 1000;
  while (processRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (processRunning(pid)) process.kill(pid, "SIGKILL");
  await fs.rm(p.socket, { force: true });
  await fs.rm(p.pidfile, { force: true });
  await cleanMounts(say);
  say(`engine down: stopped dockerd (pid ${pid}); its data stays in ${p.dataRoot}`);
}

/** `docker system df`'s line for one type (Images, Build Cache, ...), when the engine is a Docker daemon. */
async function diskUsage(
  endpoint: BuildkitEndpoint,
): Promise<Map<string, { Size: string; Reclaimable: string; TotalCount: string }>> {
  const out = new Map<string, { Size: string; Reclaimable: string; TotalCount: string }>();
  if (endpoint.kind !== "docker") return out;
  const df = await capture(endpoint.client, ["system", "df", "--format", "{{json .}}"], {
    env: dockerEnv(endpoint),
    timeoutMs: 60_000,
  });
  if (df.code !== 0) return out;
  for (const line of df.stdout.split("\n")) {
    try {
      const row = JSON.parse(line);
      if (row?.Type) out.set(row.Type, row);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

export async function engineStatus(say: Say): Promise<void> {
  const p = engineDir();
  const priv = privateEngineHost();
  say(priv.host ? `private engine: running (pid ${priv.pid}, ${priv.host})` : `private engine: not running (${p.dir})`);
  const endpoint = await findBuildkit();
  const where = endpoint.kind === "docker" ? `${endpoint.host}, client ${endpoint.client} (${endpoint.mode})` : endpoint.addr;
  say(`BuildKit: ${endpoint.via}: ${where}`);
  const df = await diskUsage(endpoint);
  const images = df.get("Images");
  const cache = df.get("Build Cache");
  if (images) say(`image store: ${images.Size} (${images.TotalCount} images, ${images.Reclaimable} reclaimable)`);
  if (cache) {
    const limit = engineKey(endpoint) === privateEngineKey() ? configuredCacheSize() : undefined;
    say(
      `build cache: ${cache.Size} (${cache.Reclaimable} reclaimable)` +
        (limit ? `; kept under ${limit} by the engine's garbage collector` : "") +
        "; free it with: npx pipeline engine prune",
    );
  }
}

export interface PruneOptions {
  all?: boolean;
  keepStorage?: string;
}

/** Frees the engine's build cache: what is not in use (or all of it, or down to a size); says what it reclaimed. */
export async function enginePrune(opts: PruneOptions, say: Say): Promise<void> {
  const keep = opts.keepStorage === undefined ? undefined : checkSize(opts.keepStorage, "--keep-storage");
  const endpoint = await findBuildkit();
  if (endpoint.kind !== "docker")
    throw new UsageError(
      `prune drives Docker's builder; for the buildkitd at ${endpoint.addr} run: buildctl --addr ${endpoint.addr} prune`,
    );
  const args = ["builder", "prune", "-f", ...(opts.all ? ["--all"] : []), ...(keep ? ["--keep-storage", keep] : [])];
  const r = await capture(endpoint.client, args, { env: dockerEnv(endpoint) });
  if (r.code !== 0)
    throw new EngineUnavailable(`docker ${args.join(" ")} failed on ${endpoint.via}: ${(r.stderr || r.stdout).trim()}`);
  const reclaimed = /Total reclaimed space:\s*(\S+)/.exec(r.stdout)?.[1] ?? "0B";
  const records = r.stdout.split("\n").filter((l) => /^[a-z0-9]{20,}\*?$/i.test(l.trim())).length;
  say(`prune: reclaimed ${reclaimed} (${records} cache records) on ${endpoint.via}`);
  const cache = (await diskUsage(endpoint)).get("Build Cache");
  if (cache) say(`build cache now: ${cache.Size}`);
}
