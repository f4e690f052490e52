/**
 * Runs a plan on BuildKit: writes the build context to a temporary folder, then solves it with the Docker
 * client (buildx, or the BuildKit built into Docker < 23) or with buildctl against a buildkitd. Progress is
 * read from the plain stream; outputs land atomically (see outputs.ts).
 */
import { spawn } from "node:child_process";
import { lstatSync, promises as fs } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { deltaTools, type Plan, withDeltaTarget, withSyncTarget } from "../plan.ts";
import { claimContextDir, writeContext } from "../context.ts";
import { withSourceManifests } from "../plan/manifest.ts";
import { withLayeredSources } from "../plan/layers.ts";
import { EngineUnavailable, EXIT_INTERRUPTED, EXIT_TERMINATED, PipelineError, StepError } from "../../modules/errors.ts";
import { activeTemps, atomicWrite, MARKER, type OutputRequest, removeTree, workPrefix } from "../outputs.ts";
import { applyDelta, listOutput } from "../delta-output.ts";
import { createView, ProgressTracker, type Vertex } from "../progress.ts";
import { capture } from "../proc.ts";
import { type BuildkitEndpoint, dockerEnv, endpointAnswers, engineKey, START_HINT } from "./detect.ts";
import { registerRun } from "../runs.ts";
import { renewSnapshotLabel } from "../snapshot.ts";
import { trace } from "../trace.ts";
import { type FolderEntry, folderDigest, knownDigests, statEntry } from "../uptodate.mjs";

export interface RunOptions {
  progress: "plain" | "tty" | "quiet";
  signal?: AbortSignal;
  /** Where relative host paths in the graph are resolved from. */
  cwd?: string;
  /** Layer cache: images (in a registry) whose inline cache the build may reuse. */
  cacheFrom?: string[];
  /** Layer cache: the image this build makes carries its own, for a later build's cacheFrom (a publish). */
  inlineCache?: boolean;
  /** The listing of the folder an export replaces, when the caller started it already (listOutput). */
  listing?: Promise<string | undefined>;
}

export interface RunResult {
  steps: number;
  cached: number;
  executed: number;
  seconds: number;
  /** For a publish: the digest the registry holds the image under. */
  digest?: string;
  /** For an export that replaced an earlier one: the files sent, and the unchanged ones kept from the old folder. */
  exported?: { sent: number; kept: number };
}

/** The run was stopped by a signal: exit 130 for SIGINT, 143 for SIGTERM (the abort reason names the signal). */
export class Interrupted extends PipelineError {
  constructor(signal?: AbortSignal) {
    super(
      "interrupted: the build was stopped and nothing was written",
      signal?.reason === "SIGTERM" ? EXIT_TERMINATED : EXIT_INTERRUPTED,
    );
  }
}

type SolveOutput =
  | { kind: "none" }
  | { kind: "local"; dest: string }
  | { kind: "image"; name: string; push?: boolean }
  | { kind: "docker-tar"; name: string; dest: string };

/** What one solve needs: the plan (its Dockerfile and target), where it runs, its inputs, and where its result goes. */
export interface SolveOptions {
  plan: Plan;
  endpoint: BuildkitEndpoint;
  /** The build context folder, holding the plan's Dockerfile. */
  context: string;
  /** The secrets' files, by id. */
  secrets: Array<{ id: string; file: string }>;
  output: SolveOutput;
  tracker: ProgressTracker;
  run: RunOptions;
  /** Client flags besides the build's own (buildctl's --metadata-file). */
  extraArgs?: string[];
}

