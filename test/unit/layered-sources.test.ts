import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { recordsFile, writeContext } from "../../pipeline/context.ts";
import { recentLimit } from "../../pipeline/context-tree.ts";
import { recentOf, withLayeredSources } from "../../pipeline/plan/layers.ts";
import { BEFORE_RECENT } from "../../modules/scripts.ts";
import { sourceManifest } from "../../pipeline/source-hashes.ts";
import { withSourceManifests } from "../../pipeline/plan/manifest.ts";
import type { Plan, Step } from "../../pipeline/plan.ts";
import { scratchDir } from "../support/scratch.ts";

// The digests of staged sources are kept in the state dir: one of this file's own, for its tests only (uvu runs
// every test file in one process).
const home = process.env.PIPELINE_HOME;
test.before(() => {
  process.env.PIPELINE_HOME = scratchDir();
});
test.after(() => {
  if (home === undefined) delete process.env.PIPELINE_HOME;
  else process.env.PIPELINE_HOME = home;
});

/** A plan that copies the host folder `path` whole into /src, with `more` steps after that copy. */
function plan(path: string, more: Step[] = []): Plan {
  return {
    stages: [{ name: "s0", base: "debian", label: "t", steps: [{ kind: "copy", src: "h0/", dest: "/src/" }, ...more] }],
    target: "s0",
    output: { kind: "container" },
    secrets: [],
    context: [{ kind: "hostDir", dest: "h0", path, filters: [{ include: [], exclude: ["build"] }] }],
  };
}

test("a host folder copied only whole gets a second copy of its recent files", () => {
  const out = withLayeredSources(plan("."));
  assert.equal(out.stages[0]!.steps, [
    { kind: "copy", src: "h0/", dest: "/src/" },
    { kind: "copy", src: "h0-recent/", dest: "/src/" },
  ]);
  assert.equal(out.context, [
    { kind: "hostDir", dest: "h0", path: ".", filters: [{ include: [], exclude: ["build"] }], recent: "h0-recent" },
  ]);
});

test("steps that begin BEFORE_RECENT right after the base's copy come before the recent files' copy; others after", () => {
  const age: Step = { kind: "run", args: [...BEFORE_RECENT, "build-tree.sh", "age"], mounts: [] };
  const build: Step = { kind: "run", args: ["sh", "-c", "build"], mounts: [] };
  const env: Step = { kind: "env", name: "X", value: "1", expand: false };
  const recent: Step = { kind: "copy", src: "h0-recent/", dest: "/src/" };
  const base: Step = { kind: "copy", src: "h0/", dest: "/src/" };
  assert.equal(withLayeredSources(plan(".", [age, age, build])).stages[0]!.steps, [base, age, age, recent, build]);
  // Not right after the base's copy: it sees the recent files as every other step does.
  assert.equal(withLayeredSources(plan(".", [env, age])).stages[0]!.steps, [base, recent, env, age]);
  assert.equal(withLayeredSources(plan(".", [build, age])).stages[0]!.steps, [base, recent, build, age]);
});

test("a host folder read any other way is copied in one step", () => {
  for (const other of [
    { kind: "copy", src: "h0/include/", dest: "/inc/" },
    { kind: "copy", src: "h0/", dest: "/src/", chmod: "0755" },
    { kind: "run", args: ["true"], mounts: [{ kind: "bind", target: "/x", source: "h0/x" }] },
  ] as Step[]) {
    const p = plan(".", [other]);
    assert.is(withLayeredSources(p), p, JSON.stringify(other));
  }
});

/** A fresh host tree and the context folder it is staged into. */
function setup() {
  const root = scratchDir();
  const src = join(root, "src");
  mkdirSync(join(src, "lib"), { recursive: true });
  mkdirSync(join(src, "build"), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(src, "lib", `f${i}.cc`), `int f${i};\n`);
  writeFileSync(join(src, "build", "a.o"), "obj");
  symlinkSync("lib/f0.cc", join(src, "link.cc"));
  // With the build-tree restore that reads the CLI's manifest of the sources (made from the staging's own scan).
  const restore: Step = { kind: "run", args: ["sh", "-c", "build-tree.sh restore /cache /src /src/build"], mounts: [] };
  const p = withLayeredSources(withSourceManifests(plan("src", [restore])));
  const ctx = join(root, "ctx");
  return { root, src, ctx, stage: () => writeContext(p, ctx, root) };
}

/** path -> what a copy of `dirs` one after the other leaves there (a later one's file replacing an earlier one's). */
function copied(...dirs: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        out.set(r, "dir");
        walk(path, r);
      } else if (e.isSymbolicLink()) out.set(r, `-> ${readlinkSync(path)}`);
      else out.set(r, readFileSync(path, "utf8"));
    }
  };
  for (const d of dirs) walk(d, "");
  return out;
}

