/**
 * `pipeline app` and `pipeline k8s --app --rehearse` through the real CLI on the real engine: a user's program
 * (examples/apps/linear, data-parallel training on minipaddle) as an image that runs it, rehearsed as a
 * 3-worker Kubernetes job whose result equals one worker's, and a job whose worker 2 fails.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { Job } from "kubernetes-models/batch/v1";
import { Service } from "kubernetes-models/v1";
import { cli, dockerOnEngine, explain, ROOT, scratch, summary } from "./helpers.ts";
import { REHEARSAL_LABEL } from "../../pipeline/rehearsal.ts";

const SAMPLE = join(ROOT, "examples", "apps", "linear");
const IMAGE = "linear:0.1.0";
const TOLERANCE = 1e-4;

interface Result {
  finalLoss: number;
  params: number[];
}

/** final_loss, weights and bias from a run's output; with a worker, from that worker's prefixed lines. */
function parseResult(text: string, worker?: number): Result {
  const prefix = worker === undefined ? "" : `\\[worker-${worker}\\] `;
  const field = (name: string) => {
    const m = new RegExp(`^${prefix}${name}: (.+)$`, "m").exec(text);
    if (!m) throw new Error(`no ${name} line${worker === undefined ? "" : ` of worker ${worker}`} in:\n${text.slice(-2000)}`);
    return m[1]!.trim().split(/\s+/).map(Number);
  };
  return { finalLoss: field("final_loss")[0]!, params: [...field("weights"), ...field("bias")] };
}

function assertClose(got: Result, want: Result, what: string): void {
  assert.ok(Math.abs(got.finalLoss - want.finalLoss) <= TOLERANCE, `${what}: final_loss ${got.finalLoss} vs ${want.finalLoss}`);
  assert.is(got.params.length, 4, what);
  got.params.forEach((p, i) =>
    assert.ok(Math.abs(p - want.params[i]!) <= TOLERANCE, `${what}: parameter ${i}: ${p} vs ${want.params[i]}`),
  );
}

let single: Result | undefined;

test("app builds an image of the sample program that runs it: one worker trains to the true parameters", async () => {
  const sbom = join(scratch(), "linear.cdx.json");
  const r = await cli(["app", "--source", SAMPLE, "--sbom", sbom]);
  assert.is(r.code, 0, explain(r));
  assert.match(r.stderr, `app image loaded as ${IMAGE}`);
  const doc = JSON.parse(readFileSync(sbom, "utf8"));
  assert.is(doc.bomFormat, "CycloneDX");
  assert.ok(
    doc.components.some((c: { name: string }) => c.name === "minipaddle"),
    "the SBOM lists the framework's package",
  );
  const docker = await dockerOnEngine();
  const run = docker(["run", "--rm", IMAGE]);
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /^worker 0 of 1: /m);
  single = parseResult(run.stdout);
  assert.ok(single.finalLoss < 1e-3, run.stdout);
  [2, -3, 0.5, 1].forEach((t, i) => assert.ok(Math.abs(single!.params[i]! - t) < 0.01, run.stdout));
  const user = docker([
    "image",
    "inspect",
    "--format",
    "{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.Entrypoint}}",
    IMAGE,
  ]);
  assert.is(user.stdout.trim(), '1000:1000 /app ["/usr/local/bin/entrypoint","/app/main.py"]');
});

test("an edit to the program rebuilds one layer", async () => {
  const dir = join(scratch(), "edited");
  cpSync(SAMPLE, dir, { recursive: true });
  const build = () => cli(["app", "--source", dir, "--tag", "pipeline-e2e/app-edit:1", "--sbom", join(scratch(), "sbom.json")]);
  const first = await build();
  assert.is(first.code, 0, explain(first));
  // Unchanged, then with an edit: the edit re-runs one step more (the program's layer), nothing else.
  // (Against an unchanged rebuild, so that edits others make to the framework meanwhile do not count.)
  const unchanged = await build();
  assert.is(unchanged.code, 0, explain(unchanged));
  writeFileSync(join(dir, "main.py"), readFileSync(join(dir, "main.py"), "utf8") + `# edited ${Date.now()}\n`);
  const edited = await build();
  assert.is(edited.code, 0, explain(edited));
  // The program's packages step stays cached; its layer (the COPY to /app) is what the edit re-runs.
  assert.match(
    edited.stderr,
    /#(\d+) \[[^\]\n]*\] RUN [^\n]*"app-packages"\]\n(?:#\1 sha256:[^\n]*\n)?#\1 CACHED/,
    "the packages step re-ran",
  );
  assert.match(edited.stderr, /COPY --chown=1000:1000 \[h\d+\/,\/app\/\]/);
  // The first summary is the image's; the SBOM's build follows it. When nothing else changed meanwhile (others
  // editing the framework in the same checkout re-run its steps), the edit re-ran exactly that one step.
  const [before, after] = [summary(unchanged.stderr), summary(edited.stderr)];
  if (before.run === 0) assert.is(after.run, 1, `the edit re-ran ${after.run} steps:\n${edited.stderr.slice(-3000)}`);
});

