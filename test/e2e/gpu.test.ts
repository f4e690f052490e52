/**
 * The GPU variant on a machine without a GPU: the CUDA kernel is compiled by nvcc into the library (device
 * code for every configured architecture), and the GPU tests skip themselves.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { cli, dockerOnEngine, explain, ROOT, scratch } from "./helpers.ts";
import { parseConfig } from "../../modules/config.ts";
import { vexInstructions } from "../support/isa.ts";

const docker = await dockerOnEngine();
const cfg = parseConfig(readFileSync(join(ROOT, "pipeline.yaml"), "utf8"), "pipeline.yaml");
const DEV = `pipeline-e2e/dev-gpu:${randomBytes(3).toString("hex")}`;

test("the GPU build compiles the CUDA kernel with nvcc: device code for each configured architecture", async () => {
  const out = join(scratch(), "build");
  const b = await cli(["build", "--gpu", "--no-avx", "--out", out]);
  assert.is(b.code, 0, explain(b));
  const img = await cli(["dev-image", "--gpu", "--tag", DEV]);
  assert.is(img.code, 0, explain(img));
  const elf = docker(["run", "--rm", "-v", `${out}:/b:ro`, DEV, "cuobjdump", "--list-elf", "/b/libminipaddle.so"]);
  assert.is(elf.status, 0, elf.stderr);
  for (const arch of cfg.cuda.architectures) assert.match(elf.stdout, `sm_${arch}`, `no sm_${arch} code in:\n${elf.stdout}`);
  assert.equal(vexInstructions(join(out, "libminipaddle.so")).slice(0, 3), [], "gpu-noavx has no AVX instructions");
});

test("the GPU variant's tests pass where there is no GPU, the GPU-only ones skipped", async () => {
  const report = join(scratch(), "report");
  const t = await cli(["test", "--gpu", "--no-avx", "--out", report]);
  assert.is(t.code, 0, explain(t));
  const junit = readFileSync(join(report, "junit.xml"), "utf8");
  assert.match(junit, /skipped="[1-9]\d*"/, "the GPU tests were skipped");
  assert.match(junit, 'failures="0"');
});

test.after(() => {
  docker(["rmi", DEV]);
});

test.run();
