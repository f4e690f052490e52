/**
 * What the pipeline promises about what it ships, checked as steps of the build itself (users run the
 * pipeline, not our tests):
 * - the ISA floor: every ELF file a variant ships (build tree, the .deb's files, the image's) is disassembled
 *   and nothing may need more than the variant's floor (modules/scripts/isa_check.py);
 * - the CUDA architectures embedded in GPU builds are the configured ones (modules/scripts/cuda_check.py);
 * - the runtime guard: programs that refuse to start on a CPU below the floor, naming the missing feature
 *   and the variant to use instead (modules/scripts/cpu_guard.c).
 * A failed check fails the step that runs it, so nothing is exported or loaded.
 */
import { CacheSharingMode, type Container, dag, type File } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { allVariants, imageRef, packageName, type Variant } from "./variants.ts";
import { scriptText, SCRIPTS_DIR } from "./scripts.ts";
import { ISA_LEVELS, type IsaLevel } from "./isa.ts";

/** `ctr` with modules/scripts/NAME at SCRIPTS_DIR/NAME. */
export function withScript(ctr: Container, name: string): Container {
  return ctr.withNewFile(`${SCRIPTS_DIR}/${name}`, scriptText(name), { permissions: 0o755 });
}

function isaArgs(cfg: Config, v: Variant): string[] {
  return ["--floor", v.floor, "--label", v.name, ...cfg.checks.exempt.flatMap((g) => ["--exclude", g])];
}

/** Where the ISA check keeps what it found per file and archive member content (isa_check.py --cache). */
export const ISA_CACHE = "/var/cache/pipeline-isa";
export const ISA_CACHE_VOLUME = "isa-verdicts";

/** `ctr` with the ISA check's verdict cache mounted: keyed by content, so every project and variant may share it. */
export function withIsaCache(ctr: Container): Container {
  return ctr.withMountedCache(ISA_CACHE, dag.cacheVolume(ISA_CACHE_VOLUME), { sharing: CacheSharingMode.Shared });
}

/**
 * `ctr` with the scripts isaChecked runs for the variant. The compile step's container gets them before the
 * sources (modules/compile.ts), where they are cached with the development image, rather than as a step of
 * their own after every compile.
 */
export function withCheckScripts(cfg: Config, ctr: Container, v: Variant): Container {
  if (cfg.checks.isa) ctr = withScript(ctr, "isa_check.py");
  if (v.cuda && cfg.checks.cuda) ctr = withScript(ctr, "cuda_check.py");
  return ctr;
}

/**
 * The commands that check the ELF files under `path` against the variant's ISA floor (and, for CUDA variants,
 * the embedded CUDA architectures), with withCheckScripts' scripts and the verdict cache (withIsaCache)
 * mounted; none when the config turns the checks off. With `statKey` (a build tree's cache volume), files
 * whose size and mtime are unchanged are not even read.
 */
export function checkCommands(cfg: Config, v: Variant, path: string, statKey?: string): { isa?: string[]; cuda?: string[] } {
  return {
    ...(cfg.checks.isa && {
      isa: [
        "python3",
        `${SCRIPTS_DIR}/isa_check.py`,
        ...isaArgs(cfg, v),
        "--cache",
        ISA_CACHE,
        ...(statKey ? ["--cache-key", statKey] : []),
        path,
      ],
    }),
    ...(v.cuda &&
      cfg.checks.cuda && {
        cuda: [
          "python3",
          `${SCRIPTS_DIR}/cuda_check.py`,
          "--architectures",
          cfg.cuda.architectures.join(" "),
          "--label",
          v.name,
          path,
        ],
      }),
  };
}

/**
 * `built` after checking the ELF files under `path` (checkCommands), as steps of their own. `built` is a
 * compiled container (modules/compile.ts), which has withCheckScripts' scripts, python3 and objdump. Only
 * files and archive members whose content the verdict cache has not seen are disassembled.
 */
export function isaChecked(cfg: Config, built: Container, v: Variant, path: string, statKey?: string): Container {
  const { isa, cuda } = checkCommands(cfg, v, path, statKey);
  let ctr = built;
  if (isa) ctr = withIsaCache(ctr).withExec(isa).withoutMount(ISA_CACHE);
  if (cuda) ctr = ctr.withExec(cuda);
  return ctr;
}

/**
 * The production image with its project files checked against the floor: they are the files its package
 * installed (its dpkg file list) and the guard entrypoint, read from the image's root file system in
 * `toolchain`. The report is kept in the image next to the package's docs, so the image depends on the check.
 */
export function imageIsaChecked(cfg: Config, toolchain: Container, image: Container, v: Variant): Container {
  if (!cfg.checks.isa) return image;
  const pkg = packageName(cfg, v);
  const report = `/usr/share/doc/${pkg}/isa-check.json`;
  const checked = withIsaCache(withScript(toolchain, "isa_check.py"))
    .withMountedDirectory("/image", image.rootfs())
    .withExec([
      "sh",
      "-c",
      'set -e; pkg=$1; shift; cd /image; { sed "s#^/##" "var/lib/dpkg/info/$pkg.list"; echo usr/local/bin/entrypoint; } | ' +
        'while IFS= read -r f; do [ -f "$f" ] && [ ! -L "$f" ] && echo "/image/$f"; done > /tmp/files; ' +
        `xargs -d '\\n' python3 ${SCRIPTS_DIR}/isa_check.py --json /tmp/isa-check.json --cache ${ISA_CACHE} "$@" < /tmp/files`,
      "isa-check",
      pkg,
      ...isaArgs(cfg, v),
    ]);
  return image.withFile(report, checked.file("/tmp/isa-check.json"));
}

/** What to use instead on a CPU below the variant's floor: the variant with the same accel and the lowest floor. */
export function guardHint(cfg: Config, v: Variant): string {
  const rank = (l: IsaLevel) => ISA_LEVELS.indexOf(l);
  const lower = allVariants(cfg)
    .filter((o) => o.accel === v.accel && rank(o.floor) < rank(v.floor))
    .sort((a, b) => rank(a.floor) - rank(b.floor))[0];
  if (!lower) return `no variant of ${cfg.name} supports an older CPU`;
  return `use the image ${imageRef(cfg, lower)} or the package ${packageName(cfg, lower)} (variant ${lower.name}, floor ${lower.floor}) instead`;
}

/**
 * The runtime guard for a variant: a small program (built for any x86-64 CPU) that checks the CPU against the
 * floor, then executes `exec` with the same arguments; on an older CPU it says what is missing and what to
 * use instead, and exits 132 (128 + SIGILL) rather than crash on an illegal instruction.
 */
export function cpuGuard(cfg: Config, toolchain: Container, v: Variant, exec: string): File {
  const c = (s: string) => JSON.stringify(s);
  return withScript(toolchain, "cpu_guard.c")
    .withExec([
      "gcc",
      "-O2",
      "-march=x86-64",
      "-mtune=generic",
      "-Wall",
      `-DGUARD_FLOOR=${c(v.floor)}`,
      `-DGUARD_VARIANT=${c(`${cfg.name} ${v.name}`)}`,
      `-DGUARD_HINT=${c(guardHint(cfg, v))}`,
      `-DGUARD_EXEC=${c(exec)}`,
      "-o",
      "/tmp/cpu-guard",
      `${SCRIPTS_DIR}/cpu_guard.c`,
    ])
    .file("/tmp/cpu-guard");
}
