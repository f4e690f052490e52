/**
 * modules/scripts/build-tree.sh on real folders of this machine (the same POSIX shell and GNU tools as the dev
 * image): after a save the volume's tree holds exactly the build's files, whatever the build added, changed or
 * removed, files and folders alike. The e2e tests (buildtree, variants) run it inside builds.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../modules/scripts/build-tree.sh", import.meta.url));
const MANIFEST = ".pipeline-sources.sha256";
const MTIMES = ".pipeline-sources.mtimes";

/** A scratch layout: a volume, a source tree with its build tree inside, and the script's working folder. */
function layout() {
  const root = mkdtempSync(join(tmpdir(), "pipeline-build-tree-"));
  const dirs = {
    root,
    cache: join(root, "cache"),
    src: join(root, "src"),
    build: join(root, "src", "build"),
    tmp: join(root, "tmp"),
  };
  for (const d of [dirs.cache, dirs.build, dirs.tmp]) mkdirSync(d, { recursive: true });
  writeFileSync(join(dirs.src, "a.cc"), "int a;\n");
  return dirs;
}

/** Runs `build-tree.sh ACTION`; returns its output, failing with it unless it exits 0. */
function run(d: ReturnType<typeof layout>, action: "snapshot" | "age" | "restore" | "save", env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync("sh", [SCRIPT, action, d.cache, d.src, d.build, ...(action === "snapshot" ? ["label"] : [])], {
    encoding: "utf8",
    env: { ...process.env, TMPDIR: d.tmp, PIPELINE_SOURCES_MANIFEST: join(d.root, "none"), ...env },
  });
  assert.is(r.status, 0, `build-tree.sh ${action} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Every file, link and folder under `dir` (not the manifest and the mtimes beside it): path -> content, link target or "dir". */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (rel === MANIFEST || rel === MTIMES) continue;
      if (e.isSymbolicLink()) out[rel] = `-> ${readlinkSync(p)}`;
      else if (e.isDirectory()) {
        out[rel] = "dir";
        walk(p);
      } else out[rel] = readFileSync(p, "utf8");
    }
  };
  walk(dir);
  return out;
}

const tree = (d: ReturnType<typeof layout>) => join(d.cache, readlinkSync(join(d.cache, "current")));

/** A first build saved whole, then restored for the next one. */
function firstBuild(files: Record<string, string>) {
  const d = layout();
  run(d, "restore");
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(d.build, p, ".."), { recursive: true });
    writeFileSync(join(d.build, p), text);
  }
  run(d, "save");
  assert.equal(contents(tree(d)), contents(d.build));
  run(d, "restore");
  return d;
}

test("a save that makes a folder and replaces a file listed after it keeps the whole tree (cp --parents made later files 'new': File exists)", () => {
  const d = firstBuild({ "build.ninja": "old rules\n", "CMakeFiles/a.dir/a.cc.o": "a\n" });
  try {
    // The new folder's file is smaller, so it is listed (and copied) before build.ninja.
    writeFileSync(join(d.build, "build.ninja"), "new rules, longer than before\n");
    mkdirSync(join(d.build, "CMakeFiles", "probe.dir", "tools"), { recursive: true });
    writeFileSync(join(d.build, "CMakeFiles", "probe.dir", "tools", "p.o"), "p\n");
    const out = run(d, "save");
    assert.match(out, "build tree saved: 2 files written, 0 removed");
    assert.equal(contents(tree(d)), contents(d.build));
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

test("folders the build no longer has leave the tree; a folder that became a file, and a file that became a folder, too", () => {
  const d = firstBuild({ "old/x.o": "x\n", "old/deep/y.o": "y\n", "swap/z.o": "z\n", flip: "file\n", "keep.o": "k\n" });
  try {
    rmSync(join(d.build, "old"), { recursive: true });
    rmSync(join(d.build, "swap"), { recursive: true });
    writeFileSync(join(d.build, "swap"), "now a file\n");
    rmSync(join(d.build, "flip"));
    mkdirSync(join(d.build, "flip"));
    writeFileSync(join(d.build, "flip", "inner.o"), "inner\n");
    const out = run(d, "save");
    assert.match(out, /build tree saved: 2 files written, 4 removed/);
    assert.equal(contents(tree(d)), contents(d.build));
    assert.is(statSync(join(tree(d), "flip")).isDirectory(), true);
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

test("an unchanged build writes nothing back; the next restore gives the build the saved tree", () => {
  const d = firstBuild({ "lib.so": "lib\n", "sub/obj.o": "o\n" });
  try {
    assert.match(run(d, "save"), "build tree saved: 0 files written, 0 removed");
    rmSync(d.build, { recursive: true });
    run(d, "restore");
    assert.equal(contents(d.build), { "lib.so": "lib\n", sub: "dir", "sub/obj.o": "o\n" });
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

test("a save that starts a tree whole gives the volume's source manifest the build's mtime", () => {
  const d = layout();
  try {
    run(d, "restore");
    writeFileSync(join(d.build, "lib.so"), "lib\n");
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    run(d, "save");
    assert.is(statSync(join(tree(d), MANIFEST)).mtimeMs, statSync(join(d.build, MANIFEST)).mtimeMs);
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

test("a build whose sources did not change keeps the tree's source manifest, mtime and all; one that changed a source writes a new one", () => {
  const d = firstBuild({ "lib.so": "lib\n" });
  try {
    const manifest = join(d.build, MANIFEST);
    run(d, "save");
    const was = readFileSync(manifest, "utf8");
    for (const f of [join(tree(d), MANIFEST), join(tree(d), MTIMES)]) utimesSync(f, 1000, 1000);
    run(d, "restore");
    assert.is(statSync(manifest).mtimeMs, 1000 * 1000, "restore gives the build the volume's manifest");
    run(d, "save");
    assert.is(statSync(manifest).mtimeMs, 1000 * 1000, "the same sources: the build's manifest as it was");
    assert.is(statSync(join(tree(d), MANIFEST)).mtimeMs, 1000 * 1000, "and the volume's");
    assert.is(statSync(join(tree(d), MTIMES)).mtimeMs, 1000 * 1000);
    assert.is(readFileSync(manifest, "utf8"), was);
    writeFileSync(join(d.src, "a.cc"), "int a = 1;\n");
    run(d, "restore");
    run(d, "save");
    assert.is.not(readFileSync(manifest, "utf8"), was, "a changed source: a new manifest");
    assert.is.not(statSync(manifest).mtimeMs, 1000 * 1000);
    assert.is(statSync(join(tree(d), MANIFEST)).mtimeMs, statSync(manifest).mtimeMs, "the volume's as the build's");
    assert.not.ok(
      readdirSync(d.tmp).some((f) => f.startsWith("sources.sha256")),
      "no manifest left in the working folder",
    );
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

/** Puts `files` (path -> content; "dir" makes a folder) into the build tree, replacing what is there. */
function write(d: ReturnType<typeof layout>, files: Record<string, string>) {
  for (const [p, text] of Object.entries(files)) {
    rmSync(join(d.build, p), { recursive: true, force: true });
    mkdirSync(join(d.build, p, ".."), { recursive: true });
    if (text === "dir") mkdirSync(join(d.build, p));
    else writeFileSync(join(d.build, p), text);
  }
}

test("a save cut off half-way leaves ninja's logs as they were, never half-written; the next save writes them", () => {
  const d = firstBuild({ ".ninja_log": "# ninja log v5\nold\n", ".ninja_deps": "old deps\n", "a.o": "a\n", "big.bin": "big\n" });
  try {
    write(d, { ".ninja_log": "# ninja log v5\nnew\n", ".ninja_deps": "new deps\n", "a.o": "a2\n", "big.bin": "big, new\n" });
    // A cp that copies all it is given but big.bin, then fails: a save cut off there.
    const bin = join(d.root, "bin");
    mkdirSync(bin);
    writeFileSync(
      join(bin, "cp"),
      '#!/bin/sh\nfail=0\nfor a do shift; case "$a" in *big.bin) fail=1 ;; *) set -- "$@" "$a" ;; esac; done\n/bin/cp "$@" && [ $fail = 0 ]\n',
      { mode: 0o755 },
    );
    const cut = spawnSync("sh", [SCRIPT, "save", d.cache, d.src, d.build], {
      encoding: "utf8",
      env: { ...process.env, TMPDIR: d.tmp, PATH: `${bin}:${process.env.PATH}` },
    });
    assert.is.not(cut.status, 0, "the cut-off save fails");
    assert.is(readFileSync(join(tree(d), "a.o"), "utf8"), "a2\n", "what was copied before the cut is in the tree");
    assert.is(readFileSync(join(tree(d), ".ninja_log"), "utf8"), "# ninja log v5\nold\n");
    assert.is(readFileSync(join(tree(d), ".ninja_deps"), "utf8"), "old deps\n");
    assert.ok(existsSync(join(d.cache, "dirty")), "the journal stays for the next restore");
    run(d, "save");
    assert.equal(contents(tree(d)), contents(d.build));
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

/**
 * The engine's side of a snapshot: the snapshot step's result (the build tree and the note of what it copied)
 * is a layer every later build starts from. `take` runs the step and keeps that layer; `start` gives a build
 * the layer as it was.
 */
function layer(d: ReturnType<typeof layout>) {
  const kept = join(d.root, "layer");
  mkdirSync(kept);
  const copy = (from: string, to: string) => {
    rmSync(to, { recursive: true, force: true });
    assert.is(spawnSync("cp", ["-a", from, to]).status, 0, `cp -a ${from} ${to}`);
  };
  return {
    take: () => {
      const out = run(d, "snapshot");
      copy(d.build, join(kept, "build"));
      copy(join(d.tmp, "build-tree.snapshot"), join(kept, "mark"));
      return out;
    },
    start: () => {
      copy(join(kept, "build"), d.build);
      copy(join(kept, "mark"), join(d.tmp, "build-tree.snapshot"));
    },
  };
}

test("after a snapshot, restore copies only what the saves since changed, and the build holds exactly the saved tree", () => {
  const d = firstBuild({ "lib.a": "lib v1\n", "a.o": "a\n", "b.o": "b\n", "old/x.o": "x\n", flip: "file\n", "same/s.o": "s\n" });
  try {
    const snap = layer(d);
    assert.match(snap.take(), /build tree snapshot: \S+ of \w+, save 0/);
    // Build 1 (from the snapshot): the library and a.o rebuilt, b.o gone, a new folder, a file that became a folder.
    snap.start();
    assert.match(run(d, "restore"), "the snapshot caught up with 0 saves since (0 paths changed, 0 files copied)");
    write(d, { "lib.a": "lib v2, longer\n", "a.o": "a2\n", "new/deep/n.o": "n\n", flip: "dir", "flip/in.o": "in\n" });
    rmSync(join(d.build, "b.o"));
    run(d, "save");
    // Build 2, from the same snapshot: the library again, the new folder removed, old/ gone.
    snap.start();
    const caught = run(d, "restore");
    assert.match(caught, "the snapshot caught up with 1 saves since");
    assert.equal(contents(d.build), contents(tree(d)));
    write(d, { "lib.a": "lib v3\n" });
    rmSync(join(d.build, "new"), { recursive: true });
    rmSync(join(d.build, "old"), { recursive: true });
    run(d, "save");
    // Build 3: both saves' changes on top of the snapshot; what neither touched (same/s.o) is not copied.
    snap.start();
    const out = run(d, "restore");
    assert.match(out, /the snapshot caught up with 2 saves since \(\d+ paths changed, 3 files copied\)/);
    assert.not.match(out, "stale");
    assert.equal(contents(d.build), contents(tree(d)));
    assert.equal(readFileSync(join(d.build, MANIFEST)), readFileSync(join(tree(d), MANIFEST)), "the source manifest too");
    assert.is(readFileSync(join(d.build, "lib.a"), "utf8"), "lib v3\n");
    assert.is(existsSync(join(d.build, "old")), false);
    assert.is(statSync(join(d.build, "flip")).isDirectory(), true);
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

test("without a snapshot of the volume's tree restore copies it whole and calls the snapshot stale; so does a save that starts a tree", () => {
  const d = layout();
  try {
    const snap = layer(d);
    assert.match(snap.take(), "build tree snapshot: no saved tree");
    snap.start();
    assert.not.match(run(d, "restore"), "stale", "nothing saved yet: nothing to copy");
    write(d, { "a.o": "a\n" });
    assert.match(run(d, "save"), "build tree snapshot: stale (a new tree)");
    // The snapshot (of no tree) is older than the tree: the next build copies the tree whole.
    snap.start();
    const whole = run(d, "restore");
    assert.match(whole, "restored whole");
    assert.match(whole, "build tree snapshot: stale (restored whole)");
    assert.equal(contents(d.build), contents(tree(d)));
    // A list a snapshot needs is gone (pruned): whole again, never a partial catch-up.
    assert.match(snap.take(), /, save 0/);
    write(d, { "a.o": "a2\n" });
    run(d, "save");
    rmSync(join(d.cache, `changes.${readlinkSync(join(d.cache, "current")).slice("tree.".length)}`, "1"));
    snap.start();
    assert.match(run(d, "restore"), "restored whole");
    assert.equal(contents(d.build), contents(tree(d)));
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

test("restore: a changed source gets a new mtime; an unchanged one is touched only when it looks newer than its outputs", () => {
  const d = layout();
  try {
    const at = (p: string, seconds: number) => utimesSync(join(d.src, p), seconds, seconds);
    const mtime = (p: string) => statSync(join(d.src, p)).mtimeMs / 1000;
    for (const p of ["old.cc", "moved.cc", "edited.cc", "journal.cc"]) writeFileSync(join(d.src, p), `// ${p}\n`);
    for (const p of ["old.cc", "moved.cc", "edited.cc", "journal.cc"]) at(p, 1_000_000);
    assert.match(run(d, "restore"), /sources: 5, no earlier tree to build on; hashed here/);
    // The build: ninja logs its outputs' mtimes (ns); the oldest is at 2,000,000 s.
    writeFileSync(
      join(d.build, ".ninja_log"),
      "# ninja log v5\n1\t2\t2000000000000000\told.o\tabc\n1\t2\t2500000000000000\tmoved.o\tdef\n",
    );
    writeFileSync(join(d.build, ".pipeline-configured"), "stamp\n");
    writeFileSync(join(d.build, ".pipeline-cleaned"), "1 2\n");
    run(d, "save");
    // Next build: moved.cc touched (same content) after the outputs were built; edited.cc's content changed;
    // the journal of a cut-off save names journal.cc; old.cc keeps its mtime, older than every output.
    at("moved.cc", 3_000_000);
    writeFileSync(join(d.src, "edited.cc"), "// edited\n");
    at("edited.cc", 1_000_000);
    writeFileSync(join(d.cache, "dirty"), "./journal.cc\0");
    const out = run(d, "restore");
    assert.match(out, /sources: 2 changed, 3 unchanged \(1 given an old mtime\); hashed here/);
    assert.is(mtime("old.cc"), 1_000_000, "older than every output: left as it is");
    assert.is(mtime("moved.cc"), 1, "newer than the outputs with the same content: an old mtime");
    assert.ok(mtime("edited.cc") > 3_000_000, "changed: now");
    assert.ok(mtime("journal.cc") > 3_000_000, "named by the journal: now, whatever its content");
    // What the save keeps as the mtimes this build's ninja saw: each source's as restore left it.
    const kept = readFileSync(join(d.tmp, "sources.mtimes"), "utf8").split("\0").filter(Boolean).sort();
    const now = ["./a.cc", "./edited.cc", "./journal.cc", "./moved.cc", "./old.cc"].map(
      (p) => `${statSync(join(d.src, p), { bigint: true }).mtimeNs} ${p}`,
    );
    assert.equal(kept, now.sort());
    // A cut-off save may have left out a file CMake generated (build.ninja): the tree is configured again.
    assert.match(out, /and the tree is configured again/);
    assert.not.ok(existsSync(join(d.build, ".pipeline-configured")), "the configure stamp is gone");
    assert.not.ok(existsSync(join(d.build, ".pipeline-cleaned")), "and the stamp of the last clean of dead outputs");
    // The build after that: nothing moved since, so nothing is touched (edited.cc, now unchanged, is no newer
    // than that build saw it).
    rmSync(join(d.cache, "dirty"));
    run(d, "save");
    assert.match(run(d, "restore"), /sources: 0 changed, 5 unchanged \(0 given an old mtime\)/);
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

test("age gives the sources newer than the tree's outputs an old mtime, once: restore then touches only what changed", () => {
  const d = layout();
  try {
    const at = (p: string, seconds: number) => utimesSync(join(d.src, p), seconds, seconds);
    const mtime = (p: string) => statSync(join(d.src, p)).mtimeMs / 1000;
    const names = ["old.cc", "cloned.cc", "edited.cc", "sub/seen.cc"];
    mkdirSync(join(d.src, "sub"));
    for (const p of names) writeFileSync(join(d.src, p), `// ${p}\n`);
    for (const p of names) at(p, 1_000_000);
    at("a.cc", 1_000_000);
    // No tree yet: nothing to look newer than.
    assert.match(
      run(d, "age"),
      /sources: 0 of 5 looked newer than the build tree's outputs and got an old mtime \(no build tree yet\)/,
    );
    assert.is(mtime("cloned.cc"), 1_000_000);
    run(d, "restore");
    writeFileSync(join(d.build, ".ninja_log"), "# ninja log v5\n1\t2\t2000000000000000\told.o\tabc\n");
    run(d, "save");
    // A fresh checkout of the same sources: newer than every output. sub/seen.cc was built at 3,000,000 s (the
    // mtimes the tree keeps); edited.cc also changed.
    const kept = join(tree(d), MTIMES);
    const seen = readFileSync(kept, "utf8").replace(/\d+ \.\/sub\/seen\.cc/, "3000000000000000 ./sub/seen.cc");
    assert.ok(seen.includes("3000000000000000 ./sub/seen.cc"));
    writeFileSync(kept, seen);
    at("cloned.cc", 3_000_000);
    writeFileSync(join(d.src, "edited.cc"), "// edited\n");
    at("edited.cc", 3_000_000);
    at("sub/seen.cc", 3_000_000);
    // The next build: the snapshot, the sources' base, then age.
    run(d, "snapshot");
    assert.match(run(d, "age"), /sources: 2 of 5 looked newer than the build tree's outputs and got an old mtime\n/);
    assert.is(mtime("old.cc"), 1_000_000, "older than every output: left as it is");
    assert.is(mtime("cloned.cc"), 1, "newer than the outputs: an old mtime");
    assert.is(mtime("edited.cc"), 1, "its content is not looked at here");
    assert.is(mtime("sub/seen.cc"), 3_000_000, "no newer than the last build saw it: left as it is");
    const out = run(d, "restore");
    assert.match(out, /sources: 1 changed, 4 unchanged \(0 given an old mtime\)/);
    assert.ok(mtime("edited.cc") > 3_000_000, "changed: restore gives it a new mtime, aged or not");
    assert.is(mtime("cloned.cc"), 1);
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

test("restore takes the CLI's manifest when it names exactly the sources, and hashes them itself when it does not", () => {
  const d = layout();
  try {
    writeFileSync(join(d.src, "b.cc"), "int b;\n");
    const given = join(d.root, "given.sha256");
    // The CLI's manifest: sha256sum -z records, sorted (what source-hashes.ts writes).
    const manifest = spawnSync(
      "sh",
      ["-c", "find . -path ./build -prune -o -type f -print0 | xargs -0r sha256sum -z | LC_ALL=C sort -z"],
      {
        cwd: d.src,
      },
    ).stdout;
    writeFileSync(given, manifest);
    assert.match(run(d, "restore", { PIPELINE_SOURCES_MANIFEST: given }), "digests from the CLI");
    assert.equal(readFileSync(join(d.tmp, "sources.sha256")), manifest);
    // A manifest that misses a file here (or names one that is not) is not used.
    writeFileSync(join(d.src, "c.cc"), "int c;\n");
    assert.match(run(d, "restore", { PIPELINE_SOURCES_MANIFEST: given }), "hashed here");
    assert.match(readFileSync(join(d.tmp, "sources.sha256"), "utf8"), "./c.cc");
  } finally {
    rmSync(d.root, { recursive: true, force: true });
  }
});

test.run();
