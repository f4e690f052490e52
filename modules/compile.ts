/**
 * How a project is built, once: the configure/build/test steps as data, rendered into the shell script
 * `pipeline-build` that the development image carries. Its default entrypoint runs that script on a mounted
 * source tree (`docker run -v $PWD:/src -e GPU=OFF -e AVX=ON -e TEST=ON IMAGE`), and the `build` and `test`
 * stages run the very same script inside the pipeline.
 */
import { createHash } from "node:crypto";
import { CacheSharingMode, type Container, dag, type Directory } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { allVariants, type Variant } from "./variants.ts";
import { checkCommands, ISA_CACHE, withCheckScripts, withIsaCache, withScript } from "./checks.ts";
import { BEFORE_RECENT, SCRIPTS_DIR } from "./scripts.ts";
import { qemuCpuFor } from "./isa.ts";

export type { Variant };

/** Where sources and the build tree live, in the dev image and in the stages alike. */
export const SRC = "/src";
export const BUILD_DIR = "/src/build";
export const SCRIPT = "/usr/local/bin/pipeline-build";
/** The dev image's Debian packages, "name version" per line (toolchain.ts), which builds keep in the compiler cache. */
export const TOOLCHAIN_LIST = "/etc/pipeline-toolchain";
const CCACHE_DIR = "/var/cache/ccache";
/**
 * Where the test steps write their results. BuildKit keys the copy of a folder out of a container by walking
 * the folder that holds it: under / that is the whole development image and build tree (0.8 s a copy), here
 * a folder of a few entries.
 */
const RESULTS = "/run/pipeline-results";
const BUILD_CACHE = "/var/cache/pipeline-build";

/** A word of a command: literal text, or a switch's value (ON/OFF) or a directory, filled in at run time. */
type Word = string | { var: "TEST" | "SRC" | "BUILD_DIR" };
interface Command {
  argv: Word[];
}
interface Steps {
  configure: Command;
  build: Command;
  test: Command;
}

/** The project's build steps, from its config; a variant's own arguments follow the configure command. */
export function buildSteps(cfg: Config): Steps {
  const o = cfg.cmake.options;
  const expand = (s: string) => s.replaceAll("{version}", cfg.version).replaceAll("{name}", cfg.name);
  return {
    configure: {
      argv: [
        "cmake",
        "-S",
        { var: "SRC" },
        "-B",
        { var: "BUILD_DIR" },
        "-G",
        cfg.cmake.generator,
        `-DCMAKE_BUILD_TYPE=${cfg.cmake.buildType}`,
        // Install paths as Debian's: the package and the production images install under /usr.
        "-DCMAKE_INSTALL_PREFIX=/usr",
        "-DCMAKE_C_COMPILER_LAUNCHER=ccache",
        "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
        "-DPython_EXECUTABLE=/usr/bin/python3",
        // Run paths relative to each binary: the exported build tree runs from any folder (cmake.originRpath).
        ...(cfg.cmake.originRpath ? ["-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON"] : []),
        `-D${o.test}=`,
        { var: "TEST" },
        ...cfg.cmake.args.map(expand),
      ],
    },
    build: { argv: ["cmake", "--build", { var: "BUILD_DIR" }, "--parallel"] },
    test: { argv: cfg.test.command },
  };
}

/** The configure arguments a variant adds: its values' arguments, and the CUDA options when it builds CUDA. */
export function variantArgs(cfg: Config, v: Variant): string[] {
  const expand = (s: string) => s.replaceAll("{version}", cfg.version).replaceAll("{name}", cfg.name);
  return [
    ...v.cmake.map(expand),
    ...(v.cuda
      ? [`-DCMAKE_CUDA_ARCHITECTURES=${cfg.cuda.architectures.join(";")}`, `-DCMAKE_CUDA_HOST_COMPILER=${cfg.cuda.hostCompiler}`]
      : []),
  ];
}

