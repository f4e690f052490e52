/**
 * What a run produces, and how it lands on the host: atomically. An export is written to a hidden sibling of
 * the destination and renamed into place only when the build succeeded, so a failed or interrupted run
 * leaves nothing at (or changes nothing at) the destination.
 */
import { promises as fs } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";

export type OutputRequest =
  | { kind: "sync" }
  | { kind: "export"; path: string }
  | { kind: "tag"; image: string }
  | { kind: "tarball"; path: string }
  /** Push the image to a registry as `ref` (REGISTRY/NAME:TAG); the pushed digest comes back. */
  | { kind: "publish"; ref: string };

/** A hidden temporary path next to `dest`, on the same filesystem so that rename is atomic. */
export function siblingTemp(dest: string): string {
  const abs = resolve(dest);
  return join(dirname(abs), `.${basename(abs)}.pipeline-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/**
 * Runs `produce(tmp)` to write at a temporary sibling path, then moves it to `dest`. On any failure the
 * temporary path is removed and `dest` is untouched. A directory replaces what was at `dest`.
 */
export async function atomicWrite(dest: string, produce: (tmp: string) => Promise<void>): Promise<void> {
  const abs = resolve(dest);
  await fs.mkdir(dirname(abs), { recursive: true });
  const tmp = siblingTemp(abs);
  const cleanup = () => fs.rm(tmp, { recursive: true, force: true });
  activeTemps.add(tmp);
  try {
    await produce(tmp);
    await replace(tmp, abs);
  } finally {
    await cleanup();
    activeTemps.delete(tmp);
  }
}

async function replace(tmp: string, dest: string): Promise<void> {
  const old = await fs.lstat(dest).catch(() => null);
  if (!old) {
    await fs.rename(tmp, dest);
    return;
  }
  const aside = siblingTemp(dest);
  await fs.rename(dest, aside);
  try {
    await fs.rename(tmp, dest);
  } catch (err) {
    await fs.rename(aside, dest);
    throw err;
  }
  await fs.rm(aside, { recursive: true, force: true });
}

/** Temporary outputs in flight, so an interrupt handler can remove them synchronously. */
export const activeTemps = new Set<string>();
