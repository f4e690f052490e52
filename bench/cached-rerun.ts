/**
 * A fully cached re-run through the CLI against `docker build` of the ejected Dockerfile (`pipeline plan
 * --context`) on the same engine, measured in the same run: the e2e graph through `pipeline run FILE.ts`
 * (which loads TypeScript at run time), and the example's `build` stage. Prints medians and the ratios
 * (target: pipeline under 3 s, ratio <= 1.2). Needs a running engine (`npx pipeline engine up`).
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
const dockerBuild = (ctx: string) => () =>
  execFileSync(
    endpoint.client,
    ["build", "--progress=plain", "--network", "host", "-o", `type=local,dest=${join(work, "docker-out")}`, ctx],
    { env: dockerEnv(endpoint), stdio: "pipe" },
  );
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function compare(what: string, target: string[], ours: () => void) {
  const ctx = join(work, `ctx-${what.replace(/\W+/g, "-")}`);
  execFileSync(process.execPath, [bin, "plan", ...target, "--context", ctx], { stdio: "pipe", cwd: root });
  const theirs = dockerBuild(ctx);
  ours(); // warm the cache and the engine
  theirs();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < repeats; i++) {
    a.push(time(ours));
    b.push(time(theirs));
  }
  const p = median(a);
  const d = median(b);
  console.log(
    `cached re-run of ${what}, median of ${repeats}: pipeline ${p.toFixed(2)} s, docker build of the ejected Dockerfile ${d.toFixed(2)} s`,
  );
  console.log(`  ratio ${(p / d).toFixed(2)} (target <= 1.2; pipeline < 3 s wall: ${p < 3 ? "yes" : "no"})`);
}

compare("the e2e graph (pipeline run FILE.ts)", [graph], () =>
  execFileSync(process.execPath, [bin, "run", graph, "--export", join(work, "out"), "--progress", "plain"], { stdio: "pipe" }),
);
compare("the example's build stage (pipeline build)", ["build"], () =>
  execFileSync(process.execPath, [bin, "build", "--progress", "plain"], { stdio: "pipe", cwd: root }),
);
rmSync(work, { recursive: true, force: true });
