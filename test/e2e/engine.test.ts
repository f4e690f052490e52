/** `pipeline engine up|status|down` start and stop a real private dockerd in its own state dir. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, explain, graph, scratch } from "./helpers.ts";
import { mountsUnder } from "../../pipeline/engine-daemon.ts";
import { processRunning as alive } from "../../pipeline/engines/detect.ts";

// A short state dir: the engine's Unix socket lives under it.
const home = scratch("pl-eng-");
const env = { PIPELINE_HOME: home, DOCKER_HOST: "" };

test("a cache size that is not a size is refused (exit 2) before anything starts", async () => {
  const bad = await cli(["engine", "up"], { ...env, PIPELINE_ENGINE_CACHE: "lots" });
  assert.is(bad.code, 2, explain(bad));
  assert.match(bad.stderr, "$PIPELINE_ENGINE_CACHE: expected a size such as 20GB");
  const flag = await cli(["engine", "up", "--cache-size", "-1"], env);
  assert.is(flag.code, 2, explain(flag));
  assert.not.ok(existsSync(join(home, "engine", "dockerd.pid")));
});

test("up starts a private engine that status then reports and builds can reach", async () => {
  const up = await cli(["engine", "up"], env);
  assert.is(up.code, 0, explain(up));
  assert.match(up.stdout, "engine up: Docker");
  assert.match(up.stdout, "build cache kept under 20GB");
  assert.match(up.stdout, `DOCKER_HOST=unix://${join(home, "engine", "docker.sock")}`);
  const status = await cli(["engine", "status"], env);
  assert.is(status.code, 0, explain(status));
  assert.match(status.stdout, "private engine: running");
  assert.match(status.stdout, `BuildKit: private engine (${join(home, "engine", "docker.sock")})`);
  assert.match(status.stdout, /^image store: \S+ \(0 images/m);
  assert.match(status.stdout, /^build cache: \S+ \(\S+ reclaimable\); kept under 20GB by the engine's garbage collector/m);
});

test("the engine's build cache is garbage-collected under a bound, and prune frees it and says how much", async () => {
  const config = JSON.parse(readFileSync(join(home, "engine", "daemon.json"), "utf8"));
  assert.equal(config, { builder: { gc: { enabled: true, defaultKeepStorage: "20GB" } } });
  const dockerd = readFileSync(`/proc/${readFileSync(join(home, "engine", "dockerd.pid"), "utf8").trim()}/cmdline`, "utf8");
  assert.ok(dockerd.includes(`--config-file\0${join(home, "engine", "daemon.json")}`), "dockerd runs with it");
  const out = join(scratch(), "out");
  const built = await cli(["run", graph("no-base"), "--export", out], { ...env, E2E_NONCE: String(Date.now()) });
  assert.is(built.code, 0, explain(built));
  const before = await cli(["engine", "status"], env);
  assert.not.match(before.stdout, /^build cache: 0B/m, "the build left cache");
  const pruned = await cli(["engine", "prune", "--all"], env);
  assert.is(pruned.code, 0, explain(pruned));
  assert.match(pruned.stdout, /^prune: reclaimed \S+ \([1-9]\d* cache records\) on private engine/m);
  assert.match(pruned.stdout, /^build cache now: 0B$/m);
  const keep = await cli(["engine", "prune", "--keep-storage", "1GB"], env);
  assert.is(keep.code, 0, explain(keep));
  assert.match(keep.stdout, "prune: reclaimed 0B");
});

test("up again finds the running engine and starts nothing", async () => {
  const pid = Number(readFileSync(join(home, "engine", "dockerd.pid"), "utf8"));
  const again = await cli(["engine", "up"], env);
  assert.is(again.code, 0, explain(again));
  assert.match(again.stdout, "already reachable");
  assert.is(Number(readFileSync(join(home, "engine", "dockerd.pid"), "utf8")), pid);
});

test("up with another cache size while it runs says when it takes effect", async () => {
  const again = await cli(["engine", "up", "--cache-size", "5GB"], env);
  assert.is(again.code, 0, explain(again));
  assert.match(again.stdout, "its build cache limit is 20GB; 5GB takes effect when it restarts");
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
  assert.equal(mountsUnder([join(home, "engine")]), [], "a stopped engine leaves no mount");
});

test("up --cache-size starts it with that bound, which status shows", async () => {
  const up = await cli(["engine", "up", "--cache-size", "3GB"], env);
  assert.is(up.code, 0, explain(up));
  assert.match(up.stdout, "build cache kept under 3GB");
  const status = await cli(["engine", "status"], env);
  assert.match(status.stdout, "kept under 3GB by the engine's garbage collector");
  const down = await cli(["engine", "down"], env);
  assert.is(down.code, 0, explain(down));
});

test.run();
