import type { PathFilter } from "./path-filters.mjs";

export const KEY_ENV: RegExp;
export const STAMP_DAYS: number;
export function stateDir(env?: NodeJS.ProcessEnv): string;
export function stampFile(argv: string[], cwd: string, env?: NodeJS.ProcessEnv): string;
export function pathDigest(path: string, filters?: PathFilter[]): string;
/** One entry of a folder as pathDigest hashes it: `mode` is the whole st_mode, `mtimeNs` in nanoseconds. */
export type FolderEntry =
  | { rel: string; kind: "d"; mode: bigint | number }
  | { rel: string; kind: "f" | "o"; size: bigint | number; mode: bigint | number; mtimeNs: bigint | number }
  | { rel: string; kind: "l"; target: string };
export function folderDigest(entries: FolderEntry[]): string;
/** The entry of `path` (at `rel` in its folder), from its lstat with bigint: true. */
export function statEntry(rel: string, st: import("node:fs").BigIntStats, path: string): FolderEntry;
export const knownDigests: Map<string, string>;
export function gitState(dir: string): string;
export const GIT_DESCRIBE: string[];
export const GIT_HEAD: string[];
export function insideGit(dir: string): boolean;

/** A host input of a build: a folder (with the include/exclude filters its context entry has) or a file. */
export interface HostInput {
  path: string;
  filters?: PathFilter[];
}
export interface Snapshot {
  tool: { path: string; digest: string };
  inputs: Array<{ path: string; filters: PathFilter[]; digest: string }>;
  git: { dir: string; state: string };
}
export interface Stamp extends Snapshot {
  version: number;
  argv: string[];
  cwd: string;
  at: string;
  outputs: Array<{ path: string; digest: string }>;
}
/** `gitState`: the project folder's, as the CLI read it (else it is read here). */
export function snapshot(opts: { inputs: HostInput[]; tool: string; gitDir: string; gitState?: string }): Snapshot;
export function recordStamp(opts: {
  argv: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  before: Snapshot;
  outputs: string[];
}): string;
export function upToDate(argv: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv; tool?: string }): Stamp | undefined;
