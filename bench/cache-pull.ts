/**
 * The shared compile cache on a fresh engine: the example (a project of its own, `cachebench`) built by
 * `npx pipeline build` on a second dockerd that holds no build cache (its own data root and PIPELINE_HOME,
 * seeded with its own Debian base), cold, against the same after `npx pipeline cache pull` from a loopback
 * registry that the local engine pushed to: all parts, and ccache with the dev image only (no build tree).
 * Before each run the second engine's whole build cache is pruned, and before each pull its images too (the pull
 * brings the Debian base back). Prints seconds and ratios against cold.
 * Needs a running engine, docker-registry and mmdebstrap, and Debian's package mirror (the cold toolchain).
 *   npx tsx bench/cache-pull.ts
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRegistry, startSecondDockerd } from "../test/support/engines.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "pipeline-bench-cache-"));
const project = join(work, "project");
cpSync(join(root, "examples", "minipaddle"), join(project, "minipaddle"), {
  recursive: true,
  filter: (p) => !/\/build[^/]*$/.test(p),
});
const config = join(project, "pipeline.yaml");
writeFileSync(config, "name: cachebench\nversion: 0.1.0\nsource: minipaddle\n");

/** Runs `npx pipeline ARGS` (what users run); returns its seconds and output, or throws with its tail. */
function pipeline(args: string[], env: NodeJS.ProcessEnv = {}): { seconds: number; stdout: string; stderr: string } {
  const t0 = performance.now();
  const r = spawnSync("npx", ["pipeline", ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`npx pipeline ${args.join(" ")}: exit ${r.status}\n${r.stderr.slice(-3000)}`);
  return { seconds, stdout: r.stdout, stderr: r.stderr };
}

const hits = (stderr: string) =>
  /pipeline-build: ccache:\s+Hits:\s+(\d+) \/\s*(\d+)/.exec(stderr)?.slice(1, 3).join(" of ") ?? "?";
const compiles = (stderr: string) => stderr.split("\n").filter((l) => /Building CXX object/.test(l)).length;
const aptRun = (stderr: string) => {
  const id = /^#(\d+) \[\S+ +\d+\/\d+\] RUN .*apt-get install/m.exec(stderr)?.[1];
  return id !== undefined && !new RegExp(`^#${id} CACHED$`, "m").test(stderr);
};

const registry = await startRegistry(work);
const engine = await startSecondDockerd(join(work, "d"));
const env = { PIPELINE_HOME: join(work, "home"), DOCKER_HOST: engine.host };
try {
  console.log(`local engine: build, then cache push to ${registry.addr} ...`);
  pipeline(["build", "--config", config]);
  const push = pipeline(["cache", "push", registry.addr, "--config", config]);
  console.log("second engine: seed (its own Debian base) ...");
  pipeline(["engine", "seed"], env);

  const fresh = (images: boolean) => {
    if (engine.docker(["builder", "prune", "-af"]).status !== 0) throw new Error("docker builder prune failed");
    if (images && engine.docker(["image", "prune", "-af"]).status !== 0) throw new Error("docker image prune failed");
  };
  const build = () => pipeline(["build", "--config", config, "--out", join(work, `out-${Date.now()}`)], env);
  const rows: Array<[string, number, number, string]> = [];

  fresh(false);
  console.log("cold, no cache ...");
  const cold = build();
  rows.push(["cold, no cache", 0, cold.seconds, `toolchain run: ${aptRun(cold.stderr)}, compiles ${compiles(cold.stderr)}`]);

  for (const only of [[], ["ccache", "dev-image"]]) {
    fresh(true);
    const what = only.length ? `pull of ${only.join(" + ")}` : "pull of all parts";
    console.log(`${what}, then build ...`);
    const pulled = pipeline(["cache", "pull", registry.addr, "--config", config, ...only.flatMap((o) => ["--only", o])], env);
    const b = build();
    rows.push([
      `cold after ${what}`,
      pulled.seconds,
      b.seconds,
      `toolchain run: ${aptRun(b.stderr)}, compiles ${compiles(b.stderr)}${compiles(b.stderr) ? `, ccache hits ${hits(b.stderr)}` : ""}`,
    ]);
  }

  console.log(`\ncache push from the local engine: ${push.seconds.toFixed(1)} s`);
  console.log("| second engine, build cache pruned | pull s | build s | total s | vs cold | |");
  console.log("|---|---|---|---|---|---|");
  for (const [what, pull, b, note] of rows) {
    const total = pull + b;
    console.log(
      `| ${what} | ${pull.toFixed(1)} | ${b.toFixed(1)} | ${total.toFixed(1)} | ${(total / cold.seconds).toFixed(2)}x | ${note} |`,
    );
  }
} finally {
  registry.stop();
  await engine.stop();
  rmSync(work, { recursive: true, force: true });
}
