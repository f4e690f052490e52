/**
 * The build tree kept between builds: a save writes back only what the build changed, a restore copies only what
 * the saves since the engine's snapshot of the tree changed, and a save cut off half-way
 * is repaired (the next build rebuilds what the cut-off build changed, from its journal, and nothing else); file
 * names with a newline travel through the source manifest intact. The project here is a copy of the example under its own name, so its cache
 * volumes (and the large file that makes its save slow enough to cut off) are its own.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { cli, explain, ROOT, scratch, start } from "./helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (data: string) => createHash("sha256").update(data).digest("hex");

/** PIDs of processes whose command line contains `needle` and whose root holds `marker` (one build's step). */
function stepProcesses(needle: string, marker: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes(needle) && existsSync(`/proc/${pid}/root${marker}`)) out.push(Number(pid));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** The records of a source manifest (`sha256sum -z`): file name -> SHA-256. */
function manifest(file: string): Map<string, string> {
  const records = readFileSync(file, "utf8").split("\0").filter(Boolean);
  return new Map(records.map((r) => [r.slice(66), r.slice(0, 64)]));
}

const ID = randomBytes(4).toString("hex");
const ODD = "odd\nname.txt";

/**
 * A scratch project: the example, named for one test (its own cache volumes: what one test leaves in a volume
 * never meets another's), with a marker file only this run's steps see (so no build of it is a cached step).
 */
function project(opts: { ballast: boolean; name: string }): { config: string; src: string; marker: string } {
  const dir = scratch("pipeline-buildtree-");
  const src = join(dir, "minipaddle");
  cpSync(join(ROOT, "examples", "minipaddle"), src, { recursive: true, filter: (p) => !/\/build[^/]*$/.test(p) });
  const markerName = `pipeline-e2e-${ID}-${opts.name}.txt`;
  writeFileSync(join(src, markerName), `${ID}\n`);
  writeFileSync(join(src, ODD), "first\n");
  // A large file in the build tree, so that saving the tree takes long enough to be cut off.
  if (opts.ballast)
    appendFileSync(
      join(src, "CMakeLists.txt"),
      `\nif(NOT EXISTS \${CMAKE_BINARY_DIR}/ballast.bin)\n  execute_process(COMMAND dd if=/dev/zero of=\${CMAKE_BINARY_DIR}/ballast.bin bs=1M count=256 status=none)\nendif()\n`,
    );
  const config = join(dir, "pipeline.yaml");
  writeFileSync(config, `name: buildtree-e2e-${opts.name}\nversion: 0.1.0\nsource: minipaddle\n`);
  return { config, src, marker: `/src/${markerName}` };
}

