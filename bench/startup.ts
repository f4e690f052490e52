/**
 * Start-up as users run it: `pipeline --version` three ways, median wall time over N runs each:
 * - `npx pipeline --version`: what the README's examples type; npx resolves the package on every call;
 * - `node pipeline/bin.mjs --version`: the bundled CLI with nothing in front;
 * - `pipeline --version` on PATH, as `npm link` (the README's set-up) puts it there: a symlink to bin.mjs.
 * The PATH form is set up in a temporary npm prefix (npm_config_prefix), so the bench changes nothing global.
 *   npx tsx bench/startup.ts [runs]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

const RUNS = Number(process.argv[2] ?? 15);
const ROOT = fileURLToPath(new URL("..", import.meta.url));

function time(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const prefix = mkdtempSync(join(tmpdir(), "pipeline-bench-prefix-"));
try {
  const link = spawnSync("npm", ["link", "--no-audit", "--no-fund"], {
    cwd: ROOT,
    env: { ...process.env, npm_config_prefix: prefix },
    encoding: "utf8",
  });
  if (link.status !== 0) throw new Error(`npm link failed: ${link.stderr}`);
  const pathEnv = { ...process.env, PATH: `${join(prefix, "bin")}${delimiter}${process.env.PATH}` };
  const forms: Array<[string, () => number]> = [
    ["npx pipeline --version", () => time("npx", ["pipeline", "--version"])],
    ["node pipeline/bin.mjs --version", () => time(process.execPath, ["pipeline/bin.mjs", "--version"])],
    ["pipeline --version (on PATH: npm link)", () => time("pipeline", ["--version"], pathEnv)],
  ];
  // One run of each first: the bundle is built (or found fresh) before anything is timed.
  for (const [, run] of forms) run();
  const results = forms.map(([name]) => ({ name, ms: [] as number[] }));
  // Interleaved, so a busy moment of the machine weighs on every form alike.
  for (let i = 0; i < RUNS; i++) forms.forEach(([, run], k) => results[k]!.ms.push(run()));
  console.log(`start-up, median of ${RUNS} runs (${process.version}):`);
  for (const r of results) console.log(`  ${r.name.padEnd(40)} ${median(r.ms).toFixed(0).padStart(5)} ms`);
} finally {
  rmSync(prefix, { recursive: true, force: true });
}
