/**
 * The programs that run inside containers (shell, Python, C) are files in modules/scripts/, where linters and
 * compilers can read them; the building blocks put their text into containers with `withNewFile`. Reading
 * these files of our own is the only I/O in modules/ (the CLI's bundle maps this file's URL to the checkout).
 */
import { readFileSync } from "node:fs";

const DIR = new URL("./scripts/", import.meta.url);
const cache = new Map<string, string>();

/** The text of modules/scripts/NAME. */
export function scriptText(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(name, DIR), "utf8");
    cache.set(name, text);
  }
  return text;
}

/** Where the scripts are put inside containers. */
export const SCRIPTS_DIR = "/usr/local/lib/pipeline";

/**
 * Begins the command of a step that is as right on the base of the sources' folder as on the whole folder: the
 * CLI may stage a folder as a base and the files changed since (pipeline/plan/layers.ts) and copy those after
 * such a step, which an edit then leaves cached. Where the folder is copied whole (the Dagger engine, an ejected
 * Dockerfile) it is a plain `env` that sets a variable nothing reads.
 */
export const BEFORE_RECENT = ["env", "PIPELINE_BEFORE_RECENT=1"];
