/**
 * What a run produces, and how it lands on the host: atomically, and never over something that is not ours.
 * An export is written to a hidden sibling of the destination and renamed into place only when the build
 * succeeded, so a failed or interrupted run leaves nothing at (or changes nothing at) the destination.
 *
 * Before anything builds, checkOutputPath refuses a destination that would destroy something: the current
 * folder or an ancestor of it, the project or its source tree, a file where a folder goes (or the reverse), a
 * folder of someone's files, a path under a file, a place that cannot be written. A folder this tool wrote
 * holds a marker file (MARKER); a file it wrote has a marker beside it (.NAME.pipeline-output) that records
 * which file it was. Those may be replaced; anything else only with --force (a folder or file with no marker).
 */
import { constants, promises as fs, type Stats } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, parse, relative, resolve, sep } from "node:path";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { UsageError } from "../modules/errors.ts";

export type OutputRequest =
  /** `flag`: the option that named the path (--out, --export, --tarball), for messages; none = a default path. */
  | { kind: "sync" }
  | { kind: "export"; path: string; flag?: string }
  | { kind: "tag"; image: string }
  | { kind: "tarball"; path: string; flag?: string }
  /** Push the image to a registry as `ref` (REGISTRY/NAME:TAG); the pushed digest comes back. */
  | { kind: "publish"; ref: string };

/** The file in a folder output that says this tool wrote it (JSON: tool, command, time). */
export const MARKER = ".pipeline-output";
/** The marker beside a file output: which file (inode, size, mtime) this tool wrote there. */
export const fileMarker = (dest: string) => join(dirname(dest), `.${basename(dest)}.pipeline-output`);

/** A folder that an output must not be, contain, or (when `inside` is false too) lie inside. */
export interface ProtectedDir {
  path: string;
  /** What it is, for the message: "the source tree". */
  what: string;
  /** Whether outputs inside it are refused too (a source tree), or only it and its ancestors (the project root). */
  inside: boolean;
}

export interface OutputCheckOptions {
  /** What goes there: a folder (a Directory export) or a file (a File export, an image tarball). */
  shape: "directory" | "file";
  cwd?: string;
  protectedDirs?: ProtectedDir[];
  /** Replace a folder or file that holds no marker of an earlier output. */
  force?: boolean;
}

export interface OutputCheck {
  /** The absolute destination. */
  abs: string;
  /** What is there now: nothing (or an empty folder), an earlier output of this tool, or something --force replaces. */
  replaces: "nothing" | "output" | "forced";
}

/** The project's folders an output must keep away from: the project root (holding the config) and its source trees. */
export function projectProtectedDirs(projectDir: string, sources: string[]): ProtectedDir[] {
  return [
    { path: projectDir, what: "the project folder (it holds the project config)", inside: false },
    ...sources.map((s) => ({ path: s, what: "the source tree", inside: true })),
  ];
}

/** Destinations --force approved this run: atomicWrite replaces what is there only for these (or its own outputs). */
const forcedOutputs = new Set<string>();

/**
 * Refuses (UsageError, exit 2) an output path that would destroy or cannot take the result; says what to do.
 * Reads the filesystem (and creates and removes a probe file to find a read-only one), writes nothing else.
 */
export async function checkOutputPath(request: OutputRequest, opts: OutputCheckOptions): Promise<OutputCheck | undefined> {
  if (request.kind !== "export" && request.kind !== "tarball") return undefined;
  const flag = request.flag ?? (request.kind === "tarball" ? "--tarball" : "the output path");
  const refuse = (why: string, todo = "choose another path") => new UsageError(`${flag} ${request.path}: ${why}; ${todo}`);
  const cwd = resolve(opts.cwd ?? process.cwd());
  const abs = resolve(cwd, request.path);
  const real = await realish(abs);
  const realCwd = await realish(cwd);
  if (contains(real, realCwd))
    throw refuse(
      real === realCwd ? "is the current folder" : "contains the current folder",
      "write the result to a new folder, such as out/NAME",
    );
  for (const p of opts.protectedDirs ?? []) {
    const dir = await realish(resolve(cwd, p.path));
    if (contains(real, dir))
      throw refuse(
        real === dir ? `is ${p.what}` : `contains ${p.what} (${dir})`,
        "write the result outside it, such as out/NAME",
      );
    if (p.inside && contains(dir, real))
      throw refuse(`is inside ${p.what} (${dir})`, "write the result outside it, such as out/NAME");
  }
  // Every existing folder on the way must be a folder: `--out FILE/sub` cannot be made.
  let nearest = dirname(abs);
  for (let at = nearest; ; at = dirname(at)) {
    const st = await fs.stat(at).catch(() => undefined);
    if (st) {
      if (!st.isDirectory()) throw refuse(`${at} is a file, not a folder`);
      nearest = at;
      break;
    }
    if (at === dirname(at)) break;
  }
  const here = await fs.lstat(abs).catch(() => undefined);
  const replaces = here ? await whatIsThere(abs, here, opts.shape, opts.force) : "nothing";
  if (typeof replaces === "object") throw refuse(replaces.why, replaces.todo);
  // The nearest folder that exists is where the first thing gets created: it must take writes.
  const parent = here ? dirname(abs) : nearest;
  const unwritable = await cannotWrite(parent);
  if (unwritable) throw refuse(`cannot write in ${parent} (${unwritable})`, "choose a writable place");
  if (replaces === "forced") forcedOutputs.add(abs);
  return { abs, replaces };
}

