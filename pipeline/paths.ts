/** Where pipeline keeps its state: the private engine, the image-mirror map. */
import { homedir } from "node:os";
import { join } from "node:path";

/** `$PIPELINE_HOME`, else `$XDG_CACHE_HOME/pipeline`, else `~/.cache/pipeline`. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PIPELINE_HOME) return env.PIPELINE_HOME;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "pipeline");
}

export function engineDir(env: NodeJS.ProcessEnv = process.env) {
  const dir = join(stateDir(env), "engine");
  return {
    dir,
    socket: join(dir, "docker.sock"),
    pidfile: join(dir, "dockerd.pid"),
    dataRoot: join(dir, "data"),
    execRoot: join(dir, "exec"),
    log: join(dir, "dockerd.log"),
    /** dockerd's --config-file: the build cache's garbage-collection policy. */
    config: join(dir, "daemon.json"),
  };
}

/** One file per build running on this machine (`<pid>.<n>.json`), so `engine down` can refuse to cut them off. */
export function runsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), "runs");
}

export function mirrorsFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), "mirrors.json");
}
