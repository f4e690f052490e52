/**
 * Graph -> plan: interprets a plain Dagger graph (see sdk-adapter.ts) as BuildKit build stages.
 *
 * Pure: no I/O. The plan says what the build context must hold (host directories, new files), which
 * secrets the build needs, and the stages with their steps; `dockerfile.ts` renders it, the runner
 * materializes the context and solves it. Any operation not listed in `SUPPORTED` is refused here,
 * before anything runs.
 */
import { posix } from "node:path";
import { createHash } from "node:crypto";
import { type GraphCall, type GraphNode, type GraphValue, isNode } from "./sdk-adapter.ts";
import { UnsupportedOperation, UsageError } from "../modules/errors.ts";

export type Sharing = "shared" | "private" | "locked";

export type Mount =
  | { type: "cache"; target: string; id: string; sharing: Sharing; uid?: number; gid?: number }
  | { type: "bind"; target: string; from?: string; source: string }
  | { type: "secret"; target: string; id: string; mode?: number; uid?: number; gid?: number }
  | { type: "tmpfs"; target: string };

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

export interface Stage {
  name: string;
  /** An image reference (after the mirror map), or "scratch". */
  base: string;
  /** What the stage is, for people: "from debian:bookworm", "directory". */
  label: string;
  steps: Step[];
}

/** Something the runner must put into the build context before solving. */
export type ContextEntry =
  | { kind: "hostDir"; dest: string; path: string; filters: PathFilter[] }
  | { kind: "hostFile"; dest: string; path: string }
  | { kind: "content"; dest: string; contents: string }
  | { kind: "emptyDir"; dest: string };

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
  /** Stages in dependency order; `target` is the one to build. */
  stages: Stage[];
  target: string;
  output: Output;
  context: ContextEntry[];
  secrets: SecretSpec[];
}

export interface PlanOptions {
  /** Image mirror map: an image reference as written in the graph -> the reference to build from. */
  mirrors?: Record<string, string>;
}

/**
 * Where a directory or file comes from: the build context, a stage's filesystem, nothing (an empty
 * directory), or a host directory not yet staged (staged only where it is used, so that a sub-directory of a
 * large tree stages only that sub-directory, and filters can still be folded in).
 */
type Ref =
  | { kind: "context"; path: string }
  | { kind: "stage"; stage: string; path: string }
  | { kind: "empty" }
  | { kind: "host"; path: string; filters: PathFilter[] };
type Located = Ref & { kind: "context" | "stage" };

interface ContainerState {
  stage: Stage;
  /** Mounts active for every later exec, by target path. */
  mounts: Map<string, Mount>;
  secretEnv: Array<{ name: string; id: string }>;
  workdir: string;
  /** Default args set in this graph (undefined: inherited from the base image, unknown here). */
  cmd?: string[];
}

type Value =
  | { kind: "container"; state: ContainerState }
  | { kind: "directory"; ref: Ref; stage?: Stage }
  | { kind: "file"; ref: Located };

/** What the BuildKit executor understands, by receiver type. Everything else is refused by name. */
export const SUPPORTED: Readonly<Record<string, readonly string[]>> = {
  Query: ["container", "directory", "host", "cacheVolume", "setSecret"],
  Host: ["directory", "file"],
  Container: [
    "from",
    "withExec",
    "withEnvVariable",
    "withWorkdir",
    "withUser",
    "withEntrypoint",
    "withDefaultArgs",
    "withLabel",
    "withExposedPort",
    "withMountedCache",
    "withMountedDirectory",
    "withMountedFile",
    "withMountedSecret",
    "withMountedTemp",
    "withoutMount",
    "withSecretVariable",
    "withDirectory",
    "withFile",
    "withNewFile",
    "directory",
    "file",
    "rootfs",
  ],
  Directory: ["withNewFile", "withDirectory", "withFile", "withNewDirectory", "directory", "file"],
  File: [],
};

const SECRET_ENV_DIR = "/run/pipeline-secrets";