test("k8s --app writes manifests for the application image that validate; its workers run the program", async () => {
  const out = join(scratch(), "linear.yaml");
  const r = await cli(["k8s", "--image", IMAGE, "--app", "--workers", "3", "--out", out]);
  assert.is(r.code, 0, explain(r));
  const docs = parseAllDocuments(readFileSync(out, "utf8")).map((d) => d.toJS());
  const service = new Service(docs.find((d) => d.kind === "Service"));
  const job = new Job(docs.find((d) => d.kind === "Job"));
  service.validate();
  job.validate();
  assert.is(job.metadata?.name, "linear");
  const worker = job.spec?.template.spec?.containers[0];
  assert.is(worker?.image, IMAGE);
  assert.is(worker?.args, undefined, "the image's entrypoint runs the program");
  assert.ok(worker?.env?.some((e) => e.name === "MASTER_ADDR" && e.value === "linear-0.linear"));
});

test("k8s --rehearse --workers 3 runs the job here and its workers end where one worker does", async () => {
  assert.ok(single, "the single-worker run above");
  const r = await cli(["k8s", "--image", IMAGE, "--app", "--workers", "3", "--rehearse"]);
  assert.is(r.code, 0, explain(r) + r.stdout.slice(-3000));
  for (const w of [0, 1, 2]) {
    assert.match(r.stdout, new RegExp(`^\\[worker-${w}\\] worker ${w} of 3: `, "m"));
    assertClose(parseResult(r.stdout, w), single!, `worker ${w}`);
  }
  assert.match(r.stderr, /all 3 worker\(s\) succeeded/);
  const docker = await dockerOnEngine();
  assert.is(
    docker(["ps", "-aq", "--filter", `label=${REHEARSAL_LABEL}`]).stdout.trim(),
    "",
    "the rehearsal removed its containers",
  );
});

test("a rehearsal whose worker 2 fails exits 1 naming it, stops the others and removes every container", async () => {
  const dir = join(scratch(), "linear-fail");
  cpSync(SAMPLE, dir, { recursive: true });
  cpSync(join(SAMPLE, "main.py"), join(dir, "linear.py"));
  writeFileSync(
    join(dir, "main.py"),
    [
      "import os, runpy, sys",
      'if os.environ.get("RANK") == "2":',
      '    print("worker 2 fails on purpose", file=sys.stderr)',
      "    sys.exit(1)",
      'runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "linear.py"), run_name="__main__")',
      "",
    ].join("\n"),
  );
  const built = await cli(["app", "--source", dir, "--sbom", join(scratch(), "fail.json")]);
  assert.is(built.code, 0, explain(built));
  assert.match(built.stderr, "loaded as linear-fail:0.1.0");
  const r = await cli(["k8s", "--image", "linear-fail:0.1.0", "--app", "--workers", "3", "--rehearse"]);
  assert.is(r.code, 1, explain(r));
  assert.match(r.stderr, /\[worker-2\] worker 2 fails on purpose/);
  assert.match(r.stderr, /the job failed: worker-2 exited with 1/);
  assert.not.match(r.stderr, /worker-[01] exited/);
  const docker = await dockerOnEngine();
  assert.is(
    docker(["ps", "-aq", "--filter", `label=${REHEARSAL_LABEL}`]).stdout.trim(),
    "",
    "the rehearsal removed its containers",
  );
});

for (const [what, args, message] of [
  ["a program folder that does not exist", ["--source", "no/such/folder"], /--source no\/such\/folder: no such/],
  ["an entry the folder lacks", ["--source", SAMPLE, "--entry", "nope.py"], /--entry nope.py: no such file/],
  [
    "an entry that is neither Python nor shell",
    ["--source", SAMPLE, "--entry", "params.json"],
    /must be a Python \(\.py\) or shell \(\.sh\) file/,
  ],
  ["a bad application name", ["--source", SAMPLE, "--name", "Bad_Name"], /--name 'Bad_Name'/],
] as const) {
  test(`app refuses ${what} with exit 2 before anything builds`, async () => {
    const r = await cli(["app", ...args]);
    assert.is(r.code, 2, explain(r));
    assert.match(r.stderr, message);
    assert.not.match(r.stderr, /steps, \d+ cached/);
  });
}

test("k8s refuses --print with --rehearse (the logs would go into the YAML)", async () => {
  const r = await cli(["k8s", "--image", IMAGE, "--app", "--workers", "2", "--rehearse", "--print"]);
  assert.is(r.code, 2, explain(r));
  assert.ok(!existsSync(join(ROOT, "out", "k8s", "linear.yaml.tmp")));
});

test.run();
