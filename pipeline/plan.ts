/**
 * Graph -> plan: interprets a plain Dagger graph (see sdk-adapter.ts) as BuildKit build stages.
 *
 * Pure: no I/O. The plan says what the build context must hold (host directories, new files), which secrets
 * the build needs, and the build stages with their steps; `dockerfile.ts` renders it, the runner materializes
 * the context and solves it.
 *
 * The planner is a table: for each SDK object type, its operations, each with the options it accepts and how
 * it changes the build state (plan/query.ts, host.ts, container.ts, directory.ts, file.ts; the shared state in
 * plan/state.ts). This file dispatches a call to its entry, one line per object type; any operation or option
 * not in the table is refused here, by name, before anything runs.
 */
import type { GraphCall, GraphNode } from "./sdk-adapter.ts";
import { UsageError } from "../modules/errors.ts";
import { checkOptions, refuse } from "./plan/args.ts";
import { BuildState, type ObjectOperations, type ObjectType, type Plan, type PlanOptions, type Value } from "./plan/state.ts";
import { CACHE_VOLUME, QUERY, SECRET } from "./plan/query.ts";
import { HOST } from "./plan/host.ts";
import { CONTAINER } from "./plan/container.ts";
import { DIRECTORY } from "./plan/directory.ts";
import { FILE } from "./plan/file.ts";
import { result } from "./plan/output.ts";

export type {
  BuildStage,
  ContextEntry,
  Mount,
  Output,
  PathFilter,
  Plan,
  PlanOptions,
  SecretSpec,
  Sharing,
  Step,
} from "./plan/state.ts";
export { deltaTools, withDeltaTarget, withSyncTarget } from "./plan/output.ts";

/** The operation table, by SDK object type. */
export const OPERATIONS = [QUERY, HOST, CONTAINER, DIRECTORY, FILE, CACHE_VOLUME, SECRET] as const;

/** What the BuildKit executor understands, by SDK object type (from the table). Everything else is refused by name. */
export const SUPPORTED: Readonly<Partial<Record<ObjectType, readonly string[]>>> = Object.fromEntries(
  OPERATIONS.map((o) => [o.object, Object.keys(o.operations)]),
);

/** Translates a graph into a plan. Throws UnsupportedOperation/UsageError before anything runs. */
export function planGraph(node: GraphNode, options: PlanOptions = {}): Plan {
  const build = new BuildState(options.mirrors ?? {}, interpret);
  const { target, output } = result(build, build.value(node));
  return {
    stages: build.orderedStages(target),
    target,
    output,
    context: build.context,
    secrets: [...build.secrets.values()],
  };
}

/** A chain of calls from the root client (`dag`), each applied to the previous call's result. */
function interpret(build: BuildState, calls: GraphCall[]): Value {
  if (calls.length === 0) throw new UsageError("empty Dagger graph");
  return calls.reduce<Value>((value, call) => apply(build, value, call), { kind: "query" });
}

function apply(build: BuildState, value: Value, call: GraphCall): Value {
  switch (value.kind) {
    case "query":
      return dispatch(QUERY, build, value, call);
    case "host":
      return dispatch(HOST, build, value, call);
    case "container":
      return dispatch(CONTAINER, build, value, call);
    case "directory":
      return dispatch(DIRECTORY, build, value, call);
    case "file":
      return dispatch(FILE, build, value, call);
    case "cacheVolume":
      return dispatch(CACHE_VOLUME, build, value, call);
    case "secret":
      return dispatch(SECRET, build, value, call);
  }
}

/** Finds the call's entry (or refuses the call), checks its options against the entry's, and applies it. */
function dispatch<V extends Value>(on: ObjectOperations<V>, build: BuildState, value: V, call: GraphCall): Value {
  const op = Object.hasOwn(on.operations, call.name) ? on.operations[call.name] : undefined;
  if (!op) refuse(spelled(on.object, call.name, "refused"));
  checkOptions(spelled(on.object, call.name, "options"), call.args, op.options);
  return op.apply(build, value, call);
}

/**
 * How a call is named in a refusal: as code spells it ("dag.git()", "host().setSecretFile",
 * "Container.withServiceBinding"); an option's refusal names the call shorter ("withExec(...)",
 * "Directory.file(...)", "host().directory(...)").
 */
function spelled(object: ObjectType, op: string, what: "refused" | "options"): string {
  if (object === "Query") return what === "refused" ? `dag.${op}()` : op;
  if (object === "Host") return `host().${op}`;
  if (object === "Container" && what === "options") return op;
  return `${object}.${op}`;
}
