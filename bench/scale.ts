/**
 * Builds that scale: a generated CMake project of N translation units (groups of 10 share a header), built with
 * `npx pipeline build` (what users run) and with host ninja (same compiler, g++ 12, and options), for each N:
 * cold, one-file edit, header edit (10 TUs) and no-change builds; and the no-change build of the eject
 * (`pipeline plan build --context DIR` then `DOCKER_BUILDKIT=1 /usr/bin/docker build DIR` on the same engine).
 * The one-file edit and the no-change run are also timed through `pipeline` on PATH (node pipeline/bin.mjs, what
 * `npm link` puts there), which skips npx's own start-up; the edit five times, alternating with five host ninja
 * edits, and the medians compared; and five times more with PIPELINE_WARM=1 (a warm process runs the command;
 * the last one it starts exits by itself after ten idle minutes). Each edit is followed by a 2 s pause before the
 * timed build, as a person's edit takes (a warm process's successor loads then). Prints a table of seconds and
 * ratios. Targets:
 * one-file edit <= 1.3 x host + 0.5 s; no-change <= 2 x the eject.
 * Needs a running engine and, on the host: apt-get install -y cmake ninja-build build-essential.
 *   npx tsx bench/scale.ts [N ...] [--large] [--light] [--blob-kb KB] [--thirdparty DIR [--config FILE] [--edit FILE] [--header FILE]]
 * (default N: 200 2000, none with --thirdparty alone; --large adds 5000). --light: plain-arithmetic functions
 * (no STL headers), so that N=5000 compiles in minutes; --blob-kb KB: KB of data in every object, for a build
 * tree of real size (5000 --light --blob-kb 100: about 1 GB).
 * A third-party CMake project (--thirdparty DIR, e.g. an unpacked ../shared/thirdparty source) is measured the
 * same way, editing its first .cc/.cpp file or --edit FILE (and, with --header FILE, that header); with --config FILE (e.g.
 * examples/thirdparty/ncnn/pipeline.yaml) the pipeline builds it with that config's default variant and host
 * cmake configures it with the same arguments (less the ccache launcher), else both use its CMake defaults.
 */
import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { findBuildkit } from "../pipeline/engines/detect.ts";
import { parseConfig } from "../modules/config.ts";
import { commandsFor } from "../modules/compile.ts";
import { selectVariant } from "../modules/variants.ts";

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const third = flag("--thirdparty");
const thirdConfig = flag("--config");
const thirdHeader = flag("--header");
const thirdEdit = flag("--edit");
const sizes = args.filter((a, i) => /^\d+$/.test(a) && !["--thirdparty", "--blob-kb"].includes(args[i - 1]!)).map(Number);
// --thirdparty alone measures that project only.
const ns = sizes.length ? sizes : third ? [] : [200, 2000, ...(args.includes("--large") ? [5000] : [])];
const light = args.includes("--light");
const blobKb = args.includes("--blob-kb") ? Number(args[args.indexOf("--blob-kb") + 1]) : 0;
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "pipeline", "bin.mjs");
const stamp = Date.now().toString(36);

const time = (fn: () => unknown) => {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
};
/** How many one-file edits are timed through PATH and host ninja (their medians go in the table). */
const EDITS = 5;
/** Milliseconds between an edit and its timed build, as a person edits: the same for every way of building. */
const PAUSE_MS = 2000;
const f = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(2));
const median = (fn: () => number) => [fn(), fn(), fn()].sort((a, b) => a - b)[1]!;
function run(cmd: string, argv: string[], env?: NodeJS.ProcessEnv): Buffer;
function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv, stderr: true): string;
function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv = {}, stderr = false): Buffer | string {
  const r = spawnSync(cmd, argv, {
    cwd: root,
    maxBuffer: 1 << 28,
    env: { ...process.env, CI: "1", PIPELINE_TRACE: "1", ...env },
    encoding: "buffer",
  });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")} failed (exit ${r.status}):\n${r.stderr.toString().slice(-3000)}`);
  return stderr ? r.stderr.toString() : r.stdout;
}

