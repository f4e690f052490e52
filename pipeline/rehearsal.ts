/**
 * The rehearsal of a Kubernetes Job on the local engine, as data: the manifests `k8s` writes (an Indexed Job
 * and its headless Service) become one `docker run` per worker, with what Kubernetes would give each pod.
 * Pure: no I/O. The manifests are the one description of the job; nothing here adds a second one.
 *
 * Per worker (completion index i of N):
 * - the container's image, command (`--entrypoint` and its first arguments) and args, working dir, user;
 * - its env: plain values as they are, a value from the pod's completion-index annotation as i, and
 *   JOB_COMPLETION_INDEX=i (Kubernetes sets it in every pod of an Indexed Job). MASTER_PORT is replaced by a
 *   free loopback port, since the workers share the host's network (`--network host`);
 * - the pods' DNS names (JOB-i.SUBDOMAIN, JOB-i) resolve to 127.0.0.1 (`--add-host`), so MASTER_ADDR, the
 *   Service's name for worker 0, reaches worker 0 as it would in the cluster;
 * - resource limits: memory as `--memory`, cpu as `--cpus`, nvidia.com/gpu as `--gpus N` (requests are a
 *   scheduler's matter and have no docker equivalent).
 */
import { parseAllDocuments } from "yaml";
import { UsageError } from "../modules/errors.ts";

export const INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']";
/** The label every rehearsal container carries, with the rehearsal's id as value. */
export const REHEARSAL_LABEL = "dev.pipeline.rehearsal";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath?: string } };
}

interface PodContainer {
  name?: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  resources?: { limits?: Record<string, string | number> };
  securityContext?: { runAsUser?: number; runAsGroup?: number };
}

interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
  spec?: {
    completionMode?: string;
    completions?: number;
    template?: {
      spec?: { subdomain?: string; containers?: PodContainer[]; securityContext?: { runAsUser?: number; runAsGroup?: number } };
    };
  };
}

/** One worker's container: its name and the docker arguments after the client (`run ... IMAGE ARGS...`). */
export interface WorkerRun {
  index: number;
  /** The container's name: PREFIX-INDEX. */
  container: string;
  image: string;
  args: string[];
}

export interface RehearsalOptions {
  /** The loopback port the workers meet on (MASTER_PORT). */
  port: number;
  /** Container names are PREFIX-INDEX; the label carries PREFIX. */
  prefix: string;
}

/** The objects of multi-document manifest YAML (comments and empty documents left out). */
export function parseManifests(text: string): object[] {
  const docs = parseAllDocuments(text);
  const bad = docs.find((d) => d.errors.length > 0);
  if (bad) throw new UsageError(`the manifests are not valid YAML: ${bad.errors[0]!.message.split("\n")[0]}`);
  return docs.map((d) => d.toJS() as unknown).filter((o): o is object => typeof o === "object" && o !== null);
}

/** A Kubernetes memory quantity as docker's --memory (bytes, or k/m/g for binary suffixes). */
export function dockerMemory(q: string): string {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new UsageError(`a memory limit docker cannot take: '${q}'`);
  const n = Number(m[1]);
  const unit = m[2];
  if (unit === undefined) return String(Math.ceil(n));
  const binary: Record<string, string> = { Ki: "k", Mi: "m", Gi: "g" };
  if (binary[unit] && Number.isInteger(n)) return `${n}${binary[unit]}`;
  const factor: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return String(Math.ceil(n * factor[unit]!));
}

/** A Kubernetes CPU quantity ("2", "500m", "1.5") as docker's --cpus. */
export function dockerCpus(q: string | number): string {
  const s = String(q);
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(s);
  if (!m) throw new UsageError(`a cpu limit docker cannot take: '${s}'`);
  return String(m[2] ? Number(m[1]) / 1000 : Number(m[1]));
}

