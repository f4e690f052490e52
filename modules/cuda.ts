/**
 * The CUDA layer. From the configured CUDA devel image (`images.cudaDevel`, `cuda.source: image`), nothing
 * is added; offline, from Debian's non-free `nvidia-cuda-toolkit` (nvcc 11.8) with the host compiler it
 * supports. Chosen by config, not by editing code.
 */
import type { Container } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { withAptPackages } from "./apt.ts";

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
  return ctr.withExec([
    "sh",
    "-c",
    "set -e; " +
      "m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2; exit}'); " +
      "[ -n \"$m\" ] || m=$(awk '/^deb / {for (i = 2; i <= NF; i++) if ($i !~ /^\\[/) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null); " +
      "[ -n \"$m\" ] || m=http://deb.debian.org/debian; " +
      // apt refuses one mirror listed with two different keyrings: reuse the existing entry's.
      "k=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^Signed-By:/ {print $2; exit}'); " +
      "o=; [ -z \"$k\" ] || o=\"[signed-by=$k] \"; . /etc/os-release; " +
      'echo "deb $o$m $VERSION_CODENAME contrib non-free" > /etc/apt/sources.list.d/pipeline-non-free.list; ' +
      "cat /etc/apt/sources.list.d/pipeline-non-free.list",
  ]);
}
