// The up-to-date check, as ninja's no-op build: a stage command that wrote its result (`pipeline build --out
// DIR`) leaves a stamp of everything that result was made from; when the same command runs again and nothing
// in the stamp changed, it says so and exits 0 without starting the engine, translating the module or
// loading the CLI's bundle (bin.mjs asks here first).
//
// A stamp is keyed by the command line, the current folder and the environment variables that choose or
// configure the engine (PIPELINE_*, DOCKER_*, BUILDKIT_*, DAGGER_*). It records, each as a digest of the
// type, size, mode and mtime (ns) of every file (the content is never read):
// - the host folders and files the build's context was made from, with the same include/exclude filters;
// - the project config, the engine's image-mirror map, and this tool's own sources (src/, modules/, pipeline/,
//   package.json, package-lock.json, dagger.json, tsconfig.json);
// - the project's git state as the CLI reads it (`git describe --tags --always --dirty`, HEAD and its time);
// - every output the command wrote (its folder or file, and later outputs such as an SBOM).
// Inputs are read before the build starts, so an edit made during a build makes the next run build again.
// What BuildKit itself would not rebuild for (a secret's value, a base image moved under the same tag) does
// not count either. PIPELINE_UPTODATE=0 turns the check off (the command always runs on the engine).
//
// Plain JavaScript with no dependency but picomatch (path-filters.mjs), so that it loads in milliseconds.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { compileFilters } from "./path-filters.mjs";

const VERSION = 1;
/** Environment variables whose values are part of a stamp's key: those that choose or configure the engine. */
export const KEY_ENV = /^(PIPELINE_|DOCKER_|BUILDKIT_|DAGGER_)/;
/** This tool's files a stamp covers (relative to its root): a change to any of them makes every command run again. */
const TOOL_PATHS = ["src", "modules", "pipeline", "package.json", "package-lock.json", "dagger.json", "tsconfig.json"];
const NO_PYCACHE = [{ include: [], exclude: ["**/__pycache__"] }];

/** A digest of this tool's own sources under its root folder. */
function toolDigest(root) {
  return createHash("sha256")
    .update(TOOL_PATHS.map((p) => `${p} ${pathDigest(join(root, p), NO_PYCACHE)}`).join("\0"))
    .digest("hex");
}

/** `$PIPELINE_HOME`, else `$XDG_CACHE_HOME/pipeline`, else `~/.cache/pipeline` (paths.ts stateDir). */
export function stateDir(env = process.env) {
  if (env.PIPELINE_HOME) return env.PIPELINE_HOME;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "pipeline");
}

/** The stamp file of a command line run in `cwd` with `env`. */
export function stampFile(argv, cwd, env = process.env) {
  const keyEnv = Object.keys(env)
    .filter((k) => KEY_ENV.test(k) && !["PIPELINE_UPTODATE", "PIPELINE_TRACE", "PIPELINE_WARM"].includes(k))
    .sort()
    .map((k) => [k, env[k]]);
  const key = createHash("sha256")
    .update(JSON.stringify({ v: VERSION, argv, cwd, env: keyEnv }))
    .digest("hex");
  return join(stateDir(env), "stamps", `${key.slice(0, 40)}.json`);
}

/**
 * A digest of what is at `path`: for a folder, of the type, size, mode and mtime of everything under it that
 * `filters` keep (as the build context keeps them: context.ts copyTree); for a file or link, of itself;
 * "missing" when nothing is there.
 */
export function pathDigest(path, filters = []) {
  let st;
  try {
    st = lstatSync(path, { bigint: true });
  } catch {
    return "missing";
  }
  if (!st.isDirectory())
    return createHash("sha256")
      .update(record(statEntry("", st, path)))
      .digest("hex");
  const keep = filters.length ? compileFilters(filters) : () => "keep";
  const entries = [];
  const walk = (dir, rel) => {
    let names;
    try {
      names = readdirSync(dir);
    } catch {
      entries.push({ rel, kind: "unreadable" });
      return;
    }
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (keep(childRel) === "drop") continue;
      const p = join(dir, name);
      let s;
      try {
        s = lstatSync(p, { bigint: true });
      } catch {
        continue; // gone while we looked: the next look sees a change
      }
      if (s.isDirectory()) {
        entries.push(statEntry(childRel, s, p));
        walk(p, childRel);
      } else if (keep(childRel) === "keep") entries.push(statEntry(childRel, s, p));
    }
  };
  walk(path, "");
  return folderDigest(entries);
}

