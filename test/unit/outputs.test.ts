/** Where an output may land: checkOutputPath's refusals, atomicWrite's markers and modes, stale leftovers. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import {
  atomicWrite,
  settleRemovals,
  checkOutputPath,
  fileMarker,
  MARKER,
  type OutputCheckOptions,
  projectProtectedDirs,
  removeStaleSiblings,
  removeStaleWork,
} from "../../pipeline/outputs.ts";
import { badBoolean } from "../../pipeline/output-options.ts";
import { UsageError } from "../../modules/errors.ts";

const made: string[] = [];
process.on("exit", () => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "outputs-unit-"));
  made.push(d);
  return d;
}

/** The UsageError message checkOutputPath refuses with, or undefined when it accepts. */
async function refusal(
  path: string,
  opts: Partial<OutputCheckOptions> & { cwd: string },
  kind: "export" | "tarball" = "export",
): Promise<string | undefined> {
  try {
    await checkOutputPath({ kind, path, flag: "--out" }, { shape: "directory", ...opts });
    return undefined;
  } catch (err) {
    assert.instance(err, UsageError);
    assert.is((err as UsageError).exitCode, 2);
    return (err as Error).message;
  }
}

/** Asserts that `fn` rejects with a message matching `re`. */
async function rejects(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (err) {
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
}

/** A dead PID: a child that has exited. */
function deadPid(): number {
  return spawnSync("true").pid!;
}

test("the current folder and its ancestors are refused", async () => {
  const cwd = join(tmp(), "a", "b");
  mkdirSync(cwd, { recursive: true });
  assert.match((await refusal(".", { cwd }))!, "--out .: is the current folder");
  assert.match((await refusal("..", { cwd }))!, "contains the current folder");
  assert.match((await refusal("/", { cwd }))!, "contains the current folder");
  assert.match((await refusal("", { cwd }))!, "is the current folder");
  assert.is(await refusal("out/x", { cwd }), undefined);
});

test("a symbolic link to the current folder is refused like the folder", async () => {
  const root = tmp();
  const cwd = join(root, "work");
  mkdirSync(cwd);
  symlinkSync(cwd, join(root, "link"));
  assert.match((await refusal(join(root, "link"), { cwd }))!, "current folder");
});

test("the project folder and its ancestors are refused, folders inside it are not", async () => {
  const root = tmp();
  const project = join(root, "proj");
  mkdirSync(join(project, "src"), { recursive: true });
  const protectedDirs = projectProtectedDirs(project, [join(project, "src")]);
  const cwd = tmp();
  assert.match((await refusal(project, { cwd, protectedDirs }))!, "is the project folder");
  assert.match((await refusal(root, { cwd, protectedDirs }))!, "contains the project folder");
  assert.is(await refusal(join(project, "out", "build"), { cwd, protectedDirs }), undefined);
});

test("the source tree, its ancestors and anything inside it are refused", async () => {
  const root = tmp();
  const src = join(root, "src");
  mkdirSync(join(src, "lib"), { recursive: true });
  const protectedDirs = projectProtectedDirs(join(tmp(), "elsewhere"), [src]);
  const cwd = tmp();
  assert.match((await refusal(src, { cwd, protectedDirs }))!, "is the source tree");
  assert.match((await refusal(join(src, "build"), { cwd, protectedDirs }))!, "is inside the source tree");
  assert.match((await refusal(join(src, "lib"), { cwd, protectedDirs }))!, "is inside the source tree");
  assert.match((await refusal(root, { cwd, protectedDirs }))!, "contains the source tree");
  assert.is(await refusal(join(root, "src-build"), { cwd, protectedDirs }), undefined, "a sibling with a common prefix is fine");
});

test("a file where a folder goes, and a folder where a file goes, are refused even with --force", async () => {
  const cwd = tmp();
  writeFileSync(join(cwd, "f"), "mine");
  mkdirSync(join(cwd, "d"));
  assert.match((await refusal("f", { cwd, force: true }))!, "is a file, and this result is a folder");
  assert.match((await refusal("d", { cwd, force: true, shape: "file" }, "tarball"))!, "is a folder, and this result is a file");
  assert.is(readFileSync(join(cwd, "f"), "utf8"), "mine");
});

test("a path under a file is refused naming the file", async () => {
  const cwd = tmp();
  writeFileSync(join(cwd, "f"), "mine");
  assert.match((await refusal("f/sub/deeper", { cwd }))!, `${join(cwd, "f")} is a file, not a folder`);
});

test("a folder of someone's files is refused unless --force; an empty folder and an earlier output are not", async () => {
  const cwd = tmp();
  mkdirSync(join(cwd, "work"));
  writeFileSync(join(cwd, "work", "thesis.tex"), "years");
  assert.match((await refusal("work", { cwd }))!, "pass --force");
  const forced = await checkOutputPath({ kind: "export", path: "work" }, { shape: "directory", cwd, force: true });
  assert.is(forced?.replaces, "forced");
  mkdirSync(join(cwd, "empty"));
  assert.is((await checkOutputPath({ kind: "export", path: "empty" }, { shape: "directory", cwd }))?.replaces, "nothing");
  mkdirSync(join(cwd, "earlier"));
  writeFileSync(join(cwd, "earlier", MARKER), "{}");
  writeFileSync(join(cwd, "earlier", "a.txt"), "a");
  assert.is((await checkOutputPath({ kind: "export", path: "earlier" }, { shape: "directory", cwd }))?.replaces, "output");
});

test("an existing file is replaced only when this tool wrote it, or with --force", async () => {
  const cwd = tmp();
  writeFileSync(join(cwd, "notes.txt"), "mine");
  const opts = { cwd, shape: "file" as const };
  assert.match((await refusal("notes.txt", opts, "tarball"))!, "is a file this tool did not write");
  assert.is((await checkOutputPath({ kind: "tarball", path: "notes.txt" }, { ...opts, force: true }))?.replaces, "forced");
  await atomicWrite(join(cwd, "ours.tar"), (t) => Promise.resolve(writeFileSync(t, "v1")));
  assert.ok(existsSync(fileMarker(join(cwd, "ours.tar"))));
  assert.is((await checkOutputPath({ kind: "tarball", path: "ours.tar" }, opts))?.replaces, "output");
  // Someone writes over it: no longer ours.
  rmSync(join(cwd, "ours.tar"));
  writeFileSync(join(cwd, "ours.tar"), "someone else's, longer");
  assert.match((await refusal("ours.tar", opts, "tarball"))!, "did not write");
});

test("an unwritable place is refused", async () => {
  const cwd = tmp();
  const ro = join(cwd, "ro");
  mkdirSync(ro);
  // As root, permissions do not stop writes: a read-only bind mount does. Without one, a mode does (non-root).
  const mounted = spawnSync("sh", ["-c", `mount --bind '${ro}' '${ro}' && mount -o remount,ro,bind '${ro}'`]).status === 0;
  try {
    if (!mounted) spawnSync("chmod", ["0555", ro]);
    if (!mounted && process.getuid?.() === 0) return; // cannot make an unwritable place here
    assert.match((await refusal(join(ro, "out", "x"), { cwd }))!, `cannot write in ${ro}`);
  } finally {
    if (mounted) spawnSync("umount", [ro]);
  }
});

test("atomicWrite marks a folder output, gives it mode 0777 & ~umask, and replaces an earlier one", async () => {
  const dir = tmp();
  const dest = join(dir, "out");
  await atomicWrite(
    dest,
    async (t) => {
      mkdirSync(t, { mode: 0o700 });
      writeFileSync(join(t, "a.txt"), "one");
    },
    { command: ["build", "--out", "out"] },
  );
  assert.is(statSync(dest).mode & 0o777, 0o777 & ~process.umask());
  assert.equal(JSON.parse(readFileSync(join(dest, MARKER), "utf8")).command, ["build", "--out", "out"]);
  await atomicWrite(dest, async (t) => {
    mkdirSync(t);
    writeFileSync(join(t, "b.txt"), "two");
  });
  assert.equal(readdirSync(dest).sort(), [MARKER, "b.txt"]);
  // The replaced folder is removed while the command goes on; the command waits for that before it exits.
  await settleRemovals();
  assert.equal(readdirSync(dir), ["out"], "no temporaries left");
});

test("atomicWrite itself never replaces a folder it did not write, nor the current folder", async () => {
  const dir = tmp();
  const theirs = join(dir, "theirs");
  mkdirSync(theirs);
  writeFileSync(join(theirs, "keep.txt"), "keep");
  const produce = async (t: string) => {
    mkdirSync(t);
    writeFileSync(join(t, "x"), "x");
  };
  await rejects(() => atomicWrite(theirs, produce), /did not write/);
  assert.equal(readdirSync(theirs), ["keep.txt"]);
  assert.equal(readdirSync(dir), ["theirs"], "the temporary is gone");
  const cwd = process.cwd();
  const here = join(dir, "here");
  mkdirSync(here);
  writeFileSync(join(here, MARKER), "{}");
  process.chdir(here);
  try {
    await rejects(() => atomicWrite(here, produce, { force: true }), /current folder/);
  } finally {
    process.chdir(cwd);
  }
  assert.ok(existsSync(join(here, MARKER)));
});

test("stale partial outputs of dead runs are removed; a live run's are kept; an output moved aside comes back", async () => {
  const dir = tmp();
  const dest = join(dir, "out");
  const dead = deadPid();
  const stale = join(dir, `.out.pipeline-${dead}-0123abcd`);
  const staleFile = join(dir, `.out.pipeline-${dead}-0123abce-d`);
  const live = join(dir, `.out.pipeline-${process.pid}-0123abcd`);
  const other = join(dir, `.other.pipeline-${dead}-0123abcd`);
  for (const p of [stale, staleFile, live, other]) mkdirSync(p);
  const aside = join(dir, `.out.pipeline-${dead}-89abcdef-old`);
  mkdirSync(aside);
  writeFileSync(join(aside, MARKER), "{}");
  const removed = await removeStaleSiblings(dest);
  assert.equal(removed.sort(), [stale, staleFile].sort());
  assert.ok(existsSync(live) && existsSync(other));
  assert.ok(existsSync(join(dest, MARKER)), "the earlier output moved aside by a killed replace is back");
});

test("stale work folders of dead runs are removed from the temp folder; others are kept", async () => {
  const dir = tmp();
  const dead = deadPid();
  for (const n of [`pipeline-${dead}-AbC123`, `pipeline-${process.pid}-AbC123`, "pipeline-e2e-AbC123", "pipeline-AbC123"])
    mkdirSync(join(dir, n));
  const removed = await removeStaleWork(dir);
  assert.equal(removed, [join(dir, `pipeline-${dead}-AbC123`)]);
  assert.equal(readdirSync(dir).sort(), [`pipeline-${process.pid}-AbC123`, "pipeline-AbC123", "pipeline-e2e-AbC123"].sort());
});

test("a switch given a value other than true or false is refused; the usual forms pass", () => {
  const names = ["avx", "gpu"];
  assert.match(badBoolean(names, ["--avx=maybe"])!, "--avx is a switch");
  assert.match(badBoolean(names, ["--gpu=1"])!, "--gpu is a switch");
  assert.match(badBoolean(names, ["--no-avx=true"])!, "--no-avx takes no value");
  for (const ok of [["--avx"], ["--no-avx"], ["--avx=false"], ["--avx=true"], ["--out=x=y"], ["--", "--avx=maybe"]])
    assert.is(badBoolean(names, ok), undefined, ok.join(" "));
});

test.run();