/** Translates a graph into a plan. Throws UnsupportedOperation/UsageError before anything runs. */
export function planGraph(node: GraphNode, options: PlanOptions = {}): Plan {
  const planner = new Planner(options.mirrors ?? {});
  const value = planner.value(node);
  const { target, output } = planner.output(value);
  return {
    stages: planner.orderedStages(target),
    target,
    output,
    context: planner.context,
    secrets: [...planner.secrets.values()],
  };
}

class Planner {
  readonly context: ContextEntry[] = [];
  readonly secrets = new Map<string, SecretSpec>();
  private readonly stages = new Map<string, Stage>();
  private readonly memo = new Map<string, Value>();
  private readonly contextByKey = new Map<string, string>();
  private counters = { s: 0, d: 0, h: 0 };

  constructor(private readonly mirrors: Record<string, string>) {}

  value(node: GraphNode): Value {
    const key = JSON.stringify(node);
    const known = this.memo.get(key);
    if (known) return known;
    const value = this.interpret(node.calls);
    this.memo.set(key, value);
    return value;
  }

  output(value: Value): { target: string; output: Output } {
    if (value.kind === "container") return { target: value.state.stage.name, output: { kind: "container" } };
    if (value.kind === "directory") {
      const ref = value.ref;
      if (ref.kind === "stage" && ref.path === "/") return { target: ref.stage, output: { kind: "directory" } };
      const out = this.newStage("out", "scratch", "output");
      if (ref.kind !== "empty") out.steps.push(copyFrom(this.located(ref), "/", true));
      return { target: out.name, output: { kind: "directory" } };
    }
    const name = posix.basename(value.ref.path);
    const out = this.newStage("out", "scratch", "output");
    out.steps.push(copyFrom(value.ref, `/${name}`, false));
    return { target: out.name, output: { kind: "file", name } };
  }

