/**
 * modules/scripts/build-tree.sh on real folders of this machine (the same POSIX shell and GNU tools as the dev
 * image): after a save the volume's tree holds exactly the build's files, whatever the build added, changed or
 * removed, files and folders alike. The e2e tests (buildtree, variants) run it inside builds.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../modules/scripts/build-tree.sh", import.meta.url));
const MANIFEST = ".pipeline-sources.sha256";

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
function run(d: ReturnType<typeof layout>, action: "restore" | "save"): string {
  const r = spawnSync("sh", [SCRIPT, action, d.cache, d.src, d.build], {
    encoding: "utf8",
    env: { ...process.env, TMPDIR: d.tmp },
  });
  assert.is(r.status, 0, `build-tree.sh ${action} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Every file, link and folder under `dir` (not the manifest): path -> content, link target or "dir". */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (rel === MANIFEST) continue;
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

test.run();
