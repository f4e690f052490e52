/**
 * The one place that reads the Dagger SDK's lazy object graph.
 *
 * An SDK object (Container, Directory, File, CacheVolume, Secret) built with `dag` carries the chain of
 * GraphQL field selections that would be sent to a Dagger engine: `obj._ctx._queryTree`, a list of
 * `{ operation, args }`, where object arguments are live SDK objects with trees of their own. This file turns
 * that into the project's own plain data (`GraphNode`), so everything after it (planning, translation) works
 * on plain values and never touches the SDK. `test/unit/sdk-adapter.test.ts` pins what is read here: if an
 * SDK upgrade changes the shape, that test fails before anything else does.
 */

import { UsageError } from "../modules/errors.ts";
/** A call in a chain: the GraphQL field name and its arguments, with SDK objects replaced by nodes. */
export interface GraphCall {
  name: string;
  args: Record<string, GraphValue>;
}

/** A lazy SDK object as plain data: its type and the chain of calls that builds it from the root client. */
export interface GraphNode {
  type: NodeType;
  calls: GraphCall[];
}

/** The SDK class name: "Container", "Directory", "File", "CacheVolume", "Secret", or any other the planner refuses. */
export type NodeType = string;

export type GraphValue = string | number | boolean | null | GraphNode | GraphValue[] | { [k: string]: GraphValue };

/** The SDK version this adapter was written against; the adapter test checks the installed one. */
export const ADAPTED_SDK_VERSION = "0.21.9";

/** The graph holds something the adapter cannot read: bad input (exit 2). */
export class AdapterError extends UsageError {}

interface SdkQueryStep {
  operation: string;
  args?: Record<string, unknown>;
  inlineType?: string;
}

interface SdkObject {
  _ctx: { _queryTree: SdkQueryStep[] };
}

/** True when `value` looks like a lazy SDK object (it carries a query tree). */
export function isSdkObject(value: unknown): value is SdkObject {
  if (typeof value !== "object" || value === null) return false;
  const ctx = (value as { _ctx?: unknown })._ctx;
  return typeof ctx === "object" && ctx !== null && Array.isArray((ctx as { _queryTree?: unknown })._queryTree);
}

/** The SDK class name of a lazy object ("Container", "Directory", ...), or undefined for anything else. */
export function sdkTypeName(value: unknown): string | undefined {
  if (!isSdkObject(value)) return undefined;
  return (value as object).constructor?.name;
}

/** Reads a lazy SDK object into a plain `GraphNode`. Throws `AdapterError` for anything it cannot read. */
export function readGraph(obj: unknown): GraphNode {
  if (!isSdkObject(obj)) {
    throw new AdapterError(`expected a Dagger object (Container, Directory, File), got ${describe(obj)}`);
  }
  const type = sdkTypeName(obj) ?? "object";
  const calls = obj._ctx._queryTree.map((step) => {
    if (step.inlineType !== undefined || step.operation === "node") {
      throw new AdapterError(
        `'${step.operation}' loads an object by ID from a live engine session; build the object from 'dag' instead`,
      );
    }
    return { name: step.operation, args: readArgs(step.args ?? {}) };
  });
  return { type, calls };
}

function readArgs(args: Record<string, unknown>): Record<string, GraphValue> {
  const out: Record<string, GraphValue> = {};
  for (const [key, value] of Object.entries(args)) {
    // `__metadata` is the SDK's note on which arguments are enums; the values themselves are plain strings.
    if (key === "__metadata" || value === undefined) continue;
    out[key] = readValue(value);
  }
  return out;
}

function readValue(value: unknown): GraphValue {
  if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return value;
  }
  if (Array.isArray(value)) return value.map(readValue);
  if (isSdkObject(value)) return readGraph(value);
  if (typeof value === "object") {
    const out: Record<string, GraphValue> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== undefined) out[k] = readValue(v);
    }
    return out;
  }
  throw new AdapterError(`cannot read an argument of type ${typeof value}`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "an object";
  return typeof value;
}

/** True when a plain graph value is a node (an SDK object that was read). */
export function isNode(value: GraphValue | undefined): value is GraphNode {
  return typeof value === "object" && value !== null && !Array.isArray(value) && "type" in value && "calls" in value;
}
