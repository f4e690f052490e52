/** The image-mirror map is kept per engine: a seed image lives in one engine's image store only. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readMirrors, recordMirror } from "../../pipeline/mirrors.ts";
import { expectedEngineKey, privateEngineKey } from "../../pipeline/engines/detect.ts";

const home = mkdtempSync(join(tmpdir(), "pipeline-mirrors-"));
const env = { PIPELINE_HOME: home };
// uvu runs every test file in one process: set the state dir for this file's tests only.
const before = process.env.PIPELINE_HOME;
test.before(() => {
  process.env.PIPELINE_HOME = home;
});
const file = join(home, "mirrors.json");
const OTHER = "tcp://127.0.0.1:2375";

test.after(() => {
  if (before === undefined) delete process.env.PIPELINE_HOME;
  else process.env.PIPELINE_HOME = before;
  rmSync(home, { recursive: true, force: true });
});

test("an old flat map is the private engine's, and no other engine's", async () => {
  writeFileSync(file, JSON.stringify({ "debian:bookworm": "pipeline-seed/debian:bookworm" }));
  assert.equal(await readMirrors(privateEngineKey(env), file), { "debian:bookworm": "pipeline-seed/debian:bookworm" });
  assert.equal(await readMirrors(OTHER, file), {});
});

test("a seed records under the engine that holds the image, keeping the other engines' maps", async () => {
  await recordMirror(OTHER, "debian:bookworm", "other-seed/debian:bookworm", file);
  assert.equal(await readMirrors(OTHER, file), { "debian:bookworm": "other-seed/debian:bookworm" });
  assert.equal(await readMirrors(privateEngineKey(env), file), { "debian:bookworm": "pipeline-seed/debian:bookworm" });
  const stored = JSON.parse(readFileSync(file, "utf8"));
  assert.equal(Object.keys(stored.engines).sort(), [OTHER, privateEngineKey(env)].sort());
});

test("the map read by default is the one of the engine builds would use ($DOCKER_HOST before the private engine)", () => {
  assert.is(expectedEngineKey({ env: { ...env, DOCKER_HOST: OTHER } }), OTHER);
  assert.is(expectedEngineKey({ env: { ...env, BUILDKIT_HOST: "tcp://10.0.0.1:1234" } }), "tcp://10.0.0.1:1234");
  assert.is(expectedEngineKey({ env, buildkitAddr: "unix:///run/buildkit.sock" }), "unix:///run/buildkit.sock");
});

test("a map that is neither form is refused naming the file and what was expected (exit 2)", async () => {
  writeFileSync(file, JSON.stringify({ engines: { x: { a: 1 } } }));
  try {
    await readMirrors(OTHER, file);
    assert.unreachable("accepted");
  } catch (err) {
    assert.is((err as { exitCode: number }).exitCode, 2);
    assert.match((err as Error).message, `${file}: at 'engines.x.a'`);
  }
});

test.run();
