/**
 * The framework build stages on the real engine, on the example framework: the dev image (toolchain,
 * sshd, entrypoint build), build and test for the AVX and no-AVX variants, failures, config errors, and
 * what an edit re-runs.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { cli, dockerOnEngine, explain, freePort, needTool, ROOT, scratch, summary } from "./helpers.ts";
import { vexInstructions } from "../support/isa.ts";

const docker = await dockerOnEngine();
const EXAMPLE = join(ROOT, "examples", "minipaddle");
const DEV = `pipeline-e2e/dev:${randomBytes(3).toString("hex")}`;

/** A private copy of the example's source, to edit. */
function exampleCopy(): string {
  const dir = join(scratch("pipeline-src-"), "minipaddle");
  cpSync(EXAMPLE, dir, { recursive: true, filter: (p) => !/\/build[^/]*$/.test(p) });
  return dir;
}

test("dev-image builds and holds the toolchain, Sphinx, pybind11 and a valid sshd config, but no host keys", async () => {
  const r = await cli(["dev-image", "--tag", DEV]);
  assert.is(r.code, 0, explain(r));
  for (const cmd of [
    "gcc --version",
    "clang --version",
    "cmake --version",
    "ninja --version",
    "ccache --version",
    "sphinx-build --version",
    "htags --version",
    'python3 -c "import pybind11"',
  ]) {
    const out = docker(["run", "--rm", "--network", "host", DEV, "sh", "-c", cmd]);
    assert.is(out.status, 0, `${cmd}: ${out.stderr}`);
  }
  const keys = docker(["run", "--rm", DEV, "sh", "-c", "ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l"]);
  assert.is(keys.stdout.trim(), "0", "no host keys baked into the image");
  const sshdT = docker(["run", "--rm", DEV, "sh", "-c", "ssh-keygen -A >/dev/null && /usr/sbin/sshd -t && echo valid"]);
  assert.is(sshdT.stdout.trim(), "valid", sshdT.stderr);
});

