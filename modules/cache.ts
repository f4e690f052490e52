/**
 * The shared compile cache: a variant's compiler cache (ccache) and build-tree cache volumes, moved to and from
 * an OCI registry as images. `pack` runs a small container that mounts the volume and tars it into an image
 * (`/cache.tar` plus `/pipeline-cache.json`: project, variant, part and the tarball's SHA-256); `unpack` mounts
 * such an image and the volume, checks the manifest against what was asked and the checksum against the
 * tarball, and only then writes it into the volume (a build tree: atomically, the way build-tree.sh saves).
 */
import { CacheSharingMode, type Container, dag } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import type { Variant } from "./variants.ts";
import { cacheVolumes } from "./compile.ts";

export const CACHE_PARTS = ["ccache", "build-tree"] as const;
export type CachePart = (typeof CACHE_PARTS)[number];

/** The image a part of a variant's cache travels as: REGISTRY/NAME-cache:VARIANT[-test]-PART. */
export function cacheImageRef(registry: string, cfg: Config, v: Variant, test: boolean, part: CachePart | "dev"): string {
  if (part === "dev") return `${registry}/${cfg.name}-cache:dev-${cfg.version}${v.cuda ? "-gpu" : ""}`;
  return `${registry}/${cfg.name}-cache:${v.name}${test ? "-test" : ""}-${part}`;
}

const MNT = "/mnt/pipeline-cache";

function mountVolume(ctr: Container, cfg: Config, v: Variant, test: boolean, part: CachePart): Container {
  const names = cacheVolumes(cfg, v, test);
  return part === "ccache"
    ? ctr.withMountedCache(MNT, dag.cacheVolume(names.ccache), { sharing: CacheSharingMode.Shared })
    : ctr.withMountedCache(MNT, dag.cacheVolume(names.buildTree), { sharing: CacheSharingMode.Locked });
}

function manifestFields(cfg: Config, v: Variant, test: boolean, part: CachePart): string {
  return `"format":1,"project":"${cfg.name}","variant":"${v.name}${test ? "-test" : ""}","part":"${part}"`;
}

/**
 * The image holding a part of a variant's cache, made by `base` (any image with sh, tar and sha256sum). `nonce`
 * makes the step run every time: the engine cannot see that the volume changed.
 */
export function packCache(cfg: Config, base: Container, v: Variant, test: boolean, part: CachePart, nonce: string): Container {
  // A build tree travels as the tree `current` points at (whole, with its source manifest), never a half-saved one
  // (a save cut off half-way leaves the journal `dirty`: build-tree.sh).
  const from =
    part === "build-tree"
      ? `cur=$(readlink ${MNT}/current || true); if [ -z "$cur" ] || [ ! -f "${MNT}/$cur/.pipeline-sources.sha256" ]; then ` +
        `echo "pipeline cache: no saved build tree for ${v.name} on this engine (build it first)" >&2; exit 1; fi; ` +
        `if [ -f ${MNT}/dirty ]; then echo "pipeline cache: the last save of the ${v.name} build tree was cut off; build ${v.name} once, then push" >&2; exit 1; fi; ` +
        `dir="${MNT}/$cur"`
      : `dir=${MNT}`;
  const packed = mountVolume(base, cfg, v, test, part)
    .withEnvVariable("PIPELINE_CACHE_NONCE", nonce)
    .withExec([
      "sh",
      "-c",
      `set -eu; ${from}; mkdir -p /out; tar -C "$dir" -cf /out/cache.tar .; ` +
        `sum=$(sha256sum /out/cache.tar | cut -d' ' -f1); ` +
        `printf '{${manifestFields(cfg, v, test, part)},"sha256":"%s","bytes":%s}\\n' "$sum" "$(stat -c %s /out/cache.tar)" > /out/pipeline-cache.json; ` +
        `cat /out/pipeline-cache.json`,
    ]);
  return dag
    .container()
    .withDirectory("/", packed.directory("/out"))
    .withLabel("dev.pipeline.cache.project", cfg.name)
    .withLabel("dev.pipeline.cache.variant", `${v.name}${test ? "-test" : ""}`)
    .withLabel("dev.pipeline.cache.part", part);
}

/**
 * Writes the cache image `ref` into the variant's volume, after checking that it is this project's, variant's
 * and part's, and that its tarball is the one its manifest names (exit 1, nothing written, if not).
 */
export function unpackCache(
  cfg: Config,
  base: Container,
  v: Variant,
  test: boolean,
  part: CachePart,
  ref: string,
  nonce: string,
): Container {
  const refuse = (why: string) => `{ echo "pipeline cache: refused ${ref}: ${why}; nothing was written" >&2; exit 1; }`;
  const write =
    part === "ccache"
      ? `tar -C ${MNT} -xf /in/cache.tar`
      : `new=$(mktemp -d ${MNT}/tree.NEW-XXXXXXXX); id=\${new##*-}; ` +
        `tar -C "$new" -xf /in/cache.tar || { rm -rf "$new"; exit 1; }; ` +
        `[ -f "$new/.pipeline-sources.sha256" ] || { rm -rf "$new"; ${refuse("the build tree has no source manifest")}; }; ` +
        `mv -T "$new" ${MNT}/tree.$id; ln -s tree.$id ${MNT}/current.NEW-$id; mv -T ${MNT}/current.NEW-$id ${MNT}/current; ` +
        `find ${MNT} -mindepth 1 -maxdepth 1 ! -name current ! -name tree.$id -exec rm -rf {} +`;
  return mountVolume(base, cfg, v, test, part)
    .withMountedDirectory("/in", dag.container().from(ref).rootfs())
    .withEnvVariable("PIPELINE_CACHE_NONCE", nonce)
    .withExec([
      "sh",
      "-c",
      `set -eu; [ -f /in/pipeline-cache.json ] && [ -f /in/cache.tar ] || ${refuse("not a pipeline cache image (no pipeline-cache.json and cache.tar)")}; ` +
        `grep -qF '${manifestFields(cfg, v, test, part)}' /in/pipeline-cache.json || ${refuse(`it is not the ${part} of ${cfg.name} ${v.name}: $(cat /in/pipeline-cache.json)`)}; ` +
        `sum=$(sha256sum /in/cache.tar | cut -d' ' -f1); ` +
        `grep -qF "\\"sha256\\":\\"$sum\\"" /in/pipeline-cache.json || ${refuse("its tarball's SHA-256 ($sum) is not the one its manifest names")}; ` +
        `tar -tf /in/cache.tar > /dev/null || ${refuse("its tarball does not read")}; ` +
        `${write}; echo "pipeline cache: ${part} of ${v.name} written ($(du -sh ${MNT} | cut -f1) in the volume)"`,
    ]);
}
