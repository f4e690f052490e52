/**
 * The up-to-date check (pipeline/uptodate.mjs): a stamp recorded after a run says "up to date" for the same
 * command line only while nothing it records changed: an input file (but not one the context's filters leave
 * out), an output, the command line, the engine's environment, the project's git state, the tool's sources.
 * Real files in a scratch folder; git runs for real.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ownPipelineHome } from "../support/home.ts";
import { scratchDir } from "../support/scratch.ts";
import {
  type FolderEntry,
  folderDigest,
  gitState,
  pathDigest,
  recordStamp,
  snapshot,
  STAMP_DAYS,
  stampFile,
  statEntry,
  upToDate,
} from "../../pipeline/uptodate.mjs";
import { gitFacts, gitStateOf } from "../../pipeline/project.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
ownPipelineHome(test, "pipeline-uptodate-unit-");

/** A project (config, source tree with a build folder the filters leave out), an output, and a copy of the tool's sources. */
function scene() {
  const dir = scratchDir();
  const src = join(dir, "src");
  mkdirSync(join(src, "lib"), { recursive: true });
  mkdirSync(join(src, "build"), { recursive: true });
  writeFileSync(join(src, "lib", "a.cc"), "int a;\n");
  writeFileSync(join(src, "build", "a.o"), "object\n");
  writeFileSync(join(dir, "pipeline.yaml"), "name: p\nversion: 0.1.0\nsource: src\n");
  const out = join(dir, "out");
  mkdirSync(out);
  writeFileSync(join(out, "lib.so"), "binary\n");
  const tool = join(dir, "tool");
  mkdirSync(tool);
  for (const p of ["pipeline", "package.json", "dagger.json"]) cpSync(join(ROOT, p), join(tool, p), { recursive: true });
  const argv = ["build", "--out", "out"];
  const record = () => {
    const before = snapshot({
      inputs: [{ path: src, filters: [{ include: [], exclude: ["build"] }] }, { path: join(dir, "pipeline.yaml") }],
      tool,
      gitDir: dir,
    });
    recordStamp({ argv, cwd: dir, before, outputs: ["out"] });
  };
  const fresh = (args = argv, env = process.env) => upToDate(args, { cwd: dir, env, tool }) !== undefined;
  return { dir, src, out, tool, argv, record, fresh };
}

/** A later mtime, as an edit a moment after the last one gives. */
const later = (p: string) => utimesSync(p, new Date(), new Date(Date.now() + 5000));

test("a build's stamp uses once the input digest the check made: an edit after the check builds again next time", () => {
  const s = scene();
  s.record();
  writeFileSync(join(s.src, "lib", "a.cc"), "int c;\n");
  assert.not.ok(s.fresh(), "an edited source: the check says so, and keeps the digest it made");
  const atCheck = pathDigest(s.src, [{ include: [], exclude: ["build"] }]);
  // Edited again between the check and the build's start: the stamp records what the check saw.
  writeFileSync(join(s.src, "lib", "a.cc"), "int dd;\n");
  s.record();
  const stamp = () => JSON.parse(readFileSync(stampFile(s.argv, s.dir), "utf8")).inputs[0].digest;
  assert.is(stamp(), atCheck, "what the check saw, not the sources now: the next run builds again");
  assert.is.not(pathDigest(s.src, [{ include: [], exclude: ["build"] }]), atCheck);
  s.record();
  assert.is.not(stamp(), atCheck, "used once: the next stamp reads the sources itself");
  assert.ok(s.fresh());
});

test("nothing changed: up to date; a changed, touched, new or removed input file: not", () => {
  const s = scene();
  assert.not.ok(s.fresh(), "no stamp yet");
  s.record();
  assert.ok(s.fresh(), "the same command with nothing changed");
  writeFileSync(join(s.src, "lib", "a.cc"), "int b;\n");
  assert.not.ok(s.fresh(), "an edited source");
  s.record();
  later(join(s.src, "lib", "a.cc"));
  assert.not.ok(s.fresh(), "a touched source (same size, new mtime)");
  s.record();
  writeFileSync(join(s.src, "lib", "new.h"), "\n");
  assert.not.ok(s.fresh(), "a new source");
  s.record();
  rmSync(join(s.src, "lib", "new.h"));
  assert.not.ok(s.fresh(), "a removed source");
  s.record();
  writeFileSync(join(s.dir, "pipeline.yaml"), "name: p\nversion: 0.2.0\nsource: src\n");
  assert.not.ok(s.fresh(), "an edited config");
  rmSync(s.dir, { recursive: true, force: true });
});

test("a file the context's filters leave out does not count", () => {
  const s = scene();
  s.record();
  writeFileSync(join(s.src, "build", "a.o"), "another object, as a host build writes\n");
  assert.ok(s.fresh(), "the excluded build folder changed");
  rmSync(s.dir, { recursive: true, force: true });
});

test("an output changed, removed or added to: not up to date", () => {
  const s = scene();
  s.record();
  writeFileSync(join(s.out, "lib.so"), "edited\n");
  assert.not.ok(s.fresh(), "an edited output file");
  s.record();
  writeFileSync(join(s.out, "extra"), "\n");
  assert.not.ok(s.fresh(), "a file added to the output");
  s.record();
  rmSync(s.out, { recursive: true });
  assert.not.ok(s.fresh(), "the output removed");
  rmSync(s.dir, { recursive: true, force: true });
});