type Verdict = "nothing" | "output" | "forced" | { why: string; todo?: string };

/** Whether what is at `abs` may be replaced by an output of this shape. */
async function whatIsThere(abs: string, st: Stats, shape: "directory" | "file", force = false): Promise<Verdict> {
  if (shape === "directory") {
    if (st.isDirectory()) {
      const names = await fs.readdir(abs);
      if (names.length === 0) return "nothing";
      if (names.includes(MARKER)) return "output";
      if (force) return "forced";
      return {
        why: "is a folder with files this tool did not write (it has no .pipeline-output marker)",
        todo: "choose another path, or pass --force to replace the folder and everything in it",
      };
    }
    if (st.isSymbolicLink())
      return force ? "forced" : { why: "is a symbolic link", todo: "choose another path, or pass --force to replace the link" };
    return { why: "is a file, and this result is a folder", todo: "choose another path, or remove the file first" };
  }
  if (st.isDirectory())
    return { why: "is a folder, and this result is a file", todo: "give a file path, such as " + join(abs, "NAME") };
  if (st.isFile() && (await isOurFile(abs, st))) return "output";
  if (force) return "forced";
  return { why: "is a file this tool did not write", todo: "choose another path, or pass --force to replace it" };
}

async function isOurFile(abs: string, st: Stats): Promise<boolean> {
  try {
    const m = JSON.parse(await fs.readFile(fileMarker(abs), "utf8")) as { ino?: number; size?: number; mtimeMs?: number };
    return m.ino === st.ino && m.size === st.size && m.mtimeMs === st.mtimeMs;
  } catch {
    return false;
  }
}

