/**
 * What a variant promises, checked by the pipeline itself on the real engine: code above the ISA floor fails
 * `build --no-avx` and `image --variant cpu-noavx` naming the file; the tests rerun on an emulated CPU at the
 * floor and a test that needs more fails there by name; the production image's entrypoint and packaged
 * program refuse an emulated old CPU with the missing features and the variant to use instead.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { cli, dockerOnEngine, explain, isaHeld, needTool, ROOT, scratch } from "./helpers.ts";

const docker = await dockerOnEngine();
const EXAMPLE = join(ROOT, "examples", "minipaddle");

/**
 * A copy of the example with one program built with AVX2 code, installed, and run as a test: what a
 * `-march=native` or an ISA option left on does to a no-AVX build.
 */
function exampleWithAvx2(): string {
  const dir = join(scratch("pipeline-src-"), "minipaddle");
  cpSync(EXAMPLE, dir, { recursive: true, filter: (p) => !/\/build[^/]*$/.test(p) });
  mkdirSync(join(dir, "tools"), { recursive: true });
  writeFileSync(
    join(dir, "tools", "avx2_probe.cc"),
    `// Injected by the e2e test (${randomBytes(4).toString("hex")}): one AVX2 instruction.\n` +
      'int main() { __asm__ volatile("vpaddd %%ymm0, %%ymm1, %%ymm2" ::: "xmm0", "xmm1", "xmm2"); return 0; }\n',
  );
  appendFileSync(
    join(dir, "CMakeLists.txt"),
    "\n# Injected by the e2e test\nadd_executable(avx2_probe tools/avx2_probe.cc)\ntarget_compile_options(avx2_probe PRIVATE -mavx2)\n" +
      "install(TARGETS avx2_probe RUNTIME DESTINATION bin)\nif(WITH_TESTING)\n  add_test(NAME Injected.Avx2Probe COMMAND avx2_probe)\nendif()\n",
  );
  return dir;
}

const src = exampleWithAvx2();

test("code above the floor fails build --no-avx, naming the file, the feature and a hint; the AVX build of it passes", async () => {
  const out = join(scratch(), "out");
  const r = await cli(["build", "--source", src, "--no-avx", "--out", out]);
  assert.is(r.code, 1, explain(r));
  assert.match(r.stderr, /avx2_probe/);
  assert.match(r.stderr, /AVX2/);
  assert.match(r.stderr, /above the cpu-noavx floor x86-64-v2/);
  assert.match(r.stderr, /-march=native/);
  // The check runs beside the save, and the failed step still waits for it: the build after a fix is incremental.
  assert.match(r.stderr, /pipeline-build: build tree (saved|snapshot: stale \(a new tree\))/);
  assert.not.ok(existsSync(out), "nothing written");
  const avx = await cli(["build", "--source", src, "--out", out]);
  assert.is(avx.code, 0, explain(avx));
  assert.ok(isaHeld(avx, "x86-64-v3"), `no isa-check verdict at x86-64-v3:\n${avx.stderr.slice(-3000)}`);
});

test("image --variant cpu-noavx fails on the same code before anything is packaged: its compile step checks the build tree", async () => {
  const r = await cli([
    "image",
    "--source",
    src,
    "--variant",
    "cpu-noavx",
    "--tag",
    `pipeline-e2e/floor:${randomBytes(3).toString("hex")}`,
  ]);
  assert.is(r.code, 1, explain(r));
  // The step build --no-avx runs (the image's compile step is the build's): the tree's file is named.
  assert.match(r.stderr, /\/src\/build\/avx2_probe/);
  assert.match(r.stderr, /AVX2/);
  assert.match(r.stderr, /above the cpu-noavx floor x86-64-v2/);
});