  /** The stages `target` needs, each after the stages it copies or mounts from. */
  orderedStages(target: string): Stage[] {
    const ordered: Stage[] = [];
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      const stage = this.stages.get(name);
      if (!stage) return;
      if (this.stages.has(stage.base)) visit(stage.base);
      for (const step of stage.steps) {
        if (step.kind === "copy" && step.from) visit(step.from);
        if (step.kind === "run") for (const m of step.mounts) if (m.type === "bind" && m.from) visit(m.from);
      }
      ordered.push(stage);
    };
    visit(target);
    return ordered;
  }

  private interpret(calls: GraphCall[]): Value {
    const [root, ...rest] = calls;
    if (!root) throw new UsageError("empty Dagger graph");
    let value: Value;
    let i = 0;
    switch (root.name) {
      case "container":
        checkOptions("container", root.args, {});
        value = { kind: "container", state: this.newContainer("scratch", "scratch") };
        break;
      case "directory":
        checkOptions("directory", root.args, {});
        value = { kind: "directory", ref: { kind: "empty" } };
        break;
      case "host": {
        const next = rest[0];
        if (!next || !SUPPORTED.Host!.includes(next.name)) refuse(`host().${next?.name ?? "?"}`);
        value = this.hostValue(next);
        i = 1;
        break;
      }
      case "cacheVolume":
      case "setSecret":
        throw new UsageError(`a ${root.name === "setSecret" ? "Secret" : "CacheVolume"} is not a runnable result`);
      default:
        refuse(`dag.${root.name}()`);
    }
    for (const call of rest.slice(i)) value = this.apply(value, call);
    return value;
  }

  private hostValue(call: GraphCall): Value {
    const path = str(call, "path");
    if (call.name === "file") {
      checkOptions("host().file", call.args, { path: true, noCache: true });
      return { kind: "file", ref: this.hostFile(path) };
    }
    checkOptions("host().directory", call.args, { path: true, include: true, exclude: true, noCache: true, gitignore: false });
    const filter = { include: strList(call, "include"), exclude: strList(call, "exclude") };
    return { kind: "directory", ref: { kind: "host", path, filters: isEmptyFilter(filter) ? [] : [filter] } };
  }

  /** Stages a host reference into the build context where it is used. */
  private located(ref: Ref & { kind: "context" | "stage" | "host" }): Located {
    return ref.kind === "host" ? this.hostDir(ref.path, ref.filters) : ref;
  }

  private hostFile(path: string): Located {
    const dest = this.contextPath("hostFile", { path }, () => `hf${this.counters.h++}`);
    const entryDest = `${dest}/${posix.basename(path)}`;
    if (!this.context.some((e) => e.dest === entryDest)) this.context.push({ kind: "hostFile", dest: entryDest, path });
    return { kind: "context", path: entryDest };
  }

  private hostDir(path: string, filters: PathFilter[]): Located {
    const dest = this.contextPath("hostDir", { path, filters }, () => `h${this.counters.h++}`);
    if (!this.context.some((e) => e.dest === dest)) this.context.push({ kind: "hostDir", dest, path, filters });
    return { kind: "context", path: dest };
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

  private apply(value: Value, call: GraphCall): Value {
    if (value.kind === "container") return this.applyContainer(value.state, call);
    if (value.kind === "directory") return this.applyDirectory(value, call);
    refuse(`File.${call.name}`);
  }

  private newStage(prefix: "s" | "d" | "out", base: string, label: string): Stage {
    const name = prefix === "out" ? "out" : `${prefix}${this.counters[prefix]++}`;
    const stage: Stage = { name, base, label, steps: [] };
    this.stages.set(name, stage);
    return stage;
  }

  private newContainer(base: string, label: string): ContainerState {
    return { stage: this.newStage("s", base, label), mounts: new Map(), secretEnv: [], workdir: "/" };
  }

  private applyContainer(state: ContainerState, call: GraphCall): Value {
    const a = call.args;
    const at = (p: string) => posix.resolve(state.workdir, p);
    const steps = state.stage.steps;
    const container = (): Value => ({ kind: "container", state });
    switch (call.name) {
      case "from": {
        checkOptions("from", a, { address: true });
        const address = str(call, "address");
        const image = this.mirror(address);
        const { stage } = state;
        if (stage.base === "scratch" && stage.steps.length === 0) {
          // `container().from(x)`: the empty container becomes the image's stage.
          Object.assign(stage, { base: image, label: `from ${address}` });
          return container();
        }
        return { kind: "container", state: this.newContainer(image, `from ${address}`) };
      }
      case "withExec": {
        checkOptions("withExec", a, {
          args: true,
          useEntrypoint: false,
          expect: "SUCCESS",
          expand: false,
          noInit: false,
          insecureRootCapabilities: false,
          experimentalPrivilegedNesting: false,
          redirectStdout: "",
          redirectStderr: "",
          redirectStdin: "",
          stdin: "",
        });
        const args = strList(call, "args");
        if (args.length === 0) throw new UsageError("withExec needs at least one argument (the command)");
        const mounts = [...state.mounts.values()];
        let cmd = args;
        if (state.secretEnv.length > 0) {
          const exports = state.secretEnv
            .map(({ name, id }) => `${name}="$(cat ${SECRET_ENV_DIR}/${id})"; export ${name}`)
            .join("; ");
          cmd = ["/bin/sh", "-c", `${exports}; exec "$@"`, "sh", ...args];
          for (const { id } of state.secretEnv) {
            mounts.push({ type: "secret", target: `${SECRET_ENV_DIR}/${id}`, id });
          }
        }
        steps.push({ kind: "run", args: cmd, mounts });
        return container();
      }
      case "withEnvVariable": {
        checkOptions("withEnvVariable", a, { name: true, value: true, expand: true });
        const name = str(call, "name");
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`withEnvVariable: invalid name '${name}'`);
        steps.push({ kind: "env", name, value: str(call, "value"), expand: a.expand === true });
        return container();
      }
      case "withWorkdir":
        checkOptions("withWorkdir", a, { path: true, expand: false });
        state.workdir = at(str(call, "path"));
        steps.push({ kind: "workdir", path: state.workdir });
        return container();
      case "withUser":
        checkOptions("withUser", a, { name: true });
        steps.push({ kind: "user", name: str(call, "name") });
        return container();
      case "withEntrypoint": {
        checkOptions("withEntrypoint", a, { args: true, keepDefaultArgs: true });
        steps.push({ kind: "entrypoint", args: strList(call, "args") });
        // Dagger drops the default args unless asked to keep them; a Dockerfile ENTRYPOINT keeps only those
        // set in the same stage. Say the result explicitly either way.
        if (a.keepDefaultArgs === true) {
          if (!state.cmd) refuse("withEntrypoint(keepDefaultArgs) on default args inherited from the base image");
        } else {
          state.cmd = [];
        }
        steps.push({ kind: "cmd", args: state.cmd });
        return container();
      }
      case "withDefaultArgs":
        checkOptions("withDefaultArgs", a, { args: true });
        state.cmd = strList(call, "args");
        steps.push({ kind: "cmd", args: state.cmd });
        return container();
      case "withLabel":
        checkOptions("withLabel", a, { name: true, value: true });
        steps.push({ kind: "label", name: str(call, "name"), value: str(call, "value") });
        return container();
      case "withExposedPort": {
        checkOptions("withExposedPort", a, { port: true, protocol: true, description: true, experimentalSkipHealthcheck: true });
        const port = a.port;
        if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
          throw new UsageError(`withExposedPort: port must be an integer 1-65535, got ${JSON.stringify(port)}`);
        }
        const protocol = a.protocol === "UDP" ? "udp" : "tcp";
        steps.push({ kind: "expose", port, protocol });
        return container();
      }
      case "withMountedCache": {
        checkOptions("withMountedCache", a, { path: true, cache: true, sharing: true, owner: true, source: null, expand: false });
        const target = at(str(call, "path"));
        const sharing = (typeof a.sharing === "string" ? a.sharing.toLowerCase() : "shared") as Sharing;
        const id = this.cacheId(node(call, "cache", "CacheVolume"));
        state.mounts.set(target, { type: "cache", target, id, sharing, ...owner(a.owner, "withMountedCache") });
        return container();
      }
      case "withMountedDirectory": {
        checkOptions("withMountedDirectory", a, { path: true, source: true, owner: null, expand: false });
        const target = at(str(call, "path"));
        state.mounts.set(target, this.bindMount(target, this.dirRef(node(call, "source", "Directory")), "withMountedDirectory"));
        return container();
      }
      case "withMountedFile": {
        checkOptions("withMountedFile", a, { path: true, source: true, owner: null, expand: false });
        const target = at(str(call, "path"));
        state.mounts.set(target, this.bindMount(target, this.fileRef(node(call, "source", "File")), "withMountedFile"));
        return container();
      }
      case "withMountedSecret": {
        checkOptions("withMountedSecret", a, { path: true, source: true, mode: true, owner: true, expand: false });
        const target = at(str(call, "path"));
        const id = this.secretId(node(call, "source", "Secret"));
        const mode = typeof a.mode === "number" ? a.mode : undefined;
        state.mounts.set(target, { type: "secret", target, id, ...(mode === undefined ? {} : { mode }), ...owner(a.owner, "withMountedSecret") });
        return container();
      }
      case "withMountedTemp": {
        checkOptions("withMountedTemp", a, { path: true, size: null, expand: false });
        const target = at(str(call, "path"));
        state.mounts.set(target, { type: "tmpfs", target });
        return container();
      }
      case "withoutMount":
        checkOptions("withoutMount", a, { path: true, expand: false });
        state.mounts.delete(at(str(call, "path")));
        return container();
      case "withSecretVariable": {
        checkOptions("withSecretVariable", a, { name: true, secret: true });
        const name = str(call, "name");
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`withSecretVariable: invalid name '${name}'`);
        const id = this.secretId(node(call, "secret", "Secret"));
        state.secretEnv = [...state.secretEnv.filter((s) => s.name !== name), { name, id }];
        return container();
      }
      case "withDirectory":
      case "withFile":
      case "withNewFile":
        this.copyInto(steps, call, at);
        return container();
      case "directory":
        checkOptions("directory", a, { path: true, expand: false });
        return { kind: "directory", ref: { kind: "stage", stage: state.stage.name, path: at(str(call, "path")) } };
      case "file":
        checkOptions("file", a, { path: true, expand: false });
        return { kind: "file", ref: { kind: "stage", stage: state.stage.name, path: at(str(call, "path")) } };
      case "rootfs":
        return { kind: "directory", ref: { kind: "stage", stage: state.stage.name, path: "/" } };
      default:
        refuse(`Container.${call.name}`);
    }
  }

  private applyDirectory(value: Value & { kind: "directory" }, call: GraphCall): Value {
    const ref = value.ref;
    switch (call.name) {
      case "directory": {
        checkOptions("Directory.directory", call.args, { path: true });
        const sub = str(call, "path");
        if (ref.kind === "empty") throw new UsageError(`Directory.directory('${sub}'): the directory is empty`);
        if (ref.kind === "host" && ref.filters.length === 0) return { kind: "directory", ref: { ...ref, path: posix.join(ref.path, sub) } };
        const at = this.located(ref);
        return { kind: "directory", ref: { ...at, path: posix.join(at.path, sub) } };
      }
      case "file": {
        checkOptions("Directory.file", call.args, { path: true });
        const sub = str(call, "path");
        if (ref.kind === "empty") throw new UsageError(`Directory.file('${sub}'): the directory is empty`);
        if (ref.kind === "host" && ref.filters.length === 0) return { kind: "file", ref: this.hostFile(posix.join(ref.path, sub)) };
        const at = this.located(ref);
        return { kind: "file", ref: { ...at, path: posix.join(at.path, sub) } };
      }
      case "withNewDirectory": {
        checkOptions("Directory.withNewDirectory", call.args, { path: true, permissions: true });
        const stage = this.dirStage(value);
        const empty = this.emptyDir();
        stage.steps.push({ kind: "copy", src: `${empty}/`, dest: posix.resolve("/", str(call, "path")) + "/", ...chmod(call.args.permissions) });
        return { kind: "directory", ref: { kind: "stage", stage: stage.name, path: "/" }, stage };
      }
      case "withNewFile":
      case "withDirectory":
      case "withFile": {
        const whole = this.wholeDirectory(value, call);
        if (whole) return whole;
        const stage = this.dirStage(value);
        this.copyInto(stage.steps, call, (p) => posix.resolve("/", p), "Directory.");
        return { kind: "directory", ref: { kind: "stage", stage: stage.name, path: "/" }, stage };
      }
      default:
        refuse(`Directory.${call.name}`);
    }
  }

  /**
   * `dag.directory().withDirectory("/", source, {include, exclude})` is the source itself (filtered): no
   * stage needed. Returns undefined for any other edit.
   */
  private wholeDirectory(value: Value & { kind: "directory" }, call: GraphCall): Value | undefined {
    const a = call.args;
    if (call.name !== "withDirectory" || value.ref.kind !== "empty" || value.stage || posix.resolve("/", str(call, "path")) !== "/") return undefined;
    if (Object.keys(a).some((k) => !["path", "source", "include", "exclude"].includes(k))) return undefined;
    const ref = this.dirRef(node(call, "source", "Directory"));
    const filter = { include: strList(call, "include"), exclude: strList(call, "exclude") };
    if (isEmptyFilter(filter)) return { kind: "directory", ref };
    if (ref.kind !== "host") return undefined;
    return { kind: "directory", ref: { ...ref, filters: [...ref.filters, filter] } };
  }

  /** The scratch stage a chain of directory edits writes into, created on the first edit. */
  private dirStage(value: Value & { kind: "directory" }): Stage {
    if (value.stage) return value.stage;
    const stage = this.newStage("d", "scratch", "directory");
    if (value.ref.kind !== "empty") stage.steps.push(copyFrom(this.located(value.ref), "/", true));
    return stage;
  }

  /** withDirectory / withFile / withNewFile, on a container (paths from its workdir) or a directory. */
  private copyInto(steps: Step[], call: GraphCall, at: (p: string) => string, prefix = ""): void {
    const a = call.args;
    const op = prefix + call.name;
    if (call.name === "withNewFile") {
      checkOptions(op, a, { path: true, contents: true, permissions: true, owner: true, expand: false });
      const contents = str(call, "contents");
      const dest = `f/${createHash("sha256").update(contents).digest("hex")}`;
      if (!this.context.some((e) => e.dest === dest)) this.context.push({ kind: "content", dest, contents });
      steps.push({ kind: "copy", src: dest, dest: at(str(call, "path")), chmod: mode(a.permissions ?? 0o644), ...chown(a.owner) });
      return;
    }
    if (call.name === "withFile") {
      checkOptions(op, a, { path: true, source: true, permissions: true, owner: true, expand: false });
      const ref = this.fileRef(node(call, "source", "File"));
      steps.push({ ...copyFrom(ref, at(str(call, "path")), false), ...chmod(a.permissions), ...chown(a.owner) });
      return;
    }
    checkOptions(op, a, { path: true, source: true, include: true, exclude: true, owner: true, expand: false, gitignore: false });
    const source = node(call, "source", "Directory");
    const filter = { include: strList(call, "include"), exclude: strList(call, "exclude") };
    let ref = this.dirRef(source);
    if (!isEmptyFilter(filter)) {
      if (ref.kind !== "host") refuse(`${op}(include/exclude) with a source that is not a host directory`);
      ref = { ...ref, filters: [...ref.filters, filter] };
    }
    const dest = at(str(call, "path"));
    if (ref.kind === "empty") {
      steps.push({ kind: "copy", src: `${this.emptyDir()}/`, dest: dest + "/", ...chown(a.owner) });
    } else {
      steps.push({ ...copyFrom(this.located(ref), dest, true), ...chown(a.owner) });
    }
  }

  private bindMount(target: string, anyRef: Ref, op: string): Mount {
    if (anyRef.kind === "empty") return { type: "bind", target, source: this.emptyDir() };
    const ref = this.located(anyRef);
    if (ref.kind === "context") return { type: "bind", target, source: ref.path };
    if (ref.path === "/" && op === "withMountedFile") refuse(`${op} of '/'`);
    return { type: "bind", target, from: ref.stage, source: ref.path };
  }

  private emptyDir(): string {
    const dest = "e";
    if (!this.context.some((c) => c.dest === dest)) this.context.push({ kind: "emptyDir", dest });
    return dest;
  }

  private dirRef(n: GraphNode): Ref {
    const v = this.value(n);
    if (v.kind !== "directory") throw new UsageError(`expected a Directory, got a ${v.kind}`);
    return v.ref;
  }

  private fileRef(n: GraphNode): Located {
    const v = this.value(n);
    if (v.kind !== "file") throw new UsageError(`expected a File, got a ${v.kind}`);
    return v.ref;
  }

  private cacheId(n: GraphNode): string {
    const [root, ...rest] = n.calls;
    if (!root || root.name !== "cacheVolume" || rest.length > 0) refuse("a cache volume not made by dag.cacheVolume(key)");
    checkOptions("cacheVolume", root.args, { key: true, namespace: null });
    return sanitizeId(str(root, "key"));
  }

  private secretId(n: GraphNode): string {
    const [root, ...rest] = n.calls;
    if (!root || root.name !== "setSecret" || rest.length > 0) refuse("a secret not made by dag.setSecret(name, plaintext)");
    checkOptions("setSecret", root.args, { name: true, plaintext: true });
    const id = sanitizeId(str(root, "name"));
    const plaintext = str(root, "plaintext");
    const known = this.secrets.get(id);
    if (known && known.plaintext !== plaintext) {
      throw new UsageError(`two different secrets are named '${str(root, "name")}'; give each secret its own name`);
    }
    this.secrets.set(id, { id, plaintext });
    return id;
  }

  private mirror(address: string): string {
    const m = this.mirrors;
    const short = address.replace(/^docker\.io\/(library\/)?/, "");
    return m[address] ?? m[short] ?? address;
  }
}

