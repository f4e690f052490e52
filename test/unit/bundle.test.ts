/**
 * The bundled CLI (pipeline/bundle.mjs): built on first use, rebuilt when one of its sources changes, and
 * the same CLI as the TypeScript sources run through tsx.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "pipeline", "bin.mjs");
const OUT = join(ROOT, "node_modules", ".cache", "pipeline", "cli.mjs");
const STAMP = join(ROOT, "node_modules", ".cache", "pipeline", "cli.json");
const { bundledCli } = (await import(join(ROOT, "pipeline", "bundle.mjs"))) as { bundledCli: () => Promise<string | undefined> };

const pipeline = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, ...env } });

test("the bundle is built, and records the CLI's own sources (not node_modules) as its inputs", async () => {
  const url = await bundledCli();
  assert.ok(url, "the bundle was built");
  assert.is(fileURLToPath(url!), OUT);
  const inputs = Object.keys(JSON.parse(readFileSync(STAMP, "utf8")).inputs);
  for (const f of ["pipeline/cli.ts", "src/index.ts", "modules/image.ts", "package-lock.json"])
    assert.ok(inputs.includes(f), `${f} is an input`);
  assert.ok(!inputs.some((f) => f.includes("node_modules")), "no dependency file is stat'ed on start-up");
  assert.not.match(
    readFileSync(OUT, "utf8"),
    /\bfrom "@dagger\.io\/dagger"/,
    "the SDK is imported as the light module, outside the bundle",
  );
});

test("a changed source makes the next run rebuild the bundle; an unchanged one reuses it", async () => {
  await bundledCli();
  const before = statSync(OUT).mtimeMs;
  await bundledCli();
  assert.is(statSync(OUT).mtimeMs, before, "reused");
  const src = join(ROOT, "pipeline", "cli.ts");
  const now = new Date();
  utimesSync(src, now, now);
  await bundledCli();
  assert.ok(statSync(OUT).mtimeMs > before, "rebuilt after an input changed");
});

test("a bundle built in another checkout (it imports the light SDK by absolute path) is rebuilt", async () => {
  await bundledCli();
  const stamp = JSON.parse(readFileSync(STAMP, "utf8"));
  assert.is(stamp.root, ROOT.replace(/\/$/, ""));
  writeFileSync(STAMP, JSON.stringify({ ...stamp, root: "/elsewhere" }));
  const before = statSync(OUT).mtimeMs;
  await bundledCli();
  assert.ok(statSync(OUT).mtimeMs > before, "rebuilt");
  assert.is(JSON.parse(readFileSync(STAMP, "utf8")).root, stamp.root);
  assert.match(readFileSync(OUT, "utf8"), `from "${join(ROOT, "pipeline", "sdk-light.mjs")}"`);
});

test("the bundled CLI and the sources through tsx answer alike", () => {
  for (const args of [["--help"], ["--version"], ["k8s", "--help"], ["build", "--bogus"]]) {
    const fast = pipeline(args);
    const slow = pipeline(args, { PIPELINE_NO_BUNDLE: "1" });
    assert.is(fast.status, slow.status, args.join(" "));
    assert.is(fast.stdout, slow.stdout, args.join(" "));
    assert.is(fast.stderr, slow.stderr, args.join(" "));
  }
  assert.is(pipeline(["--version"]).stdout.trim(), JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
});

test.run();