/** `-D` options are written joined to their value (`-DWITH_GPU=ON`); a word that ends in `=` joins the next. */
function joinWords(words: string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    const last = out.at(-1);
    if (last !== undefined && last.startsWith("-D") && last.endsWith("=")) out[out.length - 1] = last + w;
    else out.push(w);
  }
  return out;
}

function quote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function renderWords(words: Word[]): string {
  // Variables are quoted words of their own; the `=`-joining happens in the shell by adjacency.
  const parts: string[] = [];
  for (const w of words) {
    const text = typeof w === "string" ? quote(w) : `"$${w.var}"`;
    const last = parts.at(-1);
    if (last !== undefined && /^-D\S*=$/.test(last)) parts[parts.length - 1] = last + text;
    else parts.push(text);
  }
  return parts.join(" ");
}

/** One `case` branch per variant: its configure arguments and its environment. */
function variantCases(cfg: Config): string {
  return allVariants(cfg)
    .map((v) => {
      const env = Object.entries(v.env)
        .map(([k, val]) => `export ${k}=${quote(val)}; `)
        .join("");
      const args = variantArgs(cfg, v).map(quote).join(" ");
      return `  ${v.name}) ${env}set -- ${args} ;;`;
    })
    .join("\n");
}

/**
 * The `pipeline-build` script: `pipeline-build [configure|build|test|all]` for the variant VARIANT (or the one
 * the GPU and AVX switches select), with tests when TEST=ON.
 */
