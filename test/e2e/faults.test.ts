/** Faults: an interrupt mid-build, and two runs of one graph at once. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { cli, explain, graph, leftovers, processesMatching, scratch, sleep, startSlowRun } from "./helpers.ts";

test("SIGINT during a run stops the build, leaves nothing at the export path and no process behind, exit 130", async () => {
  const dir = scratch();
  const out = join(dir, "out");
  const { child, done, seconds } = await startSlowRun(out);
  const stepPids = processesMatching(`sleep ${seconds}`);
  child.kill("SIGINT");
  const r = await done;
  assert.is(r.code, 130, explain(r));
  assert.match(r.stderr, "interrupted");
  assert.not.ok(existsSync(out));
  assert.equal(leftovers(dir), []);
  // BuildKit tears the step's container down once its client is gone; give it a moment.
  const gone = Date.now() + 15_000;
  while (processesMatching(`sleep ${seconds}`).length > 0 && Date.now() < gone) await sleep(200);
  assert.equal(processesMatching(`sleep ${seconds}`), [], `step processes ${stepPids} still running`);
  // This run's build client works in its own folder, named after the CLI's pid (other builds may be running).
  assert.equal(processesMatching(`/pipeline-${child.pid}-`), [], "no build client left");
});

test("SIGTERM during a run stops the build and leaves nothing at the export path, exit 143", async () => {
  const dir = scratch();
  const out = join(dir, "out");
  const { child, done, seconds } = await startSlowRun(out);
  child.kill("SIGTERM");
  const r = await done;
  assert.is(r.code, 143, explain(r));
  assert.match(r.stderr, "interrupted");
  assert.not.ok(existsSync(out));
  assert.equal(leftovers(dir), []);
  const gone = Date.now() + 15_000;
  while (processesMatching(`sleep ${seconds}`).length > 0 && Date.now() < gone) await sleep(200);
  assert.equal(processesMatching(`sleep ${seconds}`), [], "the step was stopped");
});

test("two runs of the same graph started at once both succeed with identical outputs", async () => {
  const nonce = randomBytes(8).toString("hex");
  const a = join(scratch(), "a");
  const b = join(scratch(), "b");
  const [ra, rb] = await Promise.all([
    cli(["run", graph("nonce"), "--export", a], { E2E_NONCE: nonce }),
    cli(["run", graph("nonce"), "--export", b], { E2E_NONCE: nonce }),
  ]);
  assert.is(ra.code, 0, explain(ra));
  assert.is(rb.code, 0, explain(rb));
  assert.equal(readdirSync(a).sort(), [".pipeline-output", "nonce.txt", "sum.txt"]);
  for (const f of ["nonce.txt", "sum.txt"]) assert.equal(readFileSync(join(a, f)), readFileSync(join(b, f)));
  assert.is(readFileSync(join(a, "nonce.txt"), "utf8"), `${nonce}\n`);
  assert.is(readFileSync(join(a, "sum.txt"), "utf8"), execFileSync("sh", ["-c", "seq 1 5000 | sha256sum"]).toString());
});

test.run();
