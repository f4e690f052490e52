/**
 * `pipeline call FUNCTION [ARGS] [CHAIN ...]`: `dagger call` on either engine. The functions and their
 * arguments come from the module's own introspection (introspect.ts: the SDK's scan() of its source, cached),
 * so a new @func() method is callable here with no CLI change. This file only turns the parsed call into SDK
 * objects, calls the method, and hands the result to the executor (execute.ts) or prints it.
 */
import type { ArgumentsCamelCase, Argv } from "yargs";
import { spawn } from "node:child_process";
import { execSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Container, dag, type Directory, type File } from "@dagger.io/dagger";
import { checkOutput, execute, type ExecuteOptions, type Runnable } from "../execute.ts";
import { interrupted } from "../interrupt.ts";
import { gitFacts, gitRevision, gitVersion, loadProject, type Project } from "../project.ts";
import { type OutputRequest, projectProtectedDirs } from "../outputs.ts";
import { readGraph, sdkTypeName } from "../sdk-adapter.ts";
import { chooseEngine, dockerEnv, findBuildkit } from "../engines/detect.ts";
import { capture } from "../proc.ts";
import { toolRoot } from "../paths.ts";
import { snapshotLabel } from "../snapshot.ts";
import { type ArgSpec, findModule, loadModuleSpec, type ModuleLocation } from "../introspect.ts";
import { type ArgValue, type CallPlan, parseCall, PROJECT_ARGS } from "../call-line.ts";
import { CONFIG_FILES } from "../../modules/config.ts";
import { StepError, UsageError } from "../../modules/errors.ts";
import { Pipeline } from "../../src/index.ts";

export const command = "call [words..]";
export const describe =
  "Call a function of the Dagger module as `dagger call` does (FUNCTION [ARGS] [export --path P | stdout | ...]); `call --help` lists them";

/** A command whose words yargs leaves alone: they are parsed here (introspect.ts), against the module's functions. */
export function rawWords<T>(y: Argv<T>): Argv<T> {
  return y
    .parserConfiguration({
      "unknown-options-as-args": true,
      "halt-at-non-option": true,
      "boolean-negation": false,
      "camel-case-expansion": false,
      "dot-notation": false,
    })
    .help(false)
    .version(false)
    .strict(false);
}

export function builder(y: Argv): Argv {
  return rawWords(y).example("$0 call build --avx=false export --path out/build", "dagger call's command line, on BuildKit");
}

/** The words after `call`, as typed: from the process's arguments, where yargs has not rewritten them. */
function callWords(argv: ArgumentsCamelCase<{ words?: string[] }>, raw: string[]): string[] {
  const at = raw.indexOf("call");
  if (at >= 0) return raw.slice(at + 1);
  return (argv.words ?? []).map(String);
}

export async function handler(argv: ArgumentsCamelCase<{ words?: string[] }>): Promise<void> {
  await runCall(callWords(argv, process.argv.slice(2)));
}

/** The value of -m/--mod in the words, before they can be parsed (the module gives the grammar). */
function modFlag(words: string[]): string | undefined {
  for (let i = 0; i < words.length; i++) {
    const m = /^(?:--mod|-m)(?:=(.*))?$/.exec(words[i]!);
    if (m) return m[1] ?? words[i + 1];
  }
  return undefined;
}