test("test --no-avx passes natively but fails on the emulated floor CPU, naming the test; --no-emulate skips that run", async () => {
  const report = join(scratch(), "report");
  const r = await cli(["test", "--source", src, "--no-avx", "--out", report]);
  assert.is(r.code, 1, explain(r));
  assert.is(readFileSync(join(report, "status"), "utf8").trim(), "0", "the native run passed");
  const emulated = readFileSync(join(report, "emulated.log"), "utf8");
  assert.match(emulated, /Injected\.Avx2Probe: ILLEGAL INSTRUCTION/);
  assert.match(emulated, /on an emulated Nehalem CPU \(floor x86-64-v2\)/);
  assert.match(r.stderr, /the tests failed on the emulated CPU at the ISA floor/);
  assert.match(r.stderr, /Injected\.Avx2Probe/);
  const skipped = await cli(["test", "--source", src, "--no-avx", "--no-emulate", "--out", report]);
  assert.is(skipped.code, 0, explain(skipped));
});

test("the example's own tests pass on the emulated floor CPU of each CPU variant", async () => {
  for (const [flags, cpu] of [
    [["--no-avx"], "Nehalem"],
    [[], "Haswell-noTSX"],
  ] as const) {
    const report = join(scratch(), "report");
    const r = await cli(["test", ...flags, "--out", report]);
    assert.is(r.code, 0, explain(r));
    const log = readFileSync(join(report, "emulated.log"), "utf8");
    assert.match(log, new RegExp(`on an emulated ${cpu} CPU`));
    assert.match(log, /emulate: (\d+) passed, 0 failed/);
    assert.ok(Number(/emulate: (\d+) passed/.exec(log)![1]) >= 10, log);
  }
});

test("the production image's entrypoint and its packaged program refuse an emulated CPU below the floor, naming what is missing and what to use", async () => {
  await needTool("qemu-x86_64", "qemu-user");
  const tag = `pipeline-e2e/guard:${randomBytes(3).toString("hex")}`;
  const built = await cli(["image", "--variant", "cpu", "--tag", tag]);
  assert.is(built.code, 0, explain(built));
  // Natively (this CPU is above the floor) the guard hands over to the entrypoint.
  const native = docker(["run", "--rm", tag, "--version"]);
  assert.is(native.status, 0, native.stderr);
  assert.match(native.stdout, /0\.1\.0/);
  const root = join(scratch(), "rootfs");
  mkdirSync(root);
  const id = docker(["create", tag]).stdout.trim();
  try {
    const tar = join(scratch(), "rootfs.tar");
    assert.is(docker(["export", "-o", tar, id]).status, 0);
    assert.is(spawnSync("tar", ["-xf", tar, "-C", root]).status, 0);
  } finally {
    docker(["rm", id]);
  }
  for (const program of ["usr/local/bin/entrypoint", "usr/bin/minipaddle"]) {
    const old = spawnSync("qemu-x86_64", ["-cpu", "Nehalem", "-L", root, join(root, program), "--version"], { encoding: "utf8" });
    assert.is(old.status, 132, `${program}: ${old.stderr}`);
    assert.match(old.stderr, /needs an x86-64 CPU with at least x86-64-v3; this CPU lacks AVX, AVX2/);
    assert.match(old.stderr, /minipaddle:0\.1\.0-noavx/);
    assert.match(old.stderr, /minipaddle-noavx/);
    const ok = spawnSync("qemu-x86_64", ["-cpu", "Haswell-noTSX", "-L", root, join(root, program), "--version"], {
      encoding: "utf8",
    });
    assert.not.match(ok.stderr, /this CPU lacks/, `${program} on Haswell`);
  }
  const report = JSON.parse(
    docker(["run", "--rm", "--entrypoint", "cat", tag, "/usr/share/doc/minipaddle/isa-check.json"]).stdout,
  );
  assert.is(report.floor, "x86-64-v3");
  assert.ok(report.files.length >= 3, "the package's ELF files and the guard were checked");
  docker(["rmi", tag]);
});

test.run();