export function buildScript(cfg: Config): string {
  const steps = buildSteps(cfg);
  const names = allVariants(cfg)
    .map((v) => v.name)
    .join(" ");
  return `#!/bin/sh
# Generated by pipeline from the build steps of ${cfg.name}: the build stage runs this same script.
# Usage: pipeline-build [configure|build|test|all]   (default: all; test runs only with TEST=ON)
# Variant: VARIANT=NAME (one of: ${names}), or the switches GPU=ON|OFF (default OFF) and AVX=ON|OFF (default ON).
# Tests: TEST=ON|OFF (default OFF). Folders: SRC (default ${SRC}), BUILD_DIR (default $SRC/build).
set -eu
ACTION=\${1:-all}
onoff() { case "$1" in ON|on|On|1|true|TRUE|yes|YES) echo ON ;; OFF|off|Off|0|false|FALSE|no|NO|"") echo OFF ;; *) echo "pipeline-build: $2 must be ON or OFF, got '$1'" >&2; exit 2 ;; esac; }
GPU=$(onoff "\${GPU:-OFF}" GPU)
AVX=$(onoff "\${AVX:-ON}" AVX)
TEST=$(onoff "\${TEST:-OFF}" TEST)
if [ -z "\${VARIANT:-}" ]; then
  VARIANT=cpu; [ "$GPU" = OFF ] || VARIANT=gpu; [ "$AVX" = ON ] || VARIANT="$VARIANT-noavx"
fi
SRC=\${SRC:-${SRC}}
BUILD_DIR=\${BUILD_DIR:-$SRC/build}

# The variant's configure arguments (as "$@") and environment.
case "$VARIANT" in
${variantCases(cfg)}
  *) echo "pipeline-build: VARIANT must be one of: ${names}; got '$VARIANT'" >&2; exit 2 ;;
esac

# A build folder configured by this script (the variant's arguments and environment) with the same switches is
# not configured again by build or all: CMake's own build rules run it again when a CMakeLists.txt changes.
configured() {
  { cat "$0"; echo "$VARIANT $TEST"; printf '%s\\n' "$@"; } | sha256sum | cut -d' ' -f1
}
configure() {
  stamp=$(configured "$@")
  if [ "$ACTION" != configure ] && [ -f "$BUILD_DIR/CMakeCache.txt" ] && [ "$(cat "$BUILD_DIR/.pipeline-configured" 2>/dev/null)" = "$stamp" ]; then
    echo "pipeline-build: configure (variant $VARIANT, TEST=$TEST): $BUILD_DIR is configured so already"
    return 0
  fi
  echo "pipeline-build: configure (variant $VARIANT, TEST=$TEST) in $BUILD_DIR"
  rm -f "$BUILD_DIR/.pipeline-configured"
  # (The caller's && turns set -e off in here: a failed configure must return its status itself.)
  ${renderWords(steps.configure.argv)} "$@" || return
  echo "$stamp" > "$BUILD_DIR/.pipeline-configured"
}
build() {
  echo "pipeline-build: build"
  # A compiler cache filled with another dev image's packages misses: say so (ccache-toolchain.sh).
  if [ -n "\${CCACHE_DIR:-}" ] && [ -x ${SCRIPTS_DIR}/ccache-toolchain.sh ]; then ${SCRIPTS_DIR}/ccache-toolchain.sh ${TOOLCHAIN_LIST} "$CCACHE_DIR"; fi
  # (The caller's && turns set -e off in here: a failed build must return its status itself.)
${
  cfg.cmake.generator === "Ninja"
    ? `  # Ninja itself where the tree has its graph (with CMAKE_BUILD_PARALLEL_LEVEL, as CMake passes it): \`cmake --build\`
  # starts CMake first, which reads its cache and then runs the same Ninja (about 60 ms more on every build).
  if [ -f "$BUILD_DIR/build.ninja" ]; then (cd "$BUILD_DIR" && exec ninja \${CMAKE_BUILD_PARALLEL_LEVEL:+-j "$CMAKE_BUILD_PARALLEL_LEVEL"}) || return; else ${renderWords(steps.build.argv)} || return; fi
`
    : `  ${renderWords(steps.build.argv)} || return
`
}  # Outputs an earlier build made that this build graph no longer has (a target removed, or a tree restored
  # from another source tree) would be shipped and checked as if they were built now: Ninja forgets them, after
  # the build, which brought the graph up to date (CMake ran again first if a CMakeLists.txt changed).
  # Once per graph: Ninja logs only the outputs of the graph that built them, so a tree cleaned with this very
  # build.ninja (its size and mtime in .pipeline-cleaned, kept with the tree) has none until the graph changes.
  # (Each Ninja run loads the whole graph and log: tens of ms for thousands of sources.)
  if [ -f "$BUILD_DIR/build.ninja" ]; then
    cleaned=$(find "$BUILD_DIR/build.ninja" -printf '%s %T@')
    if [ "$(cat "$BUILD_DIR/.pipeline-cleaned" 2>/dev/null)" != "$cleaned" ]; then
      ninja -C "$BUILD_DIR" -t cleandead >/dev/null
      echo "$cleaned" > "$BUILD_DIR/.pipeline-cleaned"
    fi
  fi
}
run_tests() {
  if [ "$TEST" != ON ]; then echo "pipeline-build: TEST=OFF, no tests run"; return 0; fi
  echo "pipeline-build: test"
  cd "$BUILD_DIR" && ${renderWords(steps.test.argv)}
}
case "$ACTION" in
  configure) configure "$@" ;;
  build) configure "$@" && build ;;
  test) run_tests ;;
  all) configure "$@" && build && run_tests ;;
  *) echo "usage: pipeline-build [configure|build|test|all]" >&2; exit 2 ;;
esac
`;
}

/** The resolved commands for one variant (for people and plans; the stages run the script). */
export function commandsFor(cfg: Config, v: Variant, test: boolean): string[][] {
  const vars = { TEST: on(test), SRC, BUILD_DIR };
  const steps = buildSteps(cfg);
  const resolve = (c: Command) => joinWords(c.argv.map((w) => (typeof w === "string" ? w : vars[w.var])));
  return [[...resolve(steps.configure), ...variantArgs(cfg, v)], resolve(steps.build), ...(test ? [resolve(steps.test)] : [])];
}

export function on(b: boolean): "ON" | "OFF" {
  return b ? "ON" : "OFF";
}

/**
 * The project's source, as the build sees it: the config's exclusions and the docs folder left out, so that
 * an edit to the docs never invalidates a compile.
 */
export function buildSource(cfg: Config, source: Directory): Directory {
  return dag.directory().withDirectory("/", source, { exclude: [...cfg.exclude, cfg.docs.sphinx] });
}

