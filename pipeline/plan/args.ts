/**
 * Reading a call's arguments: the option rules every operation declares, and the typed readers its `apply`
 * uses (a string, a list, an SDK object, a mode, an owner). Each reader fails with a usage error (exit 2)
 * that names the call and the argument.
 */
import { createHash } from "node:crypto";
import { type GraphCall, type GraphNode, type GraphValue, isNode } from "../sdk-adapter.ts";
import { UnsupportedOperation, UsageError } from "../../modules/errors.ts";

/**
 * The options an operation handles, by name: `true` = any value is handled; `null` = handled only when
 * absent; any other value = handled only when absent or equal to it (the SDK default).
 */
export type OptionRules = Readonly<Record<string, GraphValue | true>>;

/** Refuses a call, an option or a value the BuildKit executor cannot express (exit 2). */
export function refuse(what: string): never {
  throw new UnsupportedOperation(`unsupported operation: ${what}`);
}

/** Refuses any option of `args` that `rules` does not handle; `op` names the call in the message. */
export function checkOptions(op: string, args: Record<string, GraphValue>, rules: OptionRules): void {
  for (const [key, value] of Object.entries(args)) {
    if (!(key in rules)) refuse(`${op}(${key})`);
    const rule = rules[key];
    if (rule === true) continue;
    if (rule === null || JSON.stringify(rule) !== JSON.stringify(value)) refuse(`${op}(${key}: ${JSON.stringify(value)})`);
  }
}

export function str(call: GraphCall, key: string): string {
  const v = call.args[key];
  if (typeof v !== "string") throw new UsageError(`${call.name}: '${key}' must be a string`);
  return v;
}

export function strList(call: GraphCall, key: string): string[] {
  const v = call.args[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw new UsageError(`${call.name}: '${key}' must be a list of strings`);
  }
  return v as string[];
}

/** An argument that is an SDK object of the given type ("Directory", "File", "Secret", "CacheVolume"). */
export function node(call: GraphCall, key: string, type: GraphNode["type"]): GraphNode {
  const v = call.args[key];
  if (isNode(v) && v.type !== type) refuse(`${call.name} with a ${v.type} as '${key}'`);
  if (!isNode(v)) throw new UsageError(`${call.name}: '${key}' must be a ${type}`);
  return v;
}

/** A file mode as `COPY --chmod` takes it: four octal digits. */
export function mode(value: GraphValue | undefined): string {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0o7777) {
    throw new UsageError(`permissions must be an integer mode such as 0o644, got ${JSON.stringify(value)}`);
  }
  return value.toString(8).padStart(4, "0");
}

export function chmod(value: GraphValue | undefined): { chmod?: string } {
  return value === undefined ? {} : { chmod: mode(value) };
}

export function chown(value: GraphValue | undefined): { chown?: string } {
  if (value === undefined || value === "") return {};
  if (typeof value !== "string") throw new UsageError("owner must be a string such as 'user:group' or '1000:1000'");
  return { chown: value };
}

/** A mount's owner: numeric `uid[:gid]` only (mount options take numbers). */
export function owner(value: GraphValue | undefined, op: string): { uid?: number; gid?: number } {
  if (value === undefined || value === "") return {};
  const m = typeof value === "string" ? /^(\d+)(?::(\d+))?$/.exec(value) : null;
  if (!m) refuse(`${op}(owner: ${JSON.stringify(value)}): only numeric 'uid:gid' owners`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}

/** Cache and secret ids go into `--mount` options: keep them to a safe alphabet, distinct per input. */
export function sanitizeId(name: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) return name;
  const safe = name
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 60);
  return `${safe || "id"}-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`;
}

/** An environment variable's name, as a shell accepts it. */
export function envName(call: GraphCall, op: string): string {
  const name = str(call, "name");
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`${op}: invalid name '${name}'`);
  return name;
}
