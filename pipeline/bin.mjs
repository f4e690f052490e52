#!/usr/bin/env node
// The `pipeline` command. It runs the CLI bundled by esbuild (bundle.mjs builds it on first use, and after any
// source change), else, when that cannot be built or PIPELINE_NO_BUNDLE or PIPELINE_FULL_SDK is set, the
// TypeScript sources through tsx. Either way a clone needs no build step. At a terminal (or with PIPELINE_WARM=1)
// a stage command is handed to a process that loaded the bundle already, when one is ready (warm.mjs,
// warm-policy.mjs).
import { loadTypeScript } from "./typescript.mjs";

// `pipeline run FILE.ts` and `plan FILE.ts` load a TypeScript file at run time: they call this first.
globalThis[Symbol.for("pipeline.loadTypeScript")] = loadTypeScript;

// A stage command that already wrote this very result, with nothing it read or wrote changed since: say so
// and stop, before the CLI loads (uptodate.mjs; PIPELINE_UPTODATE=0 turns this off).
{
  const { upToDate } = await import("./uptodate.mjs");
  const { fileURLToPath } = await import("node:url");
  const { relative } = await import("node:path");
  const done = upToDate(process.argv.slice(2), { tool: fileURLToPath(new URL("..", import.meta.url)) });
  if (done) {
    const where = done.outputs.map((o) => relative(process.cwd(), o.path) || ".").join(", ");
    process.stderr.write(
      `pipeline: up to date: nothing this command reads or wrote changed since its run at ${done.at}; ` +
        `its result is in ${where} (PIPELINE_UPTODATE=0 runs it again)\n`,
    );
    process.exit(0);
  }
}

const useBundle = !process.env.PIPELINE_NO_BUNDLE && !process.env.PIPELINE_FULL_SDK;
const argv = process.argv.slice(2);
// At a terminal, or with PIPELINE_WARM=1: a process that loaded the CLI already runs the command (warm.mjs),
// when one is ready. PIPELINE_WARM=0 never.
const warmWanted = useBundle && (await import("./warm-policy.mjs")).warmWanted(process.env, process.stdin.isTTY);
const warm = warmWanted ? await import("./warm.mjs") : undefined;
const served = warm?.servable(argv);
const state = served ? (await import("./uptodate.mjs")).stateDir() : undefined;
// A fresh bundle (found here once, whether or not a warm process then takes the command), else one built now.
let entry = served ? (await import("./bundle.mjs")).fresh() : undefined;
if (entry) {
  const code = await warm.runWarm(warm.socketPath(state, entry), argv);
  if (code !== undefined) process.exit(code);
}
entry ??= useBundle ? await (await import("./bundle.mjs")).bundledCli() : undefined;
// None was ready: one starts loading now, for the next command.
if (served && entry) warm.startWarm(warm.socketPath(state, entry), entry);
if (!entry) {
  await loadTypeScript();
  entry = "./cli.ts";
}
// The bundle's light SDK, which TypeScript loaded at run time must share with it (typescript.mjs).
if (entry !== "./cli.ts") globalThis[Symbol.for("pipeline.sdk")] = new URL("./sdk.mjs", entry).href;
const { main } = await import(entry);
await main(argv);
