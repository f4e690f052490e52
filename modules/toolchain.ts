/**
 * The development image (compilers, CMake, Python, Sphinx, a code browser generator, sshd, and the CUDA
 * toolkit for GPU builds). Plain functions over the Dagger SDK: they compose lazy objects and run nothing.
 */
import type { Container } from "@dagger.io/dagger";
import { debianBase, withAptPackages } from "./apt.ts";
import type { Config } from "./config.ts";
import { buildScript, SCRIPT, SRC, TOOLCHAIN_LIST } from "./compile.ts";
import { withCuda } from "./cuda.ts";
import { SCRIPTS_DIR, scriptText } from "./scripts.ts";

export { debianBase, withAptPackages };

/** What every development image has (qemu-user runs a build's tests on an emulated older CPU). GNU Global's htags is the code browser generator (Woboq is not packaged). */
export const DEV_PACKAGES = [
  "build-essential",
  "g++",
  "clang",
  "cmake",
  "ninja-build",
  "ccache",
  "make",
  "git",
  "binutils",
  "file",
  "python3",
  "python3-dev",
  "python3-pybind11",
  "pybind11-dev",
  "libgtest-dev",
  "googletest",
  "python3-sphinx",
  "global",
  "openssh-server",
  "dpkg-dev",
  "procps",
  "less",
  // Runs binaries on an emulated older CPU: the test stage's run at the variant's ISA floor.
  "qemu-user",
  // The docs stage: C++ API from Doxygen XML (breathe), Markdown (MyST) and notebooks (nbsphinx; pandoc converts
  // their Markdown cells, IPython highlights their code), the furo theme, and sphinx-autobuild for `docs --serve`.
  "doxygen",
  "python3-breathe",
  "python3-myst-parser",
  "python3-nbsphinx",
  "pandoc",
  "python3-ipython",
  "furo",
  "python3-sphinx-autobuild",
];

const SSHD_CONFIG = `# pipeline development image: key authentication only.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
`;

/** The image the development image starts from: the CUDA devel image for GPU with `cuda.source: image`. */
export function devBaseImage(cfg: Config, gpu: boolean): string {
  return gpu && cfg.cuda.source === "image" && cfg.images.cudaDevel ? cfg.images.cudaDevel : cfg.images.build;
}

/**
 * The development image: the whole toolchain, sshd (host keys made per container at start, none baked in),
 * and the project's build script as its default entrypoint. With `gpu`, the CUDA toolkit too.
 */
export function devImage(cfg: Config, gpu: boolean): Container {
  let base = debianBase("bookworm", devBaseImage(cfg, gpu));
  base = withAptPackages(base, [...DEV_PACKAGES, ...cfg.toolchain.packages]);
  if (gpu) base = withCuda(cfg, base);
  return (
    base
      .withNewFile("/etc/ssh/sshd_config.d/pipeline.conf", SSHD_CONFIG)
      // The image's Debian packages and their versions, which the build keeps in the compiler cache: a cache
      // filled with other versions (pulled from an engine that installed them on another day) misses, and the
      // build says so (ccache-toolchain.sh).
      .withExec([
        "sh",
        "-c",
        "rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub && mkdir -p /run/sshd && " +
          `dpkg-query -W -f '\${Package} \${Version}\\n' | LC_ALL=C sort > ${TOOLCHAIN_LIST}`,
      ])
      .withNewFile(`${SCRIPTS_DIR}/ccache-toolchain.sh`, scriptText("ccache-toolchain.sh"), { permissions: 0o755 })
      .withNewFile(SCRIPT, buildScript(cfg), { permissions: 0o755 })
      // The entrypoint (modules/scripts/dev-entrypoint.sh): build a mounted source tree (default), run sshd, or run a command.
      .withNewFile("/usr/local/bin/pipeline-entrypoint", scriptText("dev-entrypoint.sh"), { permissions: 0o755 })
      .withLabel("org.opencontainers.image.title", `${cfg.name} development image${gpu ? " (GPU)" : ""}`)
      .withLabel("org.opencontainers.image.version", cfg.version)
      .withWorkdir(SRC)
      .withEntrypoint(["/usr/local/bin/pipeline-entrypoint"])
  );
}
