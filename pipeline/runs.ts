/**
 * Builds running on this machine: each solve keeps a file in the state dir (`runs/<pid>.<id>.json`: its pid,
 * the engine it runs on, its command line) while its client runs, so `engine down` can see the builds it
 * would cut off. Files of processes that are gone are stale and skipped (and removed).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { runsDir } from "./paths.ts";
import { alive } from "./proc.ts";

export interface RunEntry {
  pid: number;
  /** The engine's key (engineKey in engines/detect.ts). */
  engine: string;
  command: string;
  started: string;
}

/** Records a build running on `engine`; the returned function removes the record. Never throws. */
export function registerRun(engine: string, env: NodeJS.ProcessEnv = process.env): () => void {
  const dir = runsDir(env);
  const file = join(dir, `${process.pid}.${randomBytes(4).toString("hex")}.json`);
  const entry: RunEntry = {
    pid: process.pid,
    engine,
    command: ["pipeline", ...process.argv.slice(2)].join(" "),
    started: new Date().toISOString(),
  };
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, JSON.stringify(entry) + "\n");
  } catch {
    return () => {}; // a read-only state dir: `engine down` just cannot warn about this build
  }
  return () => rmSync(file, { force: true });
}

/** The builds running now (on `engine`, when given); records of dead processes are removed. */
export function runningBuilds(engine?: string, env: NodeJS.ProcessEnv = process.env): RunEntry[] {
  const dir = runsDir(env);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  const out: RunEntry[] = [];
  for (const name of names) {
    let entry: RunEntry;
    try {
      entry = JSON.parse(readFileSync(join(dir, name), "utf8"));
    } catch {
      continue; // being written or removed right now
    }
    if (!Number.isInteger(entry.pid) || !alive(entry.pid)) {
      rmSync(join(dir, name), { force: true });
      continue;
    }
    if (engine === undefined || entry.engine === engine) out.push(entry);
  }
  return out;
}
