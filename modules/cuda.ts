/**
 * The CUDA layer. From the configured CUDA devel image (`images.cudaDevel`, `cuda.source: image`), nothing
 * is added; offline, from Debian's non-free `nvidia-cuda-toolkit` (nvcc 11.8) with the host compiler it
 * supports. Chosen by config, not by editing code.
 */
import type { Container } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { withAptPackages } from "./apt.ts";
import { scriptText } from "./scripts.ts";

export const DEBIAN_CUDA_PACKAGES = ["nvidia-cuda-toolkit", "nvidia-cuda-dev"];

export function withCuda(cfg: Config, ctr: Container): Container {
  const host = /^g\+\+-\d+$/.test(cfg.cuda.hostCompiler) ? [cfg.cuda.hostCompiler] : [];
  if (cfg.cuda.source === "image") return withAptPackages(ctr, [...host, ...cfg.toolchain.gpuPackages]);
  const withNonFree = withNonFreeSources(ctr);
  return withAptPackages(withNonFree, [...DEBIAN_CUDA_PACKAGES, ...host, ...cfg.toolchain.gpuPackages], "apt-cuda");
}

/**
 * Adds Debian's contrib and non-free sections (where the CUDA toolkit and its runtime libraries are) next
 * to whatever Debian mirror the image already uses, with that mirror's keyring.
 */
export function withNonFreeSources(ctr: Container): Container {
  // The script's text is the command itself (modules/scripts/non-free-sources.sh): no file is left in the
  // image (production images are built on this too).
  return ctr.withExec(["sh", "-c", scriptText("non-free-sources.sh")]);
}
