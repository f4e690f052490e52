/**
 * A fully cached re-run of the e2e graph through `pipeline run`, against `docker build` of the ejected
 * Dockerfile (`pipeline plan --context`) on the same engine, measured in the same run. Prints medians and the
 * ratio (target: pipeline under 3 s, ratio <= 1.2). Needs a running engine (`npx pipeline engine up`).
 *   npx tsx bench/cached-rerun.ts [repeats]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerEnv, findBuildkit } from "../pipeline/engines/detect.ts";

const repeats = Number(process.argv[2] ?? 7);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "pipeline", "bin.mjs");
const graph = join(root, "test", "fixtures", "graphs", "e2e.ts");
const work = mkdtempSync(join(tmpdir(), "pipeline-bench-"));
const endpoint = await findBuildkit();
if (endpoint.kind !== "docker") throw new Error("this bench compares with docker build; run it against a Docker engine");

const time = (fn: () => void) => {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
};
const pipelineRun = () => execFileSync(process.execPath, [bin, "run", graph, "--export", join(work, "out"), "--progress", "plain"], { stdio: "pipe" });
const ctx = join(work, "ctx");
execFileSync(process.execPath, [bin, "plan", graph, "--context", ctx], { stdio: "pipe" });
const dockerBuild = () =>
  execFileSync(endpoint.client, ["build", "--progress=plain", "--network", "host", "-o", `type=local,dest=${join(work, "docker-out")}`, ctx], { env: dockerEnv(endpoint), stdio: "pipe" });

pipelineRun(); // warm the cache and the engine
dockerBuild();
const ours: number[] = [];
const theirs: number[] = [];
for (let i = 0; i < repeats; i++) {
  ours.push(time(pipelineRun));
  theirs.push(time(dockerBuild));
}
rmSync(work, { recursive: true, force: true });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p = median(ours);
const d = median(theirs);
console.log(`cached re-run, median of ${repeats}: pipeline run ${p.toFixed(2)} s, docker build of the ejected Dockerfile ${d.toFixed(2)} s`);
console.log(`cached re-run: ratio ${(p / d).toFixed(2)} (target <= 1.2; pipeline < 3 s wall: ${p < 3 ? "yes" : "no"})`);
