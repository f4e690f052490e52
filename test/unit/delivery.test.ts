import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../../modules/config.ts";
import { ArgumentError } from "../../modules/errors.ts";
import { entrypointScript } from "../../modules/image.ts";
import { imageRef, STANDARD_VARIANTS as VARIANTS, variantByName, variantFromSwitches } from "../../modules/variants.ts";
import { packageName } from "../../modules/package.ts";
import { table } from "../../pipeline/commands/release.ts";
import { scratchDir } from "../support/scratch.ts";

const cfg = (extra = "") => parseConfig(`name: minipaddle\nversion: 0.1.0\n${extra}`, "pipeline.yaml");

test("the four variants get the tags NAME:VERSION, -noavx, -gpu and -gpu-noavx", () => {
  assert.equal(
    VARIANTS.map((v) => imageRef(cfg(), variantByName(cfg(), v))),
    ["minipaddle:0.1.0", "minipaddle:0.1.0-noavx", "minipaddle:0.1.0-gpu", "minipaddle:0.1.0-gpu-noavx"],
  );
});

test("the tag scheme and the image name come from the config", () => {
  const c = cfg("image:\n  name: registry.example.org/ml/mp\n  tag: v{version}{variant}\n");
  assert.is(imageRef(c, variantByName(c, "gpu-noavx")), "registry.example.org/ml/mp:v0.1.0-gpu-noavx");
  assert.throws(
    () => cfg("image:\n  tag: 'has space'\n"),
    (e: Error) => e instanceof ConfigError && e.message.includes("image.tag"),
  );
});

test("variants map to the build switches, and an unknown one is an argument error (exit 2)", () => {
  assert.is(variantFromSwitches(cfg(), { gpu: false, avx: true }).name, "cpu");
  assert.is(variantFromSwitches(cfg(), { gpu: true, avx: false }).name, "gpu-noavx");
  assert.is(variantByName(cfg(), "cpu-noavx").name, "cpu-noavx");
  try {
    variantByName(cfg(), "tpu");
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ArgumentError);
    assert.is((err as ArgumentError).exitCode, 2);
    assert.match((err as Error).message, "cpu, cpu-noavx, gpu, gpu-noavx");
  }
});

test("each variant's package has its own name", () => {
  const c = cfg();
  assert.equal(
    [true, false].flatMap((avx) => [false, true].map((gpu) => packageName(c, variantFromSwitches(c, { gpu, avx })))),
    ["minipaddle", "minipaddle-gpu", "minipaddle-noavx", "minipaddle-gpu-noavx"],
  );
});

test("a maintainer without an address is a config error naming the key", () => {
  assert.throws(
    () => cfg("package:\n  maintainer: nobody\n"),
    (e: Error) => e instanceof ConfigError && e.message.includes("package.maintainer"),
  );
});

test("the book's port is a whole number in range", () => {
  assert.is(cfg().book.port, 8888);
  assert.throws(
    () => cfg("book:\n  port: 70000\n"),
    (e: Error) => e.message.includes("book.port"),
  );
});

test("the production entrypoint runs the program, and hands .py files and python to Python", () => {
  const dir = scratchDir();
  // Stand-ins on PATH for the program and python3, to see which one the entrypoint picks.
  for (const name of ["minipaddle", "python3"]) {
    writeFileSync(join(dir, name), `#!/bin/sh\necho "${name} $*"\n`);
    chmodSync(join(dir, name), 0o755);
  }
  writeFileSync(join(dir, "entry"), entrypointScript(cfg()));
  const run = (...args: string[]) =>
    execFileSync("sh", [join(dir, "entry"), ...args], { env: { PATH: `${dir}:/usr/bin:/bin` } })
      .toString()
      .trim();
  assert.is(run("--version"), "minipaddle --version");
  assert.is(run("/work/a.py", "--steps", "3"), "python3 /work/a.py --steps 3");
  assert.is(run("python", "-c", "print(1)"), "python3 -c print(1)");
  assert.is(run(), "minipaddle");
});

test("the release table lists tag, size and digest in aligned columns", () => {
  const text = table(
    [
      { variant: "cpu", tag: "r:5000/m:0.1.0", size: 118_900_000, digest: "sha256:" + "a".repeat(64), seconds: 1 },
      { variant: "gpu", tag: "r:5000/m:0.1.0-gpu", size: 2_310_000_000, digest: "sha256:" + "b".repeat(64), seconds: 2 },
    ],
    true,
  );
  const lines = text.trim().split("\n");
  assert.is(lines.length, 3);
  assert.match(lines[0]!, /^TAG\s+SIZE\s+DIGEST \(pushed\)$/);
  assert.match(lines[1]!, /^r:5000\/m:0\.1\.0\s+118\.9 MB\s+sha256:a{64}$/);
  assert.match(lines[2]!, /^r:5000\/m:0\.1\.0-gpu\s+2\.31 GB\s+sha256:b{64}$/);
  assert.is(lines[1]!.indexOf("sha256"), lines[2]!.indexOf("sha256"));
});

test.run();