/**
 * The docker runs of a rehearsal of `manifests` (the objects `k8s` writes): one per completion index, in
 * index order. Throws UsageError for manifests it cannot rehearse faithfully (no Indexed Job, several
 * containers in a pod, an env value from a field other than the completion index).
 */
export function rehearsalRuns(manifests: object[], opts: RehearsalOptions): WorkerRun[] {
  const objects = manifests as K8sObject[];
  const job = objects.find((o) => o.kind === "Job");
  if (!job) throw new UsageError("the manifests have no Job to rehearse");
  const jobName = job.metadata?.name;
  if (!jobName) throw new UsageError("the Job has no metadata.name");
  const spec = job.spec ?? {};
  if (spec.completionMode !== "Indexed")
    throw new UsageError(`the Job '${jobName}' is not an Indexed Job: workers would get no index`);
  const workers = spec.completions;
  if (!Number.isInteger(workers) || workers! < 1) throw new UsageError(`the Job '${jobName}' has no whole number of completions`);
  const pod = spec.template?.spec ?? {};
  const containers = pod.containers ?? [];
  if (containers.length !== 1)
    throw new UsageError(
      `the Job '${jobName}' has ${containers.length} containers a pod; a rehearsal runs exactly one per worker`,
    );
  const c = containers[0]!;
  if (!c.image) throw new UsageError(`the Job '${jobName}''s container has no image`);
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new UsageError(`not a port: ${opts.port}`);
  const subdomain = pod.subdomain;

  // Every pod's names resolve to this machine: with host networking, they are all here.
  const hosts: string[] = [];
  for (let i = 0; i < workers!; i++) {
    hosts.push("--add-host", `${jobName}-${i}:127.0.0.1`);
    if (subdomain) hosts.push("--add-host", `${jobName}-${i}.${subdomain}:127.0.0.1`);
  }
  const limits = c.resources?.limits ?? {};
  const resources: string[] = [];
  if (limits.memory !== undefined) resources.push("--memory", dockerMemory(String(limits.memory)));
  if (limits.cpu !== undefined) resources.push("--cpus", dockerCpus(limits.cpu));
  if (limits["nvidia.com/gpu"] !== undefined) resources.push("--gpus", String(limits["nvidia.com/gpu"]));
  const security = { ...pod.securityContext, ...c.securityContext };
  const user =
    security.runAsUser !== undefined
      ? ["--user", `${security.runAsUser}${security.runAsGroup !== undefined ? `:${security.runAsGroup}` : ""}`]
      : [];
  const command = c.command ?? [];
  const entrypoint = command.length ? ["--entrypoint", command[0]!] : [];
  const tail = [...command.slice(1), ...(c.args ?? [])];

  const runs: WorkerRun[] = [];
  for (let i = 0; i < workers!; i++) {
    const env: string[] = [];
    for (const e of c.env ?? []) {
      let value: string;
      if (e.name === "MASTER_PORT") value = String(opts.port);
      else if (e.value !== undefined) value = e.value;
      else if (e.valueFrom?.fieldRef?.fieldPath === INDEX_FIELD) value = String(i);
      else if (e.valueFrom === undefined) value = "";
      else
        throw new UsageError(
          `the env variable ${e.name} comes from ${JSON.stringify(e.valueFrom)}, which a rehearsal cannot provide`,
        );
      env.push("-e", `${e.name}=${value}`);
    }
    env.push("-e", `JOB_COMPLETION_INDEX=${i}`);
    const container = `${opts.prefix}-${i}`;
    runs.push({
      index: i,
      container,
      image: c.image,
      args: [
        "run",
        "--rm",
        "--name",
        container,
        "--label",
        `${REHEARSAL_LABEL}=${opts.prefix}`,
        "--network",
        "host",
        ...hosts,
        ...resources,
        ...user,
        ...(c.workingDir ? ["--workdir", c.workingDir] : []),
        ...env,
        ...entrypoint,
        c.image,
        ...tail,
      ],
    });
  }
  return runs;
}
