/**
 * Nothing lost, nothing leaked: an output path that would destroy something is refused (exit 2) before
 * anything builds; earlier outputs are replaced; a killed run's leftovers are removed by the next run.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, cli, explain, graph, leftovers, processesMatching, scratch, startSlowRun } from "./helpers.ts";

/** A refusal: exit 2, one line naming the flag and the path, nothing run, back within seconds. */
async function refused(args: string[], ...says: string[]): Promise<string> {
  const t0 = Date.now();
  const r = await cli(args);
  assert.is(r.code, 2, explain(r));
  assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  for (const s of says) assert.match(r.stderr, s);
  assert.not.match(r.stderr, "running on");
  assert.not.match(r.stderr, "internal error");
  assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms: something ran`);
  return r.stderr;
}

/** A folder with someone's files in it. */
function theirs(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "thesis.tex"), "three years of work\n");
  return dir;
}

test("--out . is refused at once and the current folder is untouched", async () => {
  const before = readdirSync(ROOT).sort();
  await refused(["build", "--out", "."], "--out .: is the current folder");
  await refused(["run", graph("e2e"), "--export", ".."], "--export ..: contains the current folder");
  assert.equal(readdirSync(ROOT).sort(), before);
  assert.ok(existsSync(join(ROOT, "pipeline.yaml")));
});

test("the source tree, a folder inside it, and the project folder are refused as outputs", async () => {
  const src = join(scratch(), "src");
  mkdirSync(src);
  writeFileSync(join(src, "CMakeLists.txt"), "project(x)\n");
  await refused(["build", "--source", src, "--out", src], `--out ${src}: is the source tree`);
  await refused(["build", "--source", src, "--out", join(src, "build")], "is inside the source tree");
  await refused(["build", "--out", "examples/minipaddle/build"], "is inside the source tree");
  await refused(["docs", "--out", "examples"], "contains the source tree");
  assert.equal(readdirSync(src), ["CMakeLists.txt"]);
});

test("an ordinary file at the path is refused and kept", async () => {
  const dir = scratch();
  const file = join(dir, "notes.txt");
  writeFileSync(file, "mine\n");
  await refused(["run", graph("e2e"), "--export", file], `--export ${file}: is a file, and this result is a folder`);
  await refused(["run", graph("secret"), "--tarball", file], "is a file this tool did not write", "--force");
  assert.is(readFileSync(file, "utf8"), "mine\n");
});

test("a folder of someone's files is refused and untouched; with --force it is replaced", async () => {
  const out = theirs(join(scratch(), "out"));
  await refused(["run", graph("e2e"), "--export", out], "is a folder with files this tool did not write", "--force");
  await refused(["build", "--out", out], "--out", "--force");
  assert.equal(readdirSync(out), ["thesis.tex"]);
  const r = await cli(["run", graph("e2e"), "--export", out, "--force"]);
  assert.is(r.code, 0, explain(r));
  assert.equal(readdirSync(out).sort(), [".pipeline-output", "greeting.txt", "notes.txt"]);
});

test("an earlier output is replaced without --force, and the exported folder is mode 0755 (0777 less the umask)", async () => {
  const dir = scratch();
  const out = join(dir, "out");
  const first = await cli(["run", graph("e2e"), "--export", out]);
  assert.is(first.code, 0, explain(first));
  assert.is(statSync(out).mode & 0o777, 0o777 & ~process.umask());
  if (process.umask() === 0o022) assert.is(statSync(out).mode & 0o777, 0o755);
  assert.match(readFileSync(join(out, ".pipeline-output"), "utf8"), '"tool":"pipeline"');
  writeFileSync(join(out, "stale.txt"), "from before");
  const again = await cli(["run", graph("e2e"), "--export", out]);
  assert.is(again.code, 0, explain(again));
  assert.equal(readdirSync(out).sort(), [".pipeline-output", "greeting.txt", "notes.txt"]);
  assert.equal(leftovers(dir), []);
});

test("a path under an existing file is refused with exit 2, not an error after building", async () => {
  const file = join(scratch(), "plain");
  writeFileSync(file, "x");
  await refused(["run", graph("e2e"), "--export", join(file, "sub")], `${file} is a file, not a folder`);
  await refused(["build", "--out", join(file, "sub", "deeper")], "--out", "is a file, not a folder");
});

test("a read-only place is refused with exit 2", async () => {
  const ro = join(scratch(), "ro");
  mkdirSync(ro);
  const mount = spawnSync("sh", ["-c", `mount --bind '${ro}' '${ro}' && mount -o remount,ro,bind '${ro}'`], { encoding: "utf8" });
  assert.is(mount.status, 0, `a read-only bind mount is needed (run as root): ${mount.stderr}`);
  try {
    await refused(["run", graph("e2e"), "--export", join(ro, "out")], `cannot write in ${ro}`, "read-only");
  } finally {
    spawnSync("umount", [ro]);
  }
});

test("a switch given a value that is not true or false exits 2 naming it; the usual forms still parse", async () => {
  await refused(["build", "--avx=maybe"], "--avx is a switch", "maybe");
  await refused(["test", "--gpu=yes"], "--gpu is a switch");
  for (const ok of [["--no-avx"], ["--avx"], ["--avx=false"], ["--avx=true"]]) {
    const r = await cli(["build", ...ok, "--help"]);
    assert.is(r.code, 0, explain(r));
  }
});

test("after a SIGKILL mid-build, the next run to the same path removes the partial output and the work folder", async () => {
  const dir = scratch();
  const out = join(dir, "out");
  const { child, done } = await startSlowRun(out);
  const pid = child.pid!;
  child.kill("SIGKILL");
  await done;
  // The build client it started lives on in its own process group: end it, as a user's shell would not.
  for (const p of processesMatching(`${dir}/.out.pipeline-`)) process.kill(p, "SIGKILL");
  const works = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`pipeline-${pid}-`));
  assert.equal(leftovers(dir).length, 1, `a partial output is left: ${readdirSync(dir)}`);
  assert.match(leftovers(dir)[0]!, `.out.pipeline-${pid}-`);
  assert.equal(works().length, 1, "a work folder is left in the temp folder");
  const r = await cli(["run", graph("e2e"), "--export", out]);
  assert.is(r.code, 0, explain(r));
  assert.equal(leftovers(dir), []);
  assert.equal(works(), []);
  assert.ok(existsSync(join(out, "greeting.txt")));
});

test.run();
