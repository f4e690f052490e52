/**
 * A one-file incremental `build` of the example against the same incremental build on the host (same
 * compiler, g++ 12 from Debian, same CMake options), measured in one run; and a no-change re-run of `build`.
 * Prints medians and the ratio (targets: ratio <= 1.5, no-change re-run < 3 s).
 * Needs a running engine and, on the host, the example's build dependencies (cmake, ninja-build, g++,
 * python3-dev, pybind11-dev).
 *   npx tsx bench/incremental.ts [rounds]
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { commandsFor } from "../modules/compile.ts";
import { variantFromSwitches } from "../modules/variants.ts";
import { parseConfig } from "../modules/config.ts";
import { readFileSync } from "node:fs";

const rounds = Number(process.argv[2] ?? 3);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "pipeline", "bin.mjs");
const work = mkdtempSync(join(tmpdir(), "pipeline-bench-inc-"));
const hostSrc = join(work, "host");
const ourSrc = join(work, "pipeline");
for (const d of [hostSrc, ourSrc])
  cpSync(join(root, "examples", "minipaddle"), d, { recursive: true, filter: (p) => !/\/build[^/]*$/.test(p) });
// A source no earlier run had, so the warm-up build really runs and leaves this tree in the build cache.
appendFileSync(join(ourSrc, "src", "nn.cc"), `\n// bench ${Date.now()}\n`);
appendFileSync(join(hostSrc, "src", "nn.cc"), `\n// bench ${Date.now()}\n`);

const time = (fn: () => unknown) => {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
};
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: "pipe", cwd: root, maxBuffer: 1 << 28 });

// The host build runs the very configure/build commands the stage runs, without ccache.
const cfg = parseConfig(readFileSync(join(root, "pipeline.yaml"), "utf8"), "pipeline.yaml");
const [configure, build] = commandsFor(cfg, variantFromSwitches(cfg, { gpu: false, avx: true }), false).map((c) =>
  c
    .map((w) => w.replace(/^\/src\/build$/, join(hostSrc, "build")).replace(/^\/src$/, hostSrc))
    .filter((w) => !w.includes("COMPILER_LAUNCHER")),
);
const hostBuild = () => run(build![0]!, build!.slice(1));
const ourBuild = () => run(process.execPath, [bin, "build", "--source", ourSrc, "--progress", "plain"]);

run(configure![0]!, configure!.slice(1));
hostBuild();
ourBuild();
const host: number[] = [];
const ours: number[] = [];
for (let i = 0; i < rounds; i++) {
  const edit = `\nnamespace { [[maybe_unused]] const int bench_edit_${Date.now()}_${i} = ${i}; }\n`;
  appendFileSync(join(hostSrc, "src", "nn.cc"), edit);
  appendFileSync(join(ourSrc, "src", "nn.cc"), edit);
  host.push(time(hostBuild));
  ours.push(time(ourBuild));
}
const rerun: number[] = [];
for (let i = 0; i < rounds; i++) rerun.push(time(ourBuild));
rmSync(work, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `incremental (one .cc edited), median of ${rounds}: pipeline build ${median(ours).toFixed(2)} s, host ninja ${median(host).toFixed(2)} s`,
);
console.log(`incremental: ratio ${(median(ours) / median(host)).toFixed(2)} (target <= 1.5)`);
console.log(`no-change re-run of build, median of ${rounds}: ${median(rerun).toFixed(2)} s (target < 3 s)`);
