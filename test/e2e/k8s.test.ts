/** `pipeline k8s` through the real CLI: manifests that validate, and bad arguments refused with exit 2. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { Job } from "kubernetes-models/batch/v1";
import { Service } from "kubernetes-models/v1";
import { cli, explain, scratch } from "./helpers.ts";

const IMAGE = "127.0.0.1:5000/minipaddle:0.1.0-gpu";

test("k8s writes an Indexed Job and a headless Service that validate against the Kubernetes schemas", async () => {
  const out = join(scratch(), "job.yaml");
  const r = await cli(["k8s", "--image", IMAGE, "--workers", "3", "--out", out]);
  assert.is(r.code, 0, explain(r));
  const docs = parseAllDocuments(readFileSync(out, "utf8")).map((d) => d.toJS());
  const service = new Service(docs.find((d) => d.kind === "Service"));
  const job = new Job(docs.find((d) => d.kind === "Job"));
  service.validate();
  job.validate();
  assert.is(service.spec?.clusterIP, "None");
  assert.is(job.spec?.completionMode, "Indexed");
  assert.is(job.spec?.completions, 3);
  assert.is(job.spec?.template.spec?.subdomain, service.metadata?.name);
  const worker = job.spec?.template.spec?.containers[0];
  assert.is(worker?.image, IMAGE);
  assert.is(worker?.resources?.limits?.["nvidia.com/gpu"], "1", "a GPU image asks for a GPU");
});

test("k8s --print writes the YAML to stdout; a CPU image gets no GPU limit", async () => {
  const r = await cli(["k8s", "--image", "minipaddle:0.1.0-noavx", "--workers", "2", "--print"]);
  assert.is(r.code, 0, explain(r));
  const job = parseAllDocuments(r.stdout)
    .map((d) => d.toJS())
    .find((d) => d.kind === "Job");
  assert.is(job.spec.parallelism, 2);
  assert.is(job.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"], undefined);
});

for (const [what, args, message] of [
  ["a worker count of 0", ["--image", IMAGE, "--workers", "0"], /--workers must be a whole number from 1 to 1000, got 0/],
  ["a fractional worker count", ["--image", IMAGE, "--workers", "2.5"], /--workers/],
  ["a worker count that is not a number", ["--image", IMAGE, "--workers", "many"], /--workers/],
  ["a malformed image reference", ["--image", "Bad Ref!", "--workers", "2"], /--image 'Bad Ref!': not an image reference/],
  ["an image reference with an empty tag", ["--image", "minipaddle:", "--workers", "2"], /--image/],
] as const) {
  test(`k8s refuses ${what} with exit 2 and writes nothing`, async () => {
    const out = join(scratch(), "job.yaml");
    const r = await cli(["k8s", ...args, "--out", out]);
    assert.is(r.code, 2, explain(r));
    assert.match(r.stderr, message);
    assert.not.ok(existsSync(out));
  });
}

test.run();
