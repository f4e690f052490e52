/**
 * Engines on other hosts, and the shared compile cache. A second dockerd listens on loopback TCP (its own data
 * root, a PIPELINE_HOME of its own) and is reached only through DOCKER_HOST=tcp://...: seed imports into it, the
 * build context goes over the wire and the outputs come back the same as from the local engine; the example's
 * caches pushed from the local engine to a real registry (Debian's docker-registry on loopback) and pulled into
 * it serve its compiles; a forged cache image is refused and builds still succeed; a ccache filled with another
 * toolchain makes the build say which packages differ; two builds of one variant at once both come out right;
 * an engine that does not answer, or dies mid-build, gives exit 3.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes, randomInt } from "node:crypto";
import { join, relative } from "node:path";
import { cli, dockerOnEngine, explain, freePort, graph, ROOT, scratch, sleep, start } from "./helpers.ts";
import { type LoopbackRegistry, type SecondEngine, startRegistry, startSecondDockerd } from "../support/engines.ts";

const ID = randomBytes(3).toString("hex");
const dir = scratch("pl-rem-");
const port = await freePort();
const host = `tcp://127.0.0.1:${port}`;
const env = { PIPELINE_HOME: join(dir, "home"), DOCKER_HOST: host };
let engine: SecondEngine | undefined;
const docker = (args: string[], input?: string) => engine!.docker(args, input);
let registry: LoopbackRegistry | undefined;
let reg = "";

/** Every file under `root`, relative, sorted (what an export holds, whatever the times). */
function files(root: string, at = root): string[] {
  return readdirSync(at, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(root, join(at, e.name)) : [relative(root, join(at, e.name))]))
    .sort();
}

/** A copy of the example to build with --source, with `note` in a file of its own (a new build input, no compile). */
function copyOfExample(note: string): string {
  const src = join(scratch("pl-src-"), "minipaddle");
  cpSync(join(ROOT, "examples", "minipaddle"), src, { recursive: true, filter: (p) => !/\/build[^/]*$/.test(p) });
  writeFileSync(join(src, "NOTE.txt"), `${note}\n`);
  return src;
}

