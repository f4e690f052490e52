/**
 * Warm processes (pipeline/warm.mjs): a stage command run by a process that loaded the CLI before it was
 * asked answers as the CLI does (output, exit status, exported files), and a stop signal sent to the command
 * reaches the build it runs; the next one loads only once the command is done. PIPELINE_WARM=1 asks for one; a command typed at a terminal (a pseudo-terminal
 * here, through util-linux's `script`) gets one without it, unless PIPELINE_WARM=0.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { BIN, cli, explain, processesMatching, ROOT, scratch, sleep, start } from "./helpers.ts";

const WARM = { PIPELINE_WARM: "1", PIPELINE_TRACE: "1" };
const TAKEN = /^pipeline: trace [0-9.]+s taken by a warm process \(pid (\d+)\)\r?$/m;
const home = join(process.env.PIPELINE_HOME ?? join(process.env.HOME!, ".cache", "pipeline"), "warm");

/** The warm processes of this state folder (their command line names its socket folder). */
const warmProcesses = () => processesMatching(`warm.mjs ${home}/`);

/** Whether a warm process listens now (a connection is accepted and closed unused: it keeps waiting). */
async function listening(): Promise<boolean> {
  const sockets = existsSync(home) ? readdirSync(home).filter((f) => f.endsWith(".sock")) : [];
  for (const s of sockets) {
    const live = await new Promise<boolean>((res) => {
      const c = connect(join(home, s));
      c.on("connect", () => {
        c.destroy();
        res(true);
      });
      c.on("error", () => res(false));
    });
    if (live) return true;
  }
  return false;
}

/** Waits until a warm process listens. */
async function ready(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await listening()) return;
    await sleep(200);
  }
  throw new Error("no warm process started");
}

const withoutTrace = (s: string) => s.replace(/^pipeline: trace .*\n/gm, "");

test.before(() => {
  for (const pid of warmProcesses()) process.kill(pid, "SIGKILL");
});

test.after(() => {
  for (const pid of warmProcesses()) process.kill(pid, "SIGKILL");
});

test("a warm process answers as the CLI does: bad flags, exit 2, the same message", async () => {
  const cold = await cli(["build", "--bogus"], WARM);
  assert.is(cold.code, 2, explain(cold));
  assert.not.match(cold.stderr, TAKEN, "the first command loads the CLI itself");
  await ready();
  const warm = await cli(["build", "--bogus"], WARM);
  assert.is(warm.code, 2, explain(warm));
  assert.ok(TAKEN.test(warm.stderr), `not taken by a warm process:\n${warm.stderr}`);
  assert.is(withoutTrace(warm.stderr), withoutTrace(cold.stderr));
  assert.is(warm.stdout, cold.stdout);
});

/**
 * The CLI run on a pseudo-terminal (standard input, output and error), as a developer types it: CI and
 * PIPELINE_WARM are left out of the environment unless `env` sets them. Returns the exit code and what the
 * terminal showed.
 */
