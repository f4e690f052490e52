/**
 * Finding an engine. `auto` picks Dagger when a Dagger session or the `dagger` CLI is present, else BuildKit.
 * BuildKit is looked for, in order: a buildkitd address (`--buildkit-addr`, `$BUILDKIT_HOST`) driven by
 * `buildctl`; `$DOCKER_HOST`; the private engine that `pipeline engine up` starts; the system Docker socket.
 * A Docker daemon is driven by a client that can do BuildKit builds: one with the buildx plugin, or a client
 * older than 23 with BuildKit built in (`DOCKER_BUILDKIT=1 docker build`).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { EngineUnavailable, UsageError } from "../../modules/errors.ts";
import { engineDir, stateDir } from "../paths.ts";
import { alive, capture, which } from "../proc.ts";

export type EngineChoice = "auto" | "dagger" | "buildkit";

export type BuildkitEndpoint =
  | { kind: "docker"; client: string; mode: "buildx" | "builtin"; host: string; via: string }
  | { kind: "buildctl"; client: string; addr: string; via: string };

export interface DetectOptions {
  engine?: EngineChoice;
  buildkitAddr?: string;
  env?: NodeJS.ProcessEnv;
}

export const START_HINT = "npx pipeline engine up";

/** Which executor runs: "dagger" or "buildkit". */
export async function chooseEngine(opts: DetectOptions): Promise<"dagger" | "buildkit"> {
  const env = opts.env ?? process.env;
  const choice = opts.engine ?? "auto";
  if (choice !== "auto") return choice;
  if (env.DAGGER_SESSION_PORT || (await which("dagger", env))) return "dagger";
  return "buildkit";
}

/** The private engine's Docker host, when its daemon is running. */
export function privateEngineHost(env: NodeJS.ProcessEnv = process.env): { host?: string; pid?: number } {
  const paths = engineDir(env);
  const pid = runningDockerd(paths.pidfile);
  if (pid && existsSync(paths.socket)) return { host: `unix://${paths.socket}`, pid };
  return { pid };
}

/**
 * Whether a process runs: it exists and is not a zombie. A killed dockerd whose parent is gone can stay a
 * zombie for a while (until init reaps it): it still answers kill(0), but it is dead.
 */
export function processRunning(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\S+ \(.*\) [ZX] /s.test(stat);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ENOENT"; // no /proc: trust kill(0)
  }
}