export async function runCall(words: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const modDir = modFlag(words);
  const mod = findModule(modDir ?? process.cwd());
  if (!mod)
    throw new UsageError(
      `no Dagger module here: no dagger.json in ${resolve(modDir ?? ".")} or above (pass -m DIR, or run \`pipeline init\`)`,
    );
  const spec = await loadModuleSpec(mod, { say: (l) => process.stderr.write(l + "\n") });
  const plan = parseCall(spec, words);
  if (plan.kind === "help") return out(plan.text);

  const project = await projectFor(mod, plan.options.config);
  const instance = await moduleObject(mod, spec.className, spec.constructorArgs, plan.constructorArgs, project);
  const fn = (instance as Record<string, unknown>)[plan.fn.name];
  if (typeof fn !== "function")
    throw new UsageError(`the module's ${spec.className} has no method ${plan.fn.name} (is the scan stale? touch src/index.ts)`);
  const args = plan.fn.args.map((a) =>
    plan.args[a.name] !== undefined ? materialize(plan.args[a.name]!) : defaultPathValue(a, mod),
  );
  // Arguments left out trail as undefined: the method's own defaults apply, as on the Dagger engine.
  while (args.length && args[args.length - 1] === undefined) args.pop();
  let result: unknown = await (fn as (...a: unknown[]) => unknown).apply(instance, args);

  const dirArgs = plan.fn.args.filter(
    (a) => a.type.kind === "object" && (a.type.name === "Directory" || a.type.name === "File") && plan.args[a.name] !== undefined,
  );
  const sources = [
    ...(project.cfgSource ? [project.cfgSource] : []),
    ...dirArgs.map((a) => resolve((plan.args[a.name] as { path: string }).path)),
  ];
  const opts: ExecuteOptions = {
    engine: plan.options.engine ?? "auto",
    buildkitAddr: plan.options["buildkit-addr"],
    progress: plan.options.progress ?? "auto",
    signal: interrupted,
    mirrors: project.mirrors,
    protectedDirs: projectProtectedDirs(project.dir, sources),
    force: plan.options.force ?? false,
  };

  for (const step of plan.chain) {
    const obj = result as Runnable;
    switch (step.verb) {
      case "file":
        result = (obj as Container | Directory).file(step.path);
        continue;
      case "directory":
        result = (obj as Container | Directory).directory(step.path);
        continue;
      case "with-exec":
        if (step.args.length === 0) throw new UsageError("with-exec: --args needs the command (--args=echo,hello)");
        result = (obj as Container).withExec(step.args);
        continue;
      case "export": {
        const request: OutputRequest =
          sdkTypeName(obj) === "Container"
            ? { kind: "tarball", path: step.path, flag: "--path" }
            : { kind: "export", path: step.path, flag: "--path" };
        await execute(obj, request, opts);
        out(`${resolve(step.path)}\n`);
        return;
      }
      case "publish": {
        const run = await execute(obj, { kind: "publish", ref: step.address }, opts);
        out(`${step.address}${run?.digest ? `@${run.digest}` : ""}\n`);
        return;
      }
      case "sync":
        await execute(obj, { kind: "sync" }, opts);
        return;
      case "contents":
        return out(await fileContents(obj as File, opts));
      case "entries":
        return out((await entries(obj as Directory, opts)).join("\n") + "\n");
      case "stdout":
        return out(await stdout(obj as Container, opts));
      case "terminal":
        return terminal(obj as Container, opts);
    }
  }
  // No verb: print a value; build an object (as dagger call evaluates it) and say what it was.
  if (sdkTypeName(result) !== undefined) {
    await execute(result as Runnable, { kind: "sync" }, opts);
    process.stderr.write(
      `pipeline: ${plan.fn.command} built a ${sdkTypeName(result)}; chain export --path PATH (or stdout, contents, entries, terminal) to use it\n`,
    );
    return;
  }
  if (result === undefined || result === null) return;
  const text = typeof result === "string" ? result : JSON.stringify(result);
  out(text.endsWith("\n") || text === "" ? text : `${text}\n`);
}

interface CallProject {
  dir: string;
  /** The values the CLI gives the constructor's project arguments (root, config, version, revision, epoch, snapshot). */
  values: Record<string, unknown>;
  mirrors?: Record<string, string>;
  cfgSource?: string;
  project?: Project;
}

/** The project the module is constructed over, as loadProject gives the stage commands; a module without a config gets its folder. */
async function projectFor(mod: ModuleLocation, config?: string): Promise<CallProject> {
  const hasConfig = config !== undefined || CONFIG_FILES.some((f) => existsSync(resolve(f)));
  if (hasConfig) {
    const project = await loadProject({ config });
    return {
      dir: project.dir,
      values: {
        root: dag.host().directory(project.dir),
        config: readFileSync(project.file, "utf8"),
        version: project.pipeline.version,
        revision: project.pipeline.revision,
        epoch: project.pipeline.epoch,
        snapshot: project.pipeline.snapshot,
      },
      mirrors: project.cfg.mirrors,
      cfgSource: resolve(project.dir, project.cfg.source),
      project,
    };
  }
  const git = await gitFacts(mod.dir);
  const version = gitVersion(git) ?? "0.0.0";
  const { revision, epoch } = gitRevision(git);
  return { dir: mod.dir, values: { root: dag.host().directory(mod.dir), version, revision, epoch, snapshot: snapshotLabel() } };
}

