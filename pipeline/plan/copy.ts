/**
 * `withDirectory`, `withFile` and `withNewFile`: the copies a Container and a Directory share. Paths are
 * resolved by the caller (a container's from its workdir, a directory's from its root); each becomes one COPY
 * step, from the build context (host files, new files' contents, the empty directory) or from a build stage.
 */
import type { GraphCall } from "../sdk-adapter.ts";
import { chmod, chown, mode, node, type OptionRules, refuse, str, strList } from "./args.ts";
import { type BuildState, copyFrom, isEmptyFilter, type Step } from "./state.ts";

export const WITH_NEW_FILE: OptionRules = { path: true, contents: true, permissions: true, owner: true, expand: false };
export const WITH_FILE: OptionRules = { path: true, source: true, permissions: true, owner: true, expand: false };
export const WITH_DIRECTORY: OptionRules = {
  path: true,
  source: true,
  include: true,
  exclude: true,
  owner: true,
  expand: false,
  gitignore: false,
};

/** Where a copy writes: a path as the call gives it, resolved (from a container's workdir, a directory's root). */
export type At = (path: string) => string;

/** withNewFile: the contents become a file in the build context, copied with its mode (0644 by default). */
export function copyNewFile(build: BuildState, steps: Step[], call: GraphCall, at: At): void {
  const a = call.args;
  const src = build.content(str(call, "contents"));
  steps.push({ kind: "copy", src, dest: at(str(call, "path")), chmod: mode(a.permissions ?? 0o644), ...chown(a.owner) });
}

/** withFile: a file from the host, a build stage or the build context. */
export function copyFile(build: BuildState, steps: Step[], call: GraphCall, at: At): void {
  const a = call.args;
  const ref = build.fileRef(node(call, "source", "File"));
  steps.push({ ...copyFrom(ref, at(str(call, "path")), false), ...chmod(a.permissions), ...chown(a.owner) });
}

/** withDirectory: a directory's contents; include/exclude only on a host directory (folded into its filters). */
export function copyDirectory(build: BuildState, steps: Step[], call: GraphCall, at: At, op: string): void {
  const a = call.args;
  const source = node(call, "source", "Directory");
  const filter = { include: strList(call, "include"), exclude: strList(call, "exclude") };
  let ref = build.dirRef(source);
  if (!isEmptyFilter(filter)) {
    if (ref.kind !== "host") refuse(`${op}(include/exclude) with a source that is not a host directory`);
    ref = { ...ref, filters: [...ref.filters, filter] };
  }
  const dest = at(str(call, "path"));
  if (ref.kind === "empty") {
    steps.push({ kind: "copy", src: `${build.emptyDir()}/`, dest: dest + "/", ...chown(a.owner) });
  } else {
    steps.push({ ...copyFrom(build.located(ref), dest, true), ...chown(a.owner) });
  }
}
