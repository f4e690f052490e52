/**
 * Incremental exports: the listing of a folder an earlier export wrote, and the new folder made from what the
 * engine sent (the files that differ) and hard links to the old folder's unchanged files (plan/output.ts
 * withDeltaTarget makes the step that compares and sends). Synchronous fs calls: one per file, each far cheaper
 * than a trip through libuv's thread pool (thousands of files in a build tree), and nothing else runs meanwhile.
 */
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { MARKER } from "./outputs.ts";

/**
 * The listing of a folder an earlier export wrote (it holds MARKER), for an incremental export: NUL-separated
 * records `f MODE SIZE MTIME PATH` of its regular files, in GNU find's `%y %m %s %T@ %P` form (plan/output.ts
 * withDeltaTarget compares the new result's with it). Undefined when `dest` is not such a folder.
 */
export async function listOutput(dest: string): Promise<string | undefined> {
  const abs = resolve(dest);
  const marker = (() => {
    try {
      return lstatSync(join(abs, MARKER));
    } catch {
      return null;
    }
  })();
  if (!marker?.isFile()) return undefined;
  const records: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(dir, e.name), path);
      else if (e.isFile() && path !== MARKER) {
        const st = lstatSync(join(dir, e.name), { bigint: true });
        const ns = st.mtimeNs;
        // find's %T@: seconds, a point, nanoseconds in 9 digits and a 0.
        const mtime = `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, "0")}0`;
        records.push(`f ${(Number(st.mode) & 0o7777).toString(8)} ${st.size} ${mtime} ${path}\0`);
      }
    }
  };
  walk(abs, "");
  return records.join("");
}

/**
 * Makes in `tmp` the folder an incremental export describes (`delta`: `all`, every path with its type and mode,
 * as `%y %m %P` records; `files/`, what was sent): folders made, sent files moved in, every other file hard linked
 * from the folder it replaces (`old`, which the caller renames `tmp` over). Throws if a file is in neither.
 */
export async function applyDelta(delta: string, old: string, tmp: string): Promise<{ sent: number; kept: number }> {
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
      continue;
    }
    if (sentPaths.has(path!)) {
      renameSync(join(delta, "files", path!), to);
      sent++;
    } else if (type === "f") {
      linkSync(join(from, path!), to);
      kept++;
    } else throw new Error(`incremental export: ${path} (type ${type}) was not sent`);
  }
  // Deepest first, so that a folder with no write permission is closed after what goes in it.
  for (const [folder, mode] of folders.reverse()) chmodSync(folder, mode);
  return { sent, kept };
}
