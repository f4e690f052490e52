/** pipeline/snapshot.ts and the progress tracker: a step that says its build tree's snapshot is stale gets a new label kept. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renewSnapshotLabel, snapshotLabel } from "../../pipeline/snapshot.ts";
import { ProgressTracker } from "../../pipeline/progress.ts";

test("the tracker notes a step's line that calls its build tree's snapshot stale, and only that", () => {
  const t = new ProgressTracker();
  t.feed("#18 [s0 13/13] RUN build-tree.sh restore ...");
  t.feed("#18 0.120 pipeline-build: build tree: the snapshot caught up with 1 saves since (8 paths changed, 8 files copied)");
  t.feed("#18 0.200 pipeline-build: build tree snapshot: 1.7M of abc, save 3");
  assert.is(t.staleSnapshot, false);
  t.feed("#18 19.04 pipeline-build: build tree snapshot: stale (a new tree)");
  assert.is(t.staleSnapshot, true);
});

test("the label is empty until renewed, and each renewal keeps a new one in the state folder", () => {
  const home = mkdtempSync(join(tmpdir(), "pipeline-snapshot-"));
  try {
    const env = { PIPELINE_HOME: join(home, "state") };
    assert.is(snapshotLabel(env), "");
    const first = renewSnapshotLabel(env);
    assert.is(snapshotLabel(env), first);
    const second = renewSnapshotLabel(env);
    assert.is.not(second, first);
    assert.is(snapshotLabel(env), second);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
