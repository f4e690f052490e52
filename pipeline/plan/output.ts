/**
 * The end of a plan: the build stage that is the graph's result (a container's own stage, or a scratch
 * stage holding a directory's contents or one file), and the build stage a run with no output builds.
 */
import { posix } from "node:path";
import { UsageError } from "../../modules/errors.ts";
import { SYNC_STAGE } from "../progress.ts";
import { refuse } from "./args.ts";
import { type BuildStage, type BuildState, copyFrom, type Output, type Plan, type Value } from "./state.ts";

/** The build stage to build for a graph's result, and what kind of output it is. */
export function result(build: BuildState, value: Value): { target: string; output: Output } {
  switch (value.kind) {
    case "container":
      return { target: value.state.stage.name, output: { kind: "container" } };
    case "directory": {
      const ref = value.ref;
      if (ref.kind === "stage" && ref.path === "/") return { target: ref.stage, output: { kind: "directory" } };
      const out = build.newStage("out", "scratch", "output");
      if (ref.kind !== "empty") out.steps.push(copyFrom(build.located(ref), "/", true));
      return { target: out.name, output: { kind: "directory" } };
    }
    case "file": {
      const name = posix.basename(value.ref.path);
      const out = build.newStage("out", "scratch", "output");
      out.steps.push(copyFrom(value.ref, `/${name}`, false));
      return { target: out.name, output: { kind: "file", name } };
    }
    case "host":
      return refuse("host().?");
    case "cacheVolume":
    case "secret":
      throw new UsageError(`a ${value.kind === "secret" ? "Secret" : "CacheVolume"} is not a runnable result`);
    case "query":
      throw new UsageError("empty Dagger graph");
  }
}

/**
 * The plan that builds all of `plan`'s target and exports nothing: a last build stage that copies from the
 * target a wildcard that matches no file. Docker's builder exports every build; with no output it would leave
 * an unnamed image of the result in the image store on each run (a whole build tree, for `build`), while this
 * stage exports an empty folder.
 */
export function withSyncTarget(plan: Plan): Plan {
  const sync = {
    name: SYNC_STAGE,
    base: "scratch",
    label: `builds ${plan.target} and exports nothing (a wildcard that matches no file)`,
    steps: [{ kind: "copy" as const, from: plan.target, src: "/.pipeline-sync-none*", dest: "/" }],
  };
  return { ...plan, stages: [...plan.stages, sync], target: SYNC_STAGE };
}

/** The build stages an incremental export adds: the one that lists and copies, and the one exported. */
export const DELTA_STAGE = "pipeline-delta";
const DELTA_OUT = "pipeline-delta-out";
const DELTA_HAVE = "pipeline-delta-have";
/** The listing of the folder an export replaces, in the build context (see withDeltaTarget). */
export const HAVE_FILE = "pipeline-have";

/**
 * What the delta stage runs, with the target's result at `r`, the listing of the last output at /have
 * (NUL-separated records `f MODE SIZE MTIME PATH`, as GNU find prints them) and its own folder `d` (working
 * files in d/tmp): every regular file whose record is not in the listing is copied to d/files, as is every
 * symbolic link (cheap, and not compared); d/all lists every path of the result with its type and mode, so
 * that the folder can be made again from the two. `link`: `r` is on the step's own file system, and its files
 * are hard linked rather than copied (free for what the step itself wrote; overlayfs copies up the rest first,
 * which costs what a copy does).
 */
