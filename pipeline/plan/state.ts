/**
 * The plan's data (what `dockerfile.ts` renders and the runner solves) and the build state the operations
 * change while a graph is read: the build stages made so far, the build context, the secrets, and what each
 * graph node evaluated to. Pure: no I/O.
 */
import { posix } from "node:path";
import { createHash } from "node:crypto";
import type { GraphCall, GraphNode } from "../sdk-adapter.ts";
import { UsageError } from "../../modules/errors.ts";
import { type OptionRules, refuse } from "./args.ts";

// ---- The plan ----

export type Sharing = "shared" | "private" | "locked";

export type Mount =
  | { kind: "cache"; target: string; id: string; sharing: Sharing; uid?: number; gid?: number }
  | { kind: "bind"; target: string; from?: string; source: string }
  | { kind: "secret"; target: string; id: string; mode?: number; uid?: number; gid?: number }
  | { kind: "tmpfs"; target: string };

export type Step =
  | { kind: "run"; args: string[]; mounts: Mount[] }
  | { kind: "env"; name: string; value: string; expand: boolean }
  | { kind: "workdir"; path: string }
  | { kind: "user"; name: string }
  | { kind: "entrypoint"; args: string[] }
  | { kind: "cmd"; args: string[] }
  | { kind: "label"; name: string; value: string }
  | { kind: "expose"; port: number; protocol: "tcp" | "udp" }
  | { kind: "copy"; from?: string; src: string; dest: string; chmod?: string; chown?: string };

/** A Dockerfile stage: `FROM base AS name`, then its steps. */
export interface BuildStage {
  name: string;
  /** An image reference (after the mirror map), or "scratch". */
  base: string;
  /** What the stage is, for people: "from debian:bookworm", "directory". */
  label: string;
  steps: Step[];
}

/** Something the runner must put into the build context before solving. */
export type ContextEntry =
  /**
   * With `recent`, staged as two folders the plan copies one after the other: `dest` (a base) and `recent` (what
   * changed since the base was made); plan/layers.ts, context-tree.ts syncLayered.
   */
  | { kind: "hostDir"; dest: string; path: string; filters: PathFilter[]; recent?: string }
  | { kind: "hostFile"; dest: string; path: string }
  | { kind: "content"; dest: string; contents: string }
  | { kind: "emptyDir"; dest: string }
  /**
   * The SHA-256 manifest (`sha256sum -z` records, sorted) of the files of the context folder `of`, less its
   * top-level folder `prune`: a build step's restore reads it instead of hashing every source (plan/manifest.ts).
   */
  | { kind: "sourceManifest"; dest: string; of: string; prune: string };

/** A Dagger include/exclude pair; a path is kept when it passes every filter of its entry. */
export interface PathFilter {
  include: string[];
  exclude: string[];
}

export interface SecretSpec {
  id: string;
  /** The plaintext, handed to the engine as a secret file; never written into the build definition. */
  plaintext: string;
}

export type Output = { kind: "container" } | { kind: "directory" } | { kind: "file"; name: string };

export interface Plan {
  /** Build stages in dependency order; `target` is the one to build. */
  stages: BuildStage[];
  target: string;
  output: Output;
  context: ContextEntry[];
  secrets: SecretSpec[];
}

export interface PlanOptions {
  /** Image mirror map: an image reference as written in the graph -> the reference to build from. */
  mirrors?: Record<string, string>;
}

// ---- What a graph node evaluates to ----

/**
 * Where a directory or file comes from: the build context, a build stage's filesystem, nothing (an empty
 * directory), or a host directory not yet staged (staged only where it is used, so that a sub-directory of a
 * large tree stages only that sub-directory, and filters can still be folded in).
 */
export type Ref =
  | { kind: "context"; path: string }
  | { kind: "stage"; stage: string; path: string }
  | { kind: "empty" }
  | { kind: "host"; path: string; filters: PathFilter[] };
