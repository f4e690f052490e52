/**
 * The bundled CLI (pipeline/bundle.mjs): built on first use, rebuilt when one of its sources changes, split so
 * that what one command needs alone stays out of the others' start-up, and the same CLI as the TypeScript
 * sources run through tsx.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "pipeline", "bin.mjs");
const CACHE = join(ROOT, "node_modules", ".cache", "pipeline");
const STAMP = join(CACHE, "cli.json");
const { bundledCli } = (await import(join(ROOT, "pipeline", "bundle.mjs"))) as { bundledCli: () => Promise<string | undefined> };

const pipeline = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, ...env } });

test("the bundle is built, and records the CLI's own sources (not node_modules) as its inputs", async () => {
  const url = await bundledCli();
  assert.ok(url, "the bundle was built");
  const stamp = JSON.parse(readFileSync(STAMP, "utf8"));
  assert.is(fileURLToPath(url!), join(CACHE, stamp.entry), "the stamp names the bundle's entry");
  const inputs = Object.keys(stamp.inputs);
  for (const f of ["pipeline/cli.ts", "src/index.ts", "modules/image.ts", "package-lock.json", "pipeline/bundle.mjs"])
    assert.ok(inputs.includes(f), `${f} is an input`);
  assert.ok(!inputs.some((f) => f.includes("node_modules")), "no dependency file is stat'ed on start-up");
  const dir = dirname(fileURLToPath(url!));
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8"));
  for (const text of files) assert.not.match(text, /\bfrom "@dagger\.io\/dagger"/, "the SDK is resolved to the light SDK");
  // The Kubernetes schemas (a third of the CLI) are a chunk the entry's static imports do not reach.
  const staticImports = (f: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(f)) return seen;
    seen.add(f);
    for (const m of readFileSync(join(dir, f), "utf8").matchAll(/^import [^;]*?from "\.\/([^"]+)"/gm)) staticImports(m[1], seen);
    return seen;
  };
  const eager = [...staticImports("cli.mjs")].map((f) => readFileSync(join(dir, f), "utf8")).join("");
  assert.ok(
    files.some((t) => t.includes("node_modules/kubernetes-models/")),
    "the schemas are bundled",
  );
  assert.not.ok(eager.includes("node_modules/kubernetes-models/"), "and not loaded on start-up");
  // The light SDK is an entry of its own (what TypeScript loaded at run time imports), sharing with the CLI the
  // chunk that defines the SDK's classes and `dag`: one copy of each.
  const shared = [...staticImports("sdk.mjs")].filter((f) => staticImports("cli.mjs").has(f));
  assert.ok(
    shared.some((f) => readFileSync(join(dir, f), "utf8").includes("node_modules/@dagger.io/dagger/dist/src/api/client.gen.js")),
    "cli.mjs and sdk.mjs import one client.gen.js",
  );
  // What only a live engine session needs stays out of the start-up, in node_modules.
  const sdkEager = [...staticImports("sdk.mjs")].map((f) => readFileSync(join(dir, f), "utf8")).join("");
  for (const pkg of ["@opentelemetry/", "typescript", "@grpc/"])
    assert.not.match(eager + sdkEager, new RegExp(`^import [^;]*from "${pkg}`, "m"), `${pkg} is not loaded on start-up`);
});

test("the bundled SDK's classes keep their names, which the adapter reads an object's type from", async () => {
  const sdk = await import(new URL("./sdk.mjs", await bundledCli()).href);
  for (const [obj, name] of [
    [sdk.dag.directory(), "Directory"],
    [sdk.dag.container(), "Container"],
  ])
    assert.is(obj.constructor.name, name);
});

test("a changed source makes the next run rebuild the bundle; an unchanged one reuses it", async () => {
  const before = await bundledCli();
  assert.is(await bundledCli(), before, "reused");
  // Built an hour ago: the ten minutes it is kept count from when a new one replaces it.
  const hourAgo = new Date(Date.now() - 3600_000);
  utimesSync(dirname(fileURLToPath(before!)), hourAgo, hourAgo);
  const src = join(ROOT, "pipeline", "cli.ts");
  const now = new Date();
  utimesSync(src, now, now);
  const after = await bundledCli();
  assert.is.not(after, before, "rebuilt after an input changed, into a folder of its own");
  assert.ok(existsSync(fileURLToPath(before!)), "the last one stays for a command that may still load its chunks");
});

test("a bundle built in another checkout (it names the SDK's files by absolute path) is rebuilt", async () => {
  const before = await bundledCli();
  const stamp = JSON.parse(readFileSync(STAMP, "utf8"));
  assert.is(stamp.root, ROOT.replace(/\/$/, ""));
  writeFileSync(STAMP, JSON.stringify({ ...stamp, root: "/elsewhere" }));
  const after = await bundledCli();
  assert.is.not(after, before, "rebuilt");
  assert.is(JSON.parse(readFileSync(STAMP, "utf8")).root, stamp.root);
  const dir = dirname(fileURLToPath(after!));
  // The SDK finds its version from the package.json above its own file (import.meta.url): kept as it was.
  const own = JSON.stringify(pathToFileURL(join(ROOT, "node_modules/@dagger.io/dagger/dist/src/provisioning/bin.js")).href);
  assert.ok(
    readdirSync(dir).some((f) => readFileSync(join(dir, f), "utf8").includes(own)),
    "the SDK's files keep their own URL, in this checkout",
  );
});

test("the bundled CLI and the sources through tsx answer alike", () => {
  // The first command after a change to the module's sources reads its functions again, and says so: only that one.
  pipeline(["--help"]);
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
