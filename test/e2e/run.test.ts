/** `pipeline run` on the real BuildKit engine: outputs, caching, failures, secrets, exit codes. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { cli, dockerOnEngine, explain, graph, leftovers, scratch, summary } from "./helpers.ts";

const dockerRun = await dockerOnEngine();
const docker = (args: string[]) => {
  const r = dockerRun(args);
  if (r.status !== 0) throw new Error(`docker ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

test("the e2e graph exports exactly the expected files, byte for byte", async () => {
  const out = join(scratch(), "out");
  const r = await cli(["run", graph("e2e"), "--export", out]);
  assert.is(r.code, 0, explain(r));
  // The folder's marker (.pipeline-output) says pipeline wrote it, so a later run may replace it.
  assert.equal(readdirSync(out).sort(), [".pipeline-output", "greeting.txt", "notes.txt"]);
  assert.equal(readFileSync(join(out, "greeting.txt")), Buffer.from("hello, pipeline\n"));
  assert.equal(readFileSync(join(out, "notes.txt")), Buffer.from("made by pipeline\n"));
  assert.is(statSync(join(out, "notes.txt")).mode & 0o777, 0o600);
});

test("a second run of the same graph re-executes no step", async () => {
  const out = join(scratch(), "out");
  const r = await cli(["run", graph("e2e"), "--export", out]);
  assert.is(r.code, 0, explain(r));
  const s = summary(r.stderr);
  assert.ok(s.steps >= 6, `steps: ${s.steps}`);
  assert.is(s.run, 0, explain(r));
  assert.is(s.cached, s.steps);
  assert.equal(readFileSync(join(out, "greeting.txt")), Buffer.from("hello, pipeline\n"));
});

test("a run with no output builds the whole graph and leaves no image behind in the engine", async () => {
  const images = () => new Set(docker(["images", "-qa", "--no-trunc"]).trim().split("\n").filter(Boolean));
  const before = images();
  const r = await cli(["run", graph("nonce")], { E2E_NONCE: randomBytes(8).toString("hex") });
  assert.is(r.code, 0, explain(r));
  assert.ok(summary(r.stderr).run > 0, "the graph was built");
  assert.match(r.stderr, "sha256sum");
  assert.equal(
    [...images()].filter((id) => !before.has(id)),
    [],
    "no new image (not even an unnamed one)",
  );
});

test("a failing withExec exits 1, names the step and its log, and leaves nothing at the export path", async () => {
  const dir = scratch();
  const out = join(dir, "out");
  const r = await cli(["run", graph("fail"), "--export", out]);
  assert.is(r.code, 1, explain(r));
  assert.match(r.stderr, "pipeline: build step failed:");
  assert.match(r.stderr, "exit 7");
  assert.match(r.stderr, "stage: s0 (from debian:bookworm)");
  assert.match(r.stderr, "| error: the tensor shapes differ");
  assert.not.ok(existsSync(out), "nothing at the export path");
  assert.equal(leftovers(dir), []);
});

test("a failed run leaves an existing export untouched", async () => {
  const dir = scratch();
  const out = join(dir, "out");
  mkdirSync(out);
  writeFileSync(join(out, "keep.txt"), "previous result");
  writeFileSync(join(out, ".pipeline-output"), "{}\n"); // an earlier output of pipeline's, which a run may replace
  const r = await cli(["run", graph("fail"), "--export", out]);
  assert.is(r.code, 1, explain(r));
  assert.equal(readdirSync(out).sort(), [".pipeline-output", "keep.txt"]);
  assert.equal(leftovers(dir), []);
});

// Secrets are not part of BuildKit's (or Dagger's) cache keys: both tests use this run's one secret.
const secret = `s3cret-${randomBytes(12).toString("hex")}`;

test("a secret given with withSecretVariable reaches the step and appears in no layer of the image tarball", async () => {
  const dir = scratch();
  const tarball = join(dir, "image.tar");
  const r = await cli(["run", graph("secret"), "--tarball", tarball], { E2E_SECRET: secret });
  assert.is(r.code, 0, explain(r));
  const extracted = join(dir, "x");
  mkdirSync(extracted);
  execFileSync("tar", ["-xf", tarball, "-C", extracted]);
  const files = execFileSync("find", [extracted, "-type", "f"]).toString().trim().split("\n");
  assert.ok(
    files.some((f) => f.endsWith("layer.tar")),
    "the tarball has layers",
  );
  let proofSeen = false;
  for (const f of files) {
    const bytes = readFileSync(f);
    assert.not.ok(bytes.includes(secret), `the secret is in ${f}`);
    if (f.endsWith("layer.tar") && bytes.includes(`secret seen: ${secret.length} chars`)) proofSeen = true;
  }
  assert.ok(proofSeen, "the step saw the secret (its proof file is in a layer)");
});

test("--tag loads the container into the engine, runnable with its entrypoint", async () => {
  const tag = `pipeline-e2e/secret:${randomBytes(4).toString("hex")}`;
  const r = await cli(["run", graph("secret"), "--tag", tag], { E2E_SECRET: secret });
  assert.is(r.code, 0, explain(r));
  const out = docker(["run", "--rm", "--network", "host", tag]);
  assert.is(out, `secret seen: ${secret.length} chars\n`);
  docker(["rmi", tag]);
});

test("an unsupported operation exits 2 naming it, before any engine work", async () => {
  const r = await cli(["run", graph("unsupported"), "--export", join(scratch(), "o")]);
  assert.is(r.code, 2, explain(r));
  assert.match(r.stderr, "unsupported operation: Container.withServiceBinding");
  assert.not.match(r.stderr, "running on BuildKit");
});

test("bad flags exit 2 with one line and run nothing", async () => {
  const r = await cli(["run", graph("e2e"), "--export", "a", "--tag", "b"]);
  assert.is(r.code, 2, explain(r));
  assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /pipeline: Arguments export and tag are mutually exclusive/);
  const missing = await cli(["run", "no-such-graph.ts"]);
  assert.is(missing.code, 2);
  assert.is(missing.stderr.trim(), "pipeline: no-such-graph.ts: no such file");
  const wrongKind = await cli(["run", graph("secret"), "--export", "x"], { E2E_SECRET: "a" });
  assert.is(wrongKind.code, 2);
  assert.match(wrongKind.stderr, "use --tag IMAGE or --tarball PATH");
});

test("with no engine reachable, exit 3 says what was tried and how to start one", async () => {
  const r = await cli(["run", graph("e2e"), "--export", join(scratch(), "o"), "--engine", "buildkit"], {
    DOCKER_HOST: "unix:///nonexistent/docker.sock",
    PIPELINE_HOME: scratch("pipeline-home-"),
  });
  assert.is(r.code, 3, explain(r));
  assert.match(r.stderr, "$DOCKER_HOST: did not answer");
  assert.match(r.stderr, "private engine");
  assert.match(r.stderr, "Start one with: npx pipeline engine up");
});

test("plan prints the Dockerfile that run solves, and ejects a context docker build accepts", async () => {
  const r = await cli(["plan", graph("e2e")]);
  assert.is(r.code, 0, explain(r));
  assert.match(r.stdout, /^FROM \S+ AS s\d+$/m);
  assert.match(r.stdout, "--mount=type=cache,target=/var/cache/apt/archives,id=e2e-apt-archives,sharing=locked");
  assert.not.match(r.stdout, "# syntax=");
  const ctx = join(scratch(), "ctx");
  const ejected = await cli(["plan", graph("e2e"), "--context", ctx]);
  assert.is(ejected.code, 0, explain(ejected));
  const out = join(scratch(), "docker-out");
  docker(["build", "--network", "host", "-q", "-o", `type=local,dest=${out}`, ctx]);
  assert.equal(readFileSync(join(out, "greeting.txt")), Buffer.from("hello, pipeline\n"));
});

test.run();