function copyFrom(ref: Located, dest: string, isDir: boolean): Step {
  const slash = (p: string) => (isDir && !p.endsWith("/") ? `${p}/` : p);
  if (ref.kind === "context") return { kind: "copy", src: slash(ref.path), dest: slash(dest) };
  return { kind: "copy", from: ref.stage, src: slash(ref.path), dest: slash(dest) };
}

function isEmptyFilter(f: PathFilter): boolean {
  return f.include.length === 0 && f.exclude.length === 0;
}

function refuse(what: string): never {
  throw new UnsupportedOperation(`unsupported operation: ${what}`);
}

/**
 * Checks a call's options: `true` = any value is handled; `null` = handled only when absent;
 * any other value = handled only when absent or equal to it (the SDK default).
 */
function checkOptions(op: string, args: Record<string, GraphValue>, handled: Record<string, GraphValue | true>): void {
  for (const [key, value] of Object.entries(args)) {
    if (!(key in handled)) refuse(`${op}(${key})`);
    const rule = handled[key];
    if (rule === true) continue;
    if (rule === null || JSON.stringify(rule) !== JSON.stringify(value)) refuse(`${op}(${key}: ${JSON.stringify(value)})`);
  }
}

function str(call: GraphCall, key: string): string {
  const v = call.args[key];
  if (typeof v !== "string") throw new UsageError(`${call.name}: '${key}' must be a string`);
  return v;
}

