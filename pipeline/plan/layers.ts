/**
 * Sources in two layers. BuildKit copies a folder of the build context whole whenever any file in it changed,
 * so a one-file edit cost a copy of the whole source tree into the build step's layer (0.7 s for 5,000 files).
 * Here each host folder the plan copies only whole (`COPY hN/ DEST/`, nothing else reading it) is staged as two
 * folders, a base and the files that changed since the base was made (context-tree.ts syncLayered), and copied
 * as two steps: the base's copy is keyed by the base's content, which an edit leaves as it was, so it comes from
 * BuildKit's cache, and the recent folder's copy costs what changed. Together they give the same tree as one
 * copy. The CLI applies this on BuildKit only: an ejected Dockerfile copies the folder in one step.
 *
 * Run steps right after the base's copy whose command begins with BEFORE_RECENT (`env PIPELINE_BEFORE_RECENT=1`)
 * say they are as right on the base as on the whole folder: the recent files are copied after them, so they stay
 * cached until the base changes (the build's step that ages sources newer than the build tree's outputs).
 */
import { BEFORE_RECENT } from "../../modules/scripts.ts";
import type { Plan, Step } from "./state.ts";

/** The context folder that holds the recent files of the host folder staged at `dest`. */
export const recentOf = (dest: string) => `${dest}-recent`;

export function withLayeredSources(plan: Plan): Plan {
  const hostDirs = new Set(plan.context.flatMap((e) => (e.kind === "hostDir" && !e.recent ? [e.dest] : [])));
  const whole = (step: Step, dir: string) =>
    step.kind === "copy" && !step.from && !step.chmod && !step.chown && step.src === `${dir}/` && step.dest.endsWith("/");
  const reads = (path: string, dir: string) => path.replace(/^\.?\/+/, "").split("/")[0] === dir;
  // A folder read any other way (a file of it, a mount) is left whole: its base alone would lack the recent files.
  for (const stage of plan.stages)
    for (const step of stage.steps)
      for (const dir of [...hostDirs]) {
        const other =
          (step.kind === "copy" && !step.from && reads(step.src, dir) && !whole(step, dir)) ||
          (step.kind === "run" && step.mounts.some((m) => m.kind === "bind" && !m.from && reads(m.source, dir)));
        if (other) hostDirs.delete(dir);
      }
  if (!hostDirs.size) return plan;
  const beforeRecent = (step: Step | undefined) => step?.kind === "run" && BEFORE_RECENT.every((arg, i) => step.args[i] === arg);
  const stages = plan.stages.map((stage) => {
    const steps: Step[] = [];
    for (let i = 0; i < stage.steps.length; i++) {
      const step = stage.steps[i]!;
      steps.push(step);
      const dir = [...hostDirs].find((d) => whole(step, d));
      if (!dir || step.kind !== "copy") continue;
      while (beforeRecent(stage.steps[i + 1])) steps.push(stage.steps[++i]!);
      steps.push({ kind: "copy", src: `${recentOf(dir)}/`, dest: step.dest });
    }
    return { ...stage, steps };
  });
  const context = plan.context.map((e) =>
    e.kind === "hostDir" && hostDirs.has(e.dest) ? { ...e, recent: recentOf(e.dest) } : e,
  );
  return { ...plan, stages, context };
}
