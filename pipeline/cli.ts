/**
 * The `pipeline` CLI. Each command calls the same functions as `dagger call` and hands the lazy result to an
 * executor. Errors end in one `pipeline: ...` line (or a few, for a failed step) and the exit codes of the
 * design notes: 2 bad input, 1 failed step, 3 no engine, 130 interrupted.
 */
import yargs from "yargs";
import { PipelineError, UsageError } from "../modules/errors.ts";
import { installInterruptHandlers } from "./interrupt.ts";
import { settleRemovals } from "./outputs.ts";
import * as run from "./commands/run.ts";
import { planCommand } from "./commands/plan.ts";
import * as engine from "./commands/engine.ts";
import * as cache from "./commands/cache.ts";
import { functionCommand, moduleCommandNames, stageCommands } from "./commands/stages.ts";
import { releaseCommand } from "./commands/release.ts";
import { k8sCommand } from "./commands/k8s.ts";
import { findModule, loadModuleSpec, type ModuleSpec, toolModule } from "./introspect.ts";
import { resolve } from "node:path";
import * as init from "./commands/init.ts";
import pkg from "../package.json" with { type: "json" };

/** Commands that are not a function of the module: they start without reading it. */
const OWN = ["run", "engine", "cache", "init", "call"];

const say = (line: string) => process.stderr.write(line + "\n");

/**
 * The tool's module (src/index.ts), which the stage commands, plan, release and k8s take their flags from:
 * scanned once per source change, then read from a file; not read for a command that needs none of it.
 */
async function toolSpec(first: string | undefined, args: string[]): Promise<{ spec: ModuleSpec; dir: string } | undefined> {
  if (first !== undefined && OWN.includes(first)) return undefined;
  if (first === undefined && (args.includes("--version") || args.includes("-v"))) return undefined;
  const mod = toolModule();
  if (!mod) throw new UsageError("cannot find this tool's own module (dagger.json and src/index.ts beside pipeline/bin.mjs)");
  return { spec: await loadModuleSpec(mod, { say }), dir: mod.dir };
}

/**
 * The project's own module (a dagger.json here or above, not the tool's): its functions are commands too,
 * read only for `--help` or a command the tool does not have. One that cannot be read adds nothing here
 * (`pipeline call` reports why).
 */
async function projectSpec(toolDir: string): Promise<{ spec: ModuleSpec; dir: string } | undefined> {
  const mod = findModule(process.cwd());
  if (!mod || resolve(mod.dir) === resolve(toolDir)) return undefined;
  try {
    return { spec: await loadModuleSpec(mod, { say }), dir: mod.dir };
  } catch {
    return undefined;
  }
}

/**
 * yargs renders the whole help text each time a command's handler starts, to print it should the handler
 * fail; this CLI's failures go through `.fail()` below, which never prints it, and rendering it cost about
 * 40 ms of every command. `--help` renders its own, unaffected.
 */
function skipHelpCache(y: unknown): void {
  const usage = (y as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } })
    .getInternalMethods?.()
    .getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === "function") usage.cacheHelpMessage = () => {};
}

export async function main(args: string[]): Promise<void> {
  installInterruptHandlers();
  try {
    const first = args.find((a) => !a.startsWith("-"));
    const tool = await toolSpec(first, args);
    let y = yargs(args)
      .scriptName("pipeline")
      .usage("$0 <command> [options]\n\nBuild C++/CUDA/Python ML frameworks from TypeScript stages, on Dagger or BuildKit.")
      .command(run);
    if (tool) {
      const names = new Set([...OWN, "plan", ...moduleCommandNames(tool.spec)]);
      y = y.command(planCommand(tool.spec)).command(engine).command(cache);
      y = y.command(stageCommands(tool.spec, tool.dir)).command(releaseCommand(tool.spec)).command(k8sCommand(tool.spec));
      const project = first === undefined || !names.has(first) ? await projectSpec(tool.dir) : undefined;
      for (const fn of project?.spec.functions ?? [])
        if (!names.has(fn.command)) y = y.command(functionCommand(fn, project!.dir));
    } else y = y.command(engine).command(cache);
    skipHelpCache(y);
    await y
      .command(init)
      .command(await import("./commands/call.ts"))
      .demandCommand(1, "Say which command to run; see the list above.")
      .recommendCommands()
      .strict()
      .help()
      .alias("h", "help")
      .version(pkg.version)
      .describe("version", "Show pipeline's version")
      .wrap(Math.min(110, process.stdout.columns || 110))
      .fail((msg, err) => {
        if (err) throw err;
        throw new UsageError(msg);
      })
      .parseAsync();
    await settleRemovals();
    process.exit(0);
  } catch (err) {
    await settleRemovals().catch(() => {});
    if (err instanceof PipelineError) {
      process.stderr.write(`pipeline: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`pipeline: internal error: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  }
}