/** The base as BuildKit keys its copy: each path's content and metadata. */
function base(ctx: string): string {
  const lines: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const st = lstatSync(join(dir, name));
      lines.push(`${rel}${name} ${st.mode} ${st.size} ${st.mtimeMs} ${st.isFile() ? readFileSync(join(dir, name)) : ""}`);
      if (st.isDirectory()) walk(join(dir, name), `${rel}${name}/`);
    }
  };
  walk(join(ctx, "h0"), "");
  return lines.join("\n");
}

const recent = (ctx: string) => [...copied(join(ctx, recentOf("h0"))).keys()].sort();

function same(t: ReturnType<typeof setup>) {
  const host = copied(t.src);
  host.delete("build");
  host.delete("build/a.o");
  assert.equal(copied(join(t.ctx, "h0"), join(t.ctx, recentOf("h0"))), host, "base then recent = the host tree");
  // The digests the restore is handed are the host files' (read afresh here: no cache).
  assert.is(readFileSync(join(t.ctx, "m", "h0.sha256"), "utf8"), sourceManifest(t.src, "build").manifest);
}

test("an edit is staged in the recent folder and leaves the base as BuildKit keyed it", async () => {
  const t = setup();
  await t.stage();
  same(t);
  assert.equal(recent(t.ctx), [], "the first build stages the base whole");
  assert.ok(existsSync(recordsFile(t.ctx)));
  const first = base(t.ctx);

  // Replaced (a new file renamed over it, as git and many editors write): the base keeps the old one whole.
  writeFileSync(join(t.src, "lib", "f1.cc.tmp"), "int f1 = 1;\n");
  renameSync(join(t.src, "lib", "f1.cc.tmp"), join(t.src, "lib", "f1.cc"));
  // New, in a new folder.
  mkdirSync(join(t.src, "gen"));
  writeFileSync(join(t.src, "gen", "g.cc"), "int g;\n");
  await t.stage();
  same(t);
  assert.equal(recent(t.ctx), ["gen", "gen/g.cc", "lib", "lib/f1.cc"]);
  assert.is(base(t.ctx), first, "the base did not change");

  // Edited in place: the base's hard link changed with it, so the file leaves the base (once).
  appendFileSync(join(t.src, "lib", "f2.cc"), "// edit\n");
  await t.stage();
  same(t);
  assert.ok(!existsSync(join(t.ctx, "h0", "lib", "f2.cc")));
  assert.equal(recent(t.ctx), ["gen", "gen/g.cc", "lib", "lib/f1.cc", "lib/f2.cc"]);
  const second = base(t.ctx);
  appendFileSync(join(t.src, "lib", "f2.cc"), "// again\n");
  await t.stage();
  same(t);
  assert.is(base(t.ctx), second, "a file edited in place again: the base stays as it was");

  // Removed from the host, and a link changed: gone from the base too.
  rmSync(join(t.src, "lib", "f3.cc"));
  rmSync(join(t.src, "link.cc"));
  symlinkSync("lib/f4.cc", join(t.src, "link.cc"));
  await t.stage();
  same(t);
  assert.ok(!existsSync(join(t.ctx, "h0", "lib", "f3.cc")));
  assert.equal(recent(t.ctx), ["gen", "gen/g.cc", "lib", "lib/f1.cc", "lib/f2.cc", "link.cc"]);
});

test("more recent files than the limit are folded into the base", async () => {
  const t = setup();
  await t.stage();
  for (let i = 0; i < recentLimit(20); i++) writeFileSync(join(t.src, "lib", `n${i}.cc`), `int n${i};\n`);
  await t.stage();
  same(t);
  assert.is(recent(t.ctx).length, recentLimit(20) + 1, "at the limit: still recent (and their folder)");
  writeFileSync(join(t.src, "lib", "one-more.cc"), "int m;\n");
  await t.stage();
  same(t);
  assert.equal(recent(t.ctx), [], "over it: the base is made whole again");
});

test("a lost record makes the base whole again; the manifest of base and recent is the host tree's", async () => {
  const t = setup();
  await t.stage();
  writeFileSync(join(t.src, "lib", "f5.cc.tmp"), "int f5 = 5;\n");
  renameSync(join(t.src, "lib", "f5.cc.tmp"), join(t.src, "lib", "f5.cc"));
  await t.stage();
  const layers = [join(t.ctx, "h0"), join(t.ctx, recentOf("h0"))];
  const fromLayers = sourceManifest(layers, "build").manifest;
  assert.is(fromLayers, sourceManifest(t.src, "build").manifest);
  assert.ok(fromLayers.includes("lib/f5.cc"));
  rmSync(recordsFile(t.ctx));
  await t.stage();
  same(t);
  assert.equal(recent(t.ctx), []);
});

test.run();
