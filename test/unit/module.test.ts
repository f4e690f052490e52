/** The Dagger path without an engine: the module as the SDK's own introspection (`scan()`) reports it. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "../support/scratch.ts";

const introspector = new URL("../../node_modules/@dagger.io/dagger/dist/src/module/introspector/index.js", import.meta.url);
const moduleFile = fileURLToPath(new URL("../../src/index.ts", import.meta.url));

/**
 * Dagger's runtime generates `sdk/src/api/client.gen.ts`, where the introspector resolves the SDK's types
 * (Container, Directory, ...). Without an engine there is no generated SDK, so the npm package's own
 * declarations of that file stand in for it, under the name the introspector looks for.
 */
function clientGenStandIn(): string {
  const dir = scratchDir();
  const file = join(dir, "client.gen.ts");
  copyFileSync(
    fileURLToPath(new URL("../../node_modules/@dagger.io/dagger/dist/src/api/client.gen.d.ts", import.meta.url)),
    file,
  );
  return file;
}

let scanned: Promise<any> | undefined;
function scanModule() {
  scanned ??= (async () => {
    const { scan } = await import(introspector.href);
    const module = await scan([moduleFile, clientGenStandIn()], "pipeline");
    return JSON.parse(JSON.stringify(module));
  })();
  return scanned;
}

test("the SDK finds the main object Pipeline with a description", async () => {
  const m = await scanModule();
  assert.is(m.name, "Pipeline");
  const main = m.objects.Pipeline;
  assert.ok(main, `objects: ${Object.keys(m.objects).join(", ")}`);
});

test("every function and argument of the module has a description for --help", async () => {
  const m = await scanModule();
  const fns = Object.values(m.objects.Pipeline.methods) as Array<{
    name: string;
    description: string;
    arguments: Record<string, { name: string; description: string }>;
  }>;
  assert.ok(fns.length >= 2);
  for (const fn of fns) {
    assert.ok(fn.description.length > 10, `function ${fn.name} has no description`);
    for (const arg of Object.values(fn.arguments))
      assert.ok(arg.description.length > 5, `${fn.name}(${arg.name}) has no description`);
  }
});

test("toolbox takes a package list and an optional suite defaulting to bookworm", async () => {
  const m = await scanModule();
  const toolbox = m.objects.Pipeline.methods.toolbox;
  assert.equal(Object.keys(toolbox.arguments), ["packages", "suite"]);
  assert.is(toolbox.arguments.packages.type.kind, "LIST_KIND");
  assert.is(toolbox.arguments.suite.defaultValue, "bookworm");
  assert.is(toolbox.returnType.name, "Container");
});

test("the delivery functions take the flags of their CLI commands", async () => {
  const m = await scanModule();
  const methods = m.objects.Pipeline.methods;
  const args = (fn: string) => Object.keys(methods[fn]?.arguments ?? {});
  assert.equal(args("package"), ["source", "gpu", "avx", "variant"]);
  assert.equal(args("build"), ["source", "gpu", "avx", "test", "variant"]);
  assert.equal(args("test"), ["source", "gpu", "avx", "variant", "emulate"]);
  assert.equal(args("image"), ["source", "variant"]);
  assert.equal(args("sbom"), ["source", "variant"]);
  assert.equal(args("release"), ["source", "publish", "variant"]);
  assert.equal(args("book"), ["source", "variant", "port"]);
  assert.equal(args("k8s"), ["image", "workers", "variant", "app"]);
  assert.is(methods.image.returnType.name, "Container");
  assert.is(methods.sbom.returnType.name, "File");
  assert.is(methods.k8s.returnType.name, "File");
  const { STAGES, OWN_COMMANDS } = await import("../../pipeline/commands/stages.ts");
  const commands = [...STAGES.map((s: { name: string }) => s.name), ...Object.keys(OWN_COMMANDS)];
  for (const fn of ["package", "image", "sbom", "release", "book", "app", "k8s"])
    assert.ok(commands.includes(fn), `a CLI command named ${fn}`);
});

test.run();
