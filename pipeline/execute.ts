/**
 * Runs a lazy Dagger object (Container, Directory, File) on the chosen engine. This is what every CLI
 * command ends in: the command calls the module's function, then hands its result here.
 */
import type { Container, Directory, File } from "@dagger.io/dagger";
import { type Plan, planGraph } from "./plan.ts";
import { readGraph, sdkTypeName } from "./sdk-adapter.ts";
import { UsageError } from "../modules/errors.ts";
import {
  checkOutputPath,
  type OutputCheck,
  type OutputRequest,
  type ProtectedDir,
  removeStaleSiblings,
  removeStaleWork,
} from "./outputs.ts";
import { chooseEngine, type EngineChoice, engineKey, expectedEngineKey, findBuildkit } from "./engines/detect.ts";
import { runPlan, type RunResult } from "./engines/buildkit.ts";
import { readMirrors } from "./mirrors.ts";
import { type ProgressMode, resolveMode } from "./progress.ts";
import type { HostInput } from "./uptodate.mjs";
import { resolve } from "node:path";
import { trace } from "./trace.ts";
import { listOutput } from "./delta-output.ts";

export interface ExecuteOptions {
  engine?: EngineChoice;
  buildkitAddr?: string;
  progress?: ProgressMode;
  signal?: AbortSignal;
  /** Extra image mirrors (from the project config); the recorded map fills in the rest. */
  mirrors?: Record<string, string>;
  /** Called with a line of news for the user (the engine used, the summary). */
  say?: (line: string) => void;
  /** Folders an output must keep away from (the project, its source trees); the current folder always is one. */
  protectedDirs?: ProtectedDir[];
  /** Replace a folder or file at the output path that is not an earlier output of this tool. */
  force?: boolean;
  /**
   * Called on BuildKit with the host folders and files the plan reads (absolute, with their filters), after
   * translating and before the build starts: the up-to-date stamp's inputs (uptodate.mjs).
   */
  onInputs?: (inputs: HostInput[]) => void;
  /** BuildKit's layer cache: images whose inline cache this build may reuse (`cache pull`'s dev image). */
  cacheFrom?: string[];
  /** BuildKit's layer cache: the image made carries its own (`cache push`'s dev image). */
  inlineCache?: boolean;
}

export type Runnable = Container | Directory | File;

/** Checks that the requested output fits the object: an export needs a Directory or File, etc. */
export function checkRequest(obj: unknown, request: OutputRequest): void {
  const type = sdkTypeName(obj);
  if (type !== "Container" && type !== "Directory" && type !== "File") {
    throw new UsageError(`expected a Container, Directory or File to run, got ${type ?? typeof obj}`);
  }
  if (request.kind === "export" && type === "Container") {
    throw new UsageError("--export writes a Directory or File; this is a Container: use --tag IMAGE or --tarball PATH");
  }
  if ((request.kind === "tag" || request.kind === "tarball" || request.kind === "publish") && type !== "Container") {
    throw new UsageError(`--${request.kind} needs a Container; this is a ${type}: use --export PATH`);
  }
}

/**
 * Refuses (exit 2) an output path that would destroy something or cannot take the result (outputs.ts), before
 * anything is translated or any engine is looked for. Every command's runs go through it (execute calls it).
 */
export async function checkOutput(
  obj: unknown,
  request: OutputRequest,
  opts: ExecuteOptions = {},
): Promise<OutputCheck | undefined> {
  checkRequest(obj, request);
  const shape = request.kind === "export" && sdkTypeName(obj) === "Directory" ? "directory" : "file";
  return checkOutputPath(request, { shape, protectedDirs: opts.protectedDirs, force: opts.force });
}

/** The plan the BuildKit executor would run for `obj` (pure, after reading the recorded mirror map). */
export async function planFor(obj: unknown, mirrors: Record<string, string> = {}, engine = expectedEngineKey()): Promise<Plan> {
  return planGraph(readGraph(obj), { mirrors: { ...(await readMirrors(engine)), ...mirrors } });
}

/** The host folders (with their include/exclude filters) and files a plan's context is made from, absolute. */
export function hostInputs(plan: Plan, cwd = process.cwd()): HostInput[] {
  return plan.context.flatMap((e) =>
    e.kind === "hostDir"
      ? [{ path: resolve(cwd, e.path), filters: e.filters }]
      : e.kind === "hostFile"
        ? [{ path: resolve(cwd, e.path) }]
        : [],
  );
}

export async function execute(obj: Runnable, request: OutputRequest, opts: ExecuteOptions = {}): Promise<RunResult | undefined> {
  const say = opts.say ?? ((l: string) => process.stderr.write(l + "\n"));
  trace("stage called");
  const checked = await checkOutput(obj, request, opts);
  // What killed runs left behind: partial outputs next to this destination, work folders in the temp folder.
  if (checked) await removeStaleSiblings(checked.abs);
  await removeStaleWork();
  const engine = await chooseEngine(opts);
  if (engine === "dagger") {
    say("pipeline: running on the Dagger engine");
    const { runOnDagger } = await import("./engines/dagger.ts");
    const digest = await runOnDagger(obj, request);
    return { steps: 0, cached: 0, executed: 0, seconds: 0, ...(digest ? { digest } : {}) };
  }
  // The folder an export replaces, listed by a child process while this one plans and stages (runPlan makes
  // the export incremental with it).
  const listing = request.kind === "export" ? listOutput(request.path) : undefined;
  listing?.catch(() => {}); // (runPlan sees a failure, and exports the whole result)
  // Translate first: an unsupported operation is refused before any engine is looked for.
  const expected = expectedEngineKey(opts);
  const planned = await planFor(obj, opts.mirrors, expected);
  trace("plan made");
  const endpoint = await findBuildkit(opts);
  trace("engine found");
  // The recorded mirror map is per engine: plan again with the found engine's when it is not the expected one.
  const plan = engineKey(endpoint) === expected ? planned : await planFor(obj, opts.mirrors, engineKey(endpoint));
  opts.onInputs?.(hostInputs(plan));
  trace("inputs read");
  say(`pipeline: running on BuildKit via ${endpoint.via}`);
  const result = await runPlan(plan, endpoint, request, {
    progress: resolveMode(opts.progress ?? "auto"),
    signal: opts.signal,
    cacheFrom: opts.cacheFrom,
    inlineCache: opts.inlineCache,
    listing,
  });
  trace("build done");
  say(`pipeline: done in ${result.seconds.toFixed(1)}s: ${result.steps} steps, ${result.cached} cached, ${result.executed} run`);
  if (result.exported)
    say(
      `pipeline: exported ${result.exported.sent} new or changed files; ${result.exported.kept} unchanged ones kept from the folder it replaced`,
    );
  return result;
}
