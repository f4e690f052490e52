/**
 * ccache-toolchain.sh on real folders: the dev image's package list kept in the compiler cache, and the warning
 * a build prints when the cache was filled with another toolchain (a ccache pulled from a machine whose dev
 * image installed other package versions: every compile there misses here).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../modules/scripts/ccache-toolchain.sh", import.meta.url));

/** Runs `body` with a folder holding the image's list `mine` (list) and an empty compiler cache (cache). */
function withFolders(mine: string[], body: (f: { dir: string; list: string; cache: string }) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "pipeline-cctc-"));
  const list = join(dir, "pipeline-toolchain");
  writeFileSync(list, mine.map((l) => `${l}\n`).join(""));
  const cache = join(dir, "ccache");
  mkdirSync(cache);
  try {
    body({ dir, list, cache });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(list: string, cache: string): { status: number | null; out: string } {
  const r = spawnSync("sh", [SCRIPT, list, cache], { encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

const MINE = ["binutils 2.40-2", "g++-12 12.2.0-14+deb12u1", "libc6-dev 2.36-9+deb12u14", "linux-libc-dev 6.1.192-3"];

test("a cache with no list gets the image's, silently; the same list again says nothing", () => {
  withFolders(MINE, ({ dir, list, cache }) => {
    let r = run(list, cache);
    assert.is(r.status, 0);
    assert.is(r.out, "");
    assert.is(readFileSync(join(cache, "pipeline-toolchain"), "utf8"), readFileSync(list, "utf8"));
    r = run(list, cache);
    assert.is(r.status, 0);
    assert.is(r.out, "");
  });
});

test("a cache filled with another toolchain: a warning naming what differs and how to get the image, then this image's list", () => {
  withFolders(MINE, ({ dir, list, cache }) => {
    const theirs = [
      "binutils 2.40-2",
      "g++-12 12.2.0-14+deb12u1",
      "libc6-dev 2.36-9+deb12u13",
      "linux-libc-dev 6.1.190-1",
      "gone 1.0",
    ];
    writeFileSync(join(cache, "pipeline-toolchain"), theirs.map((l) => `${l}\n`).join(""));
    const r = run(list, cache);
    assert.is(r.status, 0, "never fails the build");
    assert.match(r.out, /^pipeline-build: warning: the compiler cache was filled with another toolchain/);
    assert.match(r.out, "libc6-dev 2.36-9+deb12u13 -> 2.36-9+deb12u14");
    assert.match(r.out, "linux-libc-dev 6.1.190-1 -> 6.1.192-3");
    assert.match(r.out, "gone 1.0 -> (none)");
    assert.not.match(r.out, "binutils", "packages that are the same are not named");
    assert.match(r.out, "pipeline cache pull REGISTRY --only dev-image");
    assert.is(
      readFileSync(join(cache, "pipeline-toolchain"), "utf8"),
      readFileSync(list, "utf8"),
      "the cache now names this image",
    );
    assert.is(run(list, cache).out, "", "said once");
  });
});

test("many differences: the first three and how many more", () => {
  withFolders(["a 2", "b 2", "c 2", "d 2", "e 2"], ({ dir, list, cache }) => {
    writeFileSync(join(cache, "pipeline-toolchain"), "a 1\nb 1\nc 1\nd 1\ne 1\n");
    const r = run(list, cache);
    assert.match(r.out, "(a 1 -> 2, b 1 -> 2, c 1 -> 2, and 2 more)");
  });
});

test("changed versions are named before packages only one side has", () => {
  withFolders(["aa 1", "zz 2"], ({ list, cache }) => {
    writeFileSync(join(cache, "pipeline-toolchain"), "gone 3\nzz 1\n");
    assert.match(run(list, cache).out, "(zz 1 -> 2, gone 3 -> (none), aa (none) -> 1)");
  });
});

test("no list in the image, or no cache folder: nothing said, nothing written, exit 0", () => {
  withFolders(MINE, ({ dir, list, cache }) => {
    let r = run(join(dir, "absent"), cache);
    assert.is(r.status, 0);
    assert.is(r.out, "");
    assert.not.ok(existsSync(join(cache, "pipeline-toolchain")));
    r = run(list, join(dir, "no-cache"));
    assert.is(r.status, 0);
    assert.is(r.out, "");
    assert.not.ok(existsSync(join(dir, "no-cache")));
  });
});

test.run();