/** The module's main object, constructed with the project's values and the module arguments given. */
async function moduleObject(
  mod: ModuleLocation,
  className: string,
  ctor: ArgSpec[],
  given: Record<string, ArgValue>,
  project: CallProject,
): Promise<object> {
  let Cls: new (...a: unknown[]) => object;
  const own = toolRoot();
  if (own && realpathSync(mod.dir) === realpathSync(own) && className === "Pipeline") Cls = Pipeline as unknown as typeof Cls;
  else {
    try {
      // The module compiles with its own tsconfig.json (decorators), as the Dagger runtime does; else with ours.
      const tsconfig = [join(mod.dir, "tsconfig.json"), ...(own ? [join(own, "tsconfig.json")] : [])].find((f) => existsSync(f));
      if (tsconfig) process.env.TSX_TSCONFIG_PATH ??= tsconfig;
      const loadTypeScript = (globalThis as Record<symbol, unknown>)[Symbol.for("pipeline.loadTypeScript")];
      if (typeof loadTypeScript === "function") await loadTypeScript();
      const m = (await import(pathToFileURL(mod.entry).href)) as Record<string, unknown>;
      Cls = m[className] as typeof Cls;
    } catch (err) {
      throw new UsageError(`${mod.entry}: could not be loaded: ${(err as Error).message.split("\n")[0]}`);
    }
    if (typeof Cls !== "function") throw new UsageError(`${mod.entry}: exports no class ${className} (the module's main object)`);
  }
  const args = ctor.map((a) => {
    if (given[a.name] !== undefined) return materialize(given[a.name]!);
    if (PROJECT_ARGS.includes(a.name) && project.values[a.name] !== undefined) return project.values[a.name];
    return defaultPathValue(a, mod);
  });
  while (args.length && args[args.length - 1] === undefined) args.pop();
  return new Cls(...args);
}

/** A Directory/File argument left out that names a defaultPath: that path of the module's folder ("/" is the folder). */
function defaultPathValue(a: ArgSpec, mod: ModuleLocation): unknown {
  if (!a.defaultPath || a.type.kind !== "object") return undefined;
  const path = join(mod.dir, a.defaultPath);
  return a.type.name === "File" ? dag.host().file(path) : dag.host().directory(path);
}

/** A parsed value as the method takes it: host paths as Directory/File, secrets as Secret. */
function materialize(v: ArgValue): unknown {
  if (Array.isArray(v)) return v.map(materialize);
  if (typeof v !== "object") return v;
  if ("host" in v) {
    const path = resolve(v.path);
    if (!existsSync(path)) throw new UsageError(`${v.path}: no such ${v.host === "file" ? "file" : "folder"}`);
    const isDir = statSync(path).isDirectory();
    if (v.host === "directory" && !isDir) throw new UsageError(`${v.path}: a file where a folder (Directory) is expected`);
    if (v.host === "file" && isDir) throw new UsageError(`${v.path}: a folder where a file (File) is expected`);
    return v.host === "file" ? dag.host().file(path) : dag.host().directory(path);
  }
  const value =
    v.secret === "env"
      ? process.env[v.ref]
      : v.secret === "file"
        ? existsSync(v.ref)
          ? readFileSync(v.ref, "utf8")
          : undefined
        : execSync(v.ref, { encoding: "utf8" }).replace(/\n$/, "");
  if (value === undefined)
    throw new UsageError(`secret ${v.secret}:${v.ref}: ${v.secret === "env" ? "no such environment variable" : "no such file"}`);
  return dag.setSecret(`call-${v.secret}-${v.ref.replace(/[^A-Za-z0-9_.-]/g, "_")}`, value);
}

/** Runs `fn` in a Dagger session (the Dagger engine path of the printing verbs). */
async function onDagger<T>(fn: () => Promise<T>): Promise<T> {
  const { connection } = await import("@dagger.io/dagger");
  let value: T | undefined;
  await connection(
    async () => {
      value = await fn();
    },
    { LogOutput: process.stderr },
  );
  return value as T;
}

