/**
 * Stages a host folder into the build context: `syncTree` makes a context folder hold what the filters keep of
 * a host folder (hard links where the filesystem allows, copies otherwise), and `syncLayered` splits it into two
 * folders the plan copies one after the other (plan/layers.ts): a base that stays as it was while the host's
 * files do, and the recent files (new, or changed since the base was made). BuildKit keys a copy by the content
 * of what it copies, so an edit makes it copy the recent folder only, and the base's copy, the whole tree, comes
 * from its cache. Each base's record (what each of its entries was when it was staged: inode, size, mtime and
 * mode, or a link's target) tells an unchanged file from one edited in place through the base's own hard link.
 */
import {
  chmodSync,
  constants,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { dirname, join } from "node:path";
import type { Keep } from "./path-filters.mjs";

/** A folder at `path` (whatever else was there goes), with `mode` (less the umask) when given. */
export function ensureDir(path: string, mode?: number): void {
  const st = statOrNull(path, true);
  if (st && !st.isDirectory()) rmSync(path, { force: true });
  if (!st || !st.isDirectory()) mkdirSync(path, mode === undefined ? {} : { mode });
  else if (mode !== undefined && (st.mode & 0o7777) !== (mode & ~process.umask())) chmodSync(path, mode & ~process.umask());
}

/**
 * Makes `dest` hold what `keep` allows of `src`, and nothing else; returns whether anything was kept. Folders
 * that end up empty are removed unless the filters keep them whole.
 */
export function syncTree(src: string, dest: string, keep: Keep, rel: string, state: { linked: boolean }): boolean {
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
      if (e.isSymbolicLink()) syncLink(from, to);
      else if (e.isFile()) {
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
export function syncFile(from: string, to: string): boolean {
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

/** `to` as a symlink with `from`'s target; left as it is when it already is one. */
function syncLink(from: string, to: string): void {
  const target = readlinkSync(from);
  const was = statOrNull(to, true);
  if (was?.isSymbolicLink() && readlinkSync(to) === target) return;
  if (was) rmSync(to, { recursive: true, force: true });
  symlinkSync(target, to);
}

export function statOrNull(p: string, link = false) {
  try {
    return link ? lstatSync(p) : statSync(p);
  } catch {
    return null;
  }
}

/** One entry of a host folder as a base stages it: a folder, a symlink or a file, with what identifies its state. */
interface Entry {
  rel: string;
  kind: "d" | "l" | "f";
  /** The host path. */
  from: string;
  /** A folder's mode where the filters keep it whole (syncTree gives it that mode), else undefined. */
  mode?: number;
  /** Equal for two states of one path only if the staged entry is the same: see `signature`. */
  sig: string;
}

/** A file's inode, size, mtime and mode (a hard link shares the first three with its source); a link's target. */
function signature(path: string, kind: "l" | "f"): string {
  if (kind === "l") return `l ${readlinkSync(path)}`;
  const st = lstatSync(path, { bigint: true });
  return `f ${st.dev} ${st.ino} ${st.size} ${st.mtimeNs} ${st.mode & 0o7777n}`;
}

/** What `keep` allows of `src`, as syncTree stages it (a folder that ends up empty goes unless kept whole), parents first. */
function scan(src: string, keep: Keep): Entry[] {
  const out: Entry[] = [];
  const walk = (dir: string, rel: string): boolean => {
    let kept = false;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      const verdict = keep(childRel);
      if (verdict === "drop") continue;
      const from = join(dir, e.name);
      if (e.isDirectory()) {
        const mode = verdict === "keep" ? statSync(from).mode & 0o7777 : undefined;
        const at = out.length;
        out.push({ rel: childRel, kind: "d", from, mode, sig: `d ${mode ?? "-"}` });
        if (walk(from, childRel) || verdict === "keep") kept = true;
        else out.splice(at);
      } else if (verdict === "keep" && (e.isSymbolicLink() || e.isFile())) {
        const kind = e.isSymbolicLink() ? "l" : "f";
        out.push({ rel: childRel, kind, from, sig: signature(from, kind) });
        kept = true;
      }
    }
    return kept;
  };
  walk(src, "");
  return out;
}

/**
 * A regular file a layered staging holds, as the scan that staged it saw it on the host: the folder it is in
 * (`path`, in the base or the recent folder: the copy the build gets) and the inode, size and mtime that
 * identify its content (source-hashes.ts reads a file again only when they moved).
 */
export interface StagedFile {
  rel: string;
  path: string;
  ino: string;
  size: string;
  mtimeNs: string;
}

/** The base's record: each entry's signature when it was staged there. */
export type BaseRecord = Record<string, string>;

/** How many files the recent folder may hold before the next build folds them into the base (one whole copy). */
export function recentLimit(files: number): number {
  return Math.max(64, Math.ceil(files / 32));
}

/**
 * Stages what `keep` allows of `src` as `base` plus `recent`: copied in that order (the recent folder's files
 * replacing the base's), they give what syncTree would stage. `record` is the base's record from the last build
 * (undefined: there is none). Returns the base's record now (the same object when the base did not change), and
 * the counts, for the trace. Where there is no base or record yet, or the recent files would be more than
 * `recentLimit`, the base is made whole again (a fold) and the recent folder emptied.
 */
export function syncLayered(
  src: string,
  base: string,
  recent: string,
  keep: Keep,
  record: BaseRecord | undefined,
  state: { linked: boolean },
): { record: BaseRecord; recent: number; dropped: number; folded: boolean; files: StagedFile[] } {
  const now = scan(src, keep);
  // Each file where it is staged: the recent folder's replace the base's.
  const listed = (inRecent: Set<string>): StagedFile[] =>
    now.flatMap((e) => {
      if (e.kind !== "f") return [];
      const [, , ino, size, mtimeNs] = e.sig.split(" ");
      return [{ rel: e.rel, path: join(inRecent.has(e.rel) ? recent : base, e.rel), ino: ino!, size: size!, mtimeNs: mtimeNs! }];
    });
  const plan = record && statOrNull(base, true)?.isDirectory() ? split(now, base, record) : undefined;
  const countFiles = (entries: Entry[]) => entries.filter((e) => e.kind !== "d").length;
  const files = plan ? countFiles(plan.recent) : 0;
  ensureDir(base);
  ensureDir(recent);
  if (!plan || files > recentLimit(countFiles(now))) {
    // The base staged from the scan it is recorded from.
    stageSubset(base, now, state);
    stageSubset(recent, [], state);
    const record = Object.fromEntries(now.map((e) => [e.rel, e.sig]));
    return { record, recent: 0, dropped: 0, folded: true, files: listed(new Set()) };
  }
  for (const rel of plan.dropped) rmSync(join(base, rel), { recursive: true, force: true });
  stageSubset(recent, plan.recent, state);
  const staged = listed(new Set(plan.recent.map((e) => e.rel)));
  if (!plan.dropped.length) return { record: record!, recent: files, dropped: 0, folded: false, files: staged };
  const next = { ...record! };
  for (const rel of plan.gone) delete next[rel];
  return { record: next, recent: files, dropped: plan.dropped.length, folded: false, files: staged };
}

/**
 * Which of the base's entries go (`dropped`: the outermost paths to remove; `gone`: every record entry removed
 * with them) and what the recent folder holds: every entry not in the base as the host has it now, plus the
 * folders above those. A file the host replaced (a new inode) stays in the base, the old file whole, and the
 * recent folder's copy replaces it; one edited in place changed the base's hard link too, and goes from it.
 */
function split(now: Entry[], base: string, record: BaseRecord) {
  const current = new Map(now.map((e) => [e.rel, e]));
  const dropped: string[] = [];
  const shadowed = new Set<string>();
  for (const [rel, sig] of Object.entries(record)) {
    const e = current.get(rel);
    if (e?.sig === sig) continue;
    if (e?.kind === "f" && sig.startsWith("f ") && sigOrNull(join(base, rel)) === sig) shadowed.add(rel);
    else dropped.push(rel);
  }
  // A folder removed from the base takes what is under it.
  const droppedSet = new Set(dropped);
  const under = (rel: string) => {
    for (let p = dirname(rel); p !== "."; p = dirname(p)) if (droppedSet.has(p)) return true;
    return false;
  };
  const gone = Object.keys(record).filter((rel) => droppedSet.has(rel) || under(rel));
  const goneSet = new Set(gone);
  const inBase = (rel: string) => rel in record && !goneSet.has(rel);
  const wanted = new Set<string>();
  for (const e of now) {
    // In the base as the host has it (a folder in the base is one whose mode is the same).
    if (inBase(e.rel) && !shadowed.has(e.rel) && (e.kind === "d" || record[e.rel] === e.sig)) continue;
    wanted.add(e.rel);
    for (let p = dirname(e.rel); p !== "."; p = dirname(p)) wanted.add(p);
  }
  return { dropped: dropped.filter((rel) => !under(rel)), gone, recent: now.filter((e) => wanted.has(e.rel)) };
}

function sigOrNull(path: string): string | undefined {
  try {
    return signature(path, "f");
  } catch {
    return undefined;
  }
}

/** Makes `dest` hold exactly `entries` (parents listed before what they hold), staged from their host paths. */
function stageSubset(dest: string, entries: Entry[], state: { linked: boolean }): void {
  const wanted = new Set(entries.map((e) => e.rel));
  const prune = (dir: string, rel: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${d.name}` : d.name;
      const path = join(dir, d.name);
      if (!wanted.has(childRel)) rmSync(path, { recursive: true, force: true });
      else if (d.isDirectory()) prune(path, childRel);
    }
  };
  prune(dest, "");
  for (const e of entries) {
    const to = join(dest, e.rel);
    if (e.kind === "d") ensureDir(to, e.mode);
    else if (e.kind === "l") syncLink(e.from, to);
    else if (!syncFile(e.from, to)) state.linked = false;
  }
}
