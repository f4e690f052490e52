/** `pipeline call`: dagger call's command lines run on the real engine give what the stage commands give. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import { cli, explain, scratch } from "./helpers.ts";

/** Every file under `dir`, relative, without the tool's output markers. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.name.endsWith(".pipeline-output")) continue;
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

test("call build --avx=false export --path DIR gives the files of build --no-avx --out DIR", async () => {
  const dir = scratch();
  const viaCall = join(dir, "call");
  const viaStage = join(dir, "stage");
  const stage = await cli(["build", "--no-avx", "--out", viaStage]);
  assert.is(stage.code, 0, explain(stage));
  const called = await cli(["call", "build", "--avx=false", "export", "--path", viaCall]);
  assert.is(called.code, 0, explain(called));
  assert.is(called.stdout, `${viaCall}\n`);
  assert.ok(statSync(join(viaCall, ".pipeline-output")).isFile(), "the export is marked as the tool's output");
  assert.equal(files(viaCall), files(viaStage));
  const version = (d: string) => spawnSync(join(d, "minipaddle"), ["--version"], { encoding: "utf8" });
  assert.is(version(viaCall).status, 0, version(viaCall).stderr);
  assert.is(version(viaCall).stdout, version(viaStage).stdout);
  // The same output checks as --out: the project folder is refused before anything builds.
  const refused = await cli(["call", "build", "--avx=false", "export", "--path", "."]);
  assert.is(refused.code, 2, explain(refused));
  assert.match(refused.stderr, /--path \.: is the current folder/);
});

test("call image-tag --variant gpu prints the tag", async () => {
  const r = await cli(["call", "image-tag", "--variant", "gpu"]);
  assert.is(r.code, 0, explain(r));
  assert.match(r.stdout, /^minipaddle:[0-9][^\s]*-gpu\n$/);
});

test("call k8s --image X --workers 2 contents prints the manifests' YAML", async () => {
  const r = await cli(["call", "k8s", "--image", "registry.example.org/minipaddle:0.1.0", "--workers", "2", "contents"]);
  assert.is(r.code, 0, explain(r));
  const docs = parseAllDocuments(r.stdout).map(
    (d) => d.toJS() as { kind: string; spec: { parallelism?: number; completions?: number } },
  );
  assert.equal(
    docs.map((d) => d.kind),
    ["Service", "Job"],
  );
  assert.is(docs[1]!.spec.completions, 2);
});

test("call errors exit 2 naming the function, argument or type, before anything runs", async () => {
  const fn = await cli(["call", "bild"]);
  assert.is(fn.code, 2);
  assert.match(fn.stderr, /unknown function 'bild'/);
  const arg = await cli(["call", "build", "--avx=maybe"]);
  assert.is(arg.code, 2);
  assert.match(arg.stderr, /--avx expects true or false, got 'maybe'/);
  const type = await cli(["call", "k8s", "--image", "x", "--workers", "two", "contents"]);
  assert.is(type.code, 2);
  assert.match(type.stderr, /--workers expects a whole number, got 'two'/);
});

test.run();
