/** Scratch folders for unit tests: each a new folder under one folder per test run, removed when the run exits. */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let root: string | undefined;
let made = 0;

export function scratchDir(): string {
  if (!root) {
    const dir = mkdtempSync(join(tmpdir(), "pipeline-unit-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    root = dir;
  }
  const dir = join(root, String(made++));
  mkdirSync(dir);
  return dir;
}