function atTerminal(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; screen: string } {
  const base: NodeJS.ProcessEnv = { ...process.env, PIPELINE_TRACE: "1" };
  delete base.CI;
  delete base.PIPELINE_WARM;
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const r = spawnSync("script", ["-qefc", [process.execPath, BIN, ...args].map(q).join(" "), "/dev/null"], {
    cwd: ROOT,
    env: { ...base, ...env },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status, screen: `${r.stdout}${r.stderr}` };
}

test("at a terminal a command is handed to a warm process without PIPELINE_WARM; PIPELINE_WARM=0 or no terminal loads the CLI", async () => {
  for (const pid of warmProcesses()) process.kill(pid, "SIGKILL");
  const first = atTerminal(["build", "--bogus"]);
  assert.is(first.code, 2, first.screen);
  assert.not.match(first.screen, TAKEN, "the first command loads the CLI itself");
  await ready();
  const off = atTerminal(["build", "--bogus"], { PIPELINE_WARM: "0" });
  assert.is(off.code, 2, off.screen);
  assert.not.match(off.screen, TAKEN, `PIPELINE_WARM=0 at a terminal:\n${off.screen}`);
  // Neither a command whose standard input is no terminal (a script, a pipe, this test runner) nor one in CI.
  const piped = await cli(["build", "--bogus"], { CI: "", PIPELINE_TRACE: "1" });
  assert.is(piped.code, 2, explain(piped));
  assert.not.match(piped.stderr, TAKEN, `no terminal:\n${piped.stderr}`);
  const ci = atTerminal(["build", "--bogus"], { CI: "true" });
  assert.not.match(ci.screen, TAKEN, `CI=true at a terminal:\n${ci.screen}`);
  const typed = atTerminal(["build", "--bogus"]);
  assert.is(typed.code, 2, typed.screen);
  assert.match(typed.screen, TAKEN, `not taken by a warm process at a terminal:\n${typed.screen}`);
  assert.match(typed.screen, "Unknown argument: bogus");
});

test("a build taken by a warm process exports what the CLI exports, exit 0", async () => {
  const dir = scratch();
  const cold = await cli(["build", "--out", join(dir, "cold")]);
  assert.is(cold.code, 0, explain(cold));
  await ready();
  const warm = await cli(["build", "--out", join(dir, "warm")], WARM);
  assert.is(warm.code, 0, explain(warm));
  assert.match(warm.stderr, TAKEN);
  assert.match(warm.stderr, "build result written to");
  const files = (d: string) => readdirSync(d, { recursive: true }).map(String).sort();
  assert.equal(files(join(dir, "warm")), files(join(dir, "cold")));
  assert.equal(readFileSync(join(dir, "warm", "minipaddle")), readFileSync(join(dir, "cold", "minipaddle")));
  // The warm process ran one command and is gone; its successor waits for the next.
  const pid = Number(TAKEN.exec(warm.stderr)![1]);
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const gone = Date.now() + 5_000;
  while (alive() && Date.now() < gone) await sleep(100);
  assert.not.ok(alive(), "the process that ran it exited");
  await ready();
});

test("the digests the client's up-to-date check made go over with the command, for its stamp", async () => {
  // A warm process of a stand-in CLI whose main prints the digests it was handed (uptodate.mjs's global).
  const dir = scratch();
  const socket = join(dir, "w.sock");
  const fake = join(dir, "cli.mjs");
  writeFileSync(
    fake,
    'export async function main() { const m = globalThis[Symbol.for("pipeline.inputDigests")]; ' +
      "process.stdout.write(JSON.stringify([...(m ?? [])])); process.exit(0); }\n",
  );
  const warmMjs = join(ROOT, "pipeline", "warm.mjs");
  const server = spawn(process.execPath, [warmMjs, socket, pathToFileURL(fake).href], { stdio: "ignore" });
  try {
    const until = Date.now() + 10_000;
    while (!existsSync(socket) && Date.now() < until) await sleep(50);
    const client =
      `import { runWarm } from ${JSON.stringify(pathToFileURL(warmMjs).href)};\n` +
      `globalThis[Symbol.for("pipeline.inputDigests")] = new Map([['["/src",[]]', "d1"]]);\n` +
      `process.exit((await runWarm(${JSON.stringify(socket)}, ["build"])) ?? 99);\n`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", client], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout), [['["/src",[]]', "d1"]]);
  } finally {
    server.kill("SIGKILL");
    // The successor it started as it exited.
    for (const pid of processesMatching(`warm.mjs ${socket}`)) process.kill(pid, "SIGKILL");
  }
});

test("SIGTERM to a command a warm process runs stops its build: exit 143, the build's processes gone", async () => {
  const dir = scratch();
  const seconds = String(100_000 + Math.floor(Math.random() * 900_000));
  mkdirSync(join(dir, "src"));
  writeFileSync(
    join(dir, "src", "CMakeLists.txt"),
    `cmake_minimum_required(VERSION 3.16)\nproject(warmslow NONE)\nadd_custom_target(wait ALL COMMAND sleep ${seconds})\n`,
  );
  writeFileSync(join(dir, "pipeline.yaml"), "name: warmslow\nversion: 0.1.0\nsource: src\nchecks: {isa: false}\n");
  await ready();
  const run = start(["build", "--config", join(dir, "pipeline.yaml"), "--out", join(dir, "out")], WARM);
  const deadline = Date.now() + 300_000;
  while (processesMatching(`sleep ${seconds}`).length === 0) {
    if (Date.now() > deadline || run.child.exitCode !== null)
      throw new Error(`the build never started:\n${explain(await run.done)}`);
    await sleep(200);
  }
  // The warm process starts its successor as it exits, which loads only once it is gone: while the build runs,
  // none listens (loading would take a core for half a second from the build).
  await sleep(3_000);
  assert.is(await listening(), false, "a successor loaded while the command ran");
  run.child.kill("SIGTERM");
  const r = await run.done;
  assert.is(r.code, 143, explain(r));
  assert.match(r.stderr, TAKEN);
  assert.match(r.stderr, "interrupted");
  assert.not.ok(existsSync(join(dir, "out")));
  const gone = Date.now() + 15_000;
  while (processesMatching(`sleep ${seconds}`).length > 0 && Date.now() < gone) await sleep(200);
  assert.equal(processesMatching(`sleep ${seconds}`), [], "the build step was stopped");
  await ready();
});

test.run();
