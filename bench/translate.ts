/**
 * Translation speed: a 300-operation Dagger graph -> plan -> Dockerfile, timed over many runs.
 * Prints the median and 95th percentile in milliseconds (target: under 50 ms).
 *   npx tsx bench/translate.ts [operations]
 */
import { CacheSharingMode, dag, type Container } from "@dagger.io/dagger";
import { readGraph } from "../pipeline/sdk-adapter.ts";
import { planGraph } from "../pipeline/plan.ts";
import { renderDockerfile } from "../pipeline/dockerfile.ts";

const OPS = Number(process.argv[2] ?? 300);

function bigGraph(ops: number): Container {
  let helper = dag.container().from("debian:bookworm").withWorkdir("/w");
  let ctr = dag
    .container()
    .from("debian:bookworm")
    .withMountedCache("/cache", dag.cacheVolume("c"), { sharing: CacheSharingMode.Locked });
  let n = 3;
  for (let i = 0; n < ops; i++) {
    switch (i % 6) {
      case 0:
        ctr = ctr.withExec(["sh", "-c", `echo step ${i} >> /log`]);
        break;
      case 1:
        ctr = ctr.withEnvVariable(`V${i}`, `value $${i}`);
        break;
      case 2:
        ctr = ctr.withNewFile(`/files/f${i}.txt`, `content ${i}\n`);
        break;
      case 3:
        helper = helper.withExec(["sh", "-c", `echo ${i} > out${i}`]);
        ctr = ctr.withFile(`/from/${i}`, helper.file(`out${i}`));
        n++;
        break;
      case 4:
        ctr = ctr.withWorkdir(`/w${i}`);
        break;
      case 5:
        ctr = ctr.withDirectory(`/d${i}`, dag.directory().withNewFile("a", String(i)));
        n++;
        break;
    }
    n++;
  }
  return ctr;
}

const graph = bigGraph(OPS);
const times: number[] = [];
let lines = 0;
for (let i = 0; i < 60; i++) {
  const t0 = performance.now();
  const text = renderDockerfile(planGraph(readGraph(graph)));
  times.push(performance.now() - t0);
  lines = text.split("\n").length;
}
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
console.log(`translate: ${OPS} operations -> ${lines} Dockerfile lines`);
console.log(
  `translate: median ${at(0.5).toFixed(2)} ms, p95 ${at(0.95).toFixed(2)} ms, first (cold) ${Math.max(...times).toFixed(2)} ms (target < 50 ms)`,
);
