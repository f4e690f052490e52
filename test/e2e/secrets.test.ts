/** A step that echoes a secret: the CLI prints `***` in its place, live and in the failure summary. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { cli, explain, graph, scratch } from "./helpers.ts";

const secret = `tok-${randomBytes(12).toString("hex")}`;

for (const progress of ["plain", "tty"]) {
  test(`with --progress ${progress}, a failing step that echoes a secret shows *** and never the value`, async () => {
    const out = join(scratch(), "out");
    const r = await cli(["run", graph("secret-echo"), "--export", out, "--progress", progress], { E2E_SECRET: secret });
    assert.is(r.code, 1, explain(r));
    assert.not.ok(r.stdout.includes(secret) || r.stderr.includes(secret), `the secret is printed:\n${r.stderr}`);
    assert.match(r.stderr, "pipeline: build step failed:");
    assert.match(r.stderr, "| the token is ***");
    assert.match(r.stderr, "| again: ***");
    if (progress === "plain") assert.match(r.stderr, /^#\d+ \d+\.\d+ the token is \*\*\*$/m);
    assert.not.ok(existsSync(out));
  });
}

test.run();
