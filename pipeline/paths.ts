/** Where pipeline keeps its state: the private engine, the image-mirror map. */
import { existsSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { stateDir } from "./uptodate.mjs";

// `$PIPELINE_HOME`, else `$XDG_CACHE_HOME/pipeline`, else `~/.cache/pipeline` (kept in uptodate.mjs, which
// bin.mjs loads before anything else).
export { stateDir };

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

/**
 * This tool's own folder (its package.json, dagger.json and src/index.ts): the nearest folder above the
 * running script (pipeline/bin.mjs, or a test runner under node_modules) that holds pipeline/bin.mjs and
 * dagger.json. Undefined when the script is not inside it.
 */
export function toolRoot(script: string | undefined = process.argv[1]): string | undefined {
  if (!script) return undefined;
  let d: string;
  try {
    d = dirname(realpathSync(script));
  } catch {
    return undefined;
  }
  for (; ; d = dirname(d)) {
    if (existsSync(join(d, "pipeline", "bin.mjs")) && existsSync(join(d, "dagger.json"))) return d;
    if (dirname(d) === d) return undefined;
  }
}
