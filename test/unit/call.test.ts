/**
 * `pipeline call`: the module's functions from the SDK's scan() of a fixture module with every kind of argument
 * (test/fixtures/call-module), the command line parsed as `dagger call` reads it, help text, chain verbs, errors.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ownPipelineHome } from "../support/home.ts";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// Scans go to a PIPELINE_HOME of this file's own while its tests run.
ownPipelineHome(test, "pipeline-call-unit-");
const { camel, findModule, kebab, loadModuleSpec, scanCacheFile } = await import("../../pipeline/introspect.ts");
const { parseCall, splitList } = await import("../../pipeline/call-line.ts");
const { functionHelp, moduleHelp } = await import("../../pipeline/call-verbs.ts");
const { UsageError } = await import("../../modules/errors.ts");
type ModuleSpec = Awaited<ReturnType<typeof loadModuleSpec>>;

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = join(ROOT, "test", "fixtures", "call-module");
const mod = findModule(FIXTURE)!;

let spec: Promise<ModuleSpec> | undefined;
const fixture = () => (spec ??= loadModuleSpec(mod));

function call(s: ModuleSpec, line: string) {
  const plan = parseCall(s, line.split(" ").filter(Boolean));
  if (plan.kind !== "call") throw new Error(`expected a call, got help:\n${plan.text}`);
  return plan;
}

function refused(s: ModuleSpec, line: string, pattern: RegExp): void {
  try {
    parseCall(s, line.split(" ").filter(Boolean));
  } catch (err) {
    assert.instance(err, UsageError);
    assert.is((err as InstanceType<typeof UsageError>).exitCode, 2);
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`'${line}' was accepted`);
}

test("names convert between the source's camelCase and the command line's kebab-case", () => {
  assert.is(kebab("imageTag"), "image-tag");
  assert.is(kebab("testReport"), "test-report");
  assert.is(kebab("k8s"), "k8s");
  assert.is(kebab("appSbom"), "app-sbom");
  assert.is(camel("dev-image"), "devImage");
  assert.equal(splitList('a,b,"c,d"'), ["a", "b", "c,d"]);
});

test("the scan finds the fixture's main object, its functions in kebab-case, their arguments, types and defaults", async () => {
  const s = await fixture();
  assert.is(s.className, "CallFixture");
  assert.equal(
    s.functions.map((f) => f.command),
    ["greet", "join", "bundle", "say", "note", "here"],
  );
  const greet = s.functions.find((f) => f.name === "greet")!;
  assert.equal(
    greet.args.map((a) => [a.flag, a.type.kind, a.optional, a.default]),
    [
      ["name", "string", false, undefined],
      ["times", "integer", true, 1],
      ["shout", "boolean", true, false],
      ["polite", "boolean", true, true],
    ],
  );
  assert.equal(s.functions.find((f) => f.name === "join")!.args[0]!.type, { kind: "list", of: { kind: "string" } });
  assert.equal(
    s.functions.find((f) => f.name === "bundle")!.args.map((a) => [a.type, a.optional]),
    [
      [{ kind: "object", name: "Directory" }, false],
      [{ kind: "object", name: "File" }, true],
    ],
  );
  assert.equal(s.functions.find((f) => f.name === "say")!.returns, { kind: "object", name: "Container" });
  assert.is(s.functions.find((f) => f.name === "here")!.args[0]!.defaultPath, "/");
  assert.equal(
    s.constructorArgs.map((a) => [a.name, a.default]),
    [["greeting", "hello"]],
  );
});

test("the scan is kept keyed by the source files' stats: a second load reads the cache, a touched source scans again", async () => {
  await fixture();
  const file = scanCacheFile(mod);
  assert.ok(existsSync(file));
  const started = Date.now();
  await loadModuleSpec(mod, { say: () => assert.unreachable("scanned again with nothing changed") });
  assert.ok(Date.now() - started < 1000, `a cached load took ${Date.now() - started} ms`);
  const key = JSON.parse(readFileSync(file, "utf8")).key as string;
  const later = new Date(Date.now() + 5000);
  utimesSync(mod.entry, later, later);
  const { scanKey } = await import("../../pipeline/introspect.ts");
  assert.is.not(scanKey(mod), key);
});

test("scalar arguments: strings, whole numbers, --flag and --flag=false, --flag value and --flag=value", async () => {
  const s = await fixture();
  const p = call(s, "greet --name=ann --times 3 --shout --polite=false");
  assert.is(p.fn.name, "greet");
  assert.equal(p.args, { name: "ann", times: 3, shout: true, polite: false });
  assert.equal(p.chain, []);
  assert.equal(p.result, { kind: "string" });
  assert.equal(call(s, "greet --name bob --shout=true --no-polite").args, { name: "bob", shout: true, polite: false });
});

test("list arguments: comma-separated, and a repeated flag adds to the list", async () => {
  const s = await fixture();
  assert.equal(call(s, "join --words a,b,c").args, { words: ["a", "b", "c"] });
  assert.equal(call(s, "join --words=a --words=b --sep=-").args, { words: ["a", "b"], sep: "-" });
});

test("Directory and File arguments are host paths; Secret arguments name env:, file: or cmd:", async () => {
  const s = await fixture();
  assert.equal(call(s, "bundle --src some/dir --extra notes.txt").args, {
    src: { host: "directory", path: "some/dir" },
    extra: { host: "file", path: "notes.txt" },
  });
  assert.equal(call(s, "say --token env:TOKEN").args, { token: { secret: "env", ref: "TOKEN" } });
});

test("module (constructor) arguments go before the function; the CLI's own options anywhere", async () => {
  const s = await fixture();
  const p = call(s, "--greeting=hey greet --name ann --engine buildkit --progress plain");
  assert.equal(p.constructorArgs, { greeting: "hey" });
  assert.equal(p.options, { engine: "buildkit", progress: "plain" });
  assert.equal(call(s, "--config other.yaml note --text hi --force contents").options, { config: "other.yaml", force: true });
});

test("chain verbs: export --path, contents, entries, stdout, publish --address, sync, file/directory/with-exec", async () => {
  const s = await fixture();
  assert.equal(call(s, "bundle --src . export --path out/x").chain, [{ verb: "export", path: "out/x" }]);
  assert.equal(call(s, "note --text hi contents").chain, [{ verb: "contents" }]);
  assert.equal(call(s, "bundle --src . entries").chain, [{ verb: "entries" }]);
  assert.equal(call(s, "say stdout").chain, [{ verb: "stdout" }]);
  assert.equal(call(s, "say publish --address 127.0.0.1:5000/say:1").chain, [
    { verb: "publish", address: "127.0.0.1:5000/say:1" },
  ]);
  assert.equal(call(s, "say with-exec --args=ls,-l stdout").chain, [
    { verb: "with-exec", args: ["ls", "-l"] },
    { verb: "stdout" },
  ]);
  const p = call(s, "bundle --src . file --path src/a.txt contents");
  assert.equal(p.chain, [{ verb: "file", path: "src/a.txt" }, { verb: "contents" }]);
  assert.equal(p.result, { kind: "string" });
  assert.equal(call(s, "say terminal").chain, [{ verb: "terminal" }]);
  assert.equal(call(s, "note --text hi -o out/n.txt").chain, [{ verb: "export", path: "out/n.txt" }]);
});

test("errors name what is wrong: unknown function, unknown argument, wrong type, missing argument, a verb on the wrong type", async () => {
  const s = await fixture();
  refused(s, "nope", /unknown function 'nope'.*greet, join/);
  refused(s, "greet --name ann --loud", /call greet: unknown argument '--loud' \(its arguments: --name, --times/);
  refused(s, "greet --name ann --times=two", /call greet: --times expects a whole number, got 'two'/);
  refused(s, "greet --name ann --times 1.5", /--times expects a whole number, got '1.5'/);
  refused(s, "greet --name ann --shout=maybe", /--shout expects true or false, got 'maybe'/);
  refused(s, "greet", /call greet: missing --name/);
  refused(s, "note --text hi stdout", /'stdout' does not apply to a File \(on a File: export, contents, sync\)/);
  refused(s, "note --text hi frobnicate", /unknown function 'frobnicate'/);
  refused(s, "bundle --src . export", /export: missing --path/);
  refused(s, "note --text hi contents sync", /contents|nothing/);
  refused(s, "greet --name ann --engine warp", /--engine: expected one of auto, dagger, buildkit/);
});

test("--help lists the functions with their first sentence; FUNCTION --help its arguments, types, defaults and chain", async () => {
  const s = await fixture();
  const top = parseCall(s, ["--help"]);
  assert.is(top.kind, "help");
  const text = (top as { text: string }).text;
  assert.match(text, /Usage: pipeline call/);
  assert.match(text, /greet\s+Greets someone/);
  assert.match(text, /--greeting string\s+The word every greeting starts with \(default "hello"\)/);
  assert.is(moduleHelp(s), text);
  const fn = parseCall(s, ["greet", "--help"]);
  assert.is(fn.kind, "help");
  const g = (fn as { text: string }).text;
  assert.is(g, functionHelp(s.functions[0]!));
  assert.match(g, /--name string\s+Who to greet \(required\)/);
  assert.match(g, /--times int\s+How many times to say it \(default 1\)/);
  assert.match(g, /--polite\s+Add please \(true unless --polite=false\) \(default true\)/);
  assert.match(functionHelp(s.functions.find((f) => f.name === "join")!), /--words string\[\]/);
  assert.match(
    functionHelp(s.functions.find((f) => f.name === "say")!),
    /Chain on the result:[\s\S]*publish --address string[\s\S]*stdout/,
  );
});

test("the CLI exits 2 naming an unknown function, argument or a wrong type; a new function needs no CLI change", async () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, "pipeline", "bin.mjs"), "call", "-m", FIXTURE, ...args], {
      encoding: "utf8",
      env: { ...process.env },
      cwd: tmpdir(),
    });
  const unknown = run("nope");
  assert.is(unknown.status, 2, unknown.stderr);
  assert.match(unknown.stderr, /^pipeline: unknown function 'nope'/m);
  const arg = run("greet", "--name", "x", "--loud");
  assert.is(arg.status, 2);
  assert.match(arg.stderr, /unknown argument '--loud'/);
  const type = run("greet", "--name", "x", "--times", "two");
  assert.is(type.status, 2);
  assert.match(type.stderr, /--times expects a whole number, got 'two'/);
  const help = run("--help");
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /here\s+The folder the module was called from/);
  const greet = run("--greeting", "hey", "greet", "--name", "ann", "--times=2", "--polite=false");
  assert.is(greet.status, 0, greet.stderr);
  assert.is(greet.stdout, "hey ann\nhey ann\n");
  const joined = run("join", "--words", "a,b", "--words", "c", "--sep", "+");
  assert.is(joined.stdout, "a+b+c\n");
});

test.run();