test("a container from the dev image accepts a key over ssh, refuses a password, and has its own host keys", async () => {
  await needTool("ssh", "openssh-client");
  const dir = scratch();
  const key = join(dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const pub = readFileSync(`${key}.pub`, "utf8").trim();
  const ports = [await freePort(), await freePort()];
  const names = ports.map((p) => `pipeline-e2e-sshd-${p}`);
  try {
    for (const [i, port] of ports.entries()) {
      const run = docker([
        "run",
        "-d",
        "--rm",
        "--name",
        names[i]!,
        "--network",
        "host",
        "-e",
        `SSH_PORT=${port}`,
        "-e",
        `SSH_AUTHORIZED_KEYS=${pub}`,
        DEV,
        "sshd",
      ]);
      assert.is(run.status, 0, run.stderr);
    }
    const ssh = (port: number, extra: string[]) =>
      spawnSync(
        "ssh",
        [
          "-p",
          String(port),
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "BatchMode=yes",
          "-o",
          "ConnectTimeout=5",
          ...extra,
          "root@127.0.0.1",
          "echo",
          "hello-from-dev",
        ],
        { encoding: "utf8" },
      );
    let ok = ssh(ports[0]!, ["-i", key]);
    for (let i = 0; i < 50 && ok.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      ok = ssh(ports[0]!, ["-i", key]);
    }
    assert.is(ok.stdout.trim(), "hello-from-dev", ok.stderr);
    // With host networking, sshd serves this machine only unless SSH_LISTEN says otherwise.
    assert.match(docker(["logs", names[0]!]).stderr, `Server listening on 127.0.0.1 port ${ports[0]}.`);
    const password = ssh(ports[0]!, [
      "-o",
      "PubkeyAuthentication=no",
      "-o",
      "PreferredAuthentications=password,keyboard-interactive",
    ]);
    assert.is(password.status, 255);
    assert.match(password.stderr, "Permission denied (publickey)");
    const hostKey = (port: number) => {
      for (let i = 0; i < 50; i++) {
        const scan = spawnSync("ssh-keyscan", ["-t", "ed25519", "-p", String(port), "127.0.0.1"], { encoding: "utf8" });
        const line = scan.stdout.split("\n").find((l) => l.includes("ssh-ed25519"));
        if (line) return line.split(" ").slice(1).join(" ");
        spawnSync("sleep", ["0.2"]);
      }
      throw new Error(`no host key on port ${port}`);
    };
    assert.is.not(hostKey(ports[0]!), hostKey(ports[1]!), "two containers have different host keys");
  } finally {
    for (const n of names) docker(["rm", "-f", n]);
  }
});

test("the dev image's default entrypoint builds and tests a mounted source tree into ./build", () => {
  const src = exampleCopy();
  const r = docker([
    "run",
    "--rm",
    "--network",
    "host",
    "-v",
    `${src}:/src`,
    "-e",
    "GPU=OFF",
    "-e",
    "AVX=OFF",
    "-e",
    "TEST=ON",
    DEV,
  ]);
  assert.is(r.status, 0, r.stdout.slice(-3000) + r.stderr.slice(-2000));
  assert.match(r.stdout, "100% tests passed");
  assert.ok(existsSync(join(src, "build", "minipaddle")));
  assert.match(
    execFileSync(join(src, "build", "minipaddle"), ["--version"], { env: { LD_LIBRARY_PATH: join(src, "build") } }).toString(),
    "kernel: scalar",
  );
});

for (const avx of [true, false]) {
  const name = avx ? "AVX" : "no-AVX";
  test(`build and test pass for the ${name} variant; its binaries ${avx ? "do" : "do not"} contain AVX instructions`, async () => {
    const out = join(scratch(), "build");
    const b = await cli(["build", "--test", ...(avx ? [] : ["--no-avx"]), "--out", out]);
    assert.is(b.code, 0, explain(b));
    const lib = join(out, "libminipaddle.so");
    const bin = join(out, "minipaddle");
    const ext = execFileSync("sh", ["-c", `ls ${out}/python/minipaddle/_core*.so`])
      .toString()
      .trim();
    assert.match(
      execFileSync(bin, ["--version"], { env: { LD_LIBRARY_PATH: out } }).toString(),
      `kernel: ${avx ? "avx" : "scalar"}`,
    );
    assert.is(
      execFileSync(bin, ["dot", "1,2,3", "4,5,6"], { env: { LD_LIBRARY_PATH: out } })
        .toString()
        .trim(),
      "32",
    );
    if (avx) {
      assert.ok(vexInstructions(lib).length > 0, "the AVX library has VEX-encoded instructions");
    } else {
      for (const f of [lib, bin, ext]) assert.equal(vexInstructions(f).slice(0, 3), [], `${f} has AVX instructions`);
    }
    const report = join(scratch(), "report");
    const t = await cli(["test", ...(avx ? [] : ["--no-avx"]), "--out", report]);
    assert.is(t.code, 0, explain(t));
    const junit = readFileSync(join(report, "junit.xml"), "utf8");
    assert.match(junit, /tests="\d+"/);
    assert.match(junit, 'failures="0"');
    assert.is(readFileSync(join(report, "status"), "utf8").trim(), "0");
  });
}

/** The RUNPATH entries of an ELF file ([] when it has none). */
function runpath(file: string): string[] {
  const m = /\(RUNPATH\)\s+Library runpath: \[(.*)\]/.exec(execFileSync("readelf", ["-d", file]).toString());
  return m ? m[1]!.split(":") : [];
}

test("build --out DIR: binaries carry only $ORIGIN-relative run paths with no empty entry, and DIR/minipaddle runs from any folder", async () => {
  await needTool("readelf", "binutils");
  const out = join(scratch(), "build");
  const b = await cli(["build", "--out", out]);
  assert.is(b.code, 0, explain(b));
  const ext = execFileSync("sh", ["-c", `ls ${out}/python/minipaddle/_core*.so`])
    .toString()
    .trim();
  for (const f of [join(out, "minipaddle"), join(out, "libminipaddle.so"), ext]) {
    const entries = runpath(f);
    assert.ok(
      entries.every((e) => e.startsWith("$ORIGIN")),
      `${f}: RUNPATH ${entries.join(":")}`,
    );
  }
  assert.ok(runpath(join(out, "minipaddle")).length > 0, "the CLI finds the library through its run path");
  // No LD_LIBRARY_PATH, another working folder, and the tree moved elsewhere.
  assert.match(execFileSync(join(out, "minipaddle"), ["--version"], { cwd: "/", env: {} }).toString(), "minipaddle ");
  const moved = join(scratch(), "moved");
  cpSync(out, moved, { recursive: true, verbatimSymlinks: true });
  assert.is(execFileSync(join(moved, "minipaddle"), ["dot", "1,2,3", "4,5,6"], { cwd: "/", env: {} }).toString().trim(), "32");
  const py = execFileSync("python3", ["-c", "import minipaddle; print(minipaddle.dot([1, 2], [3, 4]))"], {
    cwd: "/",
    env: { PYTHONPATH: join(moved, "python") },
  });
  assert.match(py.toString(), /^11(\.0)?$/m);
});

test("build --out again with nothing changed is up to date without the engine; a changed output or source builds again", async () => {
  const src = exampleCopy();
  const out = join(scratch(), "build");
  const build = () => cli(["build", "--source", src, "--out", out]);
  const first = await build();
  assert.is(first.code, 0, explain(first));
  const again = await build();
  assert.is(again.code, 0, explain(again));
  assert.match(again.stderr, /^pipeline: up to date: .* its result is in \S+build /m);
  assert.not.match(again.stderr, /running on BuildKit/, "the engine was not used");
  // An output file removed: the command runs on the engine again (its compile step has nothing to do) and puts it back.
  rmSync(join(out, "minipaddle"));
  const restored = await build();
  assert.is(restored.code, 0, explain(restored));
  assert.match(restored.stderr, /running on BuildKit/);
  assert.ok(existsSync(join(out, "minipaddle")), "the removed output is back");
  // A source edit: the one file recompiles.
  appendFileSync(
    join(src, "src", "nn.cc"),
    `\nnamespace { [[maybe_unused]] const int e_${randomBytes(4).toString("hex")} = 1; }\n`,
  );
  const edited = await build();
  assert.is(edited.code, 0, explain(edited));
  assert.match(edited.stderr, /Building CXX object \S*src\/nn\.cc\.o/);
});

test("a failing test makes test exit 1, naming the test, with the JUnit report still written", async () => {
  const src = exampleCopy();
  appendFileSync(
    join(src, "tests", "test_tensor.cc"),
    '\nTEST(Injected, FailsOnPurpose) { EXPECT_EQ(1, 2) << "injected failure"; }\n',
  );
  const report = join(scratch(), "report");
  const r = await cli(["test", "--source", src, "--out", report]);
  assert.is(r.code, 1, explain(r));
  assert.match(r.stderr, "Injected.FailsOnPurpose");
  assert.match(r.stderr, "tests failed");
  assert.match(readFileSync(join(report, "junit.xml"), "utf8"), /failures="1"/);
  assert.is.not(readFileSync(join(report, "status"), "utf8").trim(), "0");
});

test("a config error exits 2 with the file and key path, and runs nothing", async () => {
  const dir = scratch();
  const file = join(dir, "pipeline.yaml");
  writeFileSync(file, `name: minipaddle\nsource: src\ncmake:\n  options:\n    gpu: 3\n`);
  const r = await cli(["build", "--config", file]);
  assert.is(r.code, 2, explain(r));
  assert.is(r.stderr.trim(), `pipeline: ${file}: at 'cmake.options.gpu': expected string`);
});

test("after a full build, editing a docs file re-runs only the docs steps, and editing one .cc recompiles it alone", async () => {
  const src = exampleCopy();
  // The build tree's cache volume holds the tree of the last build that really ran. A source this run
  // alone has makes the first build run (not come from BuildKit's cache), so the tree is this source's.
  appendFileSync(join(src, "src", "nn.cc"), `\n// run ${randomBytes(4).toString("hex")}\n`);
  const first = await cli(["build", "--source", src]);
  assert.ok(summary(first.stderr).run > 0, "the first build ran");
  assert.is(first.code, 0, explain(first));
  const docs = await cli(["docs", "--source", src, "--out", join(scratch(), "docs")]);
  assert.is(docs.code, 0, explain(docs));

  appendFileSync(join(src, "docs", "index.rst"), `\nEdited ${randomBytes(4).toString("hex")}.\n`);
  const rebuilt = await cli(["build", "--source", src]);
  assert.is(rebuilt.code, 0, explain(rebuilt));
  assert.is(summary(rebuilt.stderr).run, 0, "no build step re-ran for a docs edit");
  const site = join(scratch(), "docs");
  const redocs = await cli(["docs", "--source", src, "--out", site]);
  assert.is(redocs.code, 0, explain(redocs));
  const ran = redocs.stderr
    .split("\n")
    .filter((l) => /^#\d+ \[\S+ +\d+\/\d+\] RUN/.test(l))
    .map((l) => /^#(\d+)/.exec(l)![1]);
  const cached = new Set(
    redocs.stderr
      .split("\n")
      .filter((l) => / CACHED$/.test(l))
      .map((l) => /^#(\d+)/.exec(l)![1]),
  );
  const runLine = (id: string) => redocs.stderr.split("\n").find((l) => l.startsWith(`#${id} [`))!;
  const executed = ran.filter((id) => !cached.has(id)).map(runLine);
  assert.equal(executed.length, 1, executed.join("\n"));
  assert.match(executed[0]!, "sphinx-build");
  assert.match(readFileSync(join(site, "index.html"), "utf8"), "Edited");

  appendFileSync(
    join(src, "src", "nn.cc"),
    `\nnamespace { [[maybe_unused]] const int edited_${randomBytes(4).toString("hex")} = 1; }\n`,
  );
  const again = await cli(["build", "--source", src]);
  assert.is(again.code, 0, explain(again));
  const compiled = again.stderr.split("\n").filter((l) => /Building CXX object/.test(l));
  assert.equal(compiled.length, 1, compiled.join("\n"));
  assert.match(compiled[0]!, "src/nn.cc.o");
});

test("a failed build leaves nothing a later build trusts: undoing the breaking edit builds again", async () => {
  const src = exampleCopy();
  const nn = join(src, "src", "nn.cc");
  appendFileSync(nn, `\n// run ${randomBytes(4).toString("hex")}\n`);
  const good = readFileSync(nn, "utf8");
  const first = await cli(["build", "--source", src]);
  assert.is(first.code, 0, explain(first));
  // Compiles, but the CLI cannot link: nn.cc.o from this attempt is in the tree when the build fails.
  const fn = `pipeline_undefined_${randomBytes(4).toString("hex")}`;
  appendFileSync(nn, `namespace minipaddle { void ${fn}(); int pipeline_calls_it() { ${fn}(); return 1; } }\n`);
  const broken = await cli(["build", "--source", src]);
  assert.is(broken.code, 1, explain(broken));
  assert.match(broken.stderr, fn);
  writeFileSync(nn, good);
  // Another file differs from the first build too, so this build runs rather than coming from BuildKit's cache.
  appendFileSync(join(src, "src", "tensor.cc"), `\n// again ${randomBytes(4).toString("hex")}\n`);
  const again = await cli(["build", "--source", src]);
  assert.is(again.code, 0, explain(again));
  assert.ok(summary(again.stderr).run > 0, "the build ran");
});

test.after(() => {
  docker(["rmi", DEV]);
});

test.run();
