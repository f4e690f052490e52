/**
 * Adoption from another repository: a real third-party framework (ncnn, unpacked from its pinned tarball)
 * installs the tool from a path (no package registry), `pipeline init` writes its config and module from the
 * CMake project, and then `pipeline build` and `pipeline call` of the module's own function work there.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { explain, isaHeld, ROOT, scratch } from "./helpers.ts";
import { parseConfig } from "../../modules/config.ts";
import { variantByName } from "../../modules/variants.ts";

const THIRDPARTY = join(ROOT, "..", "shared", "thirdparty");
const tarball = existsSync(THIRDPARTY) ? readdirSync(THIRDPARTY).find((f) => /^ncnn-.*\.tar\.gz$/.test(f)) : undefined;

const repo = (() => {
  if (!tarball) return undefined;
  const dir = scratch("pipeline-adopt-");
  execFileSync("tar", ["-xzf", join(THIRDPARTY, tarball), "-C", dir]);
  const top = join(dir, readdirSync(dir)[0]!);
  writeFileSync(join(top, "package.json"), JSON.stringify({ name: "ncnn-adopt", private: true }) + "\n");
  return top;
})();

/** The tool as the adopting repository runs it: its own node_modules/.bin/pipeline. */
function pipeline(args: string[]) {
  const r = spawnSync(join(repo!, "node_modules", ".bin", "pipeline"), args, {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, CI: "1" },
    maxBuffer: 1 << 28,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

test("the tool installs into another repository from a path, without a package registry", () => {
  if (!repo) return console.log(`  (skipped: no ncnn tarball in ${THIRDPARTY})`);
  execFileSync("npm", ["install", "--no-audit", "--no-fund", ROOT], { cwd: repo, stdio: "pipe" });
  const r = pipeline(["--version"]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d+\.\d+\.\d+/);
});

test("pipeline init reads the CMake project: name, test switch, and ISA options split into the avx and noavx variants", () => {
  if (!repo) return;
  const r = pipeline(["init"]);
  assert.is(r.code, 0, explain(r));
  for (const f of ["pipeline.yaml", "dagger.json", "tsconfig.json", "src/index.ts", "src/package.json"])
    assert.ok(existsSync(join(repo, f)), f);
  const cfg = parseConfig(readFileSync(join(repo, "pipeline.yaml"), "utf8"), "pipeline.yaml");
  assert.is(cfg.name, "ncnn");
  assert.is(cfg.cmake.options.test, "NCNN_BUILD_TESTS");
  const avx = variantByName(cfg, "cpu").cmake;
  const noavx = variantByName(cfg, "cpu-noavx").cmake;
  for (const on of ["-DNCNN_AVX=ON", "-DNCNN_AVX2=ON", "-DNCNN_FMA=ON", "-DNCNN_F16C=ON"])
    assert.ok(avx.includes(on), `avx: ${on}`);
  for (const off of ["-DNCNN_AVX512=OFF", "-DNCNN_XOP=OFF", "-DNCNN_AVXVNNI=OFF", "-DNCNN_RUNTIME_CPU=OFF", "-DNCNN_VULKAN=OFF"])
    assert.ok(avx.includes(off), `avx: ${off}`);
  for (const off of ["-DNCNN_AVX=OFF", "-DNCNN_AVX2=OFF", "-DNCNN_FMA=OFF", "-DNCNN_AVX512=OFF"])
    assert.ok(noavx.includes(off), `noavx: ${off}`);
  assert.throws(() => variantByName(cfg, "gpu"), /not|must be one of/, "no CUDA option: no gpu variant");
  // A second init changes nothing.
  const again = pipeline(["init"]);
  assert.is(again.code, 2, explain(again));
  assert.match(again.stderr, /already exist.*--force/);
});

test("a function the adopting repository adds to its module runs through pipeline call", () => {
  if (!repo) return;
  const r = pipeline(["call", "greeting", "--name", "adopter", "stdout"]);
  assert.is(r.code, 0, explain(r));
  assert.match(r.stdout, /hello adopter from ncnn/);
  const help = pipeline(["call", "--help"]);
  assert.match(help.stdout + help.stderr, /greeting/);
});

test("the adopting module's function is a command of its own: listed by pipeline --help, run as pipeline call runs it", () => {
  if (!repo) return;
  const help = pipeline(["--help"]);
  assert.is(help.code, 0, explain(help));
  // (yargs wraps the summary: any whitespace may be a line break.)
  assert.match(help.stdout, /pipeline greeting \[words\.\.\]\s+\S[^]*?\(runs\s+as\s+`pipeline\s+call\s+greeting`/);
  // The stages stay the tool's: the module's own toolbox does not shadow a command the tool already has.
  assert.match(help.stdout, /pipeline build\s+Configure and compile the project/);
  const r = pipeline(["greeting", "--name", "cli", "stdout"]);
  assert.is(r.code, 0, explain(r));
  assert.match(r.stdout, /hello cli from ncnn/);
});

test("pipeline build works there from the config init wrote: the no-AVX build holds its x86-64-v2 floor", () => {
  if (!repo) return;
  const out = join(scratch(), "noavx");
  const r = pipeline(["build", "--no-avx", "--out", out]);
  assert.is(r.code, 0, explain(r));
  assert.ok(isaHeld(r, "x86-64-v2"), `no isa-check verdict at x86-64-v2:\n${r.stderr.slice(-3000)}`);
  assert.ok(existsSync(join(out, "src", "libncnn.a")), "the library was built");
});

test.run();