export function deltaScript(r: string, d: string, link: boolean, have = "/have"): string {
  const q = (p: string) => `'${p.replaceAll("'", `'\\''`)}'`;
  return [
    "set -eu",
    `mkdir -p ${q(`${d}/files`)} ${q(`${d}/tmp`)}`,
    `cd ${q(r)}`,
    // One walk of the result (thousands of entries in a build tree), each list made from it.
    `find . -mindepth 1 -printf '%y %m %s %T@ %P\\0' > ${q(`${d}/tmp/every`)}`,
    `cut -z -d' ' -f1,2,5- ${q(`${d}/tmp/every`)} > ${q(`${d}/all`)}`,
    `grep -z '^f ' ${q(`${d}/tmp/every`)} | LC_ALL=C sort -z > ${q(`${d}/tmp/now`)}`,
    `LC_ALL=C sort -z ${q(have)} > ${q(`${d}/tmp/have`)}`,
    `LC_ALL=C comm -z -23 ${q(`${d}/tmp/now`)} ${q(`${d}/tmp/have`)} | cut -z -d' ' -f5- | xargs -0r cp -a${link ? "l" : ""} --parents -t ${q(`${d}/files`)} --`,
    `grep -zv '^[fd] ' ${q(`${d}/tmp/every`)} | cut -z -d' ' -f5- | xargs -0r cp -a --parents -t ${q(`${d}/files`)} --`,
    `rm -rf ${q(`${d}/tmp`)}`,
  ].join("\n");
}

/**
 * Where the delta step writes: a folder's subfolder, since BuildKit keys the COPY of a folder by walking the
 * folder that holds it (the root would be the whole image, and the tree where the step continues its stage).
 */
const DELTA_DIR = "/.pipeline-delta/d";

/**
 * The plan that exports only what differs from a folder an earlier export wrote: a stage that reads the
 * target's result and the folder's listing (`have`, put into the build context as HAVE_FILE) and copies out
 * the new or changed files and the list of every path; the runner makes the new folder from those and hard
 * links to the unchanged files of the old one (outputs.ts). It needs GNU find and coreutils: `tools`, an image
 * with them.
 *
 * A target that only copies a folder of another stage (the build tree's `out`) is read where it is, one copy
 * fewer per build; and when that stage is built on `tools` itself (the development image is), the delta is
 * made in that stage instead of mounting the folder into a stage of `tools`. BuildKit keys a step's read-only
 * mount of another stage by the content of what it mounts, and so reads every byte of it on each build
 * (seconds for a build tree of a GB) before the step runs; a stage's own next step it keys by the stage's key.
 * When the stage ends with a command run as root (the compile step), the delta is made by that very step,
 * after its command succeeds: one container fewer per build (about 0.1 s), and the files the command wrote
 * are still in the step's own layer, where copying them costs no copy-up. The step's key then holds the
 * listing, so a build whose sources did not change but whose old output did runs the command again (for the
 * compile step, an incremental build with nothing to do). Otherwise the delta step is a stage of its own,
 * FROM that stage.
 */
export function withDeltaTarget(plan: Plan, tools: string, have: string): Plan {
  // The listing is copied into a stage of its own and mounted from there: a mount straight from the build
  // context keeps BuildKit from reusing its copy of the context in the next build (it then receives every source).
  const listing = {
    name: DELTA_HAVE,
    base: "scratch",
    label: "the listing of the folder an incremental export replaces",
    steps: [{ kind: "copy" as const, src: HAVE_FILE, dest: "/have" }],
  };
  const haveMount = { kind: "bind" as const, target: "/have", from: DELTA_HAVE, source: "/have" };
  const only = plan.stages.find((s) => s.name === plan.target);
  const step = only?.base === "scratch" && only.steps.length === 1 ? only.steps[0] : undefined;
  const folder =
    step?.kind === "copy" && step.from && step.src.endsWith("/") && step.dest === "/" && !step.chmod && !step.chown
      ? { from: step.from, source: step.src }
      : undefined;
  const label = `what of ${plan.target}'s result differs from the folder it replaces`;
  // (Not a stage's whole root: the step's own folder and the system's would be part of what it lists.)
  const inPlace = folder !== undefined && folder.source !== "/" && rootImage(plan, folder.from) === tools;
  const out = (from: string) => ({
    name: DELTA_OUT,
    base: "scratch",
    label: "the files an incremental export sends",
    steps: [{ kind: "copy" as const, from, src: `${DELTA_DIR}/`, dest: "/" }],
  });
  const context = [...plan.context, { kind: "content" as const, dest: HAVE_FILE, contents: have }];
  const host = inPlace ? plan.stages.find((s) => s.name === folder.from) : undefined;
  const last = host?.steps.at(-1);
  if (folder && host && last?.kind === "run" && runsAsRoot(plan, host.name)) {
    // The stage's last command, then (only if it succeeded) the delta script: `sh -c SCRIPT NAME ARGS...` runs
    // the command as "$@", with the step's own environment and folder.
    const folded = {
      ...host,
      steps: [
        ...host.steps.slice(0, -1),
        {
          kind: "run" as const,
          args: ["sh", "-c", `"$@" || exit\n${deltaScript(folder.source, DELTA_DIR, true)}`, DELTA_STAGE, ...last.args],
          mounts: [...last.mounts, haveMount],
        },
      ],
    };
    return {
      ...plan,
      // (The listing's stage first: a stage can mount only a stage named before it.)
      stages: [listing, ...plan.stages.map((s) => (s === host ? folded : s)), out(host.name)],
      target: DELTA_OUT,
      context,
    };
  }
  const delta =
    folder && inPlace
      ? {
          name: DELTA_STAGE,
          base: folder.from,
          label,
          steps: [
            { kind: "user" as const, name: "root" },
            { kind: "run" as const, args: ["sh", "-c", deltaScript(folder.source, DELTA_DIR, true)], mounts: [haveMount] },
          ],
        }
      : {
          name: DELTA_STAGE,
          base: tools,
          label,
          steps: [
            {
              kind: "run" as const,
              args: ["sh", "-c", deltaScript("/r", DELTA_DIR, false)],
              mounts: [{ kind: "bind" as const, target: "/r", ...(folder ?? { from: plan.target, source: "/" }) }, haveMount],
            },
          ],
        };
  return { ...plan, stages: [...plan.stages, listing, delta, out(DELTA_STAGE)], target: DELTA_OUT, context };
}

/** A stage and the stages it is built on, in that order (the last one's base is an image). */
function chain(plan: Plan, stage: string): BuildStage[] {
  const byName = new Map(plan.stages.map((s) => [s.name, s]));
  const out: BuildStage[] = [];
  for (let s = byName.get(stage); s && out.length < plan.stages.length; s = byName.get(s.base)) out.push(s);
  return out;
}

/**
 * Whether a stage's commands run as root: the last USER of its chain of stages is root (or there is none, and
 * the chain starts from the tools image, a Debian image that runs as root).
 */
function runsAsRoot(plan: Plan, stage: string): boolean {
  for (const s of chain(plan, stage)) {
    const user = [...s.steps].reverse().find((step) => step.kind === "user");
    if (user?.kind === "user") return /^(root|0)(:(root|0))?$/.test(user.name);
  }
  return true;
}

/** The image a stage is built on at the root of its chain of stages. */
function rootImage(plan: Plan, stage: string): string | undefined {
  return chain(plan, stage).at(-1)?.base;
}

/** A Debian image the plan already builds from (GNU find and coreutils), for withDeltaTarget; undefined if none. */
export function deltaTools(plan: Plan): string | undefined {
  return plan.stages.find((s) => /^from (docker\.io\/(library\/)?)?debian:/.test(s.label))?.base;
}
