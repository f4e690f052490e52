/**
 * Delivery figures, measured in one run on the running engine:
 * - the size of each production image variant next to the development image's (CPU and GPU);
 * - `release` of all CPU variants against `release` of one (target: ratio <= 1.6). Each release starts from a
 *   fresh change to a header every file includes (a declaration, so neither the build tree nor ccache can
 *   skip the compile): what a release after a real edit costs, with the toolchain layers cached.
 *   npx tsx bench/images.ts [--no-gpu] [rounds]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../modules/config.ts";
import { imageRef, STANDARD_VARIANTS as VARIANTS, variantByName } from "../modules/variants.ts";
import { dockerEnv, findBuildkit } from "../pipeline/engines/detect.ts";

const args = process.argv.slice(2);
const withGpu = !args.includes("--no-gpu");
const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 1);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "pipeline", "bin.mjs");
const cfg = parseConfig(readFileSync(join(root, "pipeline.yaml"), "utf8"), "pipeline.yaml");
const endpoint = await findBuildkit();
if (endpoint.kind !== "docker") throw new Error("this bench reads image sizes from a Docker engine");
const docker = (a: string[]) =>
  execFileSync(endpoint.client, a, { env: dockerEnv(endpoint) })
    .toString()
    .trim();
const pipeline = (a: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...a, "--progress", "quiet"], { cwd: root, encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`pipeline ${a.join(" ")} failed:\n${r.stderr.slice(-3000)}`);
  return r;
};
const size = (ref: string) => Number(docker(["image", "inspect", "--format", "{{.Size}}", ref]));
const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;

// Sizes.
const variants: string[] = VARIANTS.filter((v) => withGpu || !v.startsWith("gpu"));
pipeline(["release", ...variants.flatMap((v) => ["--variant", v])]);
const devTags = { cpu: `${cfg.name}-dev:${cfg.version}`, gpu: `${cfg.name}-dev:${cfg.version}-gpu` };
pipeline(["dev-image", "--tag", devTags.cpu]);
if (withGpu) pipeline(["dev-image", "--gpu", "--tag", devTags.gpu]);
const devCpu = size(devTags.cpu);
const devGpu = withGpu ? size(devTags.gpu) : undefined;
console.log("image sizes (bytes as Docker reports them)");
console.log(`  ${devTags.cpu.padEnd(30)} ${mb(devCpu).padStart(8)}   (development image)`);
if (devGpu) console.log(`  ${devTags.gpu.padEnd(30)} ${mb(devGpu).padStart(8)}   (GPU development image)`);
for (const v of variants) {
  const ref = imageRef(cfg, variantByName(cfg, v));
  const s = size(ref);
  const dev = v.startsWith("gpu") ? devGpu! : devCpu;
  console.log(`  ${ref.padEnd(30)} ${mb(s).padStart(8)}   ${((100 * s) / dev).toFixed(1)}% of its development image`);
}

// Release time: all CPU variants against one, each after a fresh edit of a header every file includes.
const work = mkdtempSync(join(tmpdir(), "pipeline-bench-release-"));
const src = join(work, "minipaddle");
cpSync(join(root, cfg.source), src, { recursive: true, filter: (p) => !/\/build[^/]*$/.test(p) });
let edits = 0;
const edit = () =>
  appendFileSync(
    join(src, "include", "minipaddle", "tensor.h"),
    `\nnamespace minipaddle { inline constexpr int bench_edit_${Date.now()}_${edits++} = 0; }\n`,
  );
const release = (vs: string[]) => {
  edit();
  const t0 = performance.now();
  pipeline(["release", "--source", src, ...vs.flatMap((v) => ["--variant", v])]);
  return (performance.now() - t0) / 1000;
};
release(["cpu", "cpu-noavx"]); // warm: the toolchain and runtime layers, both variants' build trees
const cpuVariants = VARIANTS.filter((v) => !v.startsWith("gpu"));
const one: number[] = [];
const all: number[] = [];
for (let i = 0; i < rounds; i++) {
  one.push(release(["cpu"]));
  all.push(release([...cpuVariants]));
}
rmSync(work, { recursive: true, force: true });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`release after an edit (${rounds} round(s), medians)`);
console.log(`  one variant (cpu):           ${median(one).toFixed(1)} s`);
console.log(`  all CPU variants (${cpuVariants.join(", ")}): ${median(all).toFixed(1)} s`);
console.log(`  ratio all/one: ${(median(all) / median(one)).toFixed(2)}   (target <= 1.6)`);
