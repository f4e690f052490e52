/**
 * A stage command's up-to-date stamp (uptodate.mjs), gathered while it runs: the host inputs of each build it
 * starts, read before that build (an edit made while it runs makes the next run build again), then, once
 * everything is written, recorded with its outputs. Only a command whose result is an export gets one.
 */
import type { OutputRequest } from "./outputs.ts";
import type { Project } from "./project.ts";
import { mirrorsFile, toolRoot } from "./paths.ts";
import { type HostInput, recordStamp, type Snapshot, snapshot } from "./uptodate.mjs";

export function stampRecorder(project: Project, request: OutputRequest) {
  let before: Snapshot | undefined;
  const tool = toolRoot();
  return {
    /** execute's onInputs: the inputs of one build, read now. */
    onInputs(inputs: HostInput[]): void {
      if (request.kind !== "export" || !tool) return;
      const extra = before ? [] : [{ path: project.file }, { path: mirrorsFile() }];
      const now = snapshot({ inputs: [...inputs, ...extra], tool, gitDir: project.dir, gitState: project.gitState });
      before = before ? { ...before, inputs: [...before.inputs, ...now.inputs] } : now;
    },
    /** After everything was written: the stamp, when every output is a folder or file here (or nothing). */
    record(later: OutputRequest[]): void {
      if (!before || request.kind !== "export" || !later.every((r) => r.kind === "export" || r.kind === "sync")) return;
      const outputs = [request.path, ...later.flatMap((r) => (r.kind === "export" ? [r.path] : []))];
      try {
        recordStamp({ argv: process.argv.slice(2), cwd: process.cwd(), before, outputs });
      } catch (err) {
        // The result is written; without a stamp the next run just builds again (on the engine, all cached).
        process.stderr.write(`pipeline: warning: could not record the up-to-date stamp: ${(err as Error).message}\n`);
      }
    },
  };
}
