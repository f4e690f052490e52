import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseAllDocuments } from "yaml";
import { Job } from "kubernetes-models/batch/v1";
import {
  checkImageRef,
  DEFAULT_RESOURCES,
  jobManifests,
  jobYaml,
  K8sArgumentError,
  variantOfImage,
  jobNameOfImage,
  type JobSpec,
} from "../../modules/k8s.ts";
import { dockerCpus, dockerMemory, parseManifests, REHEARSAL_LABEL, rehearsalRuns } from "../../pipeline/rehearsal.ts";
import { verdict } from "../../pipeline/rehearse.ts";
import { UsageError } from "../../modules/errors.ts";

const DIGEST = "0123456789abcdef".repeat(4);
const GPU_IMAGE = "127.0.0.1:5000/minipaddle:0.1.0-gpu";
const CPU_IMAGE = "127.0.0.1:5000/minipaddle:0.1.0";

// Loose views of the generated objects, enough to read the fields the tests check.
type Container = {
  name: string;
  image: string;
  args: string[];
  env: Array<{ name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }>;
  ports: Array<{ containerPort: number; name: string }>;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
};
type JobObj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    completionMode: string;
    completions: number;
    parallelism: number;
    template: { spec: { subdomain: string; restartPolicy: string; containers: Container[] } };
  };
};
type ServiceObj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: { clusterIP: string; selector: Record<string, string>; ports: Array<{ port: number }> };
};

const manifests = async (spec: JobSpec) => {
  const [service, job, ...rest] = (await jobManifests(spec)) as [ServiceObj, JobObj, ...object[]];
  assert.is(rest.length, 0);
  return { service, job, worker: job.spec.template.spec.containers[0]! };
};

const throwsArgumentError = async (spec: JobSpec, expected: RegExp) => {
  try {
    await jobManifests(spec);
    assert.unreachable("accepted");
  } catch (err) {
    assert.instance(err, K8sArgumentError);
    assert.is((err as K8sArgumentError).exitCode, 2);
    assert.match((err as Error).message, expected);
    assert.is((err as Error).message.split("\n").length, 1);
  }
};

test("4 workers of a gpu image get an Indexed Job of 4, a headless service named as the job's subdomain, and one GPU each", async () => {
  const { service, job, worker } = await manifests({ name: "minipaddle", image: GPU_IMAGE, workers: 4 });
  assert.is(service.kind, "Service");
  assert.is(service.apiVersion, "v1");
  assert.is(service.spec.clusterIP, "None");
  assert.is(job.kind, "Job");
  assert.is(job.apiVersion, "batch/v1");
  assert.is(job.spec.completionMode, "Indexed");
  assert.is(job.spec.completions, 4);
  assert.is(job.spec.parallelism, 4);
  assert.is(service.metadata.name, job.spec.template.spec.subdomain);
  assert.is(job.spec.template.spec.restartPolicy, "Never");
  assert.is(worker.resources.limits["nvidia.com/gpu"], "1");
  assert.equal(worker.resources.requests, { cpu: DEFAULT_RESOURCES.gpu.cpu, memory: DEFAULT_RESOURCES.gpu.memory });
});