/** Makes minipaddle --version print `tag` as its version: an edit of one .cc. */
function setVersion(src: string, tag: string): void {
  const file = join(src, "src", "version.cc");
  const text = readFileSync(file, "utf8").replace(/return (MINIPADDLE_VERSION_STRING|"[^"]*");/, `return "${tag}";`);
  writeFileSync(file, text);
}

test("a save cut off half-way is repaired: the next build rebuilds what the cut-off build changed, and only that", async () => {
  const { config, src, marker } = project({ ballast: true, name: "cut" });
  const first = await cli(["build", "--config", config, "--out", join(scratch(), "a")]);
  assert.is(first.code, 0, explain(first));

  // Edit a source, and make the configure write the large file anew (so the save has 256 MB to write back),
  // build, and kill the save's copy into the cache volume while it runs.
  setVersion(src, `killed-${ID}`);
  const ballasted = readFileSync(join(src, "CMakeLists.txt"), "utf8");
  writeFileSync(
    join(src, "CMakeLists.txt"),
    ballasted.replace(
      /\nif\(NOT EXISTS \$\{CMAKE_BINARY_DIR\}\/ballast\.bin\)[\s\S]*$/,
      `\nexecute_process(COMMAND dd if=/dev/urandom of=\${CMAKE_BINARY_DIR}/ballast.bin bs=1M count=256 status=none)\n`,
    ),
  );
  const needle = "cp -a --remove-destination --parents -t /var/cache/pipeline-build/tree.";
  const { done } = start(["build", "--config", config]);
  let killed: number[] = [];
  let finished = false;
  void done.then(() => (finished = true));
  const deadline = Date.now() + 300_000;
  while (!finished && Date.now() < deadline) {
    killed = stepProcesses(needle, marker);
    if (killed.length) {
      for (const pid of killed) process.kill(pid, "SIGKILL");
      break;
    }
    await sleep(20);
  }
  const cut = await done;
  assert.ok(killed.length > 0, `the save was never seen running:\n${cut.stderr.slice(-3000)}`);
  assert.is(cut.code, 1, explain(cut));

  // The next build: another edit of the same file, and the large file gone for good.
  setVersion(src, `edited-${ID}`);
  writeFileSync(join(src, ODD), "second\n");
  const cmake = readFileSync(join(src, "CMakeLists.txt"), "utf8");
  writeFileSync(
    join(src, "CMakeLists.txt"),
    cmake.replace(/\nexecute_process\(COMMAND dd [\s\S]*$/, "\nfile(REMOVE ${CMAKE_BINARY_DIR}/ballast.bin)\n"),
  );
  const out = join(scratch(), "c");
  const again = await cli(["build", "--config", config, "--out", out]);
  assert.is(again.code, 0, explain(again));
  // Only the edited file recompiles: the one the cut-off build changed too (its output in the tree may be half-written).
  const compiled = again.stderr.split("\n").filter((l) => /Building CXX object/.test(l));
  assert.equal(compiled.length, 1, compiled.join("\n"));
  assert.match(compiled[0]!, "src/version.cc.o");
  const version = execFileSync(join(out, "minipaddle"), ["--version"], { cwd: "/", env: {} }).toString();
  assert.match(version, `minipaddle edited-${ID} `);
  assert.not.ok(existsSync(join(out, "ballast.bin")));
  // The manifest carries the name with a newline, with the hash of its edited content.
  assert.is(manifest(join(out, ".pipeline-sources.sha256")).get(`./${ODD}`), sha256("second\n"));
});

/** The most bytes one `transferring context` line of a build's progress names (BuildKit's units: B, kB, MB, GB). */
function contextBytes(stderr: string): number {
  const units: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 };
  const sizes = [...stderr.matchAll(/transferring context: ([\d.]+)(B|kB|MB|GB)/g)].map((m) => Number(m[1]) * units[m[2]!]!);
  return Math.max(0, ...sizes);
}

/** The base copies of layered sources in a build's progress (plan/layers.ts): each one's folder, and whether it was cached. */
function baseCopies(stderr: string): Array<{ dir: string; cached: boolean }> {
  return [...stderr.matchAll(/^#(\d+) \[[^\]]*\] COPY \[(h\d+)\/,/gm)]
    .filter((m) => stderr.includes(`COPY [${m[2]}-recent/,`))
    .map((m) => ({ dir: m[2]!, cached: new RegExp(`^#${m[1]} CACHED$`, "m").test(stderr) }));
}

test("a one-file edit writes back only what it changed: the save's count is a few files, not the tree", async () => {
  const { config, src } = project({ ballast: false, name: "one" });
  // 4 MB of sources that this edit leaves alone: the engine receives them once, not each build.
  writeFileSync(join(src, "data.bin"), randomBytes(4 << 20));
  const out = join(scratch(), "a");
  const first = await cli(["build", "--config", config, "--out", out]);
  assert.is(first.code, 0, explain(first));
  const files = execFileSync("find", [out, "-type", "f"]).toString().trim().split("\n").length;
  setVersion(src, `one-${ID}`);
  // Into the folder of the first build: only what the edit changed is exported.
  const again = await cli(["build", "--config", config, "--out", out]);
  assert.is(again.code, 0, explain(again));
  const saved = /pipeline-build: build tree saved: (\d+) files written, (\d+) removed/.exec(again.stderr);
  assert.ok(saved, `no save summary in the build's output:\n${again.stderr.slice(-3000)}`);
  // version.cc.o, the library and what links it, ninja's logs: a handful, against the tree's files.
  console.log(`  buildtree: one-file edit wrote back ${saved![1]} of ${files} files`);
  // (A whole-tree save would write every file: the ones this edit left alone, CMake's and the other objects, stay.)
  assert.ok(Number(saved![1]) >= 2 && Number(saved![1]) < files / 2, `${saved![0]} of ${files}`);
  assert.is(saved![2], "0");
  // The build context sits at the same path each build, so BuildKit is sent what changed since the last one.
  assert.ok(contextBytes(first.stderr) > 4e6, `the first build sends the sources: ${contextBytes(first.stderr)} bytes`);
  assert.ok(contextBytes(again.stderr) < 1e6, `the second sends the edit, not the 4 MB: ${contextBytes(again.stderr)} bytes`);
  const exported = /pipeline: exported (\d+) new or changed files; (\d+) unchanged ones kept/.exec(again.stderr);
  assert.ok(exported, `no incremental export:\n${again.stderr.slice(-3000)}`);
  assert.ok(Number(exported[1]) >= 2 && Number(exported[1]) < files / 2 && Number(exported[2]) > files / 2, exported[0]);
  // The folder is the one a whole export makes: the same files, bytes, modes and mtimes. Ninja's log aside: the
  // whole build's no-op ninja run may recompact it (ninja does when the log it loads holds over 100 entries and
  // three times its outputs, as a long-lived engine's volume comes to), rewriting the same records shorter.
  const whole = join(scratch(), "whole");
  const full = await cli(["build", "--config", config, "--out", whole]);
  assert.is(full.code, 0, explain(full));
  assert.not.match(full.stderr, "pipeline: exported", "a new folder is exported whole");
  const listing = (dir: string) =>
    execFileSync("sh", [
      "-c",
      `cd "$1" && find . ! -type d ! -name .pipeline-output ! -name .ninja_log -printf '%y %m %s %T@ %l %p\\n' | sort`,
      "sh",
      dir,
    ]).toString();
  assert.is(listing(out), listing(whole));
  assert.is(
    execFileSync("diff", ["-r", "--no-dereference", "-x", ".pipeline-output", "-x", ".ninja_log", out, whole]).toString(),
    "",
  );
  assert.match(execFileSync(join(out, "minipaddle"), ["--version"]).toString(), `one-${ID}`);
  // And the edits after that: the last build's steps (the incremental export's among them) must leave
  // BuildKit's copy of the context reusable.
  for (const tag of ["two", "three"]) {
    setVersion(src, `${tag}-${ID}`);
    const next = await cli(["build", "--config", config, "--out", out]);
    assert.is(next.code, 0, explain(next));
    assert.ok(contextBytes(next.stderr) < 1e6, `build ${tag} sends the edit, not the 4 MB: ${contextBytes(next.stderr)} bytes`);
    assert.match(next.stderr, "pipeline: exported");
    assert.match(execFileSync(join(out, "minipaddle"), ["--version"]).toString(), `${tag}-${ID}`);
    // The restore brought the engine's cached snapshot of the tree up to date by what the saves since changed,
    // instead of copying the tree whole.
    const caught = /the snapshot caught up with (\d+) saves since \((\d+) paths changed, (\d+) files copied\)/.exec(next.stderr);
    assert.ok(caught, `build ${tag}: no catch-up of the snapshot:\n${next.stderr.slice(-3000)}`);
    assert.ok(Number(caught[3]) < files / 2, `build ${tag}: ${caught[0]}, of ${files} files`);
    assert.not.match(next.stderr, "restored whole");
    // The sources' copy into the step's layer: the base (every file the edits left alone) from BuildKit's cache,
    // only the recent folder copied.
    const bases = baseCopies(next.stderr);
    assert.ok(bases.length >= 1 && bases.every((b) => b.cached), `build ${tag}: ${JSON.stringify(bases)}`);
  }
});

test("a build that adds a program in a new folder, then one that removes it: each save keeps the tree the build made", async () => {
  const { config, src } = project({ ballast: false, name: "folders" });
  const first = await cli(["build", "--config", config, "--out", join(scratch(), "a")]);
  assert.is(first.code, 0, explain(first));
  // New folders in the build tree (CMakeFiles/tool_ID.dir/tools/, named anew by each run, as the volume is
  // kept between runs), and build.ninja and ninja's logs replaced: coreutils's cp --parents, once it had made
  // a folder, failed on every file it then had to replace.
  const tool = `tool_${ID}`;
  const cmake = readFileSync(join(src, "CMakeLists.txt"), "utf8");
  execFileSync("mkdir", ["-p", join(src, "tools")]);
  writeFileSync(join(src, "tools", `${tool}.cc`), `int main() { return 0; } // ${ID}\n`);
  writeFileSync(join(src, "CMakeLists.txt"), `${cmake}\nadd_executable(${tool} tools/${tool}.cc)\n`);
  const out = join(scratch(), "b");
  const added = await cli(["build", "--config", config, "--out", out]);
  assert.is(added.code, 0, explain(added));
  assert.match(added.stderr, /pipeline-build: build tree saved: \d+ files written/);
  assert.ok(existsSync(join(out, tool)), "the new program is in the build tree");
  // And back: the program leaves the kept tree (ninja -t cleandead removes it from the build; CMake keeps the
  // target's folder under CMakeFiles, as it does on the host), so the next build's tree does not have it.
  writeFileSync(join(src, "CMakeLists.txt"), cmake);
  const removed = await cli(["build", "--config", config, "--out", join(scratch(), "c")]);
  assert.is(removed.code, 0, explain(removed));
  const saved = /pipeline-build: build tree saved: (\d+) files written, (\d+) removed/.exec(removed.stderr);
  assert.ok(saved && Number(saved[2]) > 0, `nothing removed:\n${removed.stderr.slice(-3000)}`);
  writeFileSync(join(src, "tools", `${tool}.cc`), `int main() { return 0; } // ${ID} again\n`);
  const last = join(scratch(), "d");
  const again = await cli(["build", "--config", config, "--out", last]);
  assert.is(again.code, 0, explain(again));
  assert.not.ok(existsSync(join(last, tool)), "the removed program came back from the kept tree");
});

test("sources checked out after their build tree (same content, newer mtimes) get an old mtime once, in a cached step: not in each build", async () => {
  const { config, src } = project({ ballast: false, name: "aged" });
  // More files than a build stages apart from their base (plan/layers.ts): touching them all folds them into it.
  execFileSync("mkdir", ["-p", join(src, "notes")]);
  for (let i = 0; i < 100; i++) writeFileSync(join(src, "notes", `n${i}.txt`), `${i}\n`);
  const first = await cli(["build", "--config", config]);
  assert.is(first.code, 0, explain(first));
  // A fresh checkout (as after `git clone` and `cache pull`): every mtime newer than the tree's, one file edited
  // (with none, BuildKit finds every step cached: it keys a copy by content, not mtimes).
  await sleep(1100);
  execFileSync("find", [src, "-type", "f", "-exec", "touch", "{}", "+"]);
  setVersion(src, `zero-${ID}`);
  const checkedOut = await cli(["build", "--config", config]);
  assert.is(checkedOut.code, 0, explain(checkedOut));
  const aged = /pipeline-build: sources: (\d+) of (\d+) looked newer than the build tree's outputs and got an old mtime/.exec(
    checkedOut.stderr,
  );
  assert.ok(aged, `no age step ran:\n${checkedOut.stderr.slice(-3000)}`);
  assert.ok(Number(aged[2]) > 100 && aged[1] === aged[2], aged[0]);
  assert.match(checkedOut.stderr, /sources: 1 changed, \d+ unchanged \(0 given an old mtime\)/);
  // Edits after that: each restore ages nothing (before the age step, each aged every one of these sources), and
  // the age step is cached with the sources' base. (The first edit, in place, takes its file out of the base, one
  // copy of the base the first time only, and so runs the age step once more.)
  for (const tag of ["one", "two", "three"]) {
    setVersion(src, `${tag}-${ID}`);
    const out = join(scratch(), tag);
    const next = await cli(["build", "--config", config, "--out", out]);
    assert.is(next.code, 0, explain(next));
    assert.match(next.stderr, /sources: 1 changed, \d+ unchanged \(0 given an old mtime\)/);
    const step = /^#(\d+) \[[^\]]*\] RUN .*"build-tree\.sh","age"/m.exec(
      next.stderr.replace(/\/usr\/local\/lib\/pipeline\//g, ""),
    );
    assert.ok(step, `no age step in the plan:\n${next.stderr.slice(-3000)}`);
    if (tag !== "one") assert.match(next.stderr, new RegExp(`^#${step[1]} CACHED$`, "m"), `build ${tag}: the age step ran again`);
    assert.match(execFileSync(join(out, "minipaddle"), ["--version"]).toString(), `${tag}-${ID}`);
  }
});

test("a source file whose name holds a newline: the manifest round-trips it and an edit to it is seen", async () => {
  const { config, src } = project({ ballast: false, name: "odd" });
  const out = join(scratch(), "a");
  const first = await cli(["build", "--config", config, "--out", out]);
  assert.is(first.code, 0, explain(first));
  const m = manifest(join(out, ".pipeline-sources.sha256"));
  assert.is(m.get(`./${ODD}`), sha256("first\n"));
  assert.ok(m.has("./src/nn.cc") && m.has("./CMakeLists.txt"), [...m.keys()].join(", "));
  assert.not.ok(
    [...m.keys()].some((k) => k === "./odd" || k === "name.txt"),
    "the name is not split at its newline",
  );
  writeFileSync(join(src, ODD), "edited\n");
  const out2 = join(scratch(), "b");
  const again = await cli(["build", "--config", config, "--out", out2]);
  assert.is(again.code, 0, explain(again));
  const m2 = manifest(join(out2, ".pipeline-sources.sha256"));
  assert.is(m2.get(`./${ODD}`), sha256("edited\n"));
  assert.is(m2.size, m.size);
  assert.equal(
    again.stderr.split("\n").filter((l) => /Building CXX object/.test(l)),
    [],
    "no source file recompiled",
  );
});

test.run();
