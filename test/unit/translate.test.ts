import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { dag } from "@dagger.io/dagger";
import { readGraph } from "../../pipeline/sdk-adapter.ts";
import { planGraph, withSyncTarget } from "../../pipeline/plan.ts";
import { renderDockerfile } from "../../pipeline/dockerfile.ts";
import { UnsupportedOperation, UsageError } from "../../modules/errors.ts";
import { graphs } from "./graphs.ts";
import { parseConfig } from "../../modules/config.ts";
import { compile } from "../../modules/compile.ts";
import { devImage } from "../../modules/toolchain.ts";
import { selectVariant } from "../../modules/variants.ts";

const mirrors = { "debian:bookworm": "pipeline-seed/debian:bookworm" };
const translate = (obj: unknown) => renderDockerfile(planGraph(readGraph(obj), { mirrors }));

for (const [name, build] of Object.entries(graphs)) {
  test(`the '${name}' graph translates to its golden Dockerfile`, () => {
    const file = new URL(`../golden/${name}.Dockerfile`, import.meta.url);
    const actual = translate(build());
    if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
    assert.fixture(actual, readFileSync(file, "utf8"));
  });
}

test("no secret's plaintext appears in the build definition", () => {
  const plan = planGraph(readGraph(graphs.secrets()), { mirrors });
  const text = renderDockerfile(plan);
  assert.not.match(text, "plaintext-token-value");
  assert.not.match(text, "plaintext-key-value");
  const ids = plan.secrets.map((s) => s.id);
  assert.is(ids[0], "api-token");
  assert.match(ids[1]!, /^ssh_key-[0-9a-f]{8}$/, "an unsafe name gets a safe, distinct id");
});

test("host directory filters are carried into the build context, merged when both sides filter", () => {
  const plan = planGraph(readGraph(graphs["host-directories"]()));
  const dirs = plan.context.filter((e) => e.kind === "hostDir");
  assert.equal(dirs, [
    {
      kind: "hostDir",
      dest: "h0",
      path: "examples",
      filters: [{ include: ["**/*.cc", "**/CMakeLists.txt"], exclude: ["**/build"] }],
    },
    { kind: "hostDir", dest: "h1", path: "docs", filters: [] },
    { kind: "hostDir", dest: "h2", path: "examples", filters: [{ include: [], exclude: ["**/*.md"] }] },
  ]);
});

test("stages come after the stages they copy from", () => {
  const plan = planGraph(readGraph(graphs["cross-container-file"]()));
  const index = new Map(plan.stages.map((s, i) => [s.name, i]));
  const edges = plan.stages.flatMap((s) => s.steps.flatMap((st) => (st.kind === "copy" && st.from ? [[st.from, s.name]] : [])));
  assert.ok(edges.length > 0);
  for (const [from, to] of edges) assert.ok(index.get(from!)! < index.get(to!)!, `${from} before ${to}`);
  assert.is(plan.target, plan.stages.at(-1)!.name);
});

test("an unsupported operation is refused by name before anything runs", () => {
  const ctr = dag.container().from("debian:bookworm").withServiceBinding("db", dag.container().from("postgres").asService());
  try {
    translate(ctr);
    assert.unreachable("should refuse");
  } catch (err) {
    assert.instance(err, UnsupportedOperation);
    assert.match((err as Error).message, "Container.withServiceBinding");
    assert.match((err as Error).message, "--engine dagger");
    assert.is((err as UnsupportedOperation).exitCode, 2);
  }
});

test("an option the executor cannot honour is refused by name", () => {
  const ctr = dag.container().from("debian:bookworm").withExec(["true"], { insecureRootCapabilities: true });
  assert.throws(
    () => translate(ctr),
    (err: Error) => err instanceof UnsupportedOperation && /withExec\(insecureRootCapabilities: true\)/.test(err.message),
  );
});