/** The PID in a dockerd pidfile, if that process runs and is a dockerd (not a reused PID, nor a zombie). */
export function runningDockerd(pidfile: string): number | undefined {
  const pid = readPid(pidfile);
  if (!pid || !processRunning(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "dockerd" ? pid : undefined;
  } catch {
    return pid; // no /proc: trust the pidfile
  }
}

export function readPid(pidfile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidfile, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Docker hosts to try, in order, with what each is for the error message. */
export function dockerCandidates(env: NodeJS.ProcessEnv = process.env): Array<{ host?: string; via: string }> {
  const out: Array<{ host?: string; via: string }> = [];
  if (env.DOCKER_HOST) out.push({ host: env.DOCKER_HOST, via: "$DOCKER_HOST" });
  const priv = privateEngineHost(env);
  out.push({ host: priv.host, via: `private engine (${engineDir(env).socket})` });
  out.push({
    host: existsSync("/var/run/docker.sock") ? "unix:///var/run/docker.sock" : undefined,
    via: "system Docker (/var/run/docker.sock)",
  });
  return out;
}

let clientMemo: Promise<{ client: string; mode: "buildx" | "builtin" } | undefined> | undefined;

type ClientMode = "buildx" | "builtin" | "none";

/** Where the Docker CLI looks for plugins; a buildx plugin added or removed there changes what a client can do. */
function buildxPlugins(env: NodeJS.ProcessEnv): string[] {
  const config = env.DOCKER_CONFIG || join(homedir(), ".docker");
  return [config, "/usr/local/lib/docker", "/usr/local/libexec/docker", "/usr/lib/docker", "/usr/libexec/docker"].map((d) =>
    join(d, "cli-plugins", "docker-buildx"),
  );
}

/** What identifies a client's abilities without running it: the binary's and the buildx plugins' size and mtime. */
function clientKey(path: string, env: NodeJS.ProcessEnv): string {
  const id = (p: string) => {
    try {
      const st = statSync(p);
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return "-";
    }
  };
  return [path, id(path), ...buildxPlugins(env).map(id)].join("|");
}

/** Asks a client whether it has buildx, else whether it is old enough (< 23) to have BuildKit built in. Two process starts. */
async function probeClient(path: string, env: NodeJS.ProcessEnv): Promise<ClientMode> {
  const [buildx, version] = await Promise.all([
    capture(path, ["buildx", "version"], { env, timeoutMs: 10_000 }),
    capture(path, ["--version"], { env, timeoutMs: 10_000 }),
  ]);
  if (buildx.code === 0) return "buildx";
  const major = Number(/version (\d+)\./.exec(version.stdout)?.[1]);
  return major > 0 && major < 23 ? "builtin" : "none";
}

/**
 * A Docker client that can run BuildKit builds, or undefined. Probing costs process starts on every command,
 * so the answer is kept in the state dir (`clients.json`) per client binary, keyed by clientKey.
 */
export function dockerClient(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ client: string; mode: "buildx" | "builtin" } | undefined> {
  clientMemo ??= (async () => {
    const names = [env.PIPELINE_DOCKER, "docker", "/usr/bin/docker"].filter((x): x is string => !!x);
    const cacheFile = join(stateDir(env), "clients.json");
    let cache: Record<string, ClientMode> = {};
    try {
      cache = JSON.parse(readFileSync(cacheFile, "utf8"));
    } catch {
      // no cache yet, or a broken one: probe
    }
    const seen = new Set<string>();
    let found: { client: string; mode: "buildx" | "builtin" } | undefined;
    let changed = false;
    for (const name of names) {
      const path = await which(name, env);
      if (!path || seen.has(path)) continue;
      seen.add(path);
      const key = clientKey(path, env);
      let mode = cache[key];
      if (!mode) {
        mode = await probeClient(path, env);
        for (const k of Object.keys(cache)) if (k.startsWith(`${path}|`)) delete cache[k];
        cache[key] = mode;
        changed = true;
      }
      if (mode !== "none") {
        found = { client: path, mode };
        break;
      }
    }
    if (changed) {
      try {
        mkdirSync(dirname(cacheFile), { recursive: true });
        const tmp = `${cacheFile}.${process.pid}`;
        writeFileSync(tmp, JSON.stringify(cache, null, 2) + "\n");
        renameSync(tmp, cacheFile);
      } catch {
        // a read-only state dir only costs the probe next time
      }
    }
    return found;
  })();
  return clientMemo;
}

/**
 * Whether the Docker daemon at `host` answers. A unix socket is asked directly (`GET /_ping`, a few ms);
 * other hosts (tcp://, ssh://) through the client's `docker info`.
 */
async function dockerAnswers(client: string, host: string, env: NodeJS.ProcessEnv): Promise<{ ok: boolean; why: string }> {
  if (host.startsWith("unix://")) {
    const socketPath = host.slice("unix://".length);
    return new Promise((done) => {
      // A connection of its own (no keep-alive agent): a socket the daemon closed since an earlier ping in this
      // process would fail the write with EPIPE.
      const req = httpGet({ socketPath, path: "/_ping", timeout: 15_000, agent: false }, (res) => {
        res.resume();
        res.on("end", () => done({ ok: res.statusCode === 200, why: `HTTP ${res.statusCode} from ${socketPath}` }));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer from ${socketPath} in 15 s`)));
      req.on("error", (err: NodeJS.ErrnoException) =>
        done({ ok: false, why: err.code === "EACCES" ? `permission denied on ${socketPath}` : err.message }),
      );
    });
  }
  const tcp = /^tcp:\/\/([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(host);
  if (tcp && !env.DOCKER_TLS_VERIFY && !env.DOCKER_CERT_PATH) {
    // Plain TCP (no TLS): ask the daemon's API directly, which also names the network error (refused, timeout).
    const hostname = tcp[1]!.replace(/^\[|\]$/g, "");
    const port = Number(tcp[2]);
    return new Promise((done) => {
      const req = httpGet({ host: hostname, port, path: "/_ping", timeout: 15_000, agent: false }, (res) => {
        res.resume();
        res.on("end", () => done({ ok: res.statusCode === 200, why: `HTTP ${res.statusCode} from ${host}` }));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer from ${host} in 15 s`)));
      req.on("error", (err: NodeJS.ErrnoException) =>
        done({
          ok: false,
          why: err.code === "ECONNREFUSED" ? `connection refused at ${hostname}:${port}: no engine listens there` : err.message,
        }),
      );
    });
  }
  // ssh://, TLS: the client knows how to get there. `docker version` names the connection error (info's
  // --format would fail on its template first).
  const v = await capture(client, ["version", "--format", "{{.Server.Version}}"], {
    env: { ...env, DOCKER_HOST: host },
    timeoutMs: 30_000,
  });
  const why = v.stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^template:/.test(l));
  return {
    ok: v.code === 0 && !!v.stdout.trim(),
    why: why.find((l) => /cannot|error|refused|denied|timeout|ssh/i.test(l)) ?? why[0] ?? "no reply",
  };
}

