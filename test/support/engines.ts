/**
 * Real parts that tests and benchmarks start for themselves: a second Docker engine listening on loopback TCP
 * (its own data root, reached only through DOCKER_HOST=tcp://...), and Debian's docker-registry on loopback.
 */
import { type ChildProcess, spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, needTool, sleep, waitForHttp } from "../e2e/helpers.ts";
import { processRunning } from "../../pipeline/engines/detect.ts";
import { mountsUnder, orphanSteps } from "../../pipeline/engine-daemon.ts";

export interface SecondEngine {
  /** tcp://127.0.0.1:PORT, for DOCKER_HOST. */
  host: string;
  dockerd: ChildProcess;
  /** The docker client against this engine. */
  docker(args: string[], input?: string): SpawnSyncReturns<string>;
  /** Stops the engine (or cleans up after one that was killed): its steps' processes and mounts. */
  stop(): Promise<void>;
}

/** Starts a dockerd with its data under `root`, on loopback `port` (default: a free one), and waits until it answers. */
export async function startSecondDockerd(root: string, port?: number): Promise<SecondEngine> {
  const host = `tcp://127.0.0.1:${port ?? (await freePort())}`;
  const docker = (args: string[], input?: string) =>
    spawnSync("/usr/bin/docker", args, {
      env: { ...process.env, DOCKER_HOST: host },
      encoding: "utf8",
      input,
      maxBuffer: 1 << 28,
    });
  const dockerd = spawn(
    "dockerd",
    [
      "--data-root",
      join(root, "data"),
      "--exec-root",
      join(root, "exec"),
      "--pidfile",
      join(root, "pid"),
      "--host",
      host,
      "--bridge=none",
      "--iptables=false",
      "--ip-forward=false",
    ],
    { stdio: "ignore", detached: true },
  );
  const deadline = Date.now() + 60_000;
  while (docker(["info", "--format", "{{.ServerVersion}}"]).status !== 0) {
    if (Date.now() > deadline) throw new Error("the second dockerd did not come up");
    await sleep(300);
  }
  const stop = async () => {
    if (dockerd.pid && processRunning(dockerd.pid)) {
      process.kill(dockerd.pid, "SIGTERM");
      const gone = Date.now() + 30_000;
      while (processRunning(dockerd.pid) && Date.now() < gone) await sleep(200);
    }
    for (const pid of orphanSteps(join(root, "data"))) process.kill(pid, "SIGKILL");
    for (const m of mountsUnder([join(root, "data"), join(root, "exec")])) spawnSync("umount", ["-l", m]);
  };
  return { host, dockerd, docker, stop };
}

export interface LoopbackRegistry {
  /** 127.0.0.1:PORT */
  addr: string;
  stop(): void;
}

/** Starts Debian's docker-registry on a free loopback port, storing under `dir`, and waits until it answers. */
export async function startRegistry(dir: string): Promise<LoopbackRegistry> {
  await needTool("docker-registry", "docker-registry");
  const port = await freePort();
  const config = join(dir, "registry.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/registry\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
  const up = await waitForHttp(`http://127.0.0.1:${port}/v2/`, 20_000);
  if (up?.status !== 200) {
    child.kill();
    throw new Error(`the registry on 127.0.0.1:${port} did not answer`);
  }
  return { addr: `127.0.0.1:${port}`, stop: () => child.kill() };
}
