/** `pipeline engine up|status|down` start and stop a real private dockerd in its own state dir. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, explain, scratch } from "./helpers.ts";
import { alive } from "../../pipeline/proc.ts";

// A short state dir: the engine's Unix socket lives under it.
const home = scratch("pl-eng-");
const env = { PIPELINE_HOME: home, DOCKER_HOST: "" };

test("up starts a private engine that status then reports and builds can reach", async () => {
  const up = await cli(["engine", "up"], env);
  assert.is(up.code, 0, explain(up));
  assert.match(up.stdout, "engine up: Docker");
  assert.match(up.stdout, `DOCKER_HOST=unix://${join(home, "engine", "docker.sock")}`);
  const status = await cli(["engine", "status"], env);
  assert.is(status.code, 0, explain(status));
  assert.match(status.stdout, "private engine: running");
  assert.match(status.stdout, `BuildKit: private engine (${join(home, "engine", "docker.sock")})`);
});

test("up again finds the running engine and starts nothing", async () => {
  const pid = Number(readFileSync(join(home, "engine", "dockerd.pid"), "utf8"));
  const again = await cli(["engine", "up"], env);
  assert.is(again.code, 0, explain(again));
  assert.match(again.stdout, "already reachable");
  assert.is(Number(readFileSync(join(home, "engine", "dockerd.pid"), "utf8")), pid);
});

test("down stops it by its PID; then no engine is reachable (exit 3)", async () => {
  const pid = Number(readFileSync(join(home, "engine", "dockerd.pid"), "utf8"));
  const down = await cli(["engine", "down"], env);
  assert.is(down.code, 0, explain(down));
  assert.match(down.stdout, `stopped dockerd (pid ${pid})`);
  assert.not.ok(alive(pid), "dockerd is gone");
  assert.not.ok(existsSync(join(home, "engine", "docker.sock")));
  const status = await cli(["engine", "status"], env);
  assert.is(status.code, 3, explain(status));
  assert.match(status.stderr, "npx pipeline engine up");
});

test.run();
