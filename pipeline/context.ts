/**
 * Writes a plan's build context to a folder: host directories (filtered by their include/exclude patterns),
 * host files, new files' contents and the empty directory, plus the Dockerfile. Files are hard-linked where
 * the filesystem allows, copied otherwise, so staging a large source tree costs little.
 */
import { createHash } from "node:crypto";
import { constants, promises as fs } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { ContextEntry, Plan } from "./plan.ts";
import { compileFilters, type Keep } from "./path-filters.mjs";
import { renderDockerfile } from "./dockerfile.ts";
import { UsageError } from "../modules/errors.ts";
import { stateDir } from "./paths.ts";
import { processRunning } from "./engines/detect.ts";

export async function writeContext(plan: Plan, dir: string, cwd = process.cwd()): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const entry of plan.context) await writeEntry(entry, dir, cwd);
  await fs.writeFile(join(dir, "Dockerfile"), renderDockerfile(plan));
}

async function writeEntry(entry: ContextEntry, dir: string, cwd: string): Promise<void> {
  const dest = join(dir, entry.dest);
  switch (entry.kind) {
    case "content":
      await fs.mkdir(dirname(dest), { recursive: true });
      await fs.writeFile(dest, entry.contents);
      return;
    case "emptyDir":
      await fs.mkdir(dest, { recursive: true });
      return;
    case "hostFile": {
      const src = resolve(cwd, entry.path);
      const st = await statOrNull(src);
      if (!st?.isFile()) throw new UsageError(`host file '${entry.path}' does not exist or is not a file`);
      await fs.mkdir(dirname(dest), { recursive: true });
      await linkOrCopy(src, dest);
      return;
    }
    case "hostDir": {
      const src = resolve(cwd, entry.path);
      const st = await statOrNull(src);
      if (!st?.isDirectory()) throw new UsageError(`host directory '${entry.path}' does not exist or is not a directory`);
      await fs.mkdir(dest, { recursive: true });
      await copyTree(src, dest, compileFilters(entry.filters));
      return;
    }
  }
}

/**
 * A folder for the build context at a path that is the same for every build of the same host inputs, held by
 * one build at a time. Docker's client names BuildKit's copy of a context after the folder's path (the
 * session's shared key): at the same path BuildKit receives only the files whose metadata changed since the
 * last build, where a new folder each build sent every source again. Undefined when the plan reads nothing
 * from the host, or another build of the same inputs holds the folder now (that build stages its own).
 * `release` removes the folder's contents; the path stays the same for the next build.
 */
export async function claimContextDir(
  plan: Plan,
  cwd = process.cwd(),
  root = join(stateDir(), "contexts"),
): Promise<{ dir: string; release: () => Promise<void> } | undefined> {
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
  const lock = join(root, `${key}.lock`);
  if (!(await takeLock(lock))) return undefined;
  const dir = join(root, key);
  await fs.rm(dir, { recursive: true, force: true }); // what a killed build left
  return {
    dir,
    release: async () => {
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rm(lock, { force: true });
    },
  };
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

/** Copies `src` into `dest` keeping what `keep` allows; returns whether anything was kept. */
async function copyTree(src: string, dest: string, keep: Keep, rel = ""): Promise<boolean> {
  let kept = false;
  const entries = await fs.readdir(src, { withFileTypes: true });
  for (const e of entries) {
    const childRel = rel ? `${rel}/${e.name}` : e.name;
    const verdict = keep(childRel);
    if (verdict === "drop") continue;
    const from = join(src, e.name);
    const to = join(dest, e.name);
    if (e.isDirectory()) {
      if (verdict === "keep") {
        await fs.mkdir(to, { mode: (await fs.stat(from)).mode & 0o7777 });
        await copyTree(from, to, keep, childRel);
        kept = true;
      } else {
        await fs.mkdir(to);
        if (await copyTree(from, to, keep, childRel)) kept = true;
        else await fs.rmdir(to);
      }
    } else if (verdict === "keep") {
      if (e.isSymbolicLink()) await fs.symlink(await fs.readlink(from), to);
      else if (e.isFile()) await linkOrCopy(from, to);
      else continue; // sockets, fifos and devices are not part of a source tree
      kept = true;
    }
  }
  return kept;
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch {
    await fs.copyFile(from, to, constants.COPYFILE_FICLONE);
    const st = await fs.stat(from);
    await fs.chmod(to, st.mode & 0o7777);
    // The source's mtime: BuildKit resends a file of a reused context folder whose metadata changed.
    await fs.utimes(to, st.atime, st.mtime);
  }
}

async function statOrNull(p: string) {
  try {
    return await fs.stat(p);
  } catch {
    return null;
  }
}
