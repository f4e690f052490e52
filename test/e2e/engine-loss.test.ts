/**
 * Losing the engine mid-build, on a second private engine of its own (the shared one is never stopped):
 * a killed dockerd fails the build with exit 3 and writes nothing; `engine up` then removes what the dead
 * engine left on the host; `engine down` refuses to cut off a running build unless --force.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, explain, graph, leftovers, processesMatching, scratch, sleep, startSlowRun } from "./helpers.ts";
import { mountsUnder, orphanSteps } from "../../pipeline/engine-daemon.ts";
import { findBuildkit, processRunning as alive } from "../../pipeline/engines/detect.ts";
import { readMirrors } from "../../pipeline/mirrors.ts";

// A short state dir: the engine's Unix socket lives under it.
const home = scratch("pl-loss-");
const env = { PIPELINE_HOME: home, DOCKER_HOST: "" };
const engine = join(home, "engine");
const dataRoot = join(engine, "data");
const roots = [dataRoot, join(engine, "exec")];
let stepsOfKilledEngine: number[] = [];
const pidOf = () => Number(readFileSync(join(engine, "dockerd.pid"), "utf8"));

/** Starts the slow graph on the second engine and waits until its step runs. */
function slowBuild(out: string) {
  return startSlowRun(out, env);
}

test.before(async () => {
  const up = await cli(["engine", "up", "--timeout", "180"], env);
  assert.is(up.code, 0, explain(up));
  // The base image comes from the shared engine (no registry here), mapped in the old flat mirror-map form,
  // which counts as the private engine's map.
  const shared = await findBuildkit({ env: { ...process.env, PIPELINE_HOME: undefined } });
  if (shared.kind !== "docker") throw new Error("these tests need a Docker engine to copy the seed image from");
  const seed = (await readMirrors())["debian:bookworm"] ?? "debian:bookworm";
  const copy = spawnSync("sh", ["-c", `DOCKER_HOST="$FROM" "$CLIENT" save "$IMG" | DOCKER_HOST="$TO" "$CLIENT" load`], {
    env: { ...process.env, FROM: shared.host, TO: `unix://${join(engine, "docker.sock")}`, CLIENT: shared.client, IMG: seed },
    encoding: "utf8",
  });
  assert.is(copy.status, 0, copy.stderr);
  writeFileSync(join(home, "mirrors.json"), JSON.stringify({ "debian:bookworm": seed }));
});

test.after(async () => {
  await cli(["engine", "down", "--force"], env);
});

test("a build whose engine is killed exits 3 naming the step it was running and how to start the engine; nothing is written", async () => {
  const dir = scratch();
  const out = join(dir, "out");
  const build = await slowBuild(out);
  stepsOfKilledEngine = processesMatching(`sleep ${build.seconds}`);
  process.kill(pidOf(), "SIGKILL");
  const r = await build.done;
  assert.is(r.code, 3, explain(r));
  assert.match(r.stderr, `pipeline: the engine went away during [s0 2/2] RUN ["sleep","${build.seconds}"]`);
  assert.match(r.stderr, "start it again with: npx pipeline engine up");
  assert.not.match(r.stderr, "failed before any step ran");
  assert.not.ok(existsSync(out), "nothing at the export path");
  assert.equal(leftovers(dir), []);
});

test("engine up after a killed engine removes the mounts and step processes it left, then starts a clean one", async () => {
  assert.ok(stepsOfKilledEngine.some(alive), "precondition: the killed engine left its step running");
  const left = mountsUnder(roots);
  assert.ok(
    left.some((m) => m.includes("/buildkit/executor/")),
    `the dead engine left its step's mounts: ${left}`,
  );
  const up = await cli(["engine", "up", "--timeout", "180"], env);
  assert.is(up.code, 0, explain(up));
  assert.match(up.stdout, /removed \d+ mount\(s\) a stopped engine left/);
  assert.match(up.stdout, "stopped 1 build step process(es)");
  assert.match(up.stdout, "engine up: Docker");
  // The new dockerd mounts its data root again (a bind mount onto itself), and nothing else while idle.
  assert.equal(
    mountsUnder(roots).filter((m) => m !== dataRoot),
    [],
    "no mount the dead engine left remains",
  );
  const gone = Date.now() + 5000;
  while (stepsOfKilledEngine.some(alive) && Date.now() < gone) await sleep(100);
  assert.equal(orphanSteps(dataRoot), []);
  assert.equal(stepsOfKilledEngine.filter(alive), [], "the step the dead engine left running was stopped");
});

test("engine down refuses (exit 2) while a build runs on the engine, naming it and --force; with --force the build exits 3", async () => {
  const dir = scratch();
  const out = join(dir, "out");
  const build = await slowBuild(out);
  const pid = pidOf();
  const refused = await cli(["engine", "down"], env);
  assert.is(refused.code, 2, explain(refused));
  assert.match(refused.stderr, `pid ${build.child.pid} (pipeline run ${graph("slow")} --export ${out}`);
  assert.match(refused.stderr, "npx pipeline engine down --force");
  assert.ok(alive(pid), "the engine still runs");
  const forced = await cli(["engine", "down", "--force"], env);
  assert.is(forced.code, 0, explain(forced));
  assert.match(forced.stdout, "stopping the engine under 1 running build(s)");
  const r = await build.done;
  assert.is(r.code, 3, explain(r));
  assert.match(r.stderr, `pipeline: the engine went away during [s0 2/2] RUN ["sleep","${build.seconds}"]`);
  assert.not.ok(existsSync(out), "nothing at the export path");
  assert.equal(leftovers(dir), []);
  assert.not.ok(alive(pid));
  assert.equal(mountsUnder(roots), [], "a stopped engine leaves no mount");
});

test.run();