/**
 * What pathDigest hashes of one entry (`rel`: its path in the folder): `kind` "d" (a folder), "f" (a regular
 * file), "l" (a link: `target`), "o" (anything else), or "unreadable" (a folder that could not be listed); `mode`
 * is the whole st_mode (type bits and permissions), `mtimeNs` in nanoseconds.
 */
export function statEntry(rel, st, path) {
  if (st.isSymbolicLink()) return { rel, kind: "l", target: readlinkSync(path) };
  return { rel, kind: st.isDirectory() ? "d" : st.isFile() ? "f" : "o", size: st.size, mode: st.mode, mtimeNs: st.mtimeNs };
}

function record(e) {
  switch (e.kind) {
    case "d":
      return `d ${e.rel} ${e.mode}\0`;
    case "l":
      return `l ${e.rel} ${e.target}\0`;
    case "unreadable":
      return `unreadable ${e.rel}\0`;
    default:
      return `${e.kind} ${e.rel} ${e.size} ${e.mode} ${e.mtimeNs}\0`;
  }
}

/**
 * pathDigest of a folder from its entries (statEntry's shape, in any order), as a walk of it would make it: each
 * folder's entries by name (JavaScript's sort of the names), a folder before what it holds. An export that
 * made a folder knows what it holds (delta-output.ts), and records its stamp without walking it again.
 */
export function folderDigest(entries) {
  // Each folder's entries by name; a folder that could not be listed is marked where its entries would be.
  const children = new Map();
  const unreadable = new Set();
  for (const e of entries) {
    if (e.kind === "unreadable") {
      unreadable.add(e.rel);
      continue;
    }
    const cut = e.rel.lastIndexOf("/");
    const parent = cut < 0 ? "" : e.rel.slice(0, cut);
    if (!children.has(parent)) children.set(parent, new Map());
    children.get(parent).set(e.rel.slice(cut + 1), e);
  }
  const h = createHash("sha256");
  const visit = (rel) => {
    if (unreadable.has(rel)) h.update(record({ rel, kind: "unreadable" }));
    const here = children.get(rel) ?? new Map();
    for (const name of [...here.keys()].sort()) {
      const e = here.get(name);
      h.update(record(e));
      if (e.kind === "d") visit(e.rel);
    }
  };
  visit("");
  return h.digest("hex");
}

/** Digests of folders an export just wrote, by absolute path, for recordStamp to use once (folderDigest). */
export const knownDigests = (globalThis[Symbol.for("pipeline.outputDigests")] ??= new Map());

/** The git state the CLI reads for a project folder (project.ts gitVersion, gitRevision); "" outside git. */
export function gitState(dir) {
  if (!insideGit(dir)) return "\n";
  const git = (args) => {
    try {
      return execFileSync("git", ["-C", dir, ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
        timeout: 10_000,
      }).trim();
    } catch {
      return "";
    }
  };
  return `${git(GIT_DESCRIBE)}\n${git(GIT_HEAD)}`;
}

/** The git commands whose answers are a project's git state (project.ts reads the same). */
export const GIT_DESCRIBE = ["describe", "--tags", "--always", "--dirty"];
export const GIT_HEAD = ["log", "-1", "--format=%H %ct"];

/** Whether `dir` may be in a git work tree: git is not started outside one (GIT_DIR may name one elsewhere). */
export function insideGit(dir) {
  if (process.env.GIT_DIR) return true;
  dir = resolve(dir);
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, ".git"))) return true;
    if (dirname(d) === d) return false;
  }
}