test("a line break in an env value is refused rather than mistranslated", () => {
  const ctr = dag.container().from("debian:bookworm").withEnvVariable("A", "two\nlines");
  assert.throws(
    () => translate(ctr),
    (err: Error) => err instanceof UnsupportedOperation && /line break/.test(err.message),
  );
});

test("two different secrets under one name are a usage error", () => {
  const ctr = dag
    .container()
    .from("debian:bookworm")
    .withSecretVariable("A", dag.setSecret("token", "one"))
    .withSecretVariable("B", dag.setSecret("token", "two"));
  assert.throws(
    () => translate(ctr),
    (err: Error) => err instanceof UsageError && /named 'token'/.test(err.message),
  );
});

test("a directory result that is a stage's root is built from that stage directly", () => {
  const plan = planGraph(readGraph(graphs["new-files"]()));
  assert.is(plan.output.kind, "directory");
  assert.is(plan.target, plan.stages.at(-1)!.name);
  assert.ok(!plan.stages.some((s) => s.name === "out"));
});

test("a file result is copied alone into the output stage under its own name", () => {
  const file = dag.container().from("debian:bookworm").withExec(["sh", "-c", "echo x > /tmp/a.txt"]).file("/tmp/a.txt");
  const plan = planGraph(readGraph(file));
  assert.equal(plan.output, { kind: "file", name: "a.txt" });
  assert.equal(plan.stages.at(-1)!.steps, [{ kind: "copy", from: "s0", src: "/tmp/a.txt", dest: "/a.txt" }]);
});

test("the mirror map rewrites FROM, including docker.io/library spellings", () => {
  const text = translate(dag.container().from("docker.io/library/debian:bookworm").withExec(["true"]));
  assert.match(text, "FROM pipeline-seed/debian:bookworm AS s0");
});

test("a run with no output builds the plan's sync target: a last build stage that copies no file from the target", () => {
  const plan = planGraph(readGraph(graphs["cross-container-file"]()), { mirrors });
  const synced = withSyncTarget(plan);
  assert.is(synced.target, "pipeline-sync");
  assert.equal(synced.stages.slice(0, -1), plan.stages, "the plan's own build stages are unchanged");
  assert.equal(synced.stages.at(-1)!.steps, [{ kind: "copy", from: plan.target, src: "/.pipeline-sync-none*", dest: "/" }]);
  const file = new URL("../golden/sync-target.Dockerfile", import.meta.url);
  const actual = renderDockerfile(synced);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  assert.fixture(actual, readFileSync(file, "utf8"));
});

test("a build without tests checks its tree in the compile step itself; a build with tests leaves the check to a step of its caller", () => {
  const cfg = parseConfig(readFileSync(new URL("../../pipeline.yaml", import.meta.url), "utf8"), "pipeline.yaml");
  const v = selectVariant(cfg, { gpu: false, avx: false });
  const runs = (test: boolean) =>
    planGraph(readGraph(compile(cfg, devImage(cfg, false), dag.directory(), v, test)), { mirrors })
      .stages.flatMap((s) => s.steps)
      .filter((s) => s.kind === "run")
      .map((s) => ({ text: s.args.join(" "), mounts: s.mounts.map((m) => m.target) }));
  const step = runs(false).find((r) => r.text.includes("build-tree.sh restore"))!;
  // Beside the save, which the step waits for: started in the background before it, then waited for.
  assert.match(
    step.text,
    /\{ python3 \S*isa_check\.py --floor x86-64-v2 .*--cache-key build-tree-\S+ \/src\/build; \} & checks=\$!; \S*build-tree\.sh save [^;]*; wait \$checks$/,
  );
  assert.ok(step.mounts.includes("/var/cache/pipeline-isa"), "the verdict cache is mounted");
  assert.is(runs(false).filter((r) => r.text.includes("isa_check.py")).length, 1, "no step of its own");
  const tested = runs(true).find((r) => r.text.includes("build-tree.sh restore"))!;
  assert.not.match(tested.text, "isa_check.py");
  assert.not.ok(tested.mounts.includes("/var/cache/pipeline-isa"));
});

test.run();
