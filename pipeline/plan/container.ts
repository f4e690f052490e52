/**
 * The operations on a Container. A container is a build stage plus what Dockerfile stages do not carry
 * from step to step: the mounts every later exec gets, secret variables, the workdir relative paths resolve
 * from, and the default args set so far. Most operations append a step to the container's build stage.
 */
import { posix } from "node:path";
import type { GraphCall, GraphValue } from "../sdk-adapter.ts";
import { UsageError } from "../../modules/errors.ts";
import { envName, node, owner, refuse, str, strList } from "./args.ts";
import { copyDirectory, copyFile, copyNewFile, WITH_DIRECTORY, WITH_FILE, WITH_NEW_FILE } from "./copy.ts";
import type { BuildState, ContainerState, ContainerValue, Mount, ObjectOperations, Ref, Sharing, Step, Value } from "./state.ts";

/** Where `withSecretVariable` secrets are mounted for the exec that reads them into its environment. */
const SECRET_ENV_DIR = "/run/pipeline-secrets";

/** A container path as the call gives it, resolved from the container's workdir. */
const at = (state: ContainerState) => (p: string) => posix.resolve(state.workdir, p);

export const CONTAINER: ObjectOperations<ContainerValue> = {
  object: "Container",
  operations: {
    from: { options: { address: true }, apply: from },
    withExec: {
      options: {
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
      },
      apply: withExec,
    },
    withEnvVariable: {
      options: { name: true, value: true, expand: true },
      apply: (_, c, call) =>
        step(c, {
          kind: "env",
          name: envName(call, "withEnvVariable"),
          value: str(call, "value"),
          expand: call.args.expand === true,
        }),
    },
    withWorkdir: {
      options: { path: true, expand: false },
      apply: (_, c, call) => {
        c.state.workdir = at(c.state)(str(call, "path"));
        return step(c, { kind: "workdir", path: c.state.workdir });
      },
    },
    withUser: { options: { name: true }, apply: (_, c, call) => step(c, { kind: "user", name: str(call, "name") }) },
    withEntrypoint: { options: { args: true, keepDefaultArgs: true }, apply: withEntrypoint },
    withDefaultArgs: {
      options: { args: true },
      apply: (_, c, call) => {
        c.state.cmd = strList(call, "args");
        return step(c, { kind: "cmd", args: c.state.cmd });
      },
    },
    withLabel: {
      options: { name: true, value: true },
      apply: (_, c, call) => step(c, { kind: "label", name: str(call, "name"), value: str(call, "value") }),
    },
    withExposedPort: {
      options: { port: true, protocol: true, description: true, experimentalSkipHealthcheck: true },
      apply: (_, c, call) =>
        step(c, { kind: "expose", port: port(call.args.port), protocol: call.args.protocol === "UDP" ? "udp" : "tcp" }),
    },
    withMountedCache: {
      options: { path: true, cache: true, sharing: true, owner: true, source: null, expand: false },
      apply: (b, c, call) => {
        const target = at(c.state)(str(call, "path"));
        const sharing = (typeof call.args.sharing === "string" ? call.args.sharing.toLowerCase() : "shared") as Sharing;
        const id = b.cacheId(node(call, "cache", "CacheVolume"));
        return mount(c, { kind: "cache", target, id, sharing, ...owner(call.args.owner, "withMountedCache") });
      },
    },
    withMountedDirectory: {
      options: { path: true, source: true, owner: null, expand: false },
      apply: (b, c, call) => {
        const target = at(c.state)(str(call, "path"));
        return mount(c, bindMount(b, target, b.dirRef(node(call, "source", "Directory")), "withMountedDirectory"));
      },
    },
    withMountedFile: {
      options: { path: true, source: true, owner: null, expand: false },
      apply: (b, c, call) => {
        const target = at(c.state)(str(call, "path"));
        return mount(c, bindMount(b, target, b.fileRef(node(call, "source", "File")), "withMountedFile"));
      },
    },
    withMountedSecret: {
      options: { path: true, source: true, mode: true, owner: true, expand: false },
      apply: (b, c, call) => {
        const target = at(c.state)(str(call, "path"));
        const id = b.secretId(node(call, "source", "Secret"));
        const mode = typeof call.args.mode === "number" ? call.args.mode : undefined;
        return mount(c, {
          kind: "secret",
          target,
          id,
          ...(mode === undefined ? {} : { mode }),
          ...owner(call.args.owner, "withMountedSecret"),
        });
      },
    },
    withMountedTemp: {
      options: { path: true, size: null, expand: false },
      apply: (_, c, call) => mount(c, { kind: "tmpfs", target: at(c.state)(str(call, "path")) }),
    },
    withoutMount: {
      options: { path: true, expand: false },
      apply: (_, c, call) => {
        c.state.mounts.delete(at(c.state)(str(call, "path")));
        return c;
      },
    },
    withSecretVariable: {
      options: { name: true, secret: true },
      apply: (b, c, call) => {
        const name = envName(call, "withSecretVariable");
        const id = b.secretId(node(call, "secret", "Secret"));
        c.state.secretEnv = [...c.state.secretEnv.filter((s) => s.name !== name), { name, id }];
        return c;
      },
    },
    withDirectory: {
      options: WITH_DIRECTORY,
      apply: (b, c, call) => {
        copyDirectory(b, c.state.stage.steps, call, at(c.state), "withDirectory");
        return c;
      },
    },
    withFile: {
      options: WITH_FILE,
      apply: (b, c, call) => {
        copyFile(b, c.state.stage.steps, call, at(c.state));
        return c;
      },
    },
    withNewFile: {
      options: WITH_NEW_FILE,
      apply: (b, c, call) => {
        copyNewFile(b, c.state.stage.steps, call, at(c.state));
        return c;
      },
    },
    directory: {
      options: { path: true, expand: false },
      apply: (_, c, call) => ({
        kind: "directory",
        ref: { kind: "stage", stage: c.state.stage.name, path: at(c.state)(str(call, "path")) },
      }),
    },
    file: {
      options: { path: true, expand: false },
      apply: (_, c, call) => ({
        kind: "file",
        ref: { kind: "stage", stage: c.state.stage.name, path: at(c.state)(str(call, "path")) },
      }),
    },
    rootfs: {
      options: {},
      apply: (_, c) => ({ kind: "directory", ref: { kind: "stage", stage: c.state.stage.name, path: "/" } }),
    },
  },
};

