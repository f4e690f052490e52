#!/usr/bin/env node
// The `pipeline` command: runs the TypeScript CLI through tsx, so a clone needs no build step.
import { register as registerHooks } from "node:module";
import { register } from "tsx/esm/api";

register();
if (!process.env.PIPELINE_FULL_SDK) registerHooks("./sdk-hooks.mjs", import.meta.url);
const { main } = await import("./cli.ts");
await main(process.argv.slice(2));
