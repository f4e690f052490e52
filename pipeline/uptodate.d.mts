import type { PathFilter } from "./path-filters.mjs";

export const KEY_ENV: RegExp;
export const STAMP_DAYS: number;
export function stateDir(env?: NodeJS.ProcessEnv): string;
export function stampFile(argv: string[], cwd: string, env?: NodeJS.ProcessEnv): string;
export function pathDigest(path: string, filters?: PathFilter[]): string;
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
