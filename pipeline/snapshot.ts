/**
 * The label of the build trees' snapshots (modules/compile.ts, build-tree.sh snapshot). The engine caches the
 * step that copies a variant's saved build tree into a build, before the sources; each build's restore brings
 * that copy up to date by what the saves since then changed. When a build says its snapshot is stale (the
 * tree was copied whole, a save started a new tree, or many saves have passed), the CLI keeps a new label in
 * the state folder, and the next command passes it to the module: the step runs again and takes a new snapshot.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stateDir } from "./paths.ts";

/** What a build step prints when its build tree's snapshot is stale (build-tree.sh's STALE). */
export const STALE_SNAPSHOT = /^pipeline-build: build tree snapshot: stale\b/;

const file = (env: NodeJS.ProcessEnv) => join(stateDir(env), "tree-snapshot");

/** The label the module's constructor gets ("" before any build asked for one). */
export function snapshotLabel(env: NodeJS.ProcessEnv = process.env): string {
  try {
    return readFileSync(file(env), "utf8").trim();
  } catch {
    return "";
  }
}

/** Keeps a new label, so that the next build takes new snapshots. */
export function renewSnapshotLabel(env: NodeJS.ProcessEnv = process.env): string {
  const label = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  mkdirSync(stateDir(env), { recursive: true });
  const tmp = `${file(env)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${label}\n`);
  renameSync(tmp, file(env));
  return label;
}
