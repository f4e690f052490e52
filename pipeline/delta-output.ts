/**
 * Incremental exports: the listing of a folder an earlier export wrote, and the new folder made from what the
 * engine sent (the files that differ) and hard links to the old folder's unchanged files (plan/output.ts
 * withDeltaTarget makes the step that compares and sends). The new folder is made by synchronous fs calls: one
 * per file, each far cheaper than a trip through libuv's thread pool (thousands of files in a build tree), and
 * nothing else runs meanwhile.
 */
import { execFile } from "node:child_process";
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { MARKER } from "./outputs.ts";
import { type FolderEntry, statEntry } from "./uptodate.mjs";

/**
 * The listing of a folder an earlier export wrote (it holds MARKER), for an incremental export: NUL-separated
 * records `f MODE SIZE MTIME PATH` of its regular files, in GNU find's `%y %m %s %T@ %P` form (plan/output.ts
 * withDeltaTarget compares the new result's with it). Undefined when `dest` is not such a folder. GNU find makes
 * it, in a process of its own: started early (execute), it walks the folder while this one plans and stages the
 * sources, where a walk here took 20 to 30 ms of the build's start at 2,000 sources.
 */
export function listOutput(dest: string): Promise<string | undefined> {
  const abs = resolve(dest);
  try {
    if (!lstatSync(join(abs, MARKER)).isFile()) return Promise.resolve(undefined);
  } catch {
    return Promise.resolve(undefined);
  }
  const args = [".", "-mindepth", "1", "-type", "f", "!", "-path", `./${MARKER}`, "-printf", "f %m %s %T@ %P\\0"];
  return new Promise((done, fail) =>
    execFile("find", args, { cwd: abs, encoding: "utf8", maxBuffer: 1 << 30 }, (err, stdout) => (err ? fail(err) : done(stdout))),
  );
}

/**
 * Makes in `tmp` the folder an incremental export describes (`delta`: `all`, every path with its type and mode,
 * as `%y %m %P` records; `files/`, what was sent): folders made, sent files moved in, every other file hard linked
 * from the folder it replaces (`old`, which the caller renames `tmp` over). Throws if a file is in neither. With
 * `listing` (listOutput's of `old`), also returns what the new folder holds (`entries`, for its up-to-date stamp:
 * uptodate.mjs folderDigest), the kept files as listed there.
 */
export async function applyDelta(
  delta: string,
  old: string,
  tmp: string,
  listing?: string,
): Promise<{ sent: number; kept: number; entries?: FolderEntry[] }> {
  const all = readFileSync(join(delta, "all"), "utf8").split("\0").filter(Boolean);
  // What was sent, from one walk of the few files sent (rather than a failed rename per file kept: an exception
  // each, tens of ms for thousands of files).
  const sentPaths = new Set<string>();
  const walk = (dir: string, rel: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(dir, e.name), path);
      else sentPaths.add(path);
    }
  };
  walk(join(delta, "files"), "");
  const from = resolve(old);
  const listed = listing === undefined ? undefined : parseListing(listing);
  const entries: FolderEntry[] | undefined = listed && [];
  const folders: Array<[string, number]> = [];
  let sent = 0;
  let kept = 0;
  for (const record of all) {
    const m = /^(\S) ([0-7]+) (.+)$/s.exec(record);
    if (!m) throw new Error(`incremental export: a record that does not read: ${JSON.stringify(record)}`);
    const [, type, mode, path] = m;
    const to = join(tmp, path!);
    if (type === "d") {
      mkdirSync(to, { recursive: true });
      folders.push([to, parseInt(mode!, 8)]);
      entries?.push({ rel: path!, kind: "d", mode: S_IFDIR | parseInt(mode!, 8) });
      continue;
    }
    if (sentPaths.has(path!)) {
      renameSync(join(delta, "files", path!), to);
      sent++;
      entries?.push(statEntry(path!, lstatSync(to, { bigint: true }), to));
    } else if (type === "f") {
      linkSync(join(from, path!), to);
      kept++;
      const was = listed?.get(path!);
      if (entries) entries.push(was ? { rel: path!, ...was } : statEntry(path!, lstatSync(to, { bigint: true }), to));
    } else throw new Error(`incremental export: ${path} (type ${type}) was not sent`);
  }
  // Deepest first, so that a folder with no write permission is closed after what goes in it.
  for (const [folder, mode] of folders.reverse()) chmodSync(folder, mode);
  return { sent, kept, ...(entries ? { entries } : {}) };
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** listOutput's records as folder entries of regular files, by path. */
function parseListing(listing: string): Map<string, { kind: "f"; size: bigint; mode: number; mtimeNs: bigint }> {
  const files = new Map<string, { kind: "f"; size: bigint; mode: number; mtimeNs: bigint }>();
  for (const record of listing.split("\0")) {
    // f MODE SIZE SECONDS.FRACTION PATH (find's %T@: nine digits of nanoseconds, then a 0)
    const m = /^f ([0-7]+) (\d+) (\d+)\.(\d+) (.+)$/s.exec(record);
    if (!m) continue;
    const ns = BigInt(m[3]!) * 1_000_000_000n + BigInt(m[4]!.slice(0, 9).padEnd(9, "0"));
    files.set(m[5]!, { kind: "f", size: BigInt(m[2]!), mode: S_IFREG | parseInt(m[1]!, 8), mtimeNs: ns });
  }
  return files;
}
