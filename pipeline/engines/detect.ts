/**
 * Finding an engine. `auto` picks Dagger when a Dagger session or the `dagger` CLI is present, else BuildKit.
 * BuildKit is looked for, in order: a buildkitd address (`--buildkit-addr`, `$BUILDKIT_HOST`) driven by
 * `buildctl`; `$DOCKER_HOST`; the private engine that `pipeline engine up` starts; the system Docker socket.
 * A Docker daemon is driven by a client that can do BuildKit builds: one with the buildx plugin, or a client
 * older than 23 with BuildKit built in (`DOCKER_BUILDKIT=1 docker build`).
 */
import { existsSync, readFileSync } from "node:fs";
import { EngineUnavailable, UsageError } from "../errors.ts";
import { engineDir } from "../paths.ts";
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

/** The PID in a dockerd pidfile, if that process is alive and is a dockerd (not a reused PID). */
export function runningDockerd(pidfile: string): number | undefined {
  const pid = readPid(pidfile);
  if (!pid || !alive(pid)) return undefined;
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
  out.push({ host: existsSync("/var/run/docker.sock") ? "unix:///var/run/docker.sock" : undefined, via: "system Docker (/var/run/docker.sock)" });
  return out;
}

let clientMemo: Promise<{ client: string; mode: "buildx" | "builtin" } | undefined> | undefined;

/** A Docker client that can run BuildKit builds, or undefined. */
export function dockerClient(env: NodeJS.ProcessEnv = process.env): Promise<{ client: string; mode: "buildx" | "builtin" } | undefined> {
  clientMemo ??= (async () => {
    const names = [env.PIPELINE_DOCKER, "docker", "/usr/bin/docker"].filter((x): x is string => !!x);
    const seen = new Set<string>();
    for (const name of names) {
      const path = await which(name, env);
      if (!path || seen.has(path)) continue;
      seen.add(path);
      const buildx = await capture(path, ["buildx", "version"], { env, timeoutMs: 10_000 });
      if (buildx.code === 0) return { client: path, mode: "buildx" as const };
      const version = await capture(path, ["--version"], { env, timeoutMs: 10_000 });
      const major = Number(/version (\d+)\./.exec(version.stdout)?.[1]);
      if (major > 0 && major < 23) return { client: path, mode: "builtin" as const };
    }
    return undefined;
  })();
  return clientMemo;
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
  const candidates = dockerCandidates(env);
  // Ask every candidate at once; take the first in order of preference that answered.
  const answers = await Promise.all(
    candidates.map((cand) =>
      cand.host && client
        ? capture(client.client, ["info", "--format", "{{.ServerVersion}}"], { env: { ...env, DOCKER_HOST: cand.host }, timeoutMs: 15_000 })
        : undefined,
    ),
  );
  for (const [i, cand] of candidates.entries()) {
    const info = answers[i];
    if (!cand.host) tried.push(`${cand.via}: not running`);
    else if (!client) tried.push(`${cand.via}: no Docker client with BuildKit (install docker.io or the buildx plugin)`);
    else if (info && info.code === 0 && info.stdout.trim()) {
      return { kind: "docker", client: client.client, mode: client.mode, host: cand.host, via: cand.via };
    } else tried.push(`${cand.via}: did not answer (${firstLine(info?.stderr ?? "") || "no reply"})`);
  }
  throw new EngineUnavailable(`no BuildKit engine reachable. Tried: ${tried.join("; ")}. Start one with: ${START_HINT}`);
}

function firstLine(s: string): string {
  return s.trim().split("\n")[0] ?? "";
}

/** The environment for running the Docker client against an endpoint. */
export function dockerEnv(endpoint: BuildkitEndpoint & { kind: "docker" }, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, DOCKER_HOST: endpoint.host, DOCKER_BUILDKIT: "1" };
}
