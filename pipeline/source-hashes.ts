/**
 * The SHA-256 manifest of a staged source folder, as `find . -path ./PRUNE -prune -o -type f -print0 | xargs -0
 * sha256sum -z | LC_ALL=C sort -z` prints it in that folder (plan/manifest.ts), reading only the files that
 * changed: each file's digest is kept with its inode, size and mtime (in `cacheFile`), and a file whose three
 * are the same as when it was hashed is not read again, as git's index and ninja trust them. A file modified
 * within a second of being hashed is hashed again next time (the clock the kernel stamps mtimes with is coarse,
 * so an edit right after the read could leave the mtime unchanged).
 */
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { StagedFile } from "./context-tree.ts";

const RACY_MS = 1000;

/** rel path -> [inode, size, mtime ns, when it was hashed (ms), sha256 hex] */
type Cache = Record<string, [string, string, string, number, string]>;

/**
 * `staged`: the files of the roots as the staging that made them listed them (context-tree.ts syncLayered), with
 * the inode, size and mtime it read: used instead of walking and reading them again.
 */
export function sourceManifest(
  root: string | string[],
  prune: string,
  cacheFile?: string,
  staged?: StagedFile[],
): { manifest: string; hashed: number } {
  let cache: Cache = {};
  if (cacheFile)
    try {
      const parsed = JSON.parse(readFileSync(cacheFile, "utf8"));
      if (parsed?.v === 1 && parsed.files && typeof parsed.files === "object") cache = parsed.files;
    } catch {
      // none yet, or unreadable: every file is hashed
    }
  const next: Cache = {};
  const records = new Map<string, Buffer>();
  let hashed = 0;
  const add = (rel: string, path: string, ino: string, size: string, mtime: string) => {
    const was = cache[rel];
    let entry = was;
    if (!was || was[0] !== ino || was[1] !== size || was[2] !== mtime || Number(BigInt(mtime) / 1_000_000n) + RACY_MS >= was[3]) {
      const at = Date.now();
      entry = [ino, size, mtime, at, createHash("sha256").update(readFileSync(path)).digest("hex")];
      hashed++;
    }
    next[rel] = entry!;
    records.set(rel, Buffer.from(`${entry![4]}  ./${rel}\0`));
  };
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      if (childRel === prune) continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path, childRel);
      else if (e.isFile() && !records.has(childRel)) {
        const st = lstatSync(path, { bigint: true });
        add(childRel, path, String(st.ino), String(st.size), String(st.mtimeNs));
      }
    }
  };
  if (staged) {
    for (const f of staged) if (f.rel !== prune && !f.rel.startsWith(`${prune}/`)) add(f.rel, f.path, f.ino, f.size, f.mtimeNs);
  } else {
    // A later root's file replaces an earlier root's at the same path (the layers of plan/layers.ts): the later
    // roots are walked first, and a path they hold is not read again.
    for (const r of [...(Array.isArray(root) ? root : [root])].reverse()) walk(r, "");
  }
  const sorted = [...records.values()].sort(Buffer.compare);
  if (cacheFile)
    try {
      mkdirSync(dirname(cacheFile), { recursive: true });
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ v: 1, files: next }));
      renameSync(tmp, cacheFile);
    } catch {
      // a read-only state dir: the next build hashes again
    }
  return { manifest: Buffer.concat(sorted).toString(), hashed };
}

/**
 * Removes the digest files in `dir` that no build has written for `maxAgeMs` (each build that uses one writes
 * it again): those of host folders no longer built, a deleted checkout's among them. A build that needs one
 * again only hashes its sources once more.
 */
export function pruneDigestFiles(dir: string, maxAgeMs: number, now = Date.now()): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // none yet
  }
  for (const name of names) {
    if (!/^[0-9a-f]{16}\.json(\.\d+\.tmp)?$/.test(name)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs >= maxAgeMs) rmSync(path, { force: true });
    } catch {
      // gone meanwhile
    }
  }
}