export type Located = Ref & { kind: "context" | "stage" };

export interface ContainerState {
  stage: BuildStage;
  /** Mounts active for every later exec, by target path. */
  mounts: Map<string, Mount>;
  secretEnv: Array<{ name: string; id: string }>;
  workdir: string;
  /** Default args set in this graph (undefined: inherited from the base image, unknown here). */
  cmd?: string[];
}

export type QueryValue = { kind: "query" };
export type HostValue = { kind: "host" };
export type ContainerValue = { kind: "container"; state: ContainerState };
/** `stage`: the scratch build stage a chain of directory edits writes into (made by the first edit). */
export type DirectoryValue = { kind: "directory"; ref: Ref; stage?: BuildStage };
export type FileValue = { kind: "file"; ref: Located };
export type CacheVolumeValue = { kind: "cacheVolume"; id: string };
export type SecretValue = { kind: "secret"; id: string };

/** A graph node's value: the root client (`dag`), or an object of one of the SDK types the planner reads. */
export type Value = QueryValue | HostValue | ContainerValue | DirectoryValue | FileValue | CacheVolumeValue | SecretValue;

// ---- The operation table's shape ----

/** One operation: the options it accepts and how it changes the build state. */
export interface Operation<V extends Value> {
  readonly options: OptionRules;
  /** Applies a call to `value` (the object it is called on); returns the call's result. */
  readonly apply: (build: BuildState, value: V, call: GraphCall) => Value;
}

/** The SDK object types, as the BuildKit executor's list of supported operations names them. */
export type ObjectType = "Query" | "Host" | "Container" | "Directory" | "File" | "CacheVolume" | "Secret";

/** The operations on one SDK object type, by the SDK's method name. */
export interface ObjectOperations<V extends Value> {
  readonly object: ObjectType;
  readonly operations: Readonly<Record<string, Operation<V>>>;
}

// ---- The build state ----

/** Reads a chain of calls, from the root client, into a value (the dispatch, in plan.ts). */
export type Interpret = (build: BuildState, calls: GraphCall[]) => Value;

export class BuildState {
  readonly context: ContextEntry[] = [];
  readonly secrets = new Map<string, SecretSpec>();
  private readonly stages = new Map<string, BuildStage>();
  private readonly memo = new Map<string, Value>();
  private readonly contextByKey = new Map<string, string>();
  private readonly counters = { s: 0, d: 0, h: 0 };

  constructor(
    private readonly mirrors: Record<string, string>,
    private readonly interpret: Interpret,
  ) {}

  /** What a graph node evaluates to; a node met twice (a shared object) is read once. */
  value(node: GraphNode): Value {
    const key = JSON.stringify(node);
    const known = this.memo.get(key);
    if (known) return known;
    const value = this.interpret(this, node.calls);
    this.memo.set(key, value);
    return value;
  }

  newStage(prefix: "s" | "d" | "out", base: string, label: string): BuildStage {
    const name = prefix === "out" ? "out" : `${prefix}${this.counters[prefix]++}`;
    const stage: BuildStage = { name, base, label, steps: [] };
    this.stages.set(name, stage);
    return stage;
  }

  newContainer(base: string, label: string): ContainerState {
    return { stage: this.newStage("s", base, label), mounts: new Map(), secretEnv: [], workdir: "/" };
  }

