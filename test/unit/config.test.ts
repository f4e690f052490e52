import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { ConfigError, parseConfig } from "../../modules/config.ts";
import { buildScript, buildSteps, commandsFor } from "../../modules/compile.ts";
import { variantFromSwitches } from "../../modules/variants.ts";
import { scratchDir } from "../support/scratch.ts";

const fixture = (p: string) => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), "utf8");

test("a minimal config gets defaults that build the example", () => {
  const cfg = parseConfig("name: minipaddle\nsource: examples/minipaddle\n", "pipeline.yaml", "0.3.0");
  assert.is(cfg.version, "0.3.0");
  assert.equal(cfg.cmake.options, { gpu: "WITH_GPU", avx: "WITH_AVX", test: "WITH_TESTING" });
  assert.is(cfg.images.build, "debian:bookworm");
  assert.equal(cfg.cuda.architectures, ["70", "80"]);
  assert.equal(cfg.test.command, ["ctest", "--output-on-failure", "--output-junit", "junit.xml"]);
});

test("the repository's own config is valid", () => {
  const cfg = parseConfig(readFileSync(new URL("../../pipeline.yaml", import.meta.url), "utf8"), "pipeline.yaml");
  assert.is(cfg.name, "minipaddle");
  assert.is(cfg.source, "examples/minipaddle");
});

test("the schema accepts a config for a different CMake project, and the build steps follow it", () => {
  const cfg = parseConfig(fixture("other-project/pipeline.yaml"), "other/pipeline.yaml");
  assert.is(cfg.name, "tinyblas");
  const [configure, build, tests] = commandsFor(cfg, variantFromSwitches(cfg, { gpu: true, avx: false }), true);
  assert.ok(configure!.includes("-DTINYBLAS_USE_CUDA=ON"), configure!.join(" "));
  assert.ok(configure!.includes("-DTINYBLAS_SIMD=OFF"));
  assert.ok(configure!.includes("-DBUILD_TESTING=ON"));
  assert.ok(configure!.includes("-DTINYBLAS_VERSION=2.3.1"));
  assert.ok(configure!.includes("-DCMAKE_CUDA_ARCHITECTURES=86;90"));
  assert.ok(configure!.includes("-DCMAKE_CUDA_HOST_COMPILER=g++-12"));
  assert.equal(configure!.slice(5, 8), ["-G", "Unix Makefiles", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]);
  assert.equal(build, ["cmake", "--build", "/src/build", "--parallel"]);
  assert.equal(tests, ["ctest", "-j2", "--output-junit", "junit.xml"]);
  assert.match(buildScript(cfg), "gpu-noavx) set -- -DTINYBLAS_USE_CUDA=ON -DTINYBLAS_SIMD=OFF");
});

test("the CPU commands carry no CUDA options", () => {
  const cfg = parseConfig("name: x\n", "p.yaml");
  const [configure] = commandsFor(cfg, variantFromSwitches(cfg, { gpu: false, avx: true }), false);
  assert.not.ok(
    configure!.some((w) => w.includes("CUDA")),
    configure!.join(" "),
  );
  assert.ok(configure!.includes("-DWITH_GPU=OFF") && configure!.includes("-DWITH_AVX=ON"));
});

test("a config's exclude adds to the default exclusions, which stay", () => {
  const defaults = ["build", "build-*", ".git", "**/__pycache__"];
  assert.equal(parseConfig("name: x\n", "p.yaml").exclude, defaults);
  const cfg = parseConfig("name: x\nexclude: [data, '*.ckpt', .git]\n", "p.yaml");
  assert.equal(cfg.exclude, [...defaults, "data", "*.ckpt"]);
});

test("build-tree run paths are $ORIGIN-relative by default (one configure argument), and cmake.originRpath: false drops it", () => {
  const configureOf = (text: string) =>
    buildSteps(parseConfig(text, "p.yaml")).configure.argv.filter((w): w is string => typeof w === "string");
  assert.ok(configureOf("name: x\n").includes("-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON"));
  assert.is(parseConfig("name: x\n", "p.yaml").cmake.originRpath, true);
  assert.not.ok(configureOf("name: x\ncmake:\n  originRpath: false\n").some((w) => w.includes("RPATH")));
});

const errors: Array<[string, string, RegExp]> = [
  [
    "a wrong type names the key path",
    "name: x\ncmake:\n  options:\n    gpu: 3\n",
    /^p\.yaml: at 'cmake\.options\.gpu': expected string$/,
  ],
  ["an unknown key is named", "name: x\ncmake:\n  optoins: {}\n", /^p\.yaml: at 'cmake': unknown key 'optoins'$/],
  ["a missing name is reported", "version: 1.0\n", /^p\.yaml: at 'name': expected string$/],
  [
    "a bad package name says what is expected",
    "name: x\ntoolchain:\n  packages: ['Bad Pkg']\n",
    /^p\.yaml: at 'toolchain\.packages\.0': a Debian package name$/,
  ],
  [
    "a path leaving the project is refused",
    "name: x\nsource: ../elsewhere\n",
    /^p\.yaml: at 'source': a path inside the project/,
  ],
  ["a bad variant is refused", "name: x\nimage:\n  variants: [tpu]\n", /^p\.yaml: at 'image\.variants\.0': /],
  ["YAML syntax errors name the file", "name: [x\n", /^p\.yaml: not valid YAML: /],
];
for (const [what, text, expected] of errors) {
  test(`config errors: ${what}`, () => {
    try {
      parseConfig(text, "p.yaml");
      assert.unreachable("accepted");
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.match((err as Error).message, expected);
      assert.is((err as Error).message.split("\n").length, 1);
    }
  });
}

