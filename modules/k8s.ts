/**
 * Kubernetes manifests for running a distributed job of a production image: a headless Service for
 * rendezvous and an Indexed Job with one pod per worker (pods resolve as NAME-INDEX.NAME). Pure: no I/O.
 * Every object is checked against the Kubernetes OpenAPI schemas by `kubernetes-models` before it is
 * returned; what those schemas do not say (name and image syntax, ranges, quantities) is checked here.
 */
import { stringify } from "yaml";

import { ArgumentError } from "./errors.ts";
import { STANDARD_VARIANTS as VARIANTS } from "./variants.ts";

/** The variants whose resource requests the manifests know: CPU ones, and GPU ones with a GPU limit. */
export type ImageVariant = (typeof VARIANTS)[number];

export interface Resources {
  cpu: string;
  memory: string;
  /** 0 for CPU variants. */
  gpus: number;
}

export const DEFAULT_RESOURCES: Record<"cpu" | "gpu", Resources> = {
  cpu: { cpu: "2", memory: "4Gi", gpus: 0 },
  gpu: { cpu: "4", memory: "16Gi", gpus: 1 },
};

export interface JobSpec {
  /** Job and Service name: a DNS-1035 label, e.g. "minipaddle". */
  name: string;
  /** Image reference, e.g. 127.0.0.1:5000/minipaddle:0.1.0-gpu or minipaddle@sha256:<64 hex>. */
  image: string;
  /** Number of workers (pods): a whole number from 1 to 1000. */
  workers: number;
  /** Default: inferred from the image tag with variantOfImage(). */
  variant?: ImageVariant;
  /** Container args (the image's entrypoint runs the framework CLI). Default ["train"]; [] leaves them out (an application image runs its program). */
  args?: string[];
  /** Rendezvous port. Default 29500. */
  port?: number;
  resources?: Partial<Record<"cpu" | "gpu", Resources>>;
}

export class K8sArgumentError extends ArgumentError {}

const MAX_WORKERS = 1000;
const DEFAULT_PORT = 29500;
const DEFAULT_ARGS = ["train"];
const INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index";

// The Docker/OCI reference grammar (github.com/distribution/reference), with sha256 digests only.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const DNS1035_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
// A Kubernetes resource quantity (k8s.io/apimachinery/pkg/api/resource), unsigned.
const QUANTITY_RE = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;

interface ParsedRef {
  domain?: string;
  path: string;
  tag?: string;
  digest?: string;
}

/** Splits a reference into its parts without checking them; undefined where it has no name part. */
function splitRef(ref: string): ParsedRef | undefined {
  const at = ref.indexOf("@");
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  let name = at >= 0 ? ref.slice(0, at) : ref;
  let tag: string | undefined;
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  // As Docker does: the first component is a registry only if it looks like a host (has "." or ":", or is
  // localhost); otherwise it is part of the repository path, which must be lowercase.
  const slash = name.indexOf("/");
  let domain: string | undefined;
  if (slash >= 0) {
    const first = name.slice(0, slash);
    if (/[.:]/.test(first) || first === "localhost") {
      domain = first;
      name = name.slice(slash + 1);
    }
  }
  return { domain, path: name, tag, digest };
}

/** Checks an image reference against the Docker/OCI reference grammar (registry[:port]/path:tag[@sha256:digest]); returns an error message or undefined. */
export function checkImageRef(ref: string): string | undefined {
  if (typeof ref !== "string" || ref === "") return "empty image reference";
  if (ref.length > 512) return "image reference longer than 512 characters";
  const parts = splitRef(ref)!;
  if (parts.domain !== undefined && !DOMAIN_RE.test(parts.domain)) return `registry '${parts.domain}' is not a host[:port]`;
  if (parts.path === "") return "no repository name";
  if (parts.path !== parts.path.toLowerCase()) return `repository '${parts.path}' must be lowercase`;
  if (!PATH_RE.test(parts.path))
    return `repository '${parts.path}' must be lowercase letters and digits separated by '/', '.', '_', '__' or '-'`;
  const fullName = parts.domain !== undefined ? `${parts.domain}/${parts.path}` : parts.path;
  if (fullName.length > 255) return "repository name longer than 255 characters";
  if (parts.tag !== undefined && !TAG_RE.test(parts.tag))
    return `tag '${parts.tag}' must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`;
  if (parts.digest !== undefined && !DIGEST_RE.test(parts.digest))
    return `digest '${parts.digest}' must be sha256: followed by 64 lowercase hex digits`;
  return undefined;
}

/**
 * A Job name for an image: its repository's last path component as a DNS-1035 label ('.' and '_' as '-'),
 * e.g. 127.0.0.1:5000/apps/linear:0.1.0 -> linear.
 */
