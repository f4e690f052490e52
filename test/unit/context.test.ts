import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, writeFileSync, existsSync, statSync, chmodSync, renameSync, rmSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { claimContextDir, compileFilters, KEEP_UNUSED_MS, recordsFile, writeContext } from "../../pipeline/context.ts";
import type { Plan } from "../../pipeline/plan.ts";
import { scratchDir } from "../support/scratch.ts";

/** A plan that reads one host folder into the context as h0, and does nothing else. */
function hostDirPlan(path: string): Plan {
  return {
    stages: [],
    target: "s0",
    output: { kind: "container" },
    secrets: [],
    context: [{ kind: "hostDir", dest: "h0", path, filters: [] }],
  };
}

test("a pattern that matches a directory keeps or drops everything below it", () => {
  const keep = compileFilters([{ include: ["src"], exclude: ["src/gen"] }]);
  assert.is(keep("src/a.cc"), "keep");
  assert.is(keep("src/deep/b.cc"), "keep");
  assert.is(keep("src/gen/x.cc"), "drop");
  assert.is(keep("docs/index.rst"), "look-inside");
});

test("globs follow Dagger's relative-path semantics, dotfiles included", () => {
  const keep = compileFilters([{ include: ["**/*.cc"], exclude: ["**/build"] }]);
  assert.is(keep("a.cc"), "keep");
  assert.is(keep("x/y/.hidden.cc"), "keep");
  assert.is(keep("x/build/y.cc"), "drop");
  assert.is(keep("README.md"), "look-inside");
});

test("every filter of an entry must keep a path", () => {
  const keep = compileFilters([
    { include: ["src"], exclude: [] },
    { include: [], exclude: ["**/*.md"] },
  ]);
  assert.is(keep("src/a.cc"), "keep");
  assert.is(keep("src/notes.md"), "drop");
  assert.is(keep("other.cc"), "look-inside");
});

test("writeContext stages filtered host trees, new files, an empty dir and the Dockerfile", async () => {
  const root = scratchDir();
  const src = join(root, "src");
  mkdirSync(join(src, "lib"), { recursive: true });
  mkdirSync(join(src, "build"), { recursive: true });
  writeFileSync(join(src, "lib", "a.cc"), "int a;\n");
  writeFileSync(join(src, "run.sh"), "#!/bin/sh\n");
  chmodSync(join(src, "run.sh"), 0o755);
  writeFileSync(join(src, "build", "a.o"), "obj");
  writeFileSync(join(src, "notes.md"), "notes");
  const plan: Plan = {
    stages: [{ name: "s0", base: "scratch", label: "t", steps: [] }],
    target: "s0",
    output: { kind: "container" },
    secrets: [],
    context: [
      { kind: "hostDir", dest: "h0", path: "src", filters: [{ include: ["lib", "*.sh"], exclude: [] }] },
      { kind: "content", dest: "f/abc", contents: "hello" },
      { kind: "emptyDir", dest: "e" },
    ],
  };
  const out = join(root, "ctx");
  await writeContext(plan, out, root);
  assert.is(readFileSync(join(out, "h0", "lib", "a.cc"), "utf8"), "int a;\n");
  assert.is(statSync(join(out, "h0", "run.sh")).mode & 0o777, 0o755);
  assert.not.ok(existsSync(join(out, "h0", "build")), "a directory with nothing kept is not staged");
  assert.not.ok(existsSync(join(out, "h0", "notes.md")));
  assert.is(readFileSync(join(out, "f", "abc"), "utf8"), "hello");
  assert.ok(statSync(join(out, "e")).isDirectory());
  assert.match(readFileSync(join(out, "Dockerfile"), "utf8"), "FROM scratch AS s0");
});