export async function runPlan(
  requested: Plan,
  endpoint: BuildkitEndpoint,
  request: OutputRequest,
  opts: RunOptions,
): Promise<RunResult> {
  const started = Date.now();
  // Docker's builder exports every build: with no output it would leave an unnamed image of the result in the
  // image store on each run. Its sync builds the plan's sync target instead (a last build stage that exports
  // nothing); buildctl can build with no output at all.
  let plan = request.kind === "sync" && endpoint.kind !== "buildctl" ? withSyncTarget(requested) : requested;
  // Build-tree restores read the sources' digests from the CLI, which hashes only what changed (plan/manifest.ts).
  plan = withSourceManifests(plan);
  // Host folders copied whole: a base BuildKit keeps and the recent files, in two copies (plan/layers.ts).
  plan = withLayeredSources(plan);
  // A folder replacing one an earlier export wrote: only what differs is sent (withDeltaTarget, applyDelta).
  const tools = request.kind === "export" && plan.output.kind === "directory" ? deltaTools(plan) : undefined;
  // (An old folder that cannot be read is replaced whole, as without it.)
  const last =
    tools && request.kind === "export" ? await (opts.listing ?? listOutput(request.path)).catch(() => undefined) : undefined;
  if (tools && last) plan = withDeltaTarget(plan, tools, last);
  trace("old output listed");
  // pipeline-PID-XXXXXX: a later run removes it if this process is killed (outputs.ts removeStaleWork).
  const work = await fs.mkdtemp(workPrefix());
  activeTemps.add(work);
  // Every line of the build's output is masked with the secrets' plaintexts before it is shown or kept.
  const tracker = new ProgressTracker(plan.secrets.map((s) => s.plaintext));
  let exported: RunResult["exported"];
  let entries: FolderEntry[] | undefined;
  let staged: Awaited<ReturnType<typeof claimContextDir>>;
  let linked = false;
  try {
    // At the same path each build where it can be (BuildKit then receives only what changed), else in `work`.
    staged = await claimContextDir(plan, opts.cwd);
    const context = staged?.dir ?? join(work, "context");
    ({ linked } = await writeContext(plan, context, opts.cwd));
    trace("context written");
    const secrets = join(work, "secrets");
    await fs.mkdir(secrets, { mode: 0o700 });
    const secretArgs: Array<{ id: string; file: string }> = [];
    for (const s of plan.secrets) {
      const file = join(secrets, s.id);
      await fs.writeFile(file, s.plaintext, { mode: 0o600 });
      secretArgs.push({ id: s.id, file });
    }
    const solve = (output: SolveOutput, extraArgs: string[] = []) =>
      solvePlan({ plan, endpoint, context, secrets: secretArgs, output, tracker, run: opts, extraArgs });

    switch (request.kind) {
      case "sync":
        await solve(endpoint.kind === "buildctl" ? { kind: "none" } : { kind: "local", dest: join(work, "sync-out") });
        break;
      case "tag":
        await solve({ kind: "image", name: request.image });
        break;
      case "export":
        await atomicWrite(request.path, async (tmp) => {
          if (plan.output.kind !== "file") {
            // Made now, so that a run killed mid-build leaves a sibling a later run can recognise and remove.
            await fs.mkdir(tmp);
            if (!last) return solve({ kind: "local", dest: tmp });
            const delta = `${tmp}-d`;
            activeTemps.add(delta);
            try {
              await solve({ kind: "local", dest: delta });
              trace("solved");
              const made = await applyDelta(delta, request.path, tmp, last);
              exported = { sent: made.sent, kept: made.kept };
              entries = made.entries;
              trace("delta applied");
            } catch (err) {
              if (err instanceof PipelineError) throw err;
              entries = undefined;
              // The old folder changed under us (a file gone): the whole result, as without it.
              await removeTree(tmp);
              await fs.mkdir(tmp);
              await solvePlan({
                plan: { ...plan, target: requested.target },
                endpoint,
                context,
                secrets: secretArgs,
                output: { kind: "local", dest: tmp },
                tracker,
                run: opts,
              });
            } finally {
              await fs.rm(delta, { recursive: true, force: true });
              activeTemps.delete(delta);
            }
            return;
          }
          const dir = `${tmp}-d`;
          activeTemps.add(dir);
          try {
            await solve({ kind: "local", dest: dir });
            await fs.rename(join(dir, plan.output.name), tmp);
          } finally {
            await fs.rm(dir, { recursive: true, force: true });
            activeTemps.delete(dir);
          }
        });
        // What the folder holds is known: its up-to-date stamp need not walk it again (uptodate.mjs folderDigest).
        if (entries) {
          const marker = join(resolve(request.path), MARKER);
          const all = [...entries, statEntry(MARKER, lstatSync(marker, { bigint: true }), marker)];
          knownDigests.set(resolve(request.path), folderDigest(all));
        }
        break;
      case "publish": {
        if (endpoint.kind === "buildctl") {
          const meta = join(work, "metadata.json");
          await solve({ kind: "image", name: request.ref, push: true }, ["--metadata-file", meta]);
          const digest = JSON.parse(await fs.readFile(meta, "utf8"))["containerimage.digest"] as string | undefined;
          return { ...tracker.summary(), seconds: (Date.now() - started) / 1000, digest };
        }
        await solve({ kind: "image", name: request.ref });
        const pushed = await capture(endpoint.client, ["push", request.ref], { env: dockerEnv(endpoint), signal: opts.signal });
        if (pushed.code !== 0) throw new StepError(`pushing ${request.ref} failed: ${(pushed.stderr || pushed.stdout).trim()}`);
        const digest = pushedDigest(request.ref, pushed.stdout);
        return { ...tracker.summary(), seconds: (Date.now() - started) / 1000, digest };
      }
      case "tarball":
        await atomicWrite(request.path, async (tmp) => {
          const name = `pipeline-tmp/${randomBytes(6).toString("hex")}:latest`;
          if (endpoint.kind === "buildctl") return solve({ kind: "docker-tar", name, dest: tmp });
          await solve({ kind: "image", name });
          const env = dockerEnv(endpoint);
          try {
            const saved = await capture(endpoint.client, ["save", "-o", tmp, name], { env });
            if (saved.code !== 0) throw new StepError(`saving the image failed: ${saved.stderr.trim()}`);
          } finally {
            await capture(endpoint.client, ["rmi", "--no-prune", name], { env });
          }
        });
        break;
    }
    return { ...tracker.summary(), seconds: (Date.now() - started) / 1000, ...(exported ? { exported } : {}) };
  } finally {
    // Failed or not: a step that saved a build tree may have found its snapshot stale.
    if (tracker.staleSnapshot) renewSnapshotLabel();
    await staged?.release(linked);
    await fs.rm(work, { recursive: true, force: true });
    activeTemps.delete(work);
  }
}