function realOrSame(p) {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/**
 * What a stamp needs from before the build: the digests of the inputs (host folders with their filters, host
 * files), of this tool's sources (its root `tool`), and the git state of the project folder `gitDir`.
 */
/**
 * The input digests upToDate computed in this process, for snapshot to use once: bin.mjs loads this file and
 * the CLI's bundle holds its own copy of it, so the two share them through a global.
 */
const remembered = (globalThis[Symbol.for("pipeline.inputDigests")] ??= new Map());

export function snapshot({ inputs, tool, gitDir, gitState: state }) {
  const seen = new Set();
  const recorded = [];
  for (const i of inputs) {
    const path = resolve(i.path);
    const filters = i.filters ?? [];
    const id = JSON.stringify([path, filters]);
    if (seen.has(id)) continue;
    seen.add(id);
    // A digest the check before the CLI loaded made already is used once (a build that starts with an edit
    // read the sources a moment ago): made earlier than the build reads them, it can only make a later run
    // build again, never skip one.
    const digest = remembered.get(id) ?? pathDigest(path, filters);
    remembered.delete(id);
    recorded.push({ path, filters, digest });
  }
  const root = realOrSame(tool);
  return {
    tool: { path: root, digest: toolDigest(root) },
    inputs: recorded,
    git: { dir: gitDir, state: state ?? gitState(gitDir) },
  };
}

/** Records, after a run that succeeded, the stamp of `argv` in `cwd`: the snapshot taken before it, and its outputs now. */
export function recordStamp({ argv, cwd, env = process.env, before, outputs }) {
  const file = stampFile(argv, cwd, env);
  const stamp = {
    version: VERSION,
    argv,
    cwd,
    at: new Date().toISOString(),
    ...before,
    outputs: outputs.map((o) => {
      const path = resolve(cwd, o);
      const known = knownDigests.get(path);
      knownDigests.delete(path);
      return { path, digest: known ?? pathDigest(path) };
    }),
  };
  const dir = join(stateDir(env), "stamps");
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(stamp, null, 1));
  renameSync(tmp, file);
  forgetOld(dir);
  return file;
}

/** Stamps not written for STAMP_DAYS days (command lines of folders long gone, most of them) are removed. */
export const STAMP_DAYS = 30;
function forgetOld(dir) {
  const before = Date.now() - STAMP_DAYS * 86_400_000;
  for (const name of readdirSync(dir)) {
    try {
      if (lstatSync(join(dir, name)).mtimeMs < before) rmSync(join(dir, name), { force: true });
    } catch (err) {
      if (err.code !== "ENOENT") throw err; // removed meanwhile by another run
    }
  }
}

/**
 * The stamp of `argv` run in `cwd` when nothing it records changed (the command need not run); else undefined.
 * `tool` is this tool's root folder.
 */
export function upToDate(argv, { cwd = process.cwd(), env = process.env, tool } = {}) {
  if (env.PIPELINE_UPTODATE === "0") return undefined;
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(stampFile(argv, cwd, env), "utf8"));
  } catch {
    return undefined;
  }
  if (stamp.version !== VERSION || JSON.stringify(stamp.argv) !== JSON.stringify(argv) || stamp.cwd !== cwd) return undefined;
  if (!stamp.outputs?.length || !stamp.tool || stamp.tool.path !== realOrSame(tool)) return undefined;
  // What an edit changes first (the sources), so that a command with work to do learns it soonest.
  for (const i of stamp.inputs ?? []) {
    const digest = pathDigest(i.path, i.filters);
    remembered.set(JSON.stringify([i.path, i.filters]), digest);
    if (digest !== i.digest) return undefined;
  }
  for (const o of stamp.outputs) if (o.digest === "missing" || pathDigest(o.path) !== o.digest) return undefined;
  if (toolDigest(stamp.tool.path) !== stamp.tool.digest) return undefined;
  if (!stamp.git || gitState(stamp.git.dir) !== stamp.git.state) return undefined;
  return stamp;
}