function setVersion(src: string, tag: string): void {
  const file = join(src, "src", "version.cc");
  writeFileSync(file, readFileSync(file, "utf8").replace(/return (MINIPADDLE_VERSION_STRING|"[^"]*");/, `return "${tag}";`));
}

/** ccache's counters as the build step printed them: hits and cacheable calls. */
function ccacheStats(stderr: string): { hits: number; calls: number } {
  const hits = /pipeline-build: ccache:\s+Hits:\s+(\d+) \/\s*(\d+)/.exec(stderr);
  const calls = /pipeline-build: ccache: Cacheable calls:\s+(\d+)/.exec(stderr);
  return { hits: Number(hits?.[1] ?? 0), calls: Number(calls?.[1] ?? hits?.[2] ?? 0) };
}
const compiled = (stderr: string) => stderr.split("\n").filter((l) => /Building CXX object/.test(l));

/**
 * A cache image made by hand: `tarball` as its cache.tar (a path, or the files of a folder to tar) and a manifest
 * with `project` and the tarball's SHA-256 (or `sha256`), pushed to the registry as the example's cpu ccache.
 * The remote engine's cache volumes are emptied, so that a pull is all its ccache holds. Returns the ref.
 */
function pushCcacheImage(tarball: { file: string } | { folder: string }, project: string, sha256?: string): string {
  const image = scratch("pl-img-");
  if ("file" in tarball) cpSync(tarball.file, join(image, "cache.tar"));
  else execFileSync("tar", ["-cf", join(image, "cache.tar"), "-C", tarball.folder, "."]);
  const sum =
    sha256 ??
    execFileSync("sha256sum", [join(image, "cache.tar")])
      .toString()
      .split(" ")[0];
  writeFileSync(
    join(image, "pipeline-cache.json"),
    `{"format":1,"project":"${project}","variant":"cpu","part":"ccache","sha256":"${sum}","bytes":1}\n`,
  );
  const ref = `${reg}/minipaddle-cache:cpu-ccache`;
  const imported = spawnSync(
    "sh",
    ["-c", `tar -C "$DIR" -c . | /usr/bin/docker import - "$REF" && /usr/bin/docker push "$REF"`],
    {
      env: { ...process.env, DOCKER_HOST: host, DIR: image, REF: ref },
      encoding: "utf8",
    },
  );
  assert.is(imported.status, 0, imported.stderr);
  docker(["rmi", ref]);
  assert.is(docker(["builder", "prune", "-f", "--filter", "type=exec.cachemount"]).status, 0);
  return ref;
}

test.before(async () => {
  engine = await startSecondDockerd(join(dir, "d"), port);
});

test.after(async () => {
  registry?.stop();
  await engine?.stop();
});

test("seed against a remote engine: mmdebstrap runs here, the image is imported there and mapped under its address", async () => {
  const r = await cli(["engine", "seed"], env);
  assert.is(r.code, 0, explain(r));
  assert.is(docker(["image", "inspect", "pipeline-seed/debian:bookworm"]).status, 0, "the seed image is in the remote engine");
  const map = JSON.parse(readFileSync(join(env.PIPELINE_HOME, "mirrors.json"), "utf8"));
  assert.is(map.engines[host]["debian:bookworm"], "pipeline-seed/debian:bookworm");
  const status = await cli(["engine", "status"], env);
  assert.match(status.stdout, `BuildKit: $DOCKER_HOST: ${host}`);
});

test("a graph runs on the remote engine: its context goes over the wire and its export is the local one's; --tag loads there", async () => {
  const here = join(scratch(), "here");
  const there = join(scratch(), "there");
  const local = await cli(["run", graph("e2e"), "--export", here]);
  assert.is(local.code, 0, explain(local));
  const remote = await cli(["run", graph("e2e"), "--export", there], env);
  assert.is(remote.code, 0, explain(remote));
  assert.match(remote.stderr, "running on BuildKit via $DOCKER_HOST");
  assert.equal(files(there), files(here));
  assert.is(readFileSync(join(there, "greeting.txt"), "utf8"), readFileSync(join(here, "greeting.txt"), "utf8"));
  const tag = `pipeline-e2e/remote:${ID}`;
  const image = join(scratch(), "image.mts");
  writeFileSync(
    image,
    `export default (dag: any) => dag.container().from("debian:bookworm").withNewFile("/hello.txt", "${ID}\\n");\n`,
  );
  const tagged = await cli(["run", image, "--tag", tag], env);
  assert.is(tagged.code, 0, explain(tagged));
  assert.is(
    docker(["run", "--rm", "--network", "none", tag, "cat", "/hello.txt"]).stdout,
    `${ID}\n`,
    "the image is in the remote engine",
  );
});

test("the example builds on the remote engine: the same build tree and the same program output as a local build", async () => {
  const here = join(scratch(), "here");
  const there = join(scratch(), "there");
  const local = await cli(["build", "--out", here]);
  assert.is(local.code, 0, explain(local));
  const remote = await cli(["build", "--out", there], env);
  assert.is(remote.code, 0, explain(remote));
  assert.equal(files(there), files(here));
  const version = (d: string) => execFileSync(join(d, "minipaddle"), ["--version"], { cwd: "/", env: {} }).toString();
  assert.is(version(there), version(here));
});

test("cache push/pull of the dev image: an engine with no build cache and its own seed builds with no toolchain step run", async () => {
  registry = await startRegistry(dir);
  reg = registry.addr;
  const here = await dockerOnEngine();
  const seed = (run: (a: string[]) => { stdout: string }) =>
    run(["image", "inspect", "--format", "{{.Id}}", "pipeline-seed/debian:bookworm"]).stdout.trim();
  assert.not.equal(seed(docker), seed(here), "each engine bootstrapped its own Debian base");
  const pushed = await cli(["cache", "push", reg, "--only", "dev-image"]);
  assert.is(pushed.code, 0, explain(pushed));
  assert.match(pushed.stdout, new RegExp(`^${reg}/minipaddle-cache:dev-0\\.1\\.0-base  sha256:[0-9a-f]{64}$`, "m"));
  // Nothing of the toolchain left in the remote engine's build cache.
  assert.is(docker(["builder", "prune", "-af"]).status, 0);
  const pulled = await cli(["cache", "pull", reg, "--only", "dev-image"], env);
  assert.is(pulled.code, 0, explain(pulled));
  const steps = /: (\d+) of (\d+) steps from the cache, (\d+) run/.exec(pulled.stdout);
  assert.ok(steps && steps[1] === steps[2] && steps[3] === "0", `every dev image step from the cache:\n${pulled.stdout}`);
  assert.is(seed(docker), seed(here), "the remote engine's base is now the one the cache was built on");
  const built = await cli(["build", "--source", copyOfExample(`toolchain ${ID}`), "--out", join(scratch(), "o")], env);
  assert.is(built.code, 0, explain(built));
  const apt = /^#(\d+) \[\S+ +\d+\/\d+\] RUN .*apt-get install/m.exec(built.stderr);
  assert.ok(apt, "the build has the toolchain's apt step");
  assert.match(built.stderr, new RegExp(`^#${apt[1]} CACHED$`, "m"), "the toolchain's apt step was not run again");
});

test("cache push from the local engine, pull into the remote one: its compiles are ccache hits, then a pulled tree compiles nothing", async () => {
  // ccache's keys hold the compiler and the system headers: its entries serve an engine whose toolchain is the
  // one they were made with. The test above gave the remote engine the local one's dev image (without it, the
  // local engine's toolchain, installed from Debian's mirror on an earlier day, misses after any update there).
  assert.ok(reg, "the registry and the dev image of the test above");
  // A project of its own (a snapshot of the example under its own name), so that no other build on the local
  // engine changes the caches between its build and the push, nor an edit of the example its sources.
  const project = scratch("pl-cache-");
  const snapshot = copyOfExample(`snapshot ${ID}`);
  cpSync(snapshot, join(project, "minipaddle"), { recursive: true });
  const config = join(project, "pipeline.yaml");
  writeFileSync(config, "name: remote-e2e\nversion: 0.1.0\nsource: minipaddle\n");
  const copy = (note: string) => {
    const src = join(scratch("pl-src-"), "minipaddle");
    cpSync(snapshot, src, { recursive: true });
    writeFileSync(join(src, "NOTE.txt"), `${note}\n`);
    return src;
  };
  const local = await cli(["build", "--config", config]);
  assert.is(local.code, 0, explain(local));
  const pushed = await cli(["cache", "push", reg, "--config", config, "--only", "ccache", "--only", "build-tree"]);
  assert.is(pushed.code, 0, explain(pushed));
  assert.match(pushed.stdout, new RegExp(`^${reg}/remote-e2e-cache:cpu-ccache  sha256:[0-9a-f]{64}$`, "m"));
  assert.match(pushed.stdout, new RegExp(`^${reg}/remote-e2e-cache:cpu-build-tree  sha256:[0-9a-f]{64}$`, "m"));

  // A fresh engine as far as caches go: its cache volumes removed (the toolchain layers stay).
  assert.is(docker(["builder", "prune", "-f", "--filter", "type=exec.cachemount"]).status, 0);
  const pulled = await cli(["cache", "pull", reg, "--config", config, "--only", "ccache"], env);
  assert.is(pulled.code, 0, explain(pulled));
  assert.match(pulled.stderr, "pipeline cache: ccache of cpu written");
  const warm = await cli(["build", "--config", config, "--source", copy(`ccache ${ID}`), "--out", join(scratch(), "o")], env);
  assert.is(warm.code, 0, explain(warm));
  assert.not.match(warm.stderr, "pipeline-build: warning:", "the cache was made with this engine's dev image");
  const stats = ccacheStats(warm.stderr);
  assert.ok(
    stats.calls >= 5 && stats.hits / stats.calls >= 0.9,
    `ccache: ${stats.hits} hits of ${stats.calls}\n${warm.stderr
      .split("\n")
      .filter((l) => l.includes("ccache:"))
      .join("\n")}`,
  );

  assert.is(docker(["builder", "prune", "-f", "--filter", "type=exec.cachemount"]).status, 0);
  const tree = await cli(["cache", "pull", reg, "--config", config, "--only", "build-tree"], env);
  assert.is(tree.code, 0, explain(tree));
  const out = join(scratch(), "t");
  const none = await cli(["build", "--config", config, "--source", copy(`tree ${ID}`), "--out", out], env);
  assert.is(none.code, 0, explain(none));
  assert.equal(compiled(none.stderr), [], "the pulled tree is up to date: nothing compiles");
  assert.match(execFileSync(join(out, "minipaddle"), ["--version"]).toString(), /^minipaddle /);
});

test("a forged or foreign cache image is refused (exit 1, nothing written), and the build still succeeds from scratch", async () => {
  assert.ok(reg, "the registry of the test above");
  const junk = join(scratch("pl-forge-"), "junk");
  writeFileSync(junk, "not the tarball the manifest names");
  const folder = scratch("pl-other-");
  writeFileSync(join(folder, "ccache.conf"), "max_size = 1G\n");
  for (const [made, why] of [
    [() => pushCcacheImage({ file: junk }, "minipaddle", "0".repeat(64)), "SHA-256"],
    [() => pushCcacheImage({ folder }, "someone-else"), "it is not the ccache of minipaddle cpu"],
  ] as const) {
    const ref = made();
    const r = await cli(["cache", "pull", reg, "--only", "ccache"], env);
    assert.is(r.code, 1, explain(r));
    assert.match(r.stderr, `pipeline cache: refused ${ref}`);
    assert.match(r.stderr, why);
    assert.match(r.stderr, "nothing was written");
  }
  const built = await cli(["build", "--source", copyOfExample(`refused ${ID}`), "--out", join(scratch(), "o")], env);
  assert.is(built.code, 0, explain(built));
  assert.is(ccacheStats(built.stderr).hits, 0, "nothing came from the refused cache");
});

test("a ccache filled with another toolchain: the build says which packages differ and how to get the dev image", async () => {
  assert.ok(reg, "the registry of the tests above");
  // A well-formed ccache image whose package list is not the dev image's (as a cache pulled from an engine
  // that installed its toolchain on another day has).
  const folder = scratch("pl-tc-");
  writeFileSync(join(folder, "pipeline-toolchain"), "libc6-dev 2.36-0+forged\nzz-gone 1.0\n");
  pushCcacheImage({ folder }, "minipaddle");
  const pulled = await cli(["cache", "pull", reg, "--only", "ccache"], env);
  assert.is(pulled.code, 0, explain(pulled));
  const built = await cli(["build", "--source", copyOfExample(`toolchain list ${ID}`), "--out", join(scratch(), "o")], env);
  assert.is(built.code, 0, explain(built));
  const warning = built.stderr
    .split("\n")
    .find((l) => l.includes("pipeline-build: warning: the compiler cache was filled with another toolchain"));
  assert.ok(warning, `the build warns:\n${built.stderr.slice(-3000)}`);
  assert.match(warning, /libc6-dev 2\.36-0\+forged -> 2\.36-\S+/, warning);
  assert.match(warning, "zz-gone 1.0 -> (none)", warning);
  assert.match(warning, "pipeline cache pull REGISTRY --only dev-image");
  const again = await cli(["build", "--source", copyOfExample(`toolchain list again ${ID}`), "--out", join(scratch(), "o")], env);
  assert.is(again.code, 0, explain(again));
  assert.not.match(again.stderr, "pipeline-build: warning:", "said once: the cache now names this dev image");
});

test("two builds of one variant at once on one engine both succeed with their own sources (the build-tree volume is locked)", async () => {
  const a = copyOfExample(`a ${ID}`);
  const b = copyOfExample(`b ${ID}`);
  setVersion(a, `a-${ID}`);
  setVersion(b, `b-${ID}`);
  const [oa, ob] = [join(scratch(), "a"), join(scratch(), "b")];
  const [ra, rb] = await Promise.all([
    cli(["build", "--source", a, "--out", oa], env),
    cli(["build", "--source", b, "--out", ob], env),
  ]);
  assert.is(ra.code, 0, explain(ra));
  assert.is(rb.code, 0, explain(rb));
  assert.match(execFileSync(join(oa, "minipaddle"), ["--version"]).toString(), `minipaddle a-${ID} `);
  assert.match(execFileSync(join(ob, "minipaddle"), ["--version"]).toString(), `minipaddle b-${ID} `);
});

test("DOCKER_HOST at a closed port: exit 3 naming the address, what to start there, and how to build here instead", async () => {
  const closed = `tcp://127.0.0.1:${await freePort()}`;
  const r = await cli(["build", "--out", join(scratch(), "o")], { ...env, DOCKER_HOST: closed });
  assert.is(r.code, 3, explain(r));
  assert.match(r.stderr, `DOCKER_HOST=${closed}: connection refused`);
  assert.match(r.stderr, "dockerd --host tcp://0.0.0.0:");
  assert.match(r.stderr, "unset DOCKER_HOST");
});

test("a remote engine that dies mid-build: exit 3, the step it cut off, bring the engine back; nothing written", async () => {
  const out = join(scratch(), "o");
  const seconds = String(randomInt(100_000, 999_999));
  const run = start(["run", graph("slow"), "--export", out], { ...env, E2E_SLEEP: seconds });
  let stderr = "";
  run.child.stderr!.on("data", (d) => (stderr += d));
  const deadline = Date.now() + 120_000;
  while (!stderr.includes(`RUN ["sleep","${seconds}"]`)) {
    if (Date.now() > deadline) assert.unreachable(`the step never started:\n${stderr}`);
    await sleep(200);
  }
  await sleep(1000);
  process.kill(engine!.dockerd.pid!, "SIGKILL");
  const r = await run.done;
  assert.is(r.code, 3, explain(r));
  assert.match(r.stderr, "pipeline: the engine went away during");
  assert.match(r.stderr, `bring back ${host}`);
  assert.not.ok(existsSync(out), "nothing at the export path");
});

test.run();