test("writeContext into an earlier build's folder: unchanged files stay the same link, edits and removals follow the tree", async () => {
  const root = scratchDir();
  const src = join(root, "src");
  mkdirSync(join(src, "lib", "deep"), { recursive: true });
  writeFileSync(join(src, "lib", "a.cc"), "int a;\n");
  writeFileSync(join(src, "lib", "b.cc"), "int b;\n");
  writeFileSync(join(src, "lib", "deep", "c.cc"), "int c;\n");
  const plan = (contents: string, extra = true): Plan => ({
    stages: [{ name: "s0", base: "scratch", label: "t", steps: [] }],
    target: "s0",
    output: { kind: "container" },
    secrets: [],
    context: [
      { kind: "hostDir", dest: "h0", path: "src", filters: [{ include: [], exclude: ["**/*.md"] }] },
      { kind: "content", dest: "f/x", contents },
      ...(extra ? [{ kind: "content" as const, dest: "pipeline-have", contents: "list" }] : []),
    ],
  });
  const out = join(root, "ctx");
  assert.equal(await writeContext(plan("one"), out, root), { linked: true });
  const ino = (p: string) => statSync(join(out, "h0", p)).ino;
  const before = ino("lib/a.cc");
  assert.is(before, statSync(join(src, "lib", "a.cc")).ino, "a hard link to the source");
  // An edit in place (same inode), a file replaced (new inode), one removed, a folder removed, a new excluded file.
  writeFileSync(join(src, "lib", "a.cc"), "int a2;\n");
  writeFileSync(join(src, "lib", "b.cc.tmp"), "int b2;\n");
  renameSync(join(src, "lib", "b.cc.tmp"), join(src, "lib", "b.cc"));
  rmSync(join(src, "lib", "deep"), { recursive: true });
  writeFileSync(join(src, "lib", "notes.md"), "x");
  writeFileSync(join(src, "new.cc"), "int n;\n");
  await writeContext(plan("two", false), out, root);
  assert.is(ino("lib/a.cc"), before, "an unchanged link is left alone");
  assert.is(readFileSync(join(out, "h0", "lib", "a.cc"), "utf8"), "int a2;\n");
  assert.is(readFileSync(join(out, "h0", "lib", "b.cc"), "utf8"), "int b2;\n", "a replaced file is linked again");
  assert.is(ino("lib/b.cc"), statSync(join(src, "lib", "b.cc")).ino);
  assert.not.ok(existsSync(join(out, "h0", "lib", "deep")), "a removed folder is removed");
  assert.not.ok(existsSync(join(out, "h0", "lib", "notes.md")), "the filters still apply");
  assert.is(readFileSync(join(out, "h0", "new.cc"), "utf8"), "int n;\n");
  assert.is(readFileSync(join(out, "f", "x"), "utf8"), "two");
  assert.not.ok(existsSync(join(out, "pipeline-have")), "an entry the plan no longer has is removed");
  // The folder equals one staged from scratch.
  const fresh = join(root, "fresh");
  await writeContext(plan("two", false), fresh, root);
  const listing = (d: string) => spawnSync("sh", ["-c", `cd ${d} && find . -printf '%y %m %s %p\\n' | sort`]).stdout.toString();
  assert.is(listing(out), listing(fresh));
});

test("the context folder of the same host inputs is at the same path each build, held by one build at a time", async () => {
  const root = scratchDir();
  const contexts = join(root, "contexts");
  const plan = (path: string): Plan => ({
    stages: [],
    target: "s0",
    output: { kind: "container" },
    secrets: [],
    context: [
      { kind: "hostDir", dest: "h0", path, filters: [] },
      { kind: "content", dest: "f/abc", contents: "hello" },
    ],
  });
  const first = await claimContextDir(plan("src"), root, contexts);
  assert.ok(first, "a plan that reads the host gets a folder");
  assert.is(await claimContextDir(plan("src"), root, contexts), undefined, "held by the first build: the second stages its own");
  const other = await claimContextDir(plan("other"), root, contexts);
  assert.ok(other && other.dir !== first.dir, "other host inputs: another folder");
  await writeContext({ ...plan("."), context: [{ kind: "content", dest: "x", contents: "x" }] }, first.dir);
  await first.release();
  await other.release();
  assert.not.ok(existsSync(first.dir), "released without keep: the folder's contents are gone");
  const again = await claimContextDir(plan("src"), root, contexts);
  assert.is(again?.dir, first.dir, "the next build of the same inputs: the same path");
  await again!.release();
  const none = await claimContextDir(
    { ...plan("src"), context: [{ kind: "content", dest: "f/a", contents: "" }] },
    root,
    contexts,
  );
  assert.is(none, undefined, "nothing from the host: nothing to reuse");
});