export function jobNameOfImage(image: string): string {
  const path = splitRef(image)?.path ?? "";
  const name = (path.split("/").pop() ?? "")
    .replace(/[._]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .slice(0, 50)
    .replace(/-+$/, "");
  return name || "app";
}

/** Infers the variant from a tag suffix: "-gpu-noavx", "-gpu", "-noavx", else "cpu". */
export function variantOfImage(image: string): ImageVariant {
  const tag = splitRef(image)?.tag ?? "";
  if (/(?:^|-)gpu-noavx$/.test(tag)) return "gpu-noavx";
  if (/(?:^|-)gpu$/.test(tag)) return "gpu";
  if (/(?:^|-)noavx$/.test(tag)) return "cpu-noavx";
  return "cpu";
}

const fail = (message: string): never => {
  throw new K8sArgumentError(message);
};

const show = (value: unknown): string => (typeof value === "string" ? `'${value}'` : String(value));

function checkResources(kind: "cpu" | "gpu", r: Resources): Resources {
  const r0 = r as Partial<Resources> | undefined;
  if (typeof r0 !== "object" || r0 === null) return fail(`--resources for ${kind} images must be an object`);
  for (const key of ["cpu", "memory"] as const) {
    const q = r0[key];
    if (typeof q !== "string" || !QUANTITY_RE.test(q) || !(parseFloat(q.replace(/[^\d.].*$/, "")) > 0))
      fail(`--${key} must be a positive Kubernetes quantity (e.g. ${DEFAULT_RESOURCES[kind][key]}), got ${show(q)}`);
  }
  const gpus = r0.gpus;
  if (kind === "gpu" && !(Number.isInteger(gpus) && gpus! >= 1 && gpus! <= 64))
    fail(`--gpus must be a whole number from 1 to 64 for a gpu image, got ${show(gpus)}`);
  if (kind === "cpu" && gpus !== 0) fail(`--gpus must be 0 for a cpu image, got ${show(gpus)}`);
  return r0 as Resources;
}

/** Rethrows a schema validation failure as a one-line argument error. */
function validated<T extends { validate(): void; toJSON(): object }>(what: string, model: T): object {
  try {
    model.validate();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new K8sArgumentError(`the ${what} does not match the Kubernetes schema: ${message.replace(/\s*\n\s*/g, "; ")}`);
  }
  return model.toJSON();
}

/**
 * The manifest objects (a headless Service, then an Indexed Job), validated. Throws K8sArgumentError with a
 * one-line message naming the bad argument. The schemas load on first use: they are a third of the CLI's code,
 * which every other command would load for nothing.
 */
export async function jobManifests(spec: JobSpec): Promise<object[]> {
  const { name, image, workers } = spec;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS)
    fail(`--workers must be a whole number from 1 to ${MAX_WORKERS}, got ${show(workers)}`);
  if (typeof name !== "string" || !DNS1035_RE.test(name) || name.length > 63)
    fail(
      `--name ${show(name)}: not a DNS-1035 label (at most 63 lowercase letters, digits and '-', starting with a letter, ending with a letter or digit)`,
    );
  const lastHost = `${name}-${workers - 1}`;
  if (lastHost.length > 63) fail(`--name '${name}' is too long: the pod hostname '${lastHost}' is over 63 characters`);
  const refError = checkImageRef(image);
  if (refError !== undefined) fail(`--image ${show(image)}: not an image reference (${refError})`);
  const variant = spec.variant ?? variantOfImage(image);
  if (!(VARIANTS as readonly string[]).includes(variant))
    fail(`--variant must be one of ${VARIANTS.join(", ")}, got ${show(variant)}`);
  const port = spec.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    fail(`--port must be a whole number from 1 to 65535, got ${show(port)}`);
  const args = spec.args ?? DEFAULT_ARGS;
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) fail("--args must be a list of strings");
  const kind = variant.startsWith("gpu") ? "gpu" : "cpu";
  const res = checkResources(kind, spec.resources?.[kind] ?? DEFAULT_RESOURCES[kind]);

  const [{ Job }, { Service }] = await Promise.all([import("kubernetes-models/batch/v1"), import("kubernetes-models/v1")]);
  const selector = { "app.kubernetes.io/name": name };
  const labels = { ...selector, "app.kubernetes.io/managed-by": "pipeline" };
  const service = new Service({
    metadata: { name, labels },
    spec: {
      clusterIP: "None",
      selector,
      publishNotReadyAddresses: true,
      ports: [{ name: "rendezvous", port, targetPort: port }],
    },
  });
  const job = new Job({
    metadata: { name, labels },
    spec: {
      completionMode: "Indexed",
      completions: workers,
      parallelism: workers,
      backoffLimit: 0,
      template: {
        metadata: { labels },
        spec: {
          subdomain: name,
          restartPolicy: "Never",
          securityContext: { runAsNonRoot: true },
          containers: [
            {
              name: "worker",
              image,
              // No args: the image's own entrypoint and command run (an application image runs its program).
              ...(args.length ? { args: [...args] } : {}),
              ports: [{ containerPort: port, name: "rendezvous" }],
              env: [
                { name: "WORLD_SIZE", value: String(workers) },
                { name: "RANK", valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${INDEX_ANNOTATION}']` } } },
                { name: "MASTER_ADDR", value: `${name}-0.${name}` },
                { name: "MASTER_PORT", value: String(port) },
              ],
              resources: {
                requests: { cpu: res.cpu, memory: res.memory },
                limits: kind === "gpu" ? { "nvidia.com/gpu": String(res.gpus) } : { memory: res.memory },
              },
            },
          ],
        },
      },
    },
  });
  return [validated("Service", service), validated("Job", job)];
}

/** The same as multi-document YAML text (documents separated by ---), with a leading comment line saying what it is and how to apply it. */
export async function jobYaml(spec: JobSpec): Promise<string> {
  const docs = await jobManifests(spec);
  const header =
    `# Kubernetes manifests for ${spec.workers} worker(s) of ${spec.image}: a headless Service and an Indexed Job` +
    ` (written by pipeline). Apply with: kubectl apply -f FILE\n`;
  return header + docs.map((d) => stringify(d, { lineWidth: 0 })).join("---\n");
}
