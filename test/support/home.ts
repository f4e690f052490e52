/**
 * A PIPELINE_HOME of a test file's own, set only while that file's tests run: uvu runs every test file in one
 * process, so the variable is put back (and the folder removed) after them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "uvu";

export function ownPipelineHome(suite: Test, prefix: string): string {
  const home = mkdtempSync(join(tmpdir(), prefix));
  const before = process.env.PIPELINE_HOME;
  suite.before(() => {
    process.env.PIPELINE_HOME = home;
  });
  suite.after(() => {
    if (before === undefined) delete process.env.PIPELINE_HOME;
    else process.env.PIPELINE_HOME = before;
    rmSync(home, { recursive: true, force: true });
  });
  return home;
}
