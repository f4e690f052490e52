/**
 * The production images: a runtime base (never the development image) with the project's checked `.deb`
 * installed by apt, which brings exactly the runtime libraries it depends on and nothing else: no compiler,
 * no headers, no build tree. Four variants (cpu, cpu-noavx, gpu, gpu-noavx), tagged by the config's scheme.
 */
import { CacheSharingMode, type Container, dag, type Directory, type File } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { imageRef, type Variant } from "./variants.ts";
import { debianBase } from "./apt.ts";
import { withNonFreeSources } from "./cuda.ts";
import { scriptText } from "./scripts.ts";

export { imageRef };

/** The image's entrypoint (the runtime guard, see modules/checks.ts cpuGuard) and the script it runs. */
export const ENTRYPOINT = "/usr/local/bin/entrypoint";
export const ENTRYPOINT_SCRIPT = "/usr/local/bin/entrypoint.sh";

/** Where the image's user works, and where `docker run -v $PWD:/work` puts a user's programs. */
export const WORKDIR = "/work";
export const IMAGE_UID = 1000;

/**
 * The production entrypoint script: the framework's program; a first argument ending in .py runs under
 * Python. It is modules/scripts/image-entrypoint.sh with one generated line after the first, the function
 * `program` that runs the config's program (image.entrypoint, default the project's name) with its arguments.
 */
export function entrypointScript(cfg: Config): string {
  const program = (cfg.image.entrypoint ?? [cfg.name]).map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(" ");
  const text = scriptText("image-entrypoint.sh");
  const eol = text.indexOf("\n") + 1;
  return `${text.slice(0, eol)}program() { exec ${program} "$@"; }\n${text.slice(eol)}`;
}

/** The runtime base of a variant: the config's runtime image; for GPU variants, with Debian's non-free too. */
export function runtimeBase(cfg: Config, gpu: boolean): Container {
  if (gpu && cfg.images.cudaRuntime) return debianBase("bookworm", cfg.images.cudaRuntime);
  const base = debianBase("bookworm", cfg.images.runtime);
  // Debian's CUDA runtime libraries (libcudart) are in non-free: the GPU package depends on them.
  return gpu ? withNonFreeSources(base) : base;
}

export interface ImageMeta {
  /** The source revision (git commit) for the OCI label. */
  revision: string;
}

/**
 * The production image of `variant`: `debs` (a folder with the variant's checked .deb) installed with apt on
 * the runtime base; an unprivileged user; the entrypoint; OCI labels; for GPU variants the variables the
 * NVIDIA container runtime reads (the driver libraries come from the host, never from the image).
 */
export function productionImage(cfg: Config, debs: Directory, variant: Variant, meta: ImageMeta, guard: File): Container {
  const gpu = variant.cuda;
  const locked = { sharing: CacheSharingMode.Locked };
  const cacheKey = gpu ? "apt-runtime-gpu" : "apt-runtime";
  let ctr = runtimeBase(cfg, gpu)
    .withMountedDirectory("/tmp/pipeline-debs", debs)
    .withMountedCache("/var/cache/apt/archives", dag.cacheVolume(`${cacheKey}-archives`), locked)
    .withMountedCache("/var/lib/apt/lists", dag.cacheVolume(`${cacheKey}-lists`), locked)
    .withExec([
      "sh",
      "-c",
      "set -e; rm -f /etc/apt/apt.conf.d/docker-clean; apt-get update -qq; " +
        "apt-get install -y -qq --no-install-recommends /tmp/pipeline-debs/*.deb; " +
        // What apt left behind that a runtime image has no use for.
        "rm -rf /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old /var/lib/dpkg/*-old",
    ])
    .withoutMount("/var/cache/apt/archives")
    .withoutMount("/var/lib/apt/lists")
    .withoutMount("/tmp/pipeline-debs")
    .withExec([
      "sh",
      "-c",
      `useradd --uid ${IMAGE_UID} --create-home --shell /bin/sh '${cfg.image.user}' && mkdir -p ${WORKDIR} && chown ${IMAGE_UID}:${IMAGE_UID} ${WORKDIR} && ` +
        // No trace of the install, and no way up from the image's user: Debian's setuid/setgid programs (su,
        // mount, passwd, chage, ...) lose those bits. Nothing in the image runs as another user than its own.
        "rm -rf /tmp/pipeline-debs && find / -xdev -perm /6000 -type f -exec chmod ug-s {} +",
    ])
    .withNewFile(ENTRYPOINT_SCRIPT, entrypointScript(cfg), { permissions: 0o755 })
    // The entrypoint is the runtime guard: it checks the CPU against the variant's floor, then runs the script.
    .withFile(ENTRYPOINT, guard, { permissions: 0o755 });
  if (gpu) {
    ctr = ctr
      .withEnvVariable("NVIDIA_VISIBLE_DEVICES", "all")
      .withEnvVariable("NVIDIA_DRIVER_CAPABILITIES", "compute,utility")
      .withEnvVariable("NVIDIA_REQUIRE_CUDA", cfg.image.requireCuda);
  }
  return ctr
    .withLabel("org.opencontainers.image.title", cfg.name)
    .withLabel("org.opencontainers.image.description", cfg.package.description)
    .withLabel("org.opencontainers.image.version", cfg.version)
    .withLabel("org.opencontainers.image.revision", meta.revision)
    .withLabel("org.opencontainers.image.licenses", cfg.package.license)
    .withLabel("org.opencontainers.image.base.name", gpu && cfg.images.cudaRuntime ? cfg.images.cudaRuntime : cfg.images.runtime)
    .withLabel(VARIANT_LABEL, variant.name)
    .withUser(`${IMAGE_UID}:${IMAGE_UID}`)
    .withWorkdir(WORKDIR)
    .withEntrypoint([ENTRYPOINT])
    .withDefaultArgs(["--help"]);
}

/** The label that names an image's variant (OCI defines none for it). */
export const VARIANT_LABEL = "dev.pipeline.variant";
