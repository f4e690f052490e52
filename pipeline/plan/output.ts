/**
 * The end of a plan: the build stage that is the graph's result (a container's own stage, or a scratch
 * stage holding a directory's contents or one file), and the build stage a run with no output builds.
 */
import { posix } from "node:path";
import { UsageError } from "../../modules/errors.ts";
import { SYNC_STAGE } from "../progress.ts";
import { refuse } from "./args.ts";
import { type BuildState, copyFrom, type Output, type Plan, type Value } from "./state.ts";

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
