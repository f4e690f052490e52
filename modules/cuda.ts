/**
 * The CUDA layer. From the configured CUDA devel image (`images.cudaDevel`, `cuda.source: image`), nothing
 * is added; offline, from Debian's non-free `nvidia-cuda-toolkit` (nvcc 11.8) with the host compiler it
 * supports. Chosen by config, not by editing code.
 */
import type { Container } from "@dagger.io/dagger";
import type { Config } from "../src/config.ts";
import { withAptPackages } from "./toolchain.ts";

export const DEBIAN_CUDA_PACKAGES = ["nvidia-cuda-toolkit", "nvidia-cuda-dev"];

export function withCuda(cfg: Config, ctr: Container): Container {
  const host = /^g\+\+-\d+$/.test(cfg.cuda.hostCompiler) ? [cfg.cuda.hostCompiler] : [];
  if (cfg.cuda.source === "image") return withAptPackages(ctr, [...host, ...cfg.toolchain.gpuPackages]);
  const withNonFree = ctr.withExec([
    "sh",
    "-c",
    // Add contrib and non-free next to whatever Debian mirror the image already uses.
    "set -e; f=/etc/apt/sources.list.d/pipeline-non-free.list; " +
      "if [ -f /etc/apt/sources.list.d/debian.sources ]; then " +
      "sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources | head -1 > /tmp/mirror; " +
      "else sed -n 's/^deb  *\\(\\[[^]]*\\] *\\)\\{0,1\\}\\([^ ]*\\) .*/\\2/p' /etc/apt/sources.list | head -1 > /tmp/mirror; fi; " +
      '. /etc/os-release; echo "deb $(cat /tmp/mirror) $VERSION_CODENAME contrib non-free" > $f; rm /tmp/mirror; cat $f',
  ]);
  return withAptPackages(withNonFree, [...DEBIAN_CUDA_PACKAGES, ...host, ...cfg.toolchain.gpuPackages], "apt-cuda");
}
