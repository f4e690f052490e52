// Lets this process import TypeScript (tsx), with "@dagger.io/dagger" resolving to the light SDK: `pipeline run
// FILE.ts` and `plan FILE.ts` load a TypeScript file at run time, and call this first (through the global that
// bin.mjs and warm.mjs set). Loaded once, on first use.
import { register as registerHooks } from "node:module";

let loaded;
export function loadTypeScript() {
  loaded ??= (async () => {
    const { register } = await import("tsx/esm/api");
    register();
    // The SDK the CLI itself uses (bin.mjs and warm.mjs set it to the bundle's, where the CLI runs from one).
    const light = globalThis[Symbol.for("pipeline.sdk")];
    if (!process.env.PIPELINE_FULL_SDK) registerHooks("./sdk-hooks.mjs", { parentURL: import.meta.url, data: { light } });
  })();
  return loaded;
}