/** `from(address)`: the empty container becomes the image's build stage; any other starts a new one. */
function from(build: BuildState, c: ContainerValue, call: GraphCall): Value {
  const address = str(call, "address");
  const image = build.mirror(address);
  const { stage } = c.state;
  if (stage.base === "scratch" && stage.steps.length === 0) {
    Object.assign(stage, { base: image, label: `from ${address}` });
    return c;
  }
  return { kind: "container", state: build.newContainer(image, `from ${address}`) };
}

/** `withExec(args)`: a RUN in exec form with the container's mounts; secret variables read from secret mounts. */
function withExec(_: BuildState, c: ContainerValue, call: GraphCall): Value {
  const { state } = c;
  const args = strList(call, "args");
  if (args.length === 0) throw new UsageError("withExec needs at least one argument (the command)");
  const mounts = [...state.mounts.values()];
  let cmd = args;
  if (state.secretEnv.length > 0) {
    const exports = state.secretEnv.map(({ name, id }) => `${name}="$(cat ${SECRET_ENV_DIR}/${id})"; export ${name}`).join("; ");
    cmd = ["/bin/sh", "-c", `${exports}; exec "$@"`, "sh", ...args];
    for (const { id } of state.secretEnv) mounts.push({ kind: "secret", target: `${SECRET_ENV_DIR}/${id}`, id });
  }
  return step(c, { kind: "run", args: cmd, mounts });
}

/**
 * `withEntrypoint(args)`: Dagger drops the default args unless asked to keep them; a Dockerfile ENTRYPOINT
 * keeps only those set in the same stage. The result is said explicitly (a CMD) either way.
 */
function withEntrypoint(_: BuildState, c: ContainerValue, call: GraphCall): Value {
  const { state } = c;
  state.stage.steps.push({ kind: "entrypoint", args: strList(call, "args") });
  if (call.args.keepDefaultArgs === true) {
    if (!state.cmd) refuse("withEntrypoint(keepDefaultArgs) on default args inherited from the base image");
  } else {
    state.cmd = [];
  }
  return step(c, { kind: "cmd", args: state.cmd });
}

/** Appends a step to the container's build stage. */
function step(c: ContainerValue, s: Step): Value {
  c.state.stage.steps.push(s);
  return c;
}

/** Sets a mount every later exec gets (one per target path). */
function mount(c: ContainerValue, m: Mount): Value {
  c.state.mounts.set(m.target, m);
  return c;
}

function port(value: GraphValue | undefined): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new UsageError(`withExposedPort: port must be an integer 1-65535, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A mount of a directory or file: from the build context or a build stage (the empty directory for an empty one). */
function bindMount(build: BuildState, target: string, anyRef: Ref, op: string): Mount {
  if (anyRef.kind === "empty") return { kind: "bind", target, source: build.emptyDir() };
  const ref = build.located(anyRef);
  if (ref.kind === "context") return { kind: "bind", target, source: ref.path };
  if (ref.path === "/" && op === "withMountedFile") refuse(`${op} of '/'`);
  return { kind: "bind", target, from: ref.stage, source: ref.path };
}