test("the build script is valid shell and defaults to a CPU, AVX, no-test build", async () => {
  const cfg = parseConfig("name: x\n", "p.yaml");
  const script = buildScript(cfg);
  const { execFileSync } = await import("node:child_process");
  execFileSync("sh", ["-n"], { input: script });
  assert.match(script, 'GPU=$(onoff "${GPU:-OFF}" GPU)');
  assert.match(script, 'AVX=$(onoff "${AVX:-ON}" AVX)');
});

test("the build script configures once per switches: a failed configure fails the build and leaves no stamp; `configure` always configures", async () => {
  const { execFileSync, spawnSync } = await import("node:child_process");
  const { writeFileSync, chmodSync, existsSync, mkdirSync } = await import("node:fs");
  const { join } = await import("node:path");
  const root = scratchDir();
  const bin = join(root, "bin");
  mkdirSync(bin);
  mkdirSync(join(root, "src"));
  const script = join(bin, "pipeline-build");
  writeFileSync(script, buildScript(parseConfig("name: x\n", "p.yaml")));
  // cmake as a command line: a configure writes CMakeCache.txt, and then fails when FAIL is set (as a real one
  // does half-way); --build does nothing.
  writeFileSync(
    join(bin, "cmake"),
    '#!/bin/sh\necho "cmake $*" >> "$LOG"\n[ "$1" = --build ] && exit 0\nmkdir -p "$BUILD_DIR" && touch "$BUILD_DIR/CMakeCache.txt"\n[ -z "${FAIL:-}" ] || exit 7\n',
  );
  for (const f of ["cmake", "pipeline-build"]) chmodSync(join(bin, f), 0o755);
  const log = join(root, "log");
  const env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    SRC: join(root, "src"),
    BUILD_DIR: join(root, "src", "build"),
    LOG: log,
  };
  const run = (action: string, extra: NodeJS.ProcessEnv = {}) =>
    spawnSync(script, [action], { env: { ...env, ...extra }, encoding: "utf8" });
  const configures = () => (existsSync(log) ? execFileSync("grep", ["-c", "^cmake -S", log], { encoding: "utf8" }).trim() : "0");
  const failed = run("build", { FAIL: "1" });
  assert.is.not(failed.status, 0, "a failed configure fails the build");
  assert.not.ok(existsSync(join(root, "src", "build", ".pipeline-configured")), "and leaves no stamp");
  assert.is(run("build").status, 0);
  assert.is(configures(), "2");
  const again = run("build");
  assert.is(again.status, 0);
  assert.match(again.stdout, "is configured so already");
  assert.is(configures(), "2", "the same switches: not configured again");
  assert.is(run("build", { TEST: "ON" }).status, 0);
  assert.is(configures(), "3", "other switches: configured");
  assert.is(run("configure", { TEST: "ON" }).status, 0);
  assert.is(configures(), "4", "the configure action always configures");
  // A tree with Ninja's graph builds with Ninja itself (not through cmake --build); a failed build fails the
  // script, and Ninja forgets dead outputs after a build, once per graph.
  writeFileSync(join(root, "src", "build", "build.ninja"), "rules\n");
  writeFileSync(join(bin, "ninja"), '#!/bin/sh\necho "ninja $*" >> "$LOG"\nexit ${NINJA_FAIL:-0}\n');
  chmodSync(join(bin, "ninja"), 0o755);
  const ninjaCalls = (what: string) =>
    execFileSync("sh", ["-c", `grep -c -- '${what}' "$0" || true`, log], { encoding: "utf8" }).trim();
  const builds = () => execFileSync("sh", ["-c", `grep -c '^cmake --build' "$0" || true`, log], { encoding: "utf8" }).trim();
  const before = builds();
  // (`all` runs the build inside an && list, where the shell's -e is off.)
  const broken = run("all", { NINJA_FAIL: "3", CMAKE_BUILD_PARALLEL_LEVEL: "5", TEST: "ON" });
  assert.is(broken.status, 3, "a failed Ninja fails the build with its status");
  assert.not.match(broken.stdout, "pipeline-build: test", "and no test runs");
  assert.is(ninjaCalls("^ninja -j 5$"), "1", "Ninja itself, with CMAKE_BUILD_PARALLEL_LEVEL");
  assert.is(ninjaCalls("cleandead"), "0", "no clean-up after a failed build");
  assert.is(run("build").status, 0);
  assert.is(run("build").status, 0);
  assert.is(ninjaCalls("^ninja $"), "2");
  assert.is(builds(), before, "cmake --build not run where the tree has build.ninja");
  assert.is(ninjaCalls("cleandead"), "1", "dead outputs looked for once per graph");
  writeFileSync(join(root, "src", "build", "build.ninja"), "rules, regenerated\n");
  assert.is(run("build").status, 0);
  assert.is(ninjaCalls("cleandead"), "2", "and again for a new graph");
});

test.run();