/**
 * The cache volumes of a variant's builds: its compiler cache and its last build tree (`pipeline cache` moves
 * them). The build tree's volume is also keyed by the configure command: CMake keeps in its cache every option
 * a configure was once given, so a tree configured with other arguments (another config, an option dropped
 * from a variant) would build with stale values. ccache is keyed by content and is shared.
 */
export function cacheVolumes(cfg: Config, v: Variant, test: boolean): { ccache: string; buildTree: string } {
  const key = `${cfg.name}-${v.name}${test ? "-test" : ""}`;
  const configure = createHash("sha256")
    .update(JSON.stringify(commandsFor(cfg, v, test)[0]))
    .digest("hex")
    .slice(0, 12);
  return { ccache: `ccache-${key}`, buildTree: `build-tree-${key}-${configure}` };
}

/**
 * Configures and compiles `source` in the development image `dev`. The build tree of the last build of this
 * variant is kept on a locked cache volume. A step before the sources copies it into the container (build-tree.sh
 * snapshot), which the engine caches: `snapshot` is only part of that step's command, and a new value takes a
 * new snapshot (the CLI passes one after a build said its snapshot is stale). A step after the sources' base
 * gives the sources that look newer than that copy's outputs an old mtime (build-tree.sh age), once per base
 * rather than in every build (a fresh clone or a pulled tree). The compile step brings that copy
 * up to date with the volume by copying only what the saves since changed, so a build's restore grows with
 * what changed rather than with the tree, and checks it against the sources (content-checked:
 * build-tree.sh restore), so only what changed recompiles; ccache (per variant) covers the rest; what the build changed is
 * written back to the volume, journaled so that a save cut off half-way is repaired by the next build
 * (build-tree.sh save). A build without tests then checks the tree against the variant's promises
 * (checkCommands: the ISA floor, the CUDA architectures) in the same step, which fails if they do not hold:
 * one container fewer per build than a step of its own (a build with tests leaves that to its caller:
 * isaChecked, which the test stage does not run). Returns the container with the tree at /src/build and the
 * checks' scripts (withCheckScripts).
 */
export function compile(cfg: Config, dev: Container, source: Directory, v: Variant, test: boolean, snapshot = ""): Container {
  const volumes = cacheVolumes(cfg, v, test);
  const tree = `${SCRIPTS_DIR}/build-tree.sh`;
  const where = `${BUILD_CACHE} ${SRC} ${BUILD_DIR}`;
  // What this build got from ccache (`pipeline-build: ccache: Hits: ...`): each compile it runs appends its
  // result to a stats log of this build's own, which is printed after the build and removed. (Zeroing the
  // shared counters before the build instead took 0.1 s, and counted the compiles of any other build that
  // shares the cache.) The locked build-tree volume keeps two builds of a variant apart.
  const log = "/tmp/pipeline-ccache-stats.log";
  const stats =
    `{ if [ -f ${log} ]; then CCACHE_STATSLOG=${log} ccache --show-log-stats; else echo "no compiler calls"; fi; } 2>/dev/null | ` +
    `sed "s/^/pipeline-build: ccache: /"; rm -f ${log}`;
  // Beside the save (one reads the tree, the other writes the volume: on two cores the check's time is hidden
  // in the save's), which the step waits for either way: a failed check leaves the tree saved, so the build
  // after a fix is incremental.
  const { isa, cuda } = test ? {} : checkCommands(cfg, v, BUILD_DIR, volumes.buildTree);
  const checks = [isa, cuda].filter((c) => c !== undefined).map((c) => c.map(quote).join(" "));
  const save = `${tree} save ${where}`;
  let ctr = withCheckScripts(cfg, withScript(dev, "build-tree.sh"), v)
    .withWorkdir(SRC)
    .withMountedCache(CCACHE_DIR, dag.cacheVolume(volumes.ccache), { sharing: CacheSharingMode.Shared })
    .withMountedCache(BUILD_CACHE, dag.cacheVolume(volumes.buildTree), { sharing: CacheSharingMode.Locked });
  if (isa) ctr = withIsaCache(ctr);
  ctr = ctr
    .withEnvVariable("CCACHE_DIR", CCACHE_DIR)
    .withEnvVariable("VARIANT", v.name)
    .withEnvVariable("TEST", on(test))
    // Before the sources: an edit does not run it again.
    .withExec([tree, "snapshot", BUILD_CACHE, SRC, BUILD_DIR, snapshot || "-"])
    .withDirectory(SRC, source)
    // Sources newer than the snapshot's outputs get an old mtime here, once per base of the sources (the CLI
    // copies the files changed since the base after this step), rather than in every build's restore.
    .withExec([...BEFORE_RECENT, tree, "age", BUILD_CACHE, SRC, BUILD_DIR])
    // One locked step: restore the tree, build with the same script as the dev image, keep the new tree.
    .withExec([
      "sh",
      "-c",
      `set -e; ${tree} restore ${where}; rm -f ${log}; CCACHE_STATSLOG=${log} ${SCRIPT} build; ${stats} || true; ` +
        (checks.length ? `{ ${checks.join("; ")}; } & checks=$!; ${save}; wait $checks` : save),
    ])
    .withoutMount(BUILD_CACHE);
  return isa ? ctr.withoutMount(ISA_CACHE) : ctr;
}