/** The digest `docker push REF` says the registry holds the image under (StepError if it names none). */
export function pushedDigest(ref: string, stdout: string): string {
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
  if (!digest) throw new StepError(`pushed ${ref}, but the registry's answer named no digest:\n${stdout.trim()}`);
  return digest;
}

/** The command line that solves `plan` (its Dockerfile in `context`) on `endpoint` with the given output. */
export function solveCommand(
  opts: Pick<SolveOptions, "plan" | "endpoint" | "context" | "secrets" | "output"> & {
    run?: Pick<RunOptions, "cacheFrom" | "inlineCache">;
  },
): {
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
} {
  const { plan, endpoint, context, secrets, output } = opts;
  const cacheFrom = opts.run?.cacheFrom ?? [];
  const inline = opts.run?.inlineCache === true;
  if (endpoint.kind === "buildctl") {
    const args = ["--addr", endpoint.addr, "build", "--progress=plain", "--frontend", "dockerfile.v0"];
    args.push("--local", `context=${context}`, "--local", `dockerfile=${context}`);
    args.push("--opt", `target=${plan.target}`, "--opt", "force-network-mode=host", "--allow", "network.host");
    for (const s of secrets) args.push("--secret", `id=${s.id},src=${s.file}`);
    for (const ref of cacheFrom) args.push("--import-cache", `type=registry,ref=${ref}`);
    if (inline) args.push("--export-cache", "type=inline");
    if (output.kind === "local") args.push("--output", `type=local,dest=${output.dest}`);
    if (output.kind === "image") args.push("--output", `type=image,name=${output.name}${output.push ? ",push=true" : ""}`);
    if (output.kind === "docker-tar") args.push("--output", `type=docker,name=${output.name},dest=${output.dest}`);
    return { cmd: endpoint.client, args, env: process.env };
  }
  const args = endpoint.mode === "buildx" ? ["buildx", "build"] : ["build"];
  args.push("--progress=plain", "--network", "host", "-f", join(context, "Dockerfile"), "--target", plan.target);
  for (const s of secrets) args.push("--secret", `id=${s.id},src=${s.file}`);
  for (const ref of cacheFrom) args.push("--cache-from", ref);
  if (inline) args.push("--build-arg", "BUILDKIT_INLINE_CACHE=1");
  if (output.kind === "local") args.push("--output", `type=local,dest=${output.dest}`);
  if (output.kind === "image") args.push(...(endpoint.mode === "buildx" ? ["--load"] : []), "-t", output.name);
  if (output.kind === "docker-tar") throw new Error("docker-tar output is for buildctl only");
  args.push(context);
  return { cmd: endpoint.client, args, env: dockerEnv(endpoint) };
}

/** Runs one solve, feeding its output to the progress view; rejects with what failed, or with the engine's loss. */
function solvePlan(solve: SolveOptions): Promise<void> {
  const { plan, endpoint, tracker, run: opts, extraArgs: extra = [] } = solve;
  const solved = solveCommand(solve);
  const { cmd, env } = solved;
  // Extra client flags go before the context argument (docker) or anywhere after `build` (buildctl).
  const args =
    endpoint.kind === "buildctl" ? [...solved.args, ...extra] : [...solved.args.slice(0, -1), ...extra, ...solved.args.slice(-1)];
  if (opts.signal?.aborted) return Promise.reject(new Interrupted(opts.signal));
  return new Promise((resolvePromise, reject) => {
    const view = createView(opts.progress, tracker);
    // While the client runs, `engine down` can see this build (runs.ts) and refuses to cut it off.
    const unregister = registerRun(engineKey(endpoint));
    // Its own process group, so that a Ctrl-C at the terminal reaches it only through us, once.
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const onLine = (line: string) => {
      tracker.feed(line);
      view.line(line);
    };
    createInterface({ input: child.stdout }).on("line", onLine);
    createInterface({ input: child.stderr }).on("line", onLine);
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      child.kill("SIGINT");
      killTimer = setTimeout(() => child.kill("SIGKILL"), 5000);
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (err) => {
      view.done();
      unregister();
      reject(new StepError(`could not start ${cmd}: ${err.message}`));
    });
    child.on("close", (code) => {
      opts.signal?.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      view.done();
      unregister();
      if (opts.signal?.aborted) return reject(new Interrupted(opts.signal));
      if (code === 0) return resolvePromise();
      engineLost(endpoint, tracker).then(
        (lost) =>
          reject(
            lost
              ? new EngineUnavailable(describeEngineLoss(plan, endpoint, tracker))
              : new StepError(describeFailure(plan, tracker)),
          ),
        reject,
      );
    });
  });
}