test("another command line, engine setting or tool source: not up to date; PIPELINE_UPTODATE=0: never", () => {
  const s = scene();
  s.record();
  assert.not.ok(s.fresh(["build", "--out", "out", "--no-avx"]), "another command line");
  assert.not.ok(s.fresh(s.argv, { ...process.env, DOCKER_HOST: "tcp://127.0.0.1:1" }), "another engine");
  assert.ok(s.fresh(s.argv, { ...process.env, TERM: "dumb" }), "an unrelated variable");
  assert.not.ok(s.fresh(s.argv, { ...process.env, PIPELINE_UPTODATE: "0" }), "turned off");
  writeFileSync(join(s.tool, "pipeline", "uptodate.mjs"), "// another version of the tool\n", { flag: "a" });
  assert.not.ok(s.fresh(), "the tool's sources changed");
  rmSync(s.dir, { recursive: true, force: true });
});

test("the project's git state counts: a commit or a tag makes the next run build again", () => {
  const s = scene();
  const git = (...a: string[]) =>
    execFileSync("git", ["-C", s.dir, "-c", "user.email=t@example.com", "-c", "user.name=t", ...a], { stdio: "ignore" });
  git("init", "-q");
  git("add", "pipeline.yaml");
  git("commit", "-q", "-m", "one");
  s.record();
  assert.ok(s.fresh());
  git("tag", "v1.0.0");
  assert.not.ok(s.fresh(), "a new tag changes the version git describe gives");
  s.record();
  git("commit", "-q", "--allow-empty", "-m", "two");
  assert.not.ok(s.fresh(), "a new commit changes HEAD");
  rmSync(s.dir, { recursive: true, force: true });
});

test("the git state the CLI reads (project.ts) is the one the up-to-date check reads, in and outside git", async () => {
  const dir = scratchDir();
  assert.is(gitStateOf(await gitFacts(dir)), gitState(dir), "outside git");
  const git = (...a: string[]) =>
    execFileSync("git", ["-C", dir, "-c", "user.email=t@example.com", "-c", "user.name=t", ...a], { stdio: "ignore" });
  git("init", "-q");
  assert.is(gitStateOf(await gitFacts(dir)), gitState(dir), "a repository with no commit");
  writeFileSync(join(dir, "f"), "x\n");
  git("add", "f");
  git("commit", "-q", "-m", "one");
  git("tag", "v2.1.0");
  writeFileSync(join(dir, "f"), "y\n");
  const facts = await gitFacts(dir);
  assert.match(facts.describe, /^v2\.1\.0-dirty$/);
  assert.is(gitStateOf(facts), gitState(dir), "a tagged, dirty work tree");
  rmSync(dir, { recursive: true, force: true });
});

test("a stamp not written for 30 days is removed when another is recorded", () => {
  const s = scene();
  s.record();
  const file = stampFile(s.argv, s.dir);
  const old = new Date(Date.now() - (STAMP_DAYS + 1) * 86_400_000);
  utimesSync(file, old, old);
  const other = scene();
  other.record();
  assert.not.ok(existsSync(file), "the old stamp is gone");
  assert.ok(existsSync(stampFile(other.argv, other.dir)), "the new one is there");
  rmSync(s.dir, { recursive: true, force: true });
  rmSync(other.dir, { recursive: true, force: true });
});

test("pathDigest of a folder hashes a walk: each folder's entries by name, a folder before what it holds (as stamps have always been made)", () => {
  const dir = scratchDir();
  for (const d of ["b", "B", "a b", "ä", "a/z", "a/Z", "_"]) mkdirSync(join(dir, d), { recursive: true });
  for (const f of ["b/1", "B/x", "a b/y", "ä/ü", "a/z/q", "a/Z/r", "_/s", "top", "Top", "a.o", "a-o"])
    writeFileSync(join(dir, f), f);
  symlinkSync("top", join(dir, "a/link"));
  chmodSync(join(dir, "a b"), 0o700);
  // The walk as written before the digest could be made from a list: names sorted per folder, depth first.
  const h = createHash("sha256");
  const walk = (at: string, rel: string) => {
    for (const name of readdirSync(at).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const p = join(at, name);
      const s = lstatSync(p, { bigint: true });
      if (s.isDirectory()) {
        h.update(`d ${childRel} ${s.mode}\0`);
        walk(p, childRel);
      } else if (s.isSymbolicLink()) h.update(`l ${childRel} ${readlinkSync(p)}\0`);
      else h.update(`f ${childRel} ${s.size} ${s.mode} ${s.mtimeNs}\0`);
    }
  };
  walk(dir, "");
  assert.is(pathDigest(dir), h.digest("hex"));
  // From a list in any order (an export's own), the same digest.
  const entries: FolderEntry[] = [];
  const list = (at: string, rel: string) => {
    for (const name of readdirSync(at)) {
      const p = join(at, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const s = lstatSync(p, { bigint: true });
      entries.push(statEntry(childRel, s, p));
      if (s.isDirectory()) list(p, childRel);
    }
  };
  list(dir, "");
  assert.is(folderDigest([...entries].reverse()), pathDigest(dir));
  assert.is(folderDigest([...entries].sort((a, b) => (a.rel < b.rel ? 1 : -1))), pathDigest(dir));
});

test("pathDigest: missing, a file, a link, and folders that differ only in a mode", () => {
  const dir = scratchDir();
  assert.is(pathDigest(join(dir, "none")), "missing");
  writeFileSync(join(dir, "f"), "x");
  const d1 = pathDigest(dir);
  execFileSync("chmod", ["755", join(dir, "f")]);
  assert.is.not(pathDigest(dir), d1, "a mode change counts");
  rmSync(dir, { recursive: true, force: true });
});

test.run();
