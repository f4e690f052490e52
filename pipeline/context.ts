/**
 * Writes a plan's build context to a folder: host directories (filtered by their include/exclude patterns),
 * host files, new files' contents and the empty directory, plus the Dockerfile. Files are hard-linked where
 * the filesystem allows, copied otherwise, so staging a large source tree costs little.
 */
import { constants, promises as fs } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { ContextEntry, Plan } from "./plan.ts";
import { compileFilters, type Keep } from "./path-filters.mjs";
import { renderDockerfile } from "./dockerfile.ts";
import { UsageError } from "../modules/errors.ts";

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
  }
}

async function statOrNull(p: string) {
  try {
    return await fs.stat(p);
  } catch {
    return null;
  }
}
