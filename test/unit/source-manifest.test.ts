/**
 * The source manifest the CLI makes for a build-tree restore: the same bytes as sha256sum in the container
 * would print, files re-read only when their inode, size or mtime moved, and the plan transform that mounts it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sourceManifest } from "../../pipeline/source-hashes.ts";
import { MANIFEST_MOUNT, withSourceManifests } from "../../pipeline/plan/manifest.ts";
import type { Plan } from "../../pipeline/plan.ts";
import { scratchDir } from "../support/scratch.ts";

function tree() {
  const root = scratchDir();
  const src = join(root, "src");
  mkdirSync(join(src, "lib", "deep"), { recursive: true });
  mkdirSync(join(src, "build"), { recursive: true });
  writeFileSync(join(src, "lib", "a.cc"), "int a;\n");
  writeFileSync(join(src, "lib", "deep", "b.h"), "#pragma once\n");
  writeFileSync(join(src, "odd name\nwith newline.cc"), "int odd;\n");
  writeFileSync(join(src, "build", "a.o"), "obj");
  spawnSync("ln", ["-s", "lib/a.cc", join(src, "link.cc")]);
  // Old mtimes: hashed long after they were written, so the cache may trust them.
  for (const p of ["lib/a.cc", "lib/deep/b.h", "odd name\nwith newline.cc"]) utimesSync(join(src, p), 1_000_000, 1_000_000);
  return { root, src, cache: join(root, "hashes.json") };
}

const sha256sum = (dir: string) =>
  spawnSync("sh", ["-c", "find . -path ./build -prune -o -type f -print0 | xargs -0r sha256sum -z | LC_ALL=C sort -z"], {
    cwd: dir,
  }).stdout.toString();

test("the manifest is sha256sum's, record for record: the build folder, links and folders left out, odd names as they are", () => {
  const t = tree();
  const { manifest, hashed } = sourceManifest(t.src, "build", t.cache);
  assert.is(manifest, sha256sum(t.src));
  assert.is(hashed, 3);
});

test("a second manifest reads only the files whose inode, size or mtime moved, and a file modified within a second of its hashing", () => {
  const t = tree();
  sourceManifest(t.src, "build", t.cache);
  assert.is(sourceManifest(t.src, "build", t.cache).hashed, 0, "nothing moved: nothing read");
  // Same size, new content and mtime; a file replaced by a rename (new inode, same mtime and size).
  writeFileSync(join(t.src, "lib", "a.cc"), "int b;\n");
  writeFileSync(join(t.src, "lib", "deep", "b.h.new"), "#pragma twice\n".slice(0, 13));
  utimesSync(join(t.src, "lib", "deep", "b.h.new"), 1_000_000, 1_000_000);
  renameSync(join(t.src, "lib", "deep", "b.h.new"), join(t.src, "lib", "deep", "b.h"));
  let next = sourceManifest(t.src, "build", t.cache);
  assert.is(next.hashed, 2);
  assert.is(next.manifest, sha256sum(t.src));
  // a.cc's mtime is now, within a second of its hashing: read again until it is older (an edit in the same
  // clock tick would not have moved it).
  next = sourceManifest(t.src, "build", t.cache);
  assert.is(next.hashed, 1);
  assert.is(next.manifest, sha256sum(t.src));
});

test("from a staging's own listing: no walk, and a file is read again only when the inode, size or mtime it was staged with moved", () => {
  const t = tree();
  const listing = () =>
    ["lib/a.cc", "lib/deep/b.h", "odd name\nwith newline.cc", "build/a.o"].map((rel) => {
      const st = lstatSync(join(t.src, rel), { bigint: true });
      return { rel, path: join(t.src, rel), ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs) };
    });
  const first = sourceManifest(t.src, "build", t.cache, listing());
  assert.is(first.manifest, sha256sum(t.src), "the build folder left out, as a walk leaves it");
  assert.is(first.hashed, 3);
  assert.is(sourceManifest(t.src, "build", t.cache, listing()).hashed, 0, "nothing moved: nothing read");
  // Edited in place: the same size and inode, another (old) mtime.
  writeFileSync(join(t.src, "lib", "a.cc"), "int b;\n");
  utimesSync(join(t.src, "lib", "a.cc"), 2_000_000, 2_000_000);
  const next = sourceManifest(t.src, "build", t.cache, listing());
  assert.is(next.hashed, 1);
  assert.is(next.manifest, sha256sum(t.src));
  // The listing, not the folder, says what there is: a file it does not name is not in the manifest.
  assert.not.match(sourceManifest(t.src, "build", t.cache, listing().slice(1)).manifest, "lib/a.cc");
});

test("withSourceManifests mounts a manifest into a restore of a folder a host folder was copied to, and only there", () => {
  const restore = (src: string) => ({
    kind: "run" as const,
    args: [
      "sh",
      "-c",
      `set -e; /usr/local/lib/pipeline/build-tree.sh restore /var/cache/pipeline-build ${src} ${src}/build; make`,
    ],
    mounts: [{ kind: "cache" as const, target: "/var/cache/pipeline-build", id: "t", sharing: "locked" as const }],
  });
  const plan: Plan = {
    stages: [
      {
        name: "s0",
        base: "debian",
        label: "from debian:bookworm",
        // The step that ages sources changes mtimes only: the manifest still holds after it.
        steps: [
          { kind: "copy", src: "h0/", dest: "/src/" },
          { kind: "workdir", path: "/src" },
          {
            kind: "run",
            args: ["env", "X=1", "/usr/local/lib/pipeline/build-tree.sh", "age", "/c", "/src", "/src/build"],
            mounts: [],
          },
          restore("/src"),
        ],
      },
      // A folder something else wrote into after the copy, and one no host folder was copied to: no manifest.
      {
        name: "s1",
        base: "debian",
        label: "from debian:bookworm",
        steps: [
          { kind: "copy", src: "h0/", dest: "/w/" },
          { kind: "copy", src: "f/x", dest: "/w/x" },
          restore("/w"),
          restore("/other"),
        ],
      },
      // A command between the copy and the restore may have changed the sources: no manifest.
      {
        name: "s2",
        base: "debian",
        label: "from debian:bookworm",
        steps: [
          { kind: "copy", src: "h0/", dest: "/v/" },
          { kind: "run", args: ["sed", "-i", "s/a/b/", "/v/a.cc"], mounts: [] },
          restore("/v"),
        ],
      },
    ],
    target: "s0",
    output: { kind: "container" },
    secrets: [],
    context: [{ kind: "hostDir", dest: "h0", path: ".", filters: [] }],
  };
  const out = withSourceManifests(plan);
  assert.equal(out.stages[0], {
    name: "pipeline-sources-h0",
    base: "scratch",
    label: "the SHA-256 manifest of h0, made by the CLI",
    steps: [{ kind: "copy", src: "m/h0.sha256", dest: "/sources.sha256" }],
  });
  const s0 = out.stages.find((s) => s.name === "s0")!;
  const run = s0.steps[3]!;
  assert.ok(
    run.kind === "run" &&
      run.mounts.some((m) => m.kind === "bind" && m.target === MANIFEST_MOUNT && m.from === "pipeline-sources-h0"),
  );
  for (const i of [1, 2])
    assert.equal(out.stages.find((s) => s.name === `s${i}`)!.steps, plan.stages[i]!.steps, `s${i} untouched`);
  assert.equal(out.context.at(-1), { kind: "sourceManifest", dest: "m/h0.sha256", of: "h0", prune: "build" });
  const none = { ...plan, stages: [plan.stages[1]!, plan.stages[2]!] };
  assert.is(withSourceManifests(none), none, "no restore of a copied host folder: the plan as it was");
});

test.run();