test("a context folder's lock left by a process that is gone is taken over; one of a live process is not", async () => {
  const root = scratchDir();
  const contexts = join(root, "contexts");
  const plan = hostDirPlan("src");
  const claimed = await claimContextDir(plan, root, contexts);
  await claimed!.release();
  const lock = `${claimed!.dir}.lock`;
  const gone = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim();
  writeFileSync(lock, gone);
  mkdirSync(join(claimed!.dir, "h0"), { recursive: true });
  writeFileSync(join(claimed!.dir, "h0", "left.txt"), "from a killed build");
  const taken = await claimContextDir(plan, root, contexts);
  assert.is(taken?.dir, claimed!.dir, "the dead holder's lock is taken over");
  mkdirSync(join(root, "src"), { recursive: true });
  writeFileSync(join(root, "src", "kept.txt"), "a source");
  await writeContext(plan, taken!.dir, root);
  assert.not.ok(
    existsSync(join(claimed!.dir, "h0", "left.txt")),
    "what the killed build left is gone once the context is staged",
  );
  assert.ok(existsSync(join(claimed!.dir, "h0", "kept.txt")));
  assert.is(readFileSync(lock, "utf8"), String(process.pid));
  await taken!.release();
  writeFileSync(lock, String(process.ppid));
  assert.is(await claimContextDir(plan, root, contexts), undefined, "a live holder keeps it");
});

test("a kept context folder (and a host folder's digests) unused for days is removed by the next build's claim, unless a build holds it; release(true) marks it used", async () => {
  const root = scratchDir();
  const contexts = join(root, "contexts");
  const old = Date.now() / 1000 - KEEP_UNUSED_MS / 1000 - 3600;
  const folder = (name: string, age?: number) => {
    mkdirSync(join(contexts, name, "h0"), { recursive: true });
    writeFileSync(join(contexts, name, "h0", "a.cc"), "int a;\n");
    if (age !== undefined) utimesSync(join(contexts, name), age, age);
    return join(contexts, name);
  };
  const unused = folder("aaaaaaaaaaaaaaaa", old);
  // Its layered bases' records (context.ts recordsFile) go with it.
  writeFileSync(recordsFile(unused), "{}");
  const held = folder("bbbbbbbbbbbbbbbb", old);
  writeFileSync(recordsFile(held), "{}");
  writeFileSync(`${held}.lock`, String(process.ppid));
  const fresh = folder("cccccccccccccccc");
  // The source digests of host folders (source-hashes.ts), beside the contexts: the same rule.
  mkdirSync(join(root, "hashes"));
  const digests = (name: string, age?: number) => {
    writeFileSync(join(root, "hashes", name), "{}");
    if (age !== undefined) utimesSync(join(root, "hashes", name), age, age);
    return join(root, "hashes", name);
  };
  const oldDigests = digests("dddddddddddddddd.json", old);
  const newDigests = digests("eeeeeeeeeeeeeeee.json");
  const notOurs = digests("notes.txt", old);
  const plan = hostDirPlan("src");
  const claimed = await claimContextDir(plan, root, contexts);
  assert.not.ok(existsSync(oldDigests), "digests unused for longer than KEEP_UNUSED_MS: removed");
  assert.ok(existsSync(newDigests), "digests used lately: kept");
  assert.ok(existsSync(notOurs), "a file the CLI did not name is left alone");
  assert.not.ok(existsSync(unused), "unused for longer than KEEP_UNUSED_MS: removed");
  assert.not.ok(existsSync(recordsFile(unused)), "with its records");
  assert.ok(existsSync(held), "held by a live build: kept");
  assert.ok(existsSync(recordsFile(held)));
  assert.ok(existsSync(fresh), "used lately: kept");
  mkdirSync(claimed!.dir, { recursive: true });
  utimesSync(claimed!.dir, old, old);
  writeFileSync(recordsFile(claimed!.dir), "{}");
  await claimed!.release(true);
  assert.ok(Date.now() - statSync(claimed!.dir).mtimeMs < 60_000, "released and kept: marked used now");
  assert.ok(existsSync(recordsFile(claimed!.dir)), "kept with its records");
  const again = await claimContextDir(plan, root, contexts);
  await again!.release();
  assert.not.ok(existsSync(again!.dir) || existsSync(recordsFile(again!.dir)), "released to be removed: records too");
});

test("a missing host directory is a usage error naming it", async () => {
  const plan = hostDirPlan("no/such/dir");
  try {
    await writeContext(plan, scratchDir());
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, "host directory 'no/such/dir' does not exist");
    assert.is((err as { exitCode: number }).exitCode, 2);
  }
});

test.run();
