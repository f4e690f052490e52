/**
 * The programs that run inside containers (modules/scripts/) pass their linters and compilers: shellcheck on
 * every shell script and on the shell the building blocks generate (the `pipeline-build` script, the
 * production entrypoint), Python's compiler on every Python program, and gcc's syntax check on the C ones.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../../modules/config.ts";
import { buildScript, SCRIPT } from "../../modules/compile.ts";
import { entrypointScript } from "../../modules/image.ts";
import { scriptText } from "../../modules/scripts.ts";

const DIR = fileURLToPath(new URL("../../modules/scripts/", import.meta.url));
const files = (ext: string) =>
  readdirSync(DIR)
    .filter((n) => n.endsWith(ext))
    .sort();

function which(command: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((d) => d && existsSync(join(d, command)));
}

/** Fails with the install command when a Debian-packaged tool the test drives is missing (the README's set-up installs it). */
function needTool(command: string, debianPackage: string): void {
  if (!which(command))
    throw new Error(
      `${command} is not installed; run: apt-get install -y ${debianPackage} (the README's set-up command installs it)`,
    );
}

/** Runs a program; fails with its output unless it exits 0. */
function ok(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(command, args, { encoding: "utf8", env });
  if (r.error) throw r.error;
  assert.is(r.status, 0, `${command} ${args.join(" ")} exited ${r.status}:\n${r.stdout}${r.stderr}`);
}

/** shellcheck over files: no user or project rc file, every severity down to style. */
function shellcheck(paths: string[]): void {
  needTool("shellcheck", "shellcheck");
  ok("shellcheck", ["--norc", "--severity=style", ...paths]);
}

/** Writes generated texts as files (NAME -> text) in a fresh temporary folder; returns their paths. */
function written(texts: Record<string, string>): { paths: string[]; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "pipeline-scripts-"));
  const paths = Object.entries(texts).map(([name, text]) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  });
  return { paths, dir };
}

const EXAMPLE = parseConfig(readFileSync(new URL("../../pipeline.yaml", import.meta.url), "utf8"), "pipeline.yaml");

/** A config with variants of its own: values with several CMake arguments, environment, a new isa value. */
const WITH_VARIANTS = parseConfig(
  `name: lib
version: 1.0.0
cmake:
  args: ["-DLIB_NAME='{name}'", "-DLIB_VERSION={version}"]
test:
  command: [ctest, --output-on-failure, -E, "slow test|gpu"]
variants:
  accel:
    cpu: { cmake: [-DLIB_VULKAN=OFF] }
    gpu: false
  isa:
    avx:
      cmake: [-DLIB_AVX=ON, -DLIB_AVX2=ON, -DLIB_FMA=ON, -DLIB_AVX512=OFF]
      env: { LIB_LEVEL: avx2, LIB_NOTE: "it's fast" }
    noavx:
      cmake: [-DLIB_AVX=OFF, -DLIB_AVX2=OFF, -DLIB_FMA=OFF]
    v4:
      cmake: [-DLIB_AVX512=ON]
      floor: x86-64-v4
image:
  variants: [cpu, cpu-noavx]
  entrypoint: [python3, -m, "it's"]
`,
  "pipeline.yaml",
);

test("every shell script in modules/scripts is a POSIX sh script that passes shellcheck", () => {
  const sh = files(".sh");
  assert.ok(sh.length >= 6, `shell scripts found: ${sh.join(", ")}`);
  for (const name of sh) assert.is(scriptText(name).split("\n")[0], "#!/bin/sh", `${name} starts with #!/bin/sh`);
  shellcheck(sh.map((n) => join(DIR, n)));
});

test("the generated pipeline-build script and production entrypoint pass shellcheck (the example config, and one with variants)", () => {
  const { paths, dir } = written({
    "pipeline-build.example": buildScript(EXAMPLE),
    "pipeline-build.variants": buildScript(WITH_VARIANTS),
    "entrypoint.example": entrypointScript(EXAMPLE),
    "entrypoint.variants": entrypointScript(WITH_VARIANTS),
  });
  try {
    // The variant config's own values are in the script, quoted.
    assert.match(readFileSync(paths[1]!, "utf8"), "export LIB_NOTE='it'\\''s fast'; ");
    shellcheck(paths);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the dev image's entrypoint runs the build script where the dev image puts it", () => {
  assert.match(scriptText("dev-entrypoint.sh"), `exec ${SCRIPT} "\${1:-all}"`);
});

test("every Python program in modules/scripts compiles (its bytecode in a temporary folder, none left beside it)", () => {
  const py = files(".py");
  assert.ok(py.includes("sbom.py"), `Python programs found: ${py.join(", ")}`);
  const cache = mkdtempSync(join(tmpdir(), "pipeline-pycache-"));
  const before = existsSync(join(DIR, "__pycache__"));
  try {
    ok("python3", ["-m", "py_compile", ...py.map((n) => join(DIR, n))], { ...process.env, PYTHONPYCACHEPREFIX: cache });
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
  if (!before) assert.not.ok(existsSync(join(DIR, "__pycache__")), "no __pycache__ left in modules/scripts");
});

test("every C program in modules/scripts passes gcc's syntax check (when gcc is installed)", () => {
  const c = files(".c");
  if (!which("gcc")) {
    console.log(`  (gcc is not installed: ${c.join(", ")} not checked)`);
    return;
  }
  for (const name of c) ok("gcc", ["-fsyntax-only", "-Wall", "-Werror", join(DIR, name)]);
});

test.run();
