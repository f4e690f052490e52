/**
 * A software bill of materials for a production image, as CycloneDX 1.5 JSON: every Debian package installed
 * in the image (read from the image's own dpkg database, so it is what is really there, with package URLs and
 * the dependency graph), and the project's own package with a SHA-256 for each file it installed.
 * The document is made by a small Python program (modules/scripts/sbom.py) in the toolchain image, over the
 * image's filesystem.
 */
import type { Container, File } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { withScript } from "./checks.ts";
import { SCRIPTS_DIR } from "./scripts.ts";

export const SBOM_FILE = "sbom.cdx.json";

export interface SbomMeta {
  variant: string;
  /** The Debian package that is the project's own (its files are listed with hashes). */
  projectPackage: string;
  /** The image's reference (NAME:TAG). */
  imageRef: string;
  revision: string;
  /** The document's timestamp, seconds since the epoch (reproducible: the same input, the same SBOM). */
  epoch: number;
}

/**
 * The SBOM of `image`, made in `tools` (any container with python3) over the image's root filesystem, which
 * is mounted read-only and never changed.
 */
export function imageSbom(cfg: Config, image: Container, tools: Container, meta: SbomMeta): File {
  return withScript(tools.withMountedDirectory("/image", image.rootfs()), "sbom.py")
    .withExec([
      "sh",
      "-c",
      `mkdir -p /sbom && exec python3 ${SCRIPTS_DIR}/sbom.py /image "/sbom/$0" "$@"`,
      SBOM_FILE,
      cfg.name,
      cfg.version,
      meta.variant,
      meta.projectPackage,
      meta.imageRef,
      meta.revision,
      String(meta.epoch),
    ])
    .file(`/sbom/${SBOM_FILE}`);
}