/** A temporary folder for a result that is printed, not kept. */
async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "pipeline-call-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fileContents(file: File, opts: ExecuteOptions): Promise<string> {
  if ((await chooseEngine(opts)) === "dagger") return onDagger(() => file.contents());
  return withTemp(async (dir) => {
    const path = join(dir, "contents");
    await execute(file, { kind: "export", path }, { ...opts, protectedDirs: [] });
    return readFileSync(path, "utf8");
  });
}

async function entries(d: Directory, opts: ExecuteOptions): Promise<string[]> {
  if ((await chooseEngine(opts)) === "dagger") return onDagger(() => d.entries());
  return withTemp(async (dir) => {
    const path = join(dir, "entries");
    await execute(d, { kind: "export", path }, { ...opts, protectedDirs: [] });
    return readdirSync(path, { withFileTypes: true })
      .filter((e) => e.name !== ".pipeline-output")
      .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
      .sort();
  });
}

/**
 * On BuildKit a container is run by Docker: the result is loaded under a temporary tag (removed after), then
 * `docker run` runs it. Returns the client, its environment and the tag.
 */
async function loaded<T>(
  ctr: Container,
  opts: ExecuteOptions,
  fn: (docker: (args: string[]) => string[], client: string, env: NodeJS.ProcessEnv) => Promise<T>,
): Promise<T> {
  await checkOutput(ctr, { kind: "tag", image: "x" });
  const endpoint = await findBuildkit(opts);
  if (endpoint.kind !== "docker")
    throw new UsageError(
      `stdout and terminal run the container with Docker; ${endpoint.via} is a buildkitd (use a Docker engine, or --engine dagger)`,
    );
  const tag = `pipeline-call:${process.pid}-${Date.now().toString(36)}`;
  const env = dockerEnv(endpoint);
  await execute(ctr, { kind: "tag", image: tag }, opts);
  try {
    return await fn((args) => args.map((a) => (a === "IMAGE" ? tag : a)), endpoint.client, env);
  } finally {
    await capture(endpoint.client, ["rmi", "-f", tag], { env });
  }
}

/**
 * The standard output of the container's last exec, as Dagger's Container.stdout. On BuildKit: the built image
 * runs that exec's command again with `docker run` (its environment, workdir and user are the image's; mounts
 * the build had are not there), or its default command (entrypoint and default args) when it ended in no exec.
 */
async function stdout(ctr: Container, opts: ExecuteOptions): Promise<string> {
  if ((await chooseEngine(opts)) === "dagger") return onDagger(() => ctr.stdout());
  const last = readGraph(ctr).calls.at(-1);
  const exec = last?.name === "withExec" && Array.isArray(last.args.args) ? (last.args.args as string[]) : undefined;
  return loaded(ctr, opts, async (withTag, client, env) => {
    const args = exec
      ? ["run", "--rm", "--network", "host", "--entrypoint", exec[0]!, "IMAGE", ...exec.slice(1)]
      : ["run", "--rm", "--network", "host", "IMAGE"];
    const r = await capture(client, withTag(args), { env, signal: interrupted });
    if (r.code !== 0)
      throw new StepError(
        `stdout: ${exec ? exec.join(" ") : "the container's default command"} exited with ${r.code}\n${r.stderr.trim().split("\n").slice(-20).join("\n")}`,
      );
    if (r.stderr) process.stderr.write(r.stderr);
    return r.stdout;
  });
}

/** An interactive shell in the container: Dagger's Container.terminal; on BuildKit, `docker run -it IMAGE sh`. */
async function terminal(ctr: Container, opts: ExecuteOptions): Promise<void> {
  if ((await chooseEngine(opts)) === "dagger") {
    await onDagger(() => ctr.terminal().sync());
    return;
  }
  await loaded(ctr, opts, async (withTag, client, env) => {
    const tty = process.stdin.isTTY ? ["-it"] : ["-i"];
    const code = await new Promise<number>((done) => {
      const child = spawn(client, withTag(["run", "--rm", ...tty, "--network", "host", "--entrypoint", "sh", "IMAGE"]), {
        env,
        stdio: "inherit",
      });
      child.on("close", (c) => done(c ?? 1));
      child.on("error", () => done(127));
    });
    if (code !== 0 && code !== 130) process.exitCode = code;
  });
}

export type { CallPlan };