/** Finds a reachable BuildKit, or throws EngineUnavailable (exit 3) saying what was tried. */
export async function findBuildkit(opts: DetectOptions = {}): Promise<BuildkitEndpoint> {
  const env = opts.env ?? process.env;
  const tried: string[] = [];
  const addr = opts.buildkitAddr ?? env.BUILDKIT_HOST;
  if (addr) {
    const client = await which("buildctl", env);
    if (!client) throw new UsageError(`a buildkitd address was given (${addr}) but 'buildctl' is not on PATH`);
    const probe = await capture(client, ["--addr", addr, "debug", "workers"], { env, timeoutMs: 15_000 });
    if (probe.code === 0) return { kind: "buildctl", client, addr, via: `buildkitd at ${addr}` };
    throw new EngineUnavailable(
      `no BuildKit engine reachable: buildkitd at ${addr} did not answer (${firstLine(probe.stderr)}). ` +
        `Start buildkitd there, or drop --buildkit-addr/$BUILDKIT_HOST and run: ${START_HINT}`,
    );
  }
  const client = await dockerClient(env);
  if (env.DOCKER_HOST) {
    // An engine named by $DOCKER_HOST is the one builds use (its image-mirror map is the one read): never
    // another in its place, as the docker client itself would not.
    const host = env.DOCKER_HOST;
    if (!client)
      throw new EngineUnavailable(
        `no Docker client with BuildKit to drive $DOCKER_HOST (${host}): install docker.io or the buildx plugin`,
      );
    const answer = await dockerAnswers(client.client, host, env);
    if (answer.ok) return { kind: "docker", client: client.client, mode: client.mode, host, via: "$DOCKER_HOST" };
    const priv = privateEngineHost(env);
    throw new EngineUnavailable(
      `no BuildKit engine reachable. Tried: $DOCKER_HOST: did not answer (DOCKER_HOST=${host}: ${answer.why}). ` +
        (host.startsWith("ssh://")
          ? `Start Docker on that host and check that \`ssh ${host.slice(6).replace(/:(\d+)$/, " -p $1")} docker version\` works; `
          : host.startsWith("tcp://")
            ? `Start the engine there (on that machine: dockerd --host ${host.replace(/^tcp:\/\/[^:/]+/, "tcp://0.0.0.0")}) or check the address; `
            : `Start the Docker daemon behind ${host}; `) +
        `to build on this machine instead, unset DOCKER_HOST (private engine: ${priv.host ? "running" : "not running"}). Start one with: ${START_HINT}`,
    );
  }
  const candidates = dockerCandidates(env);
  // Ask every candidate at once; take the first in order of preference that answered.
  const answers = await Promise.all(
    candidates.map((cand) => (cand.host && client ? dockerAnswers(client.client, cand.host, env) : undefined)),
  );
  for (const [i, cand] of candidates.entries()) {
    const answer = answers[i];
    if (!cand.host) tried.push(`${cand.via}: not running`);
    else if (!client) tried.push(`${cand.via}: no Docker client with BuildKit (install docker.io or the buildx plugin)`);
    else if (answer?.ok) return { kind: "docker", client: client.client, mode: client.mode, host: cand.host, via: cand.via };
    else tried.push(`${cand.via}: did not answer (${answer?.why ?? "no reply"})`);
  }
  throw new EngineUnavailable(`no BuildKit engine reachable. Tried: ${tried.join("; ")}. Start one with: ${START_HINT}`);
}

/** Whether an endpoint's engine still answers (after a build client failed: was it the engine that went?). */
export async function endpointAnswers(endpoint: BuildkitEndpoint, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (endpoint.kind === "buildctl") {
    const probe = await capture(endpoint.client, ["--addr", endpoint.addr, "debug", "workers"], { env, timeoutMs: 10_000 });
    return probe.code === 0;
  }
  return (await dockerAnswers(endpoint.client, endpoint.host, env)).ok;
}

/** What names an engine in the state dir (the image-mirror map): its address. */
export function engineKey(endpoint: BuildkitEndpoint): string {
  return endpoint.kind === "buildctl" ? endpoint.addr : endpoint.host.replace(/\/+$/, "");
}

/** The private engine's key (engineKey of it), whether or not it runs. */
export function privateEngineKey(env: NodeJS.ProcessEnv = process.env): string {
  return `unix://${engineDir(env).socket}`;
}

/**
 * The key of the engine findBuildkit would pick, from the environment and the state dir only (no engine is
 * asked): the planner reads the mirror map before any engine is looked for.
 */
export function expectedEngineKey(opts: DetectOptions = {}): string {
  const env = opts.env ?? process.env;
  const addr = opts.buildkitAddr ?? env.BUILDKIT_HOST;
  if (addr) return addr;
  const host = dockerCandidates(env).find((c) => c.host)?.host;
  return host ? host.replace(/\/+$/, "") : privateEngineKey(env);
}

function firstLine(s: string): string {
  return s.trim().split("\n")[0] ?? "";
}

/** The environment for running the Docker client against an endpoint. */
export function dockerEnv(
  endpoint: BuildkitEndpoint & { kind: "docker" },
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return { ...env, DOCKER_HOST: endpoint.host, DOCKER_BUILDKIT: "1" };
}