/** The slowest steps of a build, from its plain BuildKit log (`#N name` ... `#N DONE 1.2s`). */
function steps(log: string): string {
  const names = new Map<string, string>();
  const took: Array<[string, number]> = [];
  for (const line of log.split("\n")) {
    const named = /^#(\d+) (\[.*|exporting.*|transferring.*|\[internal\].*)$/.exec(line);
    if (named && !names.has(named[1]!)) names.set(named[1]!, named[2]!.slice(0, 60));
    const done = /^#(\d+) DONE (\d+(?:\.\d+)?)s$/.exec(line);
    if (done && !new RegExp(`^#${done[1]} CACHED$`, "m").test(log))
      took.push([names.get(done[1]!) ?? `#${done[1]}`, Number(done[2])]);
  }
  // Inside the compile step: the tree's restore ends at "configure", the build at ccache's counters, then the save.
  const at = (re: RegExp) => Number(new RegExp(`^#(\\d+) (\\d+\\.\\d+) ${re.source}`, "m").exec(log)?.[2] ?? NaN);
  const step = /^#(\d+) \d+\.\d+ pipeline-build: configure/m.exec(log)?.[1];
  const total = step ? Number(new RegExp(`^#${step} DONE (\\d+(?:\\.\\d+)?)s$`, "m").exec(log)?.[1] ?? NaN) : NaN;
  const restore = at(/pipeline-build: configure/);
  const built = at(/pipeline-build: ccache: /);
  const inside = `restore ${restore.toFixed(1)}s, configure+build ${(built - restore).toFixed(1)}s, save ${(total - built).toFixed(1)}s`;
  // The CLI's own phases (PIPELINE_TRACE): until the context is staged, and after the engine's build.
  const trace = (what: string) => Number(new RegExp(`^pipeline: trace (\\d+\\.\\d+)s ${what}$`, "m").exec(log)?.[1] ?? NaN);
  const cli = `CLI: loaded ${trace("CLI loaded").toFixed(2)}s, context staged ${trace("context written").toFixed(2)}s, engine done ${trace("build done").toFixed(2)}s, exit ${trace("stamp recorded").toFixed(2)}s`;
  return `${took
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([n, s]) => `${s.toFixed(1)}s ${n}`)
    .join("; ")} (compile step: ${inside}; ${cli})`;
}
const breakdown: string[] = [];

/**
 * A CMake project of n translation units: a static library of n functions (groups of 10 share a header) and a
 * program. `light`: each function is plain arithmetic (no <vector>/<algorithm>), so thousands compile in
 * minutes; `blobKb`: each object also carries that many KB of read-only data (an assembler `.fill`), so the
 * build tree reaches the size of a real framework's (objects plus the archive holding them: 2 x n x blobKb).
 */
function generate(dir: string, n: number, light = false, blobKb = 0): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  mkdirSync(join(dir, "include"), { recursive: true });
  const groups = Math.ceil(n / 10);
  for (let g = 0; g < groups; g++)
    writeFileSync(
      join(dir, "include", `g${g}.h`),
      `#pragma once\n${light ? "" : "#include <vector>\n#include <string>\n"}namespace gen { inline int scale${g}() { return ${g + 1}; } }\n`,
    );
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const g = Math.floor(i / 10);
    files.push(`src/f${i}.cc`);
    const body = light
      ? `  int s = x;\n  for (int k = 0; k < 16; ++k) s = s * 31 + k;\n  return s * scale${g}() + ${i};\n`
      : `  std::vector<int> v(16, x);\n  std::sort(v.begin(), v.end());\n  return v[3] * scale${g}() + ${i};\n`;
    const blob = blobKb
      ? `asm(".pushsection .rodata.blob${i},\\"a\\"\\n.fill ${blobKb * 1024},1,${i % 251}\\n.popsection");\n`
      : "";
    writeFileSync(
      join(dir, "src", `f${i}.cc`),
      `#include "g${g}.h"\n${light ? "" : "#include <algorithm>\n"}${blob}namespace gen {\nint f${i}(int x) {\n${body}}\n}  // namespace gen\n`,
    );
  }
  const decls = Array.from({ length: n }, (_, i) => `int f${i}(int);`).join(" ");
  writeFileSync(
    join(dir, "src", "main.cc"),
    `#include <cstdio>\nnamespace gen { ${decls} }\nint main() { long s = 0; ${Array.from({ length: Math.min(n, 50) }, (_, i) => `s += gen::f${i}(1);`).join(" ")} std::printf("%ld\\n", s); }\n`,
  );
  writeFileSync(
    join(dir, "CMakeLists.txt"),
    `cmake_minimum_required(VERSION 3.16)\nproject(scale CXX)\noption(SCALE_TEST "tests" OFF)\nadd_library(gen STATIC ${files.join(" ")})\n` +
      `target_include_directories(gen PUBLIC include)\nadd_executable(scale src/main.cc)\ntarget_link_libraries(scale gen)\n`,
  );
}

interface Row {
  what: string;
  cold: [number, number];
  edit: [number, number];
  /** The one-file edit through \`pipeline\` on PATH, and through host ninja: the medians of EDITS edits each. */
  editPath: number;
  editHost: number;
  /** The same through PATH with PIPELINE_WARM=1. */
  editWarm: number;
  header: [number, number];
  none: [number, number];
  nonePath: number;
  /** Whether the no-change run was answered by the up-to-date check. */
  upToDate: boolean;
  eject: number;
}

