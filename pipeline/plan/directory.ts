/**
 * The operations on a Directory. A directory is where its files come from (a `Ref`: the build context, a
 * build stage's path, a host directory not yet staged, or nothing); the first edit makes a scratch build stage
 * holding its contents, and later edits add COPY steps to that stage.
 */
import { posix } from "node:path";
import type { GraphCall } from "../sdk-adapter.ts";
import { UsageError } from "../../modules/errors.ts";
import { chmod, node, str, strList } from "./args.ts";
import { type At, copyDirectory, copyFile, copyNewFile, WITH_DIRECTORY, WITH_FILE, WITH_NEW_FILE } from "./copy.ts";
import {
  type BuildStage,
  type BuildState,
  copyFrom,
  type DirectoryValue,
  isEmptyFilter,
  type ObjectOperations,
  type Step,
  type Value,
} from "./state.ts";

/** A directory path as the call gives it, resolved from the directory's root. */
const atRoot: At = (p) => posix.resolve("/", p);

export const DIRECTORY: ObjectOperations<DirectoryValue> = {
  object: "Directory",
  operations: {
    withNewFile: { options: WITH_NEW_FILE, apply: (b, d, call) => edit(b, d, (steps) => copyNewFile(b, steps, call, atRoot)) },
    withDirectory: {
      options: WITH_DIRECTORY,
      apply: (b, d, call) =>
        wholeDirectory(b, d, call) ?? edit(b, d, (steps) => copyDirectory(b, steps, call, atRoot, "Directory.withDirectory")),
    },
    withFile: { options: WITH_FILE, apply: (b, d, call) => edit(b, d, (steps) => copyFile(b, steps, call, atRoot)) },
    withNewDirectory: {
      options: { path: true, permissions: true },
      apply: (b, d, call) =>
        edit(b, d, (steps) => {
          steps.push({
            kind: "copy",
            src: `${b.emptyDir()}/`,
            dest: atRoot(str(call, "path")) + "/",
            ...chmod(call.args.permissions),
          });
        }),
    },
    directory: { options: { path: true }, apply: subdirectory },
    file: { options: { path: true }, apply: file },
  },
};

/** `directory(path)`: a host directory stays unstaged (only the sub-directory is staged where it is used). */
function subdirectory(build: BuildState, d: DirectoryValue, call: GraphCall): Value {
  const { ref } = d;
  const sub = str(call, "path");
  if (ref.kind === "empty") throw new UsageError(`Directory.directory('${sub}'): the directory is empty`);
  if (ref.kind === "host" && ref.filters.length === 0)
    return { kind: "directory", ref: { ...ref, path: posix.join(ref.path, sub) } };
  const at = build.located(ref);
  return { kind: "directory", ref: { ...at, path: posix.join(at.path, sub) } };
}

/** `file(path)`: a file of an unfiltered host directory is staged alone. */
function file(build: BuildState, d: DirectoryValue, call: GraphCall): Value {
  const { ref } = d;
  const sub = str(call, "path");
  if (ref.kind === "empty") throw new UsageError(`Directory.file('${sub}'): the directory is empty`);
  if (ref.kind === "host" && ref.filters.length === 0) return { kind: "file", ref: build.hostFile(posix.join(ref.path, sub)) };
  const at = build.located(ref);
  return { kind: "file", ref: { ...at, path: posix.join(at.path, sub) } };
}

/** An edit: its steps go into the directory's scratch build stage, made (with the contents so far) on the first edit. */
function edit(build: BuildState, d: DirectoryValue, write: (steps: Step[]) => void): Value {
  const stage = dirStage(build, d);
  write(stage.steps);
  return { kind: "directory", ref: { kind: "stage", stage: stage.name, path: "/" }, stage };
}

function dirStage(build: BuildState, d: DirectoryValue): BuildStage {
  if (d.stage) return d.stage;
  const stage = build.newStage("d", "scratch", "directory");
  if (d.ref.kind !== "empty") stage.steps.push(copyFrom(build.located(d.ref), "/", true));
  return stage;
}

/**
 * `dag.directory().withDirectory("/", source, {include, exclude})` is the source itself (filtered): no
 * build stage needed. Returns undefined for any other edit.
 */
function wholeDirectory(build: BuildState, d: DirectoryValue, call: GraphCall): Value | undefined {
  if (d.ref.kind !== "empty" || d.stage || posix.resolve("/", str(call, "path")) !== "/") return undefined;
  if (Object.keys(call.args).some((k) => !["path", "source", "include", "exclude"].includes(k))) return undefined;
  const ref = build.dirRef(node(call, "source", "Directory"));
  const filter = { include: strList(call, "include"), exclude: strList(call, "exclude") };
  if (isEmptyFilter(filter)) return { kind: "directory", ref };
  if (ref.kind !== "host") return undefined;
  return { kind: "directory", ref: { ...ref, filters: [...ref.filters, filter] } };
}