test("the service selects the job's pods and exposes the rendezvous port the workers are told", async () => {
  const { service, job, worker } = await manifests({ name: "mp", image: CPU_IMAGE, workers: 3, port: 1234 });
  const podLabels = (job.spec.template as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels;
  for (const [k, v] of Object.entries(service.spec.selector)) assert.is(podLabels[k], v);
  assert.is(service.spec.ports[0]!.port, 1234);
  assert.equal(worker.ports, [{ containerPort: 1234, name: "rendezvous" }]);
  const env = Object.fromEntries(worker.env.map((e) => [e.name, e.value ?? e.valueFrom!.fieldRef.fieldPath]));
  assert.equal(env, {
    WORLD_SIZE: "3",
    RANK: "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    MASTER_ADDR: "mp-0.mp",
    MASTER_PORT: "1234",
  });
  assert.equal(worker.args, ["train"]);
});

test("a cpu image has no GPU limit, only a memory limit", async () => {
  const { worker } = await manifests({ name: "minipaddle", image: CPU_IMAGE, workers: 2 });
  assert.not.ok("nvidia.com/gpu" in worker.resources.limits);
  assert.equal(worker.resources.limits, { memory: DEFAULT_RESOURCES.cpu.memory });
});

test("an explicit variant and resources override the tag and the defaults", async () => {
  const { worker } = await manifests({
    name: "minipaddle",
    image: `minipaddle@sha256:${DIGEST}`,
    workers: 1,
    variant: "gpu-noavx",
    resources: { gpu: { cpu: "8", memory: "32Gi", gpus: 2 } },
    args: ["train", "--epochs", "1"],
  });
  assert.equal(worker.resources.limits, { "nvidia.com/gpu": "2" });
  assert.equal(worker.resources.requests, { cpu: "8", memory: "32Gi" });
  assert.equal(worker.args, ["train", "--epochs", "1"]);
});

const variants: Array<[string, string]> = [
  ["minipaddle:0.1.0", "cpu"],
  ["minipaddle:0.1.0-noavx", "cpu-noavx"],
  [GPU_IMAGE, "gpu"],
  ["127.0.0.1:5000/minipaddle:0.1.0-gpu-noavx", "gpu-noavx"],
  [`minipaddle@sha256:${DIGEST}`, "cpu"],
  [`registry.example.org/minipaddle:0.1.0-gpu@sha256:${DIGEST}`, "gpu"],
];
test("variantOfImage reads the four tag suffixes, and a bare digest is cpu", async () => {
  for (const [image, variant] of variants) assert.is(variantOfImage(image), variant, image);
});

test("checkImageRef accepts a short name, a registry with a port, and a digest reference", async () => {
  for (const ref of ["minipaddle:0.1.0", GPU_IMAGE, `registry.example.org/team/minipaddle@sha256:${DIGEST}`])
    assert.is(checkImageRef(ref), undefined, ref);
});

test("checkImageRef rejects spaces, an empty tag, uppercase paths, and the empty string", async () => {
  for (const ref of ["Bad Ref!", "minipaddle:", "UPPER/case:tag", "", `minipaddle@sha256:${DIGEST.slice(1)}`]) {
    const message = checkImageRef(ref);
    assert.type(message, "string", JSON.stringify(ref));
    assert.ok(message!.length > 0);
  }
});

for (const workers of [0, -1, 2.5, 1001]) {
  test(`workers ${workers} is refused with exit code 2`, async () => {
    await throwsArgumentError(
      { name: "minipaddle", image: CPU_IMAGE, workers },
      /^--workers must be a whole number from 1 to 1000, got /,
    );
  });
}

test("a bad name, image, port or GPU count names the argument", async () => {
  await throwsArgumentError({ name: "Mini_Paddle", image: CPU_IMAGE, workers: 1 }, /^--name 'Mini_Paddle': not a DNS-1035 label/);
  await throwsArgumentError(
    { name: "minipaddle", image: "Bad Ref!", workers: 1 },
    /^--image 'Bad Ref!': not an image reference /,
  );
  await throwsArgumentError({ name: "minipaddle", image: CPU_IMAGE, workers: 1, port: 70000 }, /^--port must be /);
  await throwsArgumentError(
    { name: "minipaddle", image: GPU_IMAGE, workers: 1, resources: { gpu: { cpu: "4", memory: "16Gi", gpus: 0 } } },
    /^--gpus must be a whole number from 1 to 64 for a gpu image, got 0$/,
  );
  await throwsArgumentError(
    { name: "minipaddle", image: CPU_IMAGE, workers: 1, resources: { cpu: { cpu: "two", memory: "4Gi", gpus: 0 } } },
    /^--cpu must be a positive Kubernetes quantity/,
  );
});

test("the YAML round-trips through parseAllDocuments to the same objects and says how to apply it", async () => {
  const spec: JobSpec = { name: "minipaddle", image: GPU_IMAGE, workers: 4 };
  const text = await jobYaml(spec);
  assert.match(text.split("\n")[0]!, /^# .*kubectl apply -f FILE/);
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return assert.unreachable("no documents");
  for (const d of docs) assert.equal(d.errors, []);
  assert.is(docs.length, 2);
  assert.equal(
    docs.map((d) => d.toJS()),
    await jobManifests(spec),
  );
});

test("the library's validate() really rejects a malformed Job", async () => {
  const container = { name: "worker", image: CPU_IMAGE };
  // A well-formed Job passes, so the failures below come from the schema and not from a broken setup.
  new Job({ metadata: { name: "ok" }, spec: { parallelism: 2, template: { spec: { containers: [container] } } } }).validate();
  const bad: unknown[] = [
    { metadata: { name: "x" }, spec: { parallelism: "two", template: { spec: { containers: [container] } } } },
    { metadata: { name: "x" }, spec: { completionMode: "Sometimes", template: { spec: { containers: [container] } } } },
    { metadata: { name: "x" }, spec: { template: { spec: { containers: [{ image: CPU_IMAGE }] } } } },
  ];
  for (const data of bad) {
    assert.throws(() => new Job(data as ConstructorParameters<typeof Job>[0]).validate(), /must/, JSON.stringify(data));
  }
});

test("an application image's workers run its entrypoint: no args in the manifest", async () => {
  const { worker } = await manifests({ name: "linear", image: "linear:0.1.0", workers: 3, args: [] });
  assert.is(worker.args, undefined);
  assert.equal((await manifests({ name: "m", image: CPU_IMAGE, workers: 1 })).worker.args, ["train"]);
});

test("an image's job name is its repository's last component as a DNS label", async () => {
  assert.is(jobNameOfImage("127.0.0.1:5000/apps/linear:0.1.0"), "linear");
  assert.is(jobNameOfImage("my_app.v2:1"), "my-app-v2");
  assert.is(jobNameOfImage("linear@sha256:" + DIGEST), "linear");
});

// The rehearsal: the manifests k8s writes -> one docker run per worker.
const rehearsal = async (spec: JobSpec, port = 41234) =>
  rehearsalRuns(parseManifests(await jobYaml(spec)), { port, prefix: "rh" });
const envOf = (args: string[]) => {
  const env: Record<string, string> = {};
  args.forEach((a, i) => {
    if (a === "-e") {
      const [k, ...v] = args[i + 1]!.split("=");
      env[k!] = v.join("=");
    }
  });
  return env;
};
const valuesOf = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

test("a rehearsal runs one container per worker with the image, the args and the index Kubernetes would give", async () => {
  const runs = await rehearsal({ name: "minipaddle", image: CPU_IMAGE, workers: 3 });
  assert.is(runs.length, 3);
  runs.forEach((run, i) => {
    assert.is(run.index, i);
    assert.is(run.container, `rh-${i}`);
    assert.is(run.image, CPU_IMAGE);
    assert.equal(run.args.slice(0, 4), ["run", "--rm", "--name", `rh-${i}`]);
    assert.equal(run.args.slice(-2), [CPU_IMAGE, "train"], "the image, then the container's args");
    assert.equal(valuesOf(run.args, "--network"), ["host"]);
    assert.equal(valuesOf(run.args, "--label"), [`${REHEARSAL_LABEL}=rh`]);
    const env = envOf(run.args);
    assert.equal(env, {
      WORLD_SIZE: "3",
      RANK: String(i),
      MASTER_ADDR: "minipaddle-0.minipaddle",
      MASTER_PORT: "41234",
      JOB_COMPLETION_INDEX: String(i),
    });
  });
});

test("a rehearsal resolves every pod's DNS name to this machine, worker 0's (MASTER_ADDR) included", async () => {
  const [run] = await rehearsal({ name: "linear", image: "linear:0.1.0", workers: 2, args: [] });
  const hosts = valuesOf(run!.args, "--add-host");
  assert.ok(hosts.includes("linear-0.linear:127.0.0.1"), hosts.join(" "));
  assert.ok(hosts.includes("linear-1.linear:127.0.0.1"));
  assert.is(run!.args[run!.args.length - 1], "linear:0.1.0", "no args: the image's entrypoint runs the program");
});

test("a rehearsal takes the limits it can: memory and a GPU count", async () => {
  const [cpu] = await rehearsal({ name: "m", image: CPU_IMAGE, workers: 1 });
  assert.equal(valuesOf(cpu!.args, "--memory"), ["4g"]);
  assert.equal(valuesOf(cpu!.args, "--gpus"), []);
  const [gpu] = await rehearsal({ name: "m", image: GPU_IMAGE, workers: 1 });
  assert.equal(valuesOf(gpu!.args, "--gpus"), ["1"]);
  assert.is(dockerMemory("512Mi"), "512m");
  assert.is(dockerMemory("1.5Gi"), String(1.5 * 2 ** 30));
  assert.is(dockerMemory("2G"), "2000000000");
  assert.is(dockerCpus("500m"), "0.5");
  assert.is(dockerCpus(2), "2");
});

test("a rehearsal follows a command: the entrypoint, then the rest of the command and the args", async () => {
  const docs = parseManifests(await jobYaml({ name: "m", image: CPU_IMAGE, workers: 1 })) as Array<{ kind: string; spec: any }>;
  const c = docs.find((d) => d.kind === "Job")!.spec.template.spec.containers[0];
  c.command = ["python3", "-u"];
  c.args = ["/app/main.py", "--fast"];
  const [run] = rehearsalRuns(docs, { port: 1000, prefix: "p" });
  assert.equal(valuesOf(run!.args, "--entrypoint"), ["python3"]);
  assert.equal(run!.args.slice(-4), [CPU_IMAGE, "-u", "/app/main.py", "--fast"]);
});

test("a rehearsal refuses what it cannot run faithfully, with a usage error", async () => {
  const text = await jobYaml({ name: "m", image: CPU_IMAGE, workers: 2 });
  const docs = () => parseManifests(text) as Array<{ kind: string; spec: any }>;
  const refused = (d: object[], expected: RegExp) => {
    try {
      rehearsalRuns(d, { port: 1000, prefix: "p" });
      assert.unreachable("accepted");
    } catch (err) {
      assert.instance(err, UsageError);
      assert.match((err as Error).message, expected);
    }
  };
  refused(
    docs().filter((d) => d.kind !== "Job"),
    /no Job/,
  );
  const notIndexed = docs();
  notIndexed.find((d) => d.kind === "Job")!.spec.completionMode = "NonIndexed";
  refused(notIndexed, /not an Indexed Job/);
  const twoContainers = docs();
  const pod = twoContainers.find((d) => d.kind === "Job")!.spec.template.spec;
  pod.containers.push({ ...pod.containers[0], name: "sidecar" });
  refused(twoContainers, /2 containers/);
  const podName = docs();
  podName
    .find((d) => d.kind === "Job")!
    .spec.template.spec.containers[0].env.push({ name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } });
  refused(podName, /POD comes from/);
});

test("the job's verdict names the failed workers with their exit codes and the ones stopped", async () => {
  assert.is(
    verdict([
      { index: 0, code: 0, stopped: false },
      { index: 1, code: 0, stopped: false },
    ]),
    undefined,
  );
  assert.is(
    verdict([
      { index: 0, code: 137, stopped: true },
      { index: 1, code: 137, stopped: true },
      { index: 2, code: 1, stopped: false },
    ]),
    "the job failed: worker-2 exited with 1; worker-0, worker-1 stopped when the job failed",
  );
});

test.run();
