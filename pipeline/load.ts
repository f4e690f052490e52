/** Loads a TypeScript file whose default export builds a Dagger object: `(dag) => Container | Directory | File`. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { dag } from "@dagger.io/dagger";
import { UsageError } from "../modules/errors.ts";
import { sdkTypeName } from "./sdk-adapter.ts";
import type { Runnable } from "./execute.ts";

export async function loadRunnable(file: string): Promise<Runnable> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`${file}: no such file`);
  let mod: { default?: unknown };
  try {
    // The bundled CLI loads TypeScript support only when a command needs it (see bin.mjs).
    const loadTypeScript = (globalThis as Record<symbol, unknown>)[Symbol.for("pipeline.loadTypeScript")];
    if (typeof loadTypeScript === "function") await loadTypeScript();
    mod = await import(pathToFileURL(path).href);
  } catch (err) {
    throw new UsageError(`${file}: could not be loaded: ${(err as Error).message.split("\n")[0]}`);
  }
  let value = mod.default;
  if (typeof value === "function") value = await value(dag);
  const type = sdkTypeName(value);
  if (type !== "Container" && type !== "Directory" && type !== "File") {
    throw new UsageError(
      `${file}: the default export must be (dag) => Container | Directory | File, or such an object; got ${type ?? typeof value}`,
    );
  }
  return value as Runnable;
}
