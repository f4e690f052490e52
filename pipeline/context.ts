/**
 * Writes a plan's build context to a folder: host directories (filtered by their include/exclude patterns),
 * host files, new files' contents and the empty directory, plus the Dockerfile. Files are hard-linked where
 * the filesystem allows, copied otherwise, so staging a large source tree costs little.
 */
import { createHash } from "node:crypto";
import { promises as fs, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { ContextEntry, Plan } from "./plan.ts";
import { compileFilters } from "./path-filters.mjs";
// The include/exclude semantics live in path-filters.mjs (the up-to-date check applies the same ones).
export { compileFilters };
import { type BaseRecord, type StagedFile, ensureDir, statOrNull, syncFile, syncLayered, syncTree } from "./context-tree.ts";
import { renderDockerfile } from "./dockerfile.ts";
import { UsageError } from "../modules/errors.ts";
import { stateDir } from "./paths.ts";
import { processRunning } from "./engines/detect.ts";
import { pruneDigestFiles, sourceManifest } from "./source-hashes.ts";
import { trace } from "./trace.ts";

/** The folder of the state dir that keeps the source digests of each host folder (source-hashes.ts). */
const HASHES = "hashes";

/**
 * Makes `dir` the plan's build context. A folder an earlier build of the same host inputs staged is updated in
 * place: a file already hard-linked to its source is left as it is, so staging costs a stat per file plus what
 * changed, and BuildKit, which compares metadata, is sent only what changed. Returns whether every host file
 * is a hard link (nothing was copied), so that keeping the folder for the next build costs no disk space.
 */
export async function writeContext(plan: Plan, dir: string, cwd = process.cwd()): Promise<{ linked: boolean }> {
  mkdirSync(dir, { recursive: true });
  pruneContext(plan, dir);
  const state: Staging = { linked: true, records: readRecords(dir), changed: false, staged: new Map() };
  for (const entry of plan.context) writeEntry(plan, entry, dir, cwd, state);
  writeIfChanged(join(dir, "Dockerfile"), renderDockerfile(plan));
  if (state.changed) writeRecords(dir, state.records);
  return { linked: state.linked };
}

/** What staging a context tracks: whether every host file is a hard link, and each layered base's record. */
interface Staging {
  linked: boolean;
  records: Record<string, BaseRecord>;
  changed: boolean;
  /** The files each layered folder (by its dest) holds, as its staging saw them: its manifest reads these. */
  staged: Map<string, StagedFile[]>;
}

/** Where the records of a context folder's layered bases are kept: beside it, so that BuildKit is not sent them. */
export const recordsFile = (dir: string) => `${dir}.layers.json`;

function readRecords(dir: string): Record<string, BaseRecord> {
  try {
    const parsed = JSON.parse(readFileSync(recordsFile(dir), "utf8"));
    if (parsed?.v === 1 && parsed.bases && typeof parsed.bases === "object") return parsed.bases;
  } catch {
    // none yet, or unreadable: each layered base is made whole again
  }
  return {};
}

function writeRecords(dir: string, bases: Record<string, BaseRecord>): void {
  const tmp = `${recordsFile(dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ v: 1, bases }));
  renameSync(tmp, recordsFile(dir));
}

/** Removes what an earlier build staged in `dir` that this plan has no entry for. */
function pruneContext(plan: Plan, dir: string): void {
  const expected = new Set(["Dockerfile"]);
  for (const e of plan.context) for (let p = e.dest; p !== "."; p = dirname(p)) expected.add(p);
  // The entries' own folders are synced by writeEntry; what is above them is pruned here.
  for (const e of plan.context) if (e.kind === "hostDir" && e.recent) expected.add(e.recent);
  const own = new Set(
    plan.context.flatMap((e) =>
      e.kind === "hostDir" ? [e.dest, ...(e.recent ? [e.recent] : [])] : e.kind === "emptyDir" ? [e.dest] : [],
    ),
  );
  const walk = (rel: string) => {
    for (const d of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${d.name}` : d.name;
      if (!expected.has(child)) rmSync(join(dir, child), { recursive: true, force: true });
      else if (d.isDirectory() && !own.has(child)) walk(child);
    }
  };
  walk("");
}