/** The build tree of a compiled container (binaries, libraries, Python module). */
export function buildTree(built: Container): Directory {
  return built.directory(BUILD_DIR);
}

/**
 * Runs the tests in a compiled container. The results folder holds junit.xml, test.log and status (the
 * test command's exit code); with `emulate`, also the run of the tests (or the config's smoke command) on an
 * emulated CPU at the variant's ISA floor: emulated.log and emulated-status. This step itself never fails, so
 * the results can be exported either way.
 */
export function testResults(cfg: Config, built: Container, v: Variant, opts: { emulate: boolean }): Directory {
  let ctr = built.withExec([
    "sh",
    "-c",
    `mkdir -p ${RESULTS}; set +e; ${SCRIPT} test > ${RESULTS}/test.log 2>&1; echo $? > ${RESULTS}/status; ` +
      `cp ${BUILD_DIR}/junit.xml ${RESULTS}/ 2>/dev/null; cat ${RESULTS}/test.log; exit 0`,
  ]);
  const cpu = qemuCpuFor(v.floor);
  if (opts.emulate && cpu) {
    const e = cfg.checks.emulate;
    ctr = withScript(ctr, "emulate_tests.py")
      .withWorkdir(BUILD_DIR)
      .withExec([
        "python3",
        `${SCRIPTS_DIR}/emulate_tests.py`,
        "--cpu",
        cpu,
        "--floor",
        v.floor,
        "--label",
        `${cfg.name} ${v.name}`,
        "--results",
        RESULTS,
        "--build-dir",
        BUILD_DIR,
        "--exclude-label",
        cfg.test.gpuLabel,
        ...(e.tests ? ["--tests", e.tests] : []),
        ...(e.command.length ? ["--command", ...e.command] : []),
      ]);
  }
  return ctr.directory(RESULTS);
}

/** Fails (naming the failed tests) when the results say the tests failed; else returns the results. */
export function checkResults(dev: Container, results: Directory): Directory {
  return dev
    .withDirectory(RESULTS, results)
    .withExec([
      "sh",
      "-c",
      'cd "$1"; status=$(cat status); if [ "$status" != 0 ]; then ' +
        'echo "tests failed (exit $status):"; sed -n "/The following tests FAILED/,\\$p" test.log; ' +
        'grep -E "^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\\*\\*\\*(Failed|Exception)" test.log || true; exit 1; fi; ' +
        'if [ -f emulated-status ] && [ "$(cat emulated-status)" != 0 ]; then ' +
        'echo "the tests failed on the emulated CPU at the ISA floor:"; grep -E "^emulate: |FAILED" emulated.log; exit 1; fi',
      "check-results",
      RESULTS,
    ])
    .directory(RESULTS);
}
