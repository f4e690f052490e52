/** The project a stage command works on: its config file, version, and the module's main object over it. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { dag, type Directory } from "@dagger.io/dagger";
import { type Config, CONFIG_FILES, ConfigError, parseConfig } from "../modules/config.ts";
import { Pipeline } from "../src/index.ts";
import { UsageError } from "../modules/errors.ts";
import { capture } from "./proc.ts";
import { snapshotLabel } from "./snapshot.ts";
import { GIT_DESCRIBE, GIT_HEAD, insideGit } from "./uptodate.mjs";

export interface Project {
  file: string;
  dir: string;
  cfg: Config;
  pipeline: Pipeline;
  /** The source tree a command was pointed at (--source), else undefined: the config's source. */
  source?: Directory;
  /** The project folder's git state as read for the version and revision (the up-to-date stamp keeps it). */
  gitState: string;
}

/** What git says of a folder: its `describe` and HEAD lines ("" where git fails, or outside a work tree). */
export interface GitFacts {
  describe: string;
  head: string;
}

/** Both git questions at once; git is not started at all outside a work tree. */
export async function gitFacts(dir: string): Promise<GitFacts> {
  if (!insideGit(dir)) return { describe: "", head: "" };
  const ask = async (args: string[]) => {
    const r = await capture("git", ["-C", dir, ...args], { timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.trim() : "";
  };
  const [describe, head] = await Promise.all([ask(GIT_DESCRIBE), ask(GIT_HEAD)]);
  return { describe, head };
}

/** The up-to-date stamp's git state (uptodate.mjs gitState gives the same string). */
export const gitStateOf = (g: GitFacts) => `${g.describe}\n${g.head}`;

/** A version from `git describe` (v1.2.3 -> 1.2.3), or undefined when the tree has no version tag. */
export function gitVersion(g: GitFacts): string | undefined {
  const v = g.describe.replace(/^v(?=\d)/, "");
  return /^\d/.test(v) ? v : undefined;
}

/** HEAD's commit and its commit time, for image labels and reproducible timestamps; "unknown" and 0 outside git. */
export function gitRevision(g: GitFacts): { revision: string; epoch: number } {
  const m = /^([0-9a-f]{40}) (\d+)$/.exec(g.head);
  return m ? { revision: m[1]!, epoch: Number(m[2]) } : { revision: "unknown", epoch: 0 };
}

/** `cmake: false`: --source is not a CMake project (an application's program folder). */
export async function loadProject(opts: { config?: string; source?: string; cmake?: boolean }): Promise<Project> {
  const file = opts.config ? resolve(opts.config) : CONFIG_FILES.map((f) => resolve(f)).find((f) => existsSync(f));
  if (!file)
    throw new UsageError(
      `no project config here (${CONFIG_FILES.join(", ")}); create pipeline.yaml (see README) or pass --config FILE`,
    );
  if (!existsSync(file)) throw new UsageError(`${opts.config}: no such config file`);
  const dir = dirname(file);
  const text = readFileSync(file, "utf8");
  const git = await gitFacts(dir);
  const version = gitVersion(git) ?? "0.0.0";
  let cfg: Config;
  try {
    cfg = parseConfig(text, file, version);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  if (opts.source !== undefined && !existsSync(opts.source)) throw new UsageError(`--source ${opts.source}: no such directory`);
  const sourceDir = resolve(opts.source ?? join(dir, cfg.source));
  if (opts.cmake !== false && !existsSync(join(sourceDir, "CMakeLists.txt"))) {
    throw new UsageError(
      `${opts.source ? `--source ${opts.source}` : `${file}: at 'source'`}: ${sourceDir} has no CMakeLists.txt; expected a CMake project`,
    );
  }
  const { revision, epoch } = gitRevision(git);
  const pipeline = new Pipeline(dag.host().directory(dir), text, version, revision, epoch, snapshotLabel());
  const source = opts.source !== undefined ? dag.host().directory(resolve(opts.source)) : undefined;
  return { file, dir, cfg, pipeline, source, gitState: gitStateOf(git) };
}
