/**
 * Source manifests computed by the CLI. A build step's restore (build-tree.sh) compares the SHA-256 of every
 * source with the manifest its build tree was built from; hashing the whole source tree in the container costs
 * a read of every source on every build (0.4 s for a 45 MB tree, seconds for a framework's). Where the plan
 * copies a host folder into the restore's source folder, the CLI hashes that folder itself, reading only the
 * files whose inode, size or mtime changed since it last hashed them (context.ts), and the step mounts the
 * result at MANIFEST_MOUNT. The restore checks that the manifest names exactly the files it sees and hashes
 * them itself otherwise (and wherever nothing is mounted: the Dagger engine, an ejected Dockerfile).
 */
import type { Plan, Step } from "./state.ts";

/** Where a restore finds the manifest the CLI made (build-tree.sh reads this path). */
export const MANIFEST_MOUNT = "/run/pipeline-sources.sha256";

const RESTORE = /build-tree\.sh restore (\S+) (\S+) (\S+)/;
/** A step that changes the sources' mtimes only, never their content (the manifest's digests hold after it). */
const AGE = /build-tree\.sh age /;

/**
 * The plan with a manifest for each step that restores a build tree into a folder a host folder was copied to,
 * made in a stage of its own and mounted from there (a mount straight from the build context keeps BuildKit
 * from reusing its copy of the context: output.ts withDeltaTarget).
 */
export function withSourceManifests(plan: Plan): Plan {
  const hostDirs = new Set(plan.context.filter((e) => e.kind === "hostDir").map((e) => e.dest));
  const added: Plan["stages"] = [];
  const context: Plan["context"] = [];
  const stages = plan.stages.map((stage) => {
    /** The host folder copied into each folder of this stage since the last command (a later copy into it forgets it). */
    const copied = new Map<string, string>();
    const steps = stage.steps.map((step): Step => {
      if (step.kind === "copy") {
        const dest = step.dest.replace(/\/+$/, "") || "/";
        const src = step.src.replace(/\/+$/, "");
        for (const dir of [...copied.keys()]) if (dir === dest || dest.startsWith(`${dir}/`)) copied.delete(dir);
        if (!step.from && hostDirs.has(src) && step.src.endsWith("/")) copied.set(dest, src);
        return step;
      }
      if (step.kind !== "run") return step;
      const command = step.args.join(" ");
      const m = RESTORE.exec(command);
      const src = m?.[2]!.replace(/\/+$/, "");
      const of = src === undefined ? undefined : copied.get(src);
      // Only the first command after the copy sees the sources as the host has them: any command may change them
      // (but for the age step, which gives some an old mtime).
      if (!m && AGE.test(command)) return step;
      copied.clear();
      if (!of || !m![3]!.startsWith(`${src}/`)) return step;
      const name = `pipeline-sources-${of}`;
      const file = `m/${of}.sha256`;
      if (!added.some((s) => s.name === name)) {
        added.push({
          name,
          base: "scratch",
          label: `the SHA-256 manifest of ${of}, made by the CLI`,
          steps: [{ kind: "copy", src: file, dest: "/sources.sha256" }],
        });
        // Only the restore's own test for the build folder: its top-level folder named `build`.
        context.push({ kind: "sourceManifest", dest: file, of, prune: "build" });
      }
      return {
        ...step,
        mounts: [...step.mounts, { kind: "bind", target: MANIFEST_MOUNT, from: name, source: "/sources.sha256" }],
      };
    });
    return { ...stage, steps };
  });
  if (!added.length) return plan;
  // The manifest stages come first: a stage may only mount one defined before it.
  return { ...plan, stages: [...added, ...stages], context: [...plan.context, ...context] };
}