function writeEntry(plan: Plan, entry: ContextEntry, dir: string, cwd: string, state: Staging): void {
  const dest = join(dir, entry.dest);
  switch (entry.kind) {
    case "content":
      mkdirSync(dirname(dest), { recursive: true });
      writeIfChanged(dest, entry.contents);
      return;
    case "emptyDir":
      ensureDir(dest);
      for (const name of readdirSync(dest)) rmSync(join(dest, name), { recursive: true, force: true });
      return;
    case "hostFile": {
      const src = resolve(cwd, entry.path);
      const st = statOrNull(src);
      if (!st?.isFile()) throw new UsageError(`host file '${entry.path}' does not exist or is not a file`);
      mkdirSync(dirname(dest), { recursive: true });
      if (!syncFile(src, dest)) state.linked = false;
      return;
    }
    case "hostDir": {
      const src = resolve(cwd, entry.path);
      const st = statOrNull(src);
      if (!st?.isDirectory()) throw new UsageError(`host directory '${entry.path}' does not exist or is not a directory`);
      if (entry.recent) {
        const was = state.records[entry.dest];
        const staged = syncLayered(src, dest, join(dir, entry.recent), compileFilters(entry.filters), was, state);
        state.staged.set(entry.dest, staged.files);
        if (staged.record !== was) {
          state.records[entry.dest] = staged.record;
          state.changed = true;
        }
        trace(
          staged.folded
            ? `${entry.dest} staged whole`
            : `${entry.dest} staged: ${staged.recent} recent files, ${staged.dropped} taken from its base`,
        );
        return;
      }
      ensureDir(dest);
      syncTree(src, dest, compileFilters(entry.filters), "", state);
      return;
    }
    case "sourceManifest": {
      // Of the folder as staged (plan/manifest.ts puts these entries after the folders they hash). The digests
      // are kept per host folder: its files' inodes are the staged links'.
      const host = plan.context.find((e) => e.kind === "hostDir" && e.dest === entry.of);
      const key = host?.kind === "hostDir" ? resolve(cwd, host.path) : join(dir, entry.of);
      const cacheFile = join(stateDir(), HASHES, `${createHash("sha256").update(key).digest("hex").slice(0, 16)}.json`);
      mkdirSync(dirname(dest), { recursive: true });
      const roots = [join(dir, entry.of), ...(host?.kind === "hostDir" && host.recent ? [join(dir, host.recent)] : [])];
      writeIfChanged(dest, sourceManifest(roots, entry.prune, cacheFile, state.staged.get(entry.of)).manifest);
      return;
    }
  }
}

function writeIfChanged(path: string, contents: string): void {
  try {
    if (readFileSync(path, "utf8") === contents) return;
  } catch {
    // not there yet
  }
  rmSync(path, { recursive: true, force: true });
  writeFileSync(path, contents);
}

/**
 * A folder for the build context at a path that is the same for every build of the same host inputs, held by
 * one build at a time. Docker's client names BuildKit's copy of a context after the folder's path (the
 * session's shared key): at the same path BuildKit receives only the files whose metadata changed since the
 * last build, where a new folder each build sent every source again. Undefined when the plan reads nothing
 * from the host, or another build of the same inputs holds the folder now (that build stages its own).
 * The folder is kept between builds (`release(true)`) when it holds hard links only, and writeContext then
 * updates it in place; `release()` removes it.
 */
export async function claimContextDir(
  plan: Plan,
  cwd = process.cwd(),
  root = join(stateDir(), "contexts"),
): Promise<{ dir: string; release: (keep?: boolean) => Promise<void> } | undefined> {
  const inputs = plan.context
    .filter((e) => e.kind === "hostDir" || e.kind === "hostFile")
    .map((e) => ({ ...e, path: resolve(cwd, e.path) }));
  if (inputs.length === 0) return undefined;
  const key = createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 16);
  try {
    await fs.mkdir(root, { recursive: true });
  } catch {
    return undefined; // a read-only state dir: a fresh folder per build, as before
  }
  await pruneUnused(root).catch(() => {});
  // The digests of host folders no build has used as long (source-hashes.ts), in the state dir beside `root`.
  pruneDigestFiles(join(dirname(root), HASHES), KEEP_UNUSED_MS);
  const lock = join(root, `${key}.lock`);
  if (!(await takeLock(lock))) return undefined;
  const dir = join(root, key);
  return {
    dir,
    release: async (keep = false) => {
      // Kept for the next build when it is hard links only; copies of another filesystem's files are not.
      if (!keep) {
        await fs.rm(dir, { recursive: true, force: true });
        await fs.rm(recordsFile(dir), { force: true });
      } else {
        const now = new Date();
        await fs.utimes(dir, now, now).catch(() => {}); // last used now (pruneUnused)
      }
      await fs.rm(lock, { force: true });
    },
  };
}

/** How long a kept context folder (or a host folder's source digests) may go unused before a build removes it. */
export const KEEP_UNUSED_MS = 3 * 24 * 3600 * 1000;

/**
 * Removes the context folders under `root` that no build has used for KEEP_UNUSED_MS and none holds now: their
 * hard links would keep the disk space of sources deleted since (a removed checkout) for good.
 */
export async function pruneUnused(root: string, now = Date.now()): Promise<void> {
  // (On every build, over every project's folder: a synchronous stat each, far cheaper than a trip through the
  // thread pool.)
  for (const name of readdirSync(root)) {
    if (!/^[0-9a-f]{16}$/.test(name)) continue;
    const dir = join(root, name);
    const st = statOrNull(dir);
    if (!st?.isDirectory() || now - st.mtimeMs < KEEP_UNUSED_MS) continue;
    if (!(await takeLock(`${dir}.lock`))) continue; // a build holds it now
    try {
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rm(recordsFile(dir), { force: true });
    } finally {
      await fs.rm(`${dir}.lock`, { force: true });
    }
  }
}

/** Creates `lock` holding this process's pid; takes over one whose process is gone. False if another holds it. */
async function takeLock(lock: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lock, String(process.pid), { flag: "wx" });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return false;
    }
    const holder = Number(await fs.readFile(lock, "utf8").catch(() => ""));
    // An empty lock is one being written now: held.
    if (!holder || processRunning(holder)) return false;
    // Stale: moved aside, and taken over only if what was moved is still the dead holder's (not a lock another
    // build made in between).
    const moved = `${lock}.stale-${process.pid}`;
    try {
      await fs.rename(lock, moved);
    } catch {
      return false;
    }
    if (Number(await fs.readFile(moved, "utf8").catch(() => "")) !== holder) {
      await fs.rename(moved, lock).catch(() => {});
      return false;
    }
    await fs.rm(moved, { force: true });
  }
  return false;
}