  /** The build stages `target` needs, each after the build stages it copies or mounts from. */
  orderedStages(target: string): BuildStage[] {
    const ordered: BuildStage[] = [];
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      const stage = this.stages.get(name);
      if (!stage) return;
      if (this.stages.has(stage.base)) visit(stage.base);
      for (const step of stage.steps) {
        if (step.kind === "copy" && step.from) visit(step.from);
        if (step.kind === "run") for (const m of step.mounts) if (m.kind === "bind" && m.from) visit(m.from);
      }
      ordered.push(stage);
    };
    visit(target);
    return ordered;
  }

  /** Stages a host reference into the build context where it is used. */
  located(ref: Ref & { kind: "context" | "stage" | "host" }): Located {
    return ref.kind === "host" ? this.hostDir(ref.path, ref.filters) : ref;
  }

  hostFile(path: string): Located {
    const dest = this.contextPath("hostFile", { path }, () => `hf${this.counters.h++}`);
    const entryDest = `${dest}/${posix.basename(path)}`;
    if (!this.context.some((e) => e.dest === entryDest)) this.context.push({ kind: "hostFile", dest: entryDest, path });
    return { kind: "context", path: entryDest };
  }

  hostDir(path: string, filters: PathFilter[]): Located {
    const dest = this.contextPath("hostDir", { path, filters }, () => `h${this.counters.h++}`);
    if (!this.context.some((e) => e.dest === dest)) this.context.push({ kind: "hostDir", dest, path, filters });
    return { kind: "context", path: dest };
  }

  /** A new file's contents in the build context (one entry per distinct contents); returns its path there. */
  content(contents: string): string {
    const dest = `f/${createHash("sha256").update(contents).digest("hex")}`;
    if (!this.context.some((e) => e.dest === dest)) this.context.push({ kind: "content", dest, contents });
    return dest;
  }

  /** The empty directory in the build context; returns its path there. */
  emptyDir(): string {
    const dest = "e";
    if (!this.context.some((c) => c.dest === dest)) this.context.push({ kind: "emptyDir", dest });
    return dest;
  }

  dirRef(n: GraphNode): Ref {
    const v = this.value(n);
    if (v.kind !== "directory") throw new UsageError(`expected a Directory, got a ${v.kind}`);
    return v.ref;
  }

  fileRef(n: GraphNode): Located {
    const v = this.value(n);
    if (v.kind !== "file") throw new UsageError(`expected a File, got a ${v.kind}`);
    return v.ref;
  }

  cacheId(n: GraphNode): string {
    const v = this.value(n);
    if (v.kind !== "cacheVolume") refuse("a cache volume not made by dag.cacheVolume(key)");
    return v.id;
  }

  secretId(n: GraphNode): string {
    const v = this.value(n);
    if (v.kind !== "secret") refuse("a secret not made by dag.setSecret(name, plaintext)");
    return v.id;
  }

  /** Records a secret the build needs; two different plaintexts under one id are a usage error. */
  addSecret(id: string, plaintext: string, name: string): void {
    const known = this.secrets.get(id);
    if (known && known.plaintext !== plaintext) {
      throw new UsageError(`two different secrets are named '${name}'; give each secret its own name`);
    }
    this.secrets.set(id, { id, plaintext });
  }

  /** An image reference after the mirror map (which may spell Docker Hub images short or long). */
  mirror(address: string): string {
    return mirrored(this.mirrors, address);
  }

  private contextPath(kind: string, key: object, fresh: () => string): string {
    const k = kind + JSON.stringify(key);
    let dest = this.contextByKey.get(k);
    if (!dest) {
      dest = fresh();
      this.contextByKey.set(k, dest);
    }
    return dest;
  }
}

/** An image reference after the mirror map `m` (which may spell Docker Hub images short or long). */
export function mirrored(m: Record<string, string>, address: string): string {
  const short = address.replace(/^docker\.io\/(library\/)?/, "");
  return m[address] ?? m[short] ?? address;
}

/** A step that copies a located directory (its contents) or file to `dest`. */
export function copyFrom(ref: Located, dest: string, isDir: boolean): Step {
  const slash = (p: string) => (isDir && !p.endsWith("/") ? `${p}/` : p);
  if (ref.kind === "context") return { kind: "copy", src: slash(ref.path), dest: slash(dest) };
  return { kind: "copy", from: ref.stage, src: slash(ref.path), dest: slash(dest) };
}

export function isEmptyFilter(f: PathFilter): boolean {
  return f.include.length === 0 && f.exclude.length === 0;
}
