/**
 * Writes a plan's build context to a folder: host directories (filtered by their include/exclude patterns),
 * host files, new files' contents and the empty directory, plus the Dockerfile. Files are hard-linked where
 * the filesystem allows, copied otherwise, so staging a large source tree costs little.
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  constants,
  copyFileSync,
  promises as fs,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { ContextEntry, Plan } from "./plan.ts";
import { compileFilters, type Keep } from "./path-filters.mjs";
import { renderDockerfile } from "./dockerfile.ts";
import { UsageError } from "../modules/errors.ts";
import { stateDir } from "./paths.ts";
import { processRunning } from "./engines/detect.ts";
import { pruneDigestFiles, sourceManifest } from "./source-hashes.ts";

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
  const state = { linked: true };
  for (const entry of plan.context) writeEntry(plan, entry, dir, cwd, state);
  writeIfChanged(join(dir, "Dockerfile"), renderDockerfile(plan));
  return state;
}

/** Removes what an earlier build staged in `dir` that this plan has no entry for. */
function pruneContext(plan: Plan, dir: string): void {
  const expected = new Set(["Dockerfile"]);
  for (const e of plan.context) for (let p = e.dest; p !== "."; p = dirname(p)) expected.add(p);
  // The entries' own folders are synced by writeEntry; what is above them is pruned here.
  const own = new Set(plan.context.filter((e) => e.kind === "hostDir" || e.kind === "emptyDir").map((e) => e.dest));
  const walk = (rel: string) => {
    for (const d of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${d.name}` : d.name;
      if (!expected.has(child)) rmSync(join(dir, child), { recursive: true, force: true });
      else if (d.isDirectory() && !own.has(child)) walk(child);
    }
  };
  walk("");
}

function writeEntry(plan: Plan, entry: ContextEntry, dir: string, cwd: string, state: { linked: boolean }): void {
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
      writeIfChanged(dest, sourceManifest(join(dir, entry.of), entry.prune, cacheFile).manifest);
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

/** A folder at `path` (whatever else was there goes), with `mode` (less the umask) when given. */
function ensureDir(path: string, mode?: number): void {
  const st = statOrNull(path, true);
  if (st && !st.isDirectory()) rmSync(path, { force: true });
  if (!st || !st.isDirectory()) mkdirSync(path, mode === undefined ? {} : { mode });
  else if (mode !== undefined && (st.mode & 0o7777) !== (mode & ~process.umask())) chmodSync(path, mode & ~process.umask());
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
      if (!keep) await fs.rm(dir, { recursive: true, force: true });
      else {
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
  for (const name of await fs.readdir(root)) {
    if (!/^[0-9a-f]{16}$/.test(name)) continue;
    const dir = join(root, name);
    const st = await fs.stat(dir).catch(() => null);
    if (!st?.isDirectory() || now - st.mtimeMs < KEEP_UNUSED_MS) continue;
    if (!(await takeLock(`${dir}.lock`))) continue; // a build holds it now
    try {
      await fs.rm(dir, { recursive: true, force: true });
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

// The include/exclude semantics live in path-filters.mjs (the up-to-date check applies the same ones).
export { compileFilters };

/**
 * Makes `dest` hold what `keep` allows of `src`, and nothing else; returns whether anything was kept. Folders
 * that end up empty are removed unless the filters keep them whole.
 */
function syncTree(src: string, dest: string, keep: Keep, rel: string, state: { linked: boolean }): boolean {
  let kept = false;
  const staged = new Set<string>();
  for (const e of readdirSync(src, { withFileTypes: true })) {
    const childRel = rel ? `${rel}/${e.name}` : e.name;
    const verdict = keep(childRel);
    if (verdict === "drop") continue;
    const from = join(src, e.name);
    const to = join(dest, e.name);
    if (e.isDirectory()) {
      ensureDir(to, verdict === "keep" ? statSync(from).mode & 0o7777 : undefined);
      if (syncTree(from, to, keep, childRel, state) || verdict === "keep") {
        kept = true;
        staged.add(e.name);
      } else rmSync(to, { recursive: true, force: true });
    } else if (verdict === "keep") {
      if (e.isSymbolicLink()) {
        const target = readlinkSync(from);
        const was = statOrNull(to, true);
        if (!was?.isSymbolicLink() || readlinkSync(to) !== target) {
          if (was) rmSync(to, { recursive: true, force: true });
          symlinkSync(target, to);
        }
      } else if (e.isFile()) {
        if (!syncFile(from, to)) state.linked = false;
      } else continue; // sockets, fifos and devices are not part of a source tree
      kept = true;
      staged.add(e.name);
    }
  }
  for (const name of readdirSync(dest)) if (!staged.has(name)) rmSync(join(dest, name), { recursive: true, force: true });
  return kept;
}

/**
 * `to` as a hard link to `from`, or where the filesystem allows none, a copy with its mode and mtime; left as it
 * is when it already is one. Returns whether it is a link.
 */
function syncFile(from: string, to: string): boolean {
  const src = statSync(from);
  const was = statOrNull(to, true);
  if (was?.isFile() && was.ino === src.ino && was.dev === src.dev) return true;
  if (
    was?.isFile() &&
    was.dev !== src.dev &&
    was.size === src.size &&
    Math.trunc(was.mtimeMs) === Math.trunc(src.mtimeMs) &&
    (was.mode & 0o7777) === (src.mode & 0o7777)
  )
    return false;
  if (was) rmSync(to, { recursive: true, force: true });
  try {
    linkSync(from, to);
    return true;
  } catch {
    copyFileSync(from, to, constants.COPYFILE_FICLONE);
    chmodSync(to, src.mode & 0o7777);
    // The source's mtime: BuildKit resends a file of a reused context folder whose metadata changed.
    utimesSync(to, src.atime, src.mtime);
    return false;
  }
}

function statOrNull(p: string, link = false) {
  try {
    return link ? lstatSync(p) : statSync(p);
  } catch {
    return null;
  }
}