function strList(call: GraphCall, key: string): string[] {
  const v = call.args[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw new UsageError(`${call.name}: '${key}' must be a list of strings`);
  }
  return v as string[];
}

function node(call: GraphCall, key: string, type: GraphNode["type"]): GraphNode {
  const v = call.args[key];
  if (isNode(v) && v.type !== type) refuse(`${call.name} with a ${v.type} as '${key}'`);
  if (!isNode(v)) throw new UsageError(`${call.name}: '${key}' must be a ${type}`);
  return v;
}

function mode(value: GraphValue | undefined): string {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0o7777) {
    throw new UsageError(`permissions must be an integer mode such as 0o644, got ${JSON.stringify(value)}`);
  }
  return value.toString(8).padStart(4, "0");
}

function chmod(value: GraphValue | undefined): { chmod?: string } {
  return value === undefined ? {} : { chmod: mode(value) };
}

function chown(value: GraphValue | undefined): { chown?: string } {
  if (value === undefined || value === "") return {};
  if (typeof value !== "string") throw new UsageError("owner must be a string such as 'user:group' or '1000:1000'");
  return { chown: value };
}

/** A mount's owner: numeric `uid[:gid]` only (mount options take numbers). */
function owner(value: GraphValue | undefined, op: string): { uid?: number; gid?: number } {
  if (value === undefined || value === "") return {};
  const m = typeof value === "string" ? /^(\d+)(?::(\d+))?$/.exec(value) : null;
  if (!m) refuse(`${op}(owner: ${JSON.stringify(value)}): only numeric 'uid:gid' owners`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}

/** Cache and secret ids go into `--mount` options: keep them to a safe alphabet, distinct per input. */
function sanitizeId(name: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) return name;
  const safe = name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[^A-Za-z0-9]+/, "").slice(0, 60);
  return `${safe || "id"}-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`;
}
