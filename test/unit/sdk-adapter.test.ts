/**
 * Pins what the adapter reads from the Dagger SDK. If an SDK upgrade changes the shape of its lazy objects,
 * these tests fail first, naming what changed, before any translation goes wrong.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import * as sdk from "@dagger.io/dagger";
import { CacheSharingMode, dag } from "@dagger.io/dagger";
import { ADAPTED_SDK_VERSION, readGraph } from "../../pipeline/sdk-adapter.ts";

test("the installed SDK is the version the adapter was written against", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../node_modules/@dagger.io/dagger/package.json", import.meta.url), "utf8"));
  assert.is(
    pkg.version,
    ADAPTED_SDK_VERSION,
    "re-check pipeline/sdk-adapter.ts against the new SDK, then update ADAPTED_SDK_VERSION",
  );
});

test("the adapter reads a container chain into plain calls, nested objects as nodes, enum notes dropped", () => {
  const ctr = dag
    .container()
    .from("debian:bookworm")
    .withMountedCache("/c", dag.cacheVolume("k"), { sharing: CacheSharingMode.Locked })
    .withExec(["make"])
    .withFile("/f", dag.host().file("a.txt"), { permissions: 0o600 });
  assert.equal(readGraph(ctr), {
    type: "Container",
    calls: [
      { name: "container", args: {} },
      { name: "from", args: { address: "debian:bookworm" } },
      {
        name: "withMountedCache",
        args: {
          path: "/c",
          cache: { type: "CacheVolume", calls: [{ name: "cacheVolume", args: { key: "k" } }] },
          sharing: "LOCKED",
        },
      },
      { name: "withExec", args: { args: ["make"] } },
      {
        name: "withFile",
        args: {
          path: "/f",
          source: {
            type: "File",
            calls: [
              { name: "host", args: {} },
              { name: "file", args: { path: "a.txt" } },
            ],
          },
          permissions: 0o600,
        },
      },
    ],
  });
});

test("the adapter reads directories, secrets and sub-selections", () => {
  const dir = dag.directory().withNewFile("x", "y").withDirectory("d", dag.container().from("a").directory("/p"));
  const graph = readGraph(dir);
  assert.is(graph.type, "Directory");
  assert.equal(
    graph.calls.map((c) => c.name),
    ["directory", "withNewFile", "withDirectory"],
  );
  assert.equal(readGraph(dag.setSecret("n", "v")), {
    type: "Secret",
    calls: [{ name: "setSecret", args: { name: "n", plaintext: "v" } }],
  });
});

test("the adapter refuses what is not a lazy SDK object", () => {
  assert.throws(() => readGraph({}), /expected a Dagger object/);
  assert.throws(() => readGraph("debian"), /expected a Dagger object/);
});

test("the CLI's light SDK offers every name the full SDK exports, as the same objects", async () => {
  const light = await import("../../pipeline/sdk-light.mjs");
  const missing = Object.keys(sdk).filter((name) => !(name in light));
  assert.equal(missing, [], `sdk-light.mjs lacks: ${missing.join(", ")}`);
  assert.is(light.dag, sdk.dag, "dag must be the same client instance");
  assert.is(light.Container, sdk.Container);
});

test.run();