/** What a build client says when its engine went away under it (killed, stopped, its socket gone). */
const ENGINE_GONE =
  /unexpected EOF|connection reset|broken pipe|Cannot connect to the Docker daemon|connection refused|transport is closing|error reading from server|code = Unavailable|context canceled/i;

/**
 * Whether a failed client lost its engine, rather than a step failing: the engine no longer answers, or
 * the client's last words say the connection broke. An engine being stopped may answer for a moment more.
 */
async function engineLost(endpoint: BuildkitEndpoint, tracker: ProgressTracker): Promise<boolean> {
  const failed = tracker.failed();
  const said = [...tracker.trailer.slice(-12), failed?.error ?? ""].join("\n");
  const suspicious = ENGINE_GONE.test(said);
  if (!(await endpointAnswers(endpoint))) return true;
  if (!suspicious) return false;
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 500));
    if (!(await endpointAnswers(endpoint))) return true;
  }
  // Still answering: a broken connection with no failed step is still the engine's doing (a restart).
  return !failed && /unexpected EOF|connection reset|broken pipe|transport is closing|error reading from server/i.test(said);
}

/** The engine went away mid-build: the step it cut off, the engine, and what to run. */
export function describeEngineLoss(plan: Plan, endpoint: BuildkitEndpoint, tracker: ProgressTracker): string {
  const step = tracker.running() ?? tracker.failed();
  const during = step ? `${step.name} (stage ${stageOf(plan, step)})` : "the start of the build";
  const last = tracker.trailer.at(-1)?.replace(/^(ERROR|error):?\s*/, "");
  const where = endpoint.kind === "docker" ? endpoint.host : endpoint.addr;
  const engine = endpoint.via.includes(where.replace(/^unix:\/\//, "")) ? endpoint.via : `${endpoint.via} (${where})`;
  const again = endpoint.via.startsWith("private engine")
    ? `  start it again with: ${START_HINT}, then run the build again`
    : `  bring back ${where} (or start a private engine with: ${START_HINT}), then run the build again`;
  return [
    `the engine went away during ${during}; nothing was written`,
    `  engine: ${engine} no longer answers${last ? ` (the client said: ${last})` : ""}`,
    again,
  ].join("\n");
}

/** The failed step, its stage, its command and the tail of its log; or the engine's own closing words. */
export function describeFailure(plan: Plan, tracker: ProgressTracker): string {
  const failed = tracker.failed();
  if (!failed) {
    const tail = tracker.trailer.slice(-12).join("\n  ");
    return `the build failed before any step ran:\n  ${tail || "(the engine said nothing more)"}`;
  }
  const image = /^\[internal\] load metadata for (\S+)/.exec(failed.name)?.[1];
  if (image) {
    return [
      `the base image ${image} could not be resolved: ${failed.error ?? "unknown error"}`,
      "  where no registry is reachable, seed a Debian base with: npx pipeline engine seed --suite bookworm",
      "  or map the image to one that is here in the image-mirror map (the project config's mirrors)",
    ].join("\n");
  }
  const stage = stageOf(plan, failed);
  const log = failed.log.filter((l) => l.trim()).slice(-20);
  return [
    `build step failed: ${failed.name}`,
    `  stage: ${stage}`,
    `  error: ${failed.error ?? "unknown"}`,
    ...(log.length ? ["  last lines of its log:", ...log.map((l) => `    | ${l}`)] : ["  (the step printed nothing)"]),
  ].join("\n");
}

function stageOf(plan: Plan, v: Vertex): string {
  const m = /^\[(\S+) +\d+\/\d+\]/.exec(v.name);
  const name = m ? m[1]! : plan.target;
  const stage = plan.stages.find((s) => s.name === name);
  return stage ? `${stage.name} (${stage.label})` : name;
}