/** Why nothing can be created in `dir`, or undefined when it can (a probe file is created and removed). */
async function cannotWrite(dir: string): Promise<string | undefined> {
  const why = (err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "EROFS"
      ? "a read-only filesystem"
      : code === "EACCES"
        ? "no permission to write there"
        : (code ?? String(err));
  };
  try {
    await fs.access(dir, constants.W_OK);
  } catch (err) {
    return why(err);
  }
  // As root, access() passes on a folder whose permissions say read-only; a read-only mount still refuses.
  const probe = join(dir, `.pipeline-probe-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    await (await fs.open(probe, "wx")).close();
    await fs.rm(probe, { force: true });
    return undefined;
  } catch (err) {
    return why(err);
  }
}

/** `p` with symbolic links resolved as far as it exists. */
async function realish(p: string): Promise<string> {
  const rest: string[] = [];
  let at = p;
  for (;;) {
    try {
      return join(await fs.realpath(at), ...rest.reverse());
    } catch {
      if (at === dirname(at)) return p;
      rest.push(basename(at));
      at = dirname(at);
    }
  }
}

/** Whether `outer` is `inner` or one of its ancestors. */
function contains(outer: string, inner: string): boolean {
  const rel = relative(outer, inner);
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith(sep) && parse(rel).root === "");
}

/** A hidden temporary path next to `dest`, on the same filesystem so that rename is atomic. */
export function siblingTemp(dest: string, suffix = ""): string {
  const abs = resolve(dest);
  return join(dirname(abs), `.${basename(abs)}.pipeline-${process.pid}-${randomBytes(4).toString("hex")}${suffix}`);
}

/** The mode a folder made by mkdir would have: 0777 less the umask. */
function folderMode(): number {
  return 0o777 & ~process.umask();
}

/**
 * Runs `produce(tmp)` to write at a temporary sibling path, then moves it to `dest`. On any failure the
 * temporary path is removed and `dest` is untouched. A folder result gets the MARKER and mode 0777 & ~umask; a
 * file result gets its marker beside it. What is at `dest` is replaced only when it is an earlier output, an
 * empty folder, or was approved with --force (checked again here, right before the replace).
 */
export async function atomicWrite(
  dest: string,
  produce: (tmp: string) => Promise<void>,
  opts: { force?: boolean; command?: string[] } = {},
): Promise<void> {
  const abs = resolve(dest);
  await fs.mkdir(dirname(abs), { recursive: true });
  await removeStaleSiblings(abs);
  const tmp = siblingTemp(abs);
  const cleanup = () => fs.rm(tmp, { recursive: true, force: true });
  activeTemps.add(tmp);
  try {
    await produce(tmp);
    const made = await fs.lstat(tmp);
    if (made.isDirectory()) {
      await fs.chmod(tmp, folderMode());
      const marker = { tool: "pipeline", command: opts.command ?? process.argv.slice(2), written: new Date().toISOString() };
      await fs.writeFile(join(tmp, MARKER), JSON.stringify(marker) + "\n");
    }
    await replace(tmp, abs, made.isDirectory() ? "directory" : "file", opts.force);
    if (!made.isDirectory()) {
      const st = await fs.stat(abs);
      await fs.writeFile(
        fileMarker(abs),
        JSON.stringify({
          tool: "pipeline",
          command: opts.command ?? process.argv.slice(2),
          ino: st.ino,
          size: st.size,
          mtimeMs: st.mtimeMs,
        }) + "\n",
      );
    }
  } finally {
    await cleanup();
    activeTemps.delete(tmp);
  }
}

async function replace(tmp: string, dest: string, shape: "directory" | "file", force = false): Promise<void> {
  const old = await fs.lstat(dest).catch(() => null);
  if (!old) {
    await fs.rename(tmp, dest);
    return;
  }
  // Defence in depth: whoever called, never replace the current folder, one of its ancestors, or what is not ours.
  if (contains(await realish(dest), await realish(process.cwd())))
    throw new UsageError(`${dest}: is or contains the current folder; nothing was replaced`);
  const verdict = await whatIsThere(dest, old, shape, force || forcedOutputs.has(dest));
  if (typeof verdict === "object")
    throw new UsageError(`${dest}: ${verdict.why}; nothing was replaced. ${verdict.todo ?? ""}`.trim());
  const aside = siblingTemp(dest, "-old");
  await fs.rename(dest, aside);
  try {
    await fs.rename(tmp, dest);
  } catch (err) {
    await fs.rename(aside, dest);
    throw err;
  }
  // Removed while the command goes on (it records its up-to-date stamp meanwhile); the command waits for it
  // before it exits (settleRemovals), so that it leaves nothing behind. The new folder is in place: a folder
  // that could not be removed is a warning, and the next run removes it (removeStaleSiblings).
  const removal: Promise<void> = removeTree(aside)
    .catch((err: Error) => {
      process.stderr.write(`pipeline: warning: could not remove ${aside}, the folder this output replaced: ${err.message}\n`);
    })
    .finally(() => removals.delete(removal));
  removals.add(removal);
}

const removals = new Set<Promise<void>>();

/** Waits for the removals of replaced outputs still under way (main, before the command exits). */
export async function settleRemovals(): Promise<void> {
  await Promise.all([...removals]);
}

/**
 * `rm -rf PATH`: the folder an export replaced goes on every build, and one process removing a tree of thousands
 * of files takes a fraction of what fs.rm does (20 against 70-100 ms for 2,000 files), which runs JavaScript and a
 * trip through the thread pool per file. fs.rm where rm cannot be run.
 */
export async function removeTree(path: string): Promise<void> {
  const done = await new Promise<boolean>((res) => execFile("rm", ["-rf", "--", path], (err) => res(!err)));
  if (!done) await fs.rm(path, { recursive: true, force: true });
}

/** Temporary outputs in flight, so an interrupt handler can remove them synchronously. */
export const activeTemps = new Set<string>();

/** Whether a process with this PID is running (here: in this PID namespace). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Removes what a killed run left next to `dest`: hidden partial outputs (.NAME.pipeline-PID-xxxxxxxx) whose
 * PID is not running. An earlier output moved aside for a replace (-old) is put back when `dest` is gone.
 */
export async function removeStaleSiblings(dest: string): Promise<string[]> {
  const abs = resolve(dest);
  const dir = dirname(abs);
  const re = new RegExp(`^\\.${escape(basename(abs))}\\.pipeline-(\\d+)-[0-9a-f]{8}(-d|-old)?$`);
  const removed: string[] = [];
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const m = re.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const p = join(dir, name);
    if (m[2] === "-old" && !(await fs.lstat(abs).catch(() => null))) {
      await fs.rename(p, abs).catch(() => {});
      continue;
    }
    await removeTree(p);
    removed.push(p);
  }
  return removed;
}

/** The prefix of a run's work folder in the temp folder: pipeline-PID-, so a later run can tell a dead one's. */
export const workPrefix = () => join(tmpdir(), `pipeline-${process.pid}-`);

/** Removes work folders (os.tmpdir()/pipeline-PID-XXXXXX) of runs whose process is gone. */
export async function removeStaleWork(dir = tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const m = /^pipeline-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    await removeTree(join(dir, name));
    removed.push(join(dir, name));
  }
  return removed;
}