function firstSource(dir: string): string | undefined {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (/^(\.|build|third_party|3rdparty|test|tests|examples?)/.test(e)) continue;
    if (statSync(p).isDirectory()) {
      const f = firstSource(p);
      if (f) return f;
    } else if (/\.(cc|cpp|cxx)$/.test(e)) return p;
  }
  return undefined;
}

/**
 * The pipeline config of a measured project, named for this run (its own cache volumes), and host cmake's
 * configure command line: with `base` (a project's own config) those of its default variant, as the container
 * runs them, for the host's folders and without the ccache launcher; else CMake's defaults.
 */
function projectConfig(name: string, host: string, hb: string, base?: string): { yaml: string; configure: string[] } {
  if (!base)
    return {
      yaml: `name: ${name}\nversion: 0.1.0\nsource: ours\n`,
      configure: ["-S", host, "-B", hb, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"],
    };
  const text = readFileSync(base, "utf8");
  const cfg = parseConfig(text, base);
  const argv = commandsFor(cfg, selectVariant(cfg, { gpu: false, avx: true }), false)[0]!;
  const configure = argv
    .slice(1)
    .filter((a) => !/^-DCMAKE_(C|CXX)_COMPILER_LAUNCHER=/.test(a))
    .map((a) => (a === "/src/build" ? hb : a === "/src" ? host : a));
  return { yaml: toYaml({ ...parseYaml(text), name, source: "ours" }), configure };
}

async function measure(what: string, src: string, edits: { one: string; header?: string }, base?: string): Promise<Row> {
  const work = mkdtempSync(join(tmpdir(), "pipeline-bench-scale-"));
  const host = join(work, "host");
  const ours = join(work, "ours");
  cpSync(src, host, { recursive: true });
  cpSync(src, ours, { recursive: true });
  const name = `scale-${what.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}-${stamp}`;
  const config = join(work, "pipeline.yaml");
  const hb = join(host, "build");
  const project = projectConfig(name, host, hb, base);
  writeFileSync(config, project.yaml);
  let log = "";
  // As the README runs it (npx), or as `pipeline` on PATH runs it (npm link's symlink to bin.mjs).
  const pipeline = (out: string, via: "npx" | "path" | "warm" = "npx") => {
    const argv = ["build", "--config", config, "--out", join(work, out), "--force", "--progress", "plain"];
    const env = via === "warm" ? { PIPELINE_WARM: "1" } : {};
    return time(
      () => (log = via === "npx" ? run("npx", ["pipeline", ...argv], env, true) : run("node", [bin, ...argv], env, true)),
    );
  };
  const ninja = () => time(() => run("cmake", ["--build", hb, "--parallel"]));
  // An edit, then the time a person's edit takes at least (PAUSE_MS) before the build is started and timed: a
  // warm process's successor loads while the person edits, not while the next build runs.
  const edit = (dir: string, rel: string) => {
    appendFileSync(join(dir, rel), `\n// edit ${Date.now()}\n`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, PAUSE_MS);
  };
  console.error(`${what}: cold builds ...`);
  const hostCold = time(() => {
    run("cmake", project.configure);
    run("cmake", ["--build", hb, "--parallel"]);
  });
  const oursCold = pipeline("out");
  console.error(`${what}: one-file edit ...`);
  edit(host, edits.one);
  edit(ours, edits.one);
  const e: [number, number] = [pipeline("out"), ninja()];
  breakdown.push(`${what}, one-file edit: ${steps(log)}`);
  console.error(`${breakdown.at(-1)}`);
  // The same edit again, through \`pipeline\` on PATH (no npx in front), and through host ninja: EDITS times each,
  // alternating, their medians (one edit's time varies by a second on these machines).
  const paths: number[] = [];
  const hosts: number[] = [];
  for (let i = 0; i < EDITS; i++) {
    edit(ours, edits.one);
    paths.push(pipeline("out", "path"));
    edit(host, edits.one);
    hosts.push(ninja());
  }
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const [editPath, editHost] = [mid(paths), mid(hosts)];
  console.error(`${what}: one-file edit, ${EDITS} times: PATH ${paths.map(f).join(" ")}; host ${hosts.map(f).join(" ")}`);
  // And through PATH with PIPELINE_WARM=1 (a process that loaded the CLI already runs the command): the first
  // edit starts the warm process, the next EDITS are timed, each after a host ninja edit as the PATH ones are
  // (run back to back, they took 2.7 s more than the PATH ones at 1 GB, 0.6 s once spaced so: most likely the
  // engine still clearing up after the last build).
  edit(ours, edits.one);
  pipeline("out", "warm");
  const warms: number[] = [];
  for (let i = 0; i < EDITS; i++) {
    edit(host, edits.one);
    ninja();
    edit(ours, edits.one);
    warms.push(pipeline("out", "warm"));
  }
  const editWarm = mid(warms);
  console.error(`${what}: one-file edit, ${EDITS} times, PIPELINE_WARM=1: ${warms.map(f).join(" ")}`);
  let h: [number, number] = [NaN, NaN];
  if (edits.header) {
    console.error(`${what}: header edit ...`);
    edit(host, edits.header);
    edit(ours, edits.header);
    h = [pipeline("out"), ninja()];
  }
  console.error(`${what}: no change ...`);
  // No-change runs are short and noisy: the median of three of each.
  const none: [number, number] = [median(() => pipeline("out")), median(ninja)];
  const nonePath = median(() => pipeline("out", "path"));
  const upToDate = /^pipeline: up to date/m.test(log);
  // The eject: the same build as a Dockerfile and context, built by docker on the same engine (after one run).
  const ctx = join(work, "ctx");
  run("npx", ["pipeline", "plan", "build", "--config", config, "--context", ctx]);
  const endpoint = await findBuildkit();
  if (endpoint.kind !== "docker") throw new Error("the eject comparison needs a Docker engine");
  const docker = () =>
    time(() =>
      run("/usr/bin/docker", ["build", "--network", "host", "-q", ctx], { DOCKER_HOST: endpoint.host, DOCKER_BUILDKIT: "1" }),
    );
  docker();
  const eject = median(docker);
  rmSync(work, { recursive: true, force: true });
  return { what, cold: [oursCold, hostCold], edit: e, editPath, editHost, editWarm, header: h, none, nonePath, upToDate, eject };
}

const rows: Row[] = [];
const met = (ok: boolean) => (ok ? "met" : "missed");
/** One row of the table, printed as soon as it is measured (a later failure keeps the rows before it). */
function report(r: Row): void {
  const editOk = (t: number, host: number) => t <= 1.3 * host + 0.5;
  const noneOk = (t: number) => t <= 2 * r.eject;
  console.log(
    `| ${r.what} | ${f(r.cold[0])} / ${f(r.cold[1])} | ${f(r.edit[0])} / ${f(r.editPath)} / ${f(r.editWarm)} / ${f(r.edit[1])}, ${f(r.editHost)} | ` +
      `${f(r.edit[0] / r.edit[1])}, ${f(r.editPath / r.editHost)}, ${f(r.editWarm / r.editHost)} | ` +
      `${met(editOk(r.edit[0], r.edit[1]))}, ${met(editOk(r.editPath, r.editHost))}, ${met(editOk(r.editWarm, r.editHost))} | ` +
      `${f(r.header[0])} / ${f(r.header[1])} | ${f(r.none[0])} / ${f(r.nonePath)} / ${f(r.none[1])} | ${f(r.eject)} | ` +
      `${f(r.none[0] / r.eject)}, ${f(r.nonePath / r.eject)} | ${met(noneOk(r.none[0]))}, ${met(noneOk(r.nonePath))} |`,
  );
  rows.push(r);
}
console.log(
  "| project | cold pipeline/host (s) | 1-file edit npx / PATH (median) / warm (median) / host, host (median) (s) | " +
    "ratio npx, PATH, warm | target 1.3x+0.5s (npx, PATH, warm) | " +
    "header edit pipeline/host (s) | no-change npx/PATH/host (s) | eject no-change (s) | ratio npx, PATH | target 2x (npx, PATH) |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const n of ns) {
  const dir = mkdtempSync(join(tmpdir(), `pipeline-scale-${n}-`));
  generate(dir, n, light, blobKb);
  const kind = `${light ? " light" : ""}${blobKb ? `, ${blobKb} KB/object` : ""}`;
  report(await measure(`N=${n}${kind}`, dir, { one: `src/f${Math.floor(n / 2)}.cc`, header: "include/g0.h" }));
  rmSync(dir, { recursive: true, force: true });
}
if (third) {
  const one = thirdEdit ? join(third, thirdEdit) : firstSource(third);
  if (!one) throw new Error(`${third}: no .cc/.cpp source found to edit`);
  report(
    await measure(`thirdparty ${third.split("/").pop()}`, third, { one: relative(third, one), header: thirdHeader }, thirdConfig),
  );
}

for (const r of rows) if (!r.upToDate) console.log(`- ${r.what}: the no-change run was not answered by the up-to-date check`);
for (const b of breakdown) console.log(`- ${b}`);
