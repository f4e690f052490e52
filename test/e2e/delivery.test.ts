/**
 * Packaging and delivery on the real engine, with the example framework: the .deb, the production image
 * variants, their SBOMs, release to a real registry (Debian's docker-registry on loopback), and the book.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { cli, dockerOnEngine, explain, freePort, ROOT, scratch, waitForHttp } from "./helpers.ts";
import { startRegistry } from "../support/engines.ts";
import { parseConfig } from "../../modules/config.ts";
import { readMirrors } from "../../pipeline/mirrors.ts";
import { vexInstructions } from "../support/isa.ts";

const docker = await dockerOnEngine();
const cfg = parseConfig(readFileSync(join(ROOT, "pipeline.yaml"), "utf8"), "pipeline.yaml");
const ID = randomBytes(3).toString("hex");
const TAGS = {
  cpu: `pipeline-e2e/minipaddle:${ID}`,
  noavx: `pipeline-e2e/minipaddle:${ID}-noavx`,
  gpu: `pipeline-e2e/minipaddle:${ID}-gpu`,
  book: `pipeline-e2e/book:${ID}`,
};
const RUNTIME_BASE = (await readMirrors())[cfg.images.runtime] ?? cfg.images.runtime;
const HEAD = execFileSync("git", ["-C", ROOT, "rev-parse", "HEAD"]).toString().trim();

function ok(args: string[]): string {
  const r = docker(args);
  assert.is(r.status, 0, `docker ${args.join(" ")}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A folder the image's unprivileged user can read, holding a user's Python program. */
function userProgram(source: string): string {
  const dir = scratch("pipeline-work-");
  writeFileSync(join(dir, "a.py"), source);
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "a.py"), 0o644);
  return dir;
}

const PROGRAM = `import minipaddle as mp
x = mp.dot([1.5, 2.0, 3.0], [4.0, 5.0, 6.0])
print(f"dot={x:.2f} kernel={mp.kernel()}")
`;

/** Copies files out of an image (without running it) into a scratch folder. */
function filesOf(image: string, paths: string[]): string[] {
  const dir = scratch("pipeline-files-");
  const id = ok(["create", image]).trim();
  try {
    return paths.map((p, i) => {
      const dest = join(dir, `${i}-${p.split("/").pop()}`);
      ok(["cp", "-L", `${id}:${p}`, dest]);
      return dest;
    });
  } finally {
    docker(["rm", id]);
  }
}

const PROJECT_FILES = ["/usr/bin/minipaddle", "/usr/lib/x86_64-linux-gnu/libminipaddle.so.0"];
const pythonExtension = (image: string) =>
  ok(["run", "--rm", image, "sh", "-c", "ls /usr/lib/python3/dist-packages/minipaddle/_core*.so"]).trim();

test("package: a .deb with the config's fields and real Depends, no lintian errors, that installs with dpkg in a clean runtime container", async () => {
  const out = join(scratch(), "debs");
  const r = await cli(["package", "--out", out]);
  assert.is(r.code, 0, explain(r));
  const arch = execFileSync("dpkg", ["--print-architecture"]).toString().trim();
  const deb = `${cfg.name}_${cfg.version}_${arch}.deb`;
  assert.ok(existsSync(join(out, deb)), `expected ${deb} in ${readdirSync(out).join(", ")}`);
  const field = (f: string) =>
    execFileSync("dpkg-deb", ["-f", join(out, deb), f])
      .toString()
      .trim();
  assert.is(field("Package"), cfg.name);
  assert.is(field("Version"), cfg.version);
  assert.is(field("Architecture"), arch);
  assert.is(field("Maintainer"), cfg.package.maintainer);
  assert.is(field("Description").split("\n")[0], cfg.package.summary);
  for (const dep of ["libc6", "libstdc++6", "python3"])
    assert.match(field("Depends"), new RegExp(`(^|, )${dep.replace("+", "\\+")} \\(`), `Depends: ${field("Depends")}`);
  const contents = execFileSync("dpkg-deb", ["-c", join(out, deb)]).toString();
  assert.not.match(contents, /usr\/include|\.a$|CMakeCache/m, "a runtime package: no headers, static libraries or build files");
  const lintian = readFileSync(join(out, deb.replace(/\.deb$/, ".lintian.txt")), "utf8");
  assert.not.match(lintian, /^E: /m, lintian);

  const installed = docker([
    "run",
    "--rm",
    "--network",
    "host",
    "-v",
    `${out}:/debs:ro`,
    RUNTIME_BASE,
    "sh",
    "-c",
    `apt-get update -qq && apt-get install -y -qq --no-install-recommends /debs/${deb} >/dev/null 2>&1 && ` +
      `dpkg-query -W -f '\${Status}\\n' ${cfg.name} && minipaddle --version && python3 -c 'import minipaddle as mp; print(mp.dot([1, 2], [3, 4]))'`,
  ]);
  assert.is(installed.status, 0, installed.stderr + installed.stdout);
  assert.match(installed.stdout, "install ok installed");
  assert.match(installed.stdout, `minipaddle ${cfg.version} (kernel: avx, gpu: off)`);
  assert.match(installed.stdout, /^11(\.0)?$/m);
});

test("image --variant cpu: runs as non-root, has no compilers, headers or build tree, runs a user's .py, and is labelled", async () => {
  const sbom = join(scratch(), "cpu.cdx.json");
  const r = await cli(["image", "--tag", TAGS.cpu, "--sbom", sbom]);
  assert.is(r.code, 0, explain(r));
  assert.match(ok(["run", "--rm", TAGS.cpu, "--version"]), `minipaddle ${cfg.version} (kernel: avx, gpu: off)`);
  assert.is(ok(["run", "--rm", TAGS.cpu, "sh", "-c", "id -u"]).trim(), "1000");
  const tools = docker([
    "run",
    "--rm",
    TAGS.cpu,
    "sh",
    "-c",
    "for c in cc gcc g++ c++ clang cmake ninja nvcc; do command -v $c; done; true",
  ]);
  assert.is(tools.stdout.trim(), "", `compilers in the production image: ${tools.stdout}`);
  const stray = ok([
    "run",
    "--rm",
    TAGS.cpu,
    "sh",
    "-c",
    "find / -xdev \\( -name '*.h' -o -name '*.hpp' -o -name CMakeCache.txt -o -name '*.o' \\) -print 2>/dev/null | head -5",
  ]);
  assert.is(stray.trim(), "", `headers or build files in the production image: ${stray}`);
  const work = userProgram(PROGRAM);
  assert.is(ok(["run", "--rm", "-v", `${work}:/work`, TAGS.cpu, "/work/a.py"]).trim(), "dot=34.00 kernel=avx");
  const labels = JSON.parse(ok(["inspect", "--format", "{{json .Config.Labels}}", TAGS.cpu])) as Record<string, string>;
  assert.is(labels["org.opencontainers.image.version"], cfg.version);
  assert.is(labels["org.opencontainers.image.revision"], HEAD);
  assert.is(labels["dev.pipeline.variant"], "cpu");
  assert.ok(existsSync(sbom), "the SBOM is written where --sbom says");
});

test("image --variant cpu: no setuid/setgid file, no trace of the install, and the program's run path is not the build tree's", async () => {
  // The image the test above built.
  // As root, so that find sees every folder.
  const privileged = ok(["run", "--rm", "--user", "0", "--entrypoint", "sh", TAGS.cpu, "-c", "find / -xdev -perm /6000 -type f"]);
  assert.is(privileged.trim(), "", `setuid/setgid files in the production image:\n${privileged}`);
  assert.is(
    docker(["run", "--rm", "--entrypoint", "sh", TAGS.cpu, "-c", "test -e /tmp/pipeline-debs"]).status,
    1,
    "/tmp/pipeline-debs is gone",
  );
  for (const file of filesOf(TAGS.cpu, ["/usr/bin/minipaddle", pythonExtension(TAGS.cpu)])) {
    const dynamic = execFileSync("readelf", ["-d", file]).toString();
    const runpath = /\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.*)\]/.exec(dynamic)?.[1] ?? "";
    assert.ok(
      (runpath ? runpath.split(":") : []).every((e) => e.startsWith("$ORIGIN/")),
      `${file}: run path '${runpath}'`,
    );
  }
});

test("the SBOM lists exactly the Debian packages installed in the image, and the project's files with their SHA-256", async () => {
  const sbom = join(scratch(), "cpu.cdx.json");
  const r = await cli(["sbom", "--out", sbom]);
  assert.is(r.code, 0, explain(r));
  const doc = JSON.parse(readFileSync(sbom, "utf8")) as {
    bomFormat: string;
    specVersion: string;
    components: Array<{
      name: string;
      version: string;
      purl: string;
      components?: Array<{ name: string; hashes: Array<{ content: string }> }>;
    }>;
  };
  assert.is(doc.bomFormat, "CycloneDX");
  assert.is(doc.specVersion, "1.5");
  const inImage = ok([
    "run",
    "--rm",
    TAGS.cpu,
    "sh",
    "-c",
    "dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\\n' | awk '$1 == \"ii\" {print $2, $3}' | sort",
  ]);
  const listed = doc.components.map((c) => `${c.name} ${c.version}`).sort();
  assert.equal(listed, inImage.trim().split("\n").sort());
  assert.ok(
    doc.components.every((c) => c.purl.startsWith("pkg:deb/")),
    "package URLs",
  );
  const own = doc.components.find((c) => c.name === cfg.name);
  const hashes = ok([
    "run",
    "--rm",
    TAGS.cpu,
    "sh",
    "-c",
    `sha256sum ${PROJECT_FILES.map((f) => `$(readlink -f ${f})`).join(" ")}`,
  ]);
  for (const line of hashes.trim().split("\n")) {
    const [hash, path] = line.split(/\s+/);
    const file = own?.components?.find((f) => f.name === path);
    assert.is(file?.hashes[0]?.content, hash, `${path} with its SHA-256 in the SBOM`);
  }
});

test("image --variant cpu-noavx: the same program runs, and its binaries hold no AVX instructions (the cpu ones do)", async () => {
  const r = await cli(["image", "--variant", "cpu-noavx", "--tag", TAGS.noavx]);
  assert.is(r.code, 0, explain(r));
  assert.match(ok(["run", "--rm", TAGS.noavx, "--version"]), `minipaddle ${cfg.version} (kernel: scalar, gpu: off)`);
  assert.is(ok(["run", "--rm", TAGS.noavx, "sh", "-c", "id -u"]).trim(), "1000");
  const work = userProgram(PROGRAM);
  assert.is(ok(["run", "--rm", "-v", `${work}:/work`, TAGS.noavx, "/work/a.py"]).trim(), "dot=34.00 kernel=scalar");
  for (const file of filesOf(TAGS.noavx, [...PROJECT_FILES, pythonExtension(TAGS.noavx)])) {
    assert.equal(vexInstructions(file).slice(0, 3), [], `${file} has no VEX-encoded instructions`);
  }
  const [avxLib] = filesOf(TAGS.cpu, [PROJECT_FILES[1]!]);
  assert.ok(vexInstructions(avxLib!).length > 0, "the AVX image's library does hold AVX instructions");
});

test("image --variant gpu: CUDA runtime libraries and the NVIDIA variables, no driver libraries, no compiler", async () => {
  const r = await cli(["image", "--variant", "gpu", "--tag", TAGS.gpu]);
  assert.is(r.code, 0, explain(r));
  assert.match(ok(["run", "--rm", TAGS.gpu, "--version"]), `minipaddle ${cfg.version} (kernel: avx, gpu: on)`);
  const libs = ok([
    "run",
    "--rm",
    TAGS.gpu,
    "sh",
    "-c",
    "ldd /usr/lib/x86_64-linux-gnu/libminipaddle.so.0 | grep -o 'libcudart[^ ]*'; ls /usr/lib/x86_64-linux-gnu/ | grep -E '^lib(cuda|nvidia-)' || true",
  ]);
  assert.match(libs, /^libcudart\.so\.11/m, libs);
  assert.not.match(libs, /^libcuda\.so|^libnvidia-/m, `driver libraries in the image:\n${libs}`);
  const tools = docker(["run", "--rm", TAGS.gpu, "sh", "-c", "for c in cc gcc g++ nvcc; do command -v $c; done; true"]);
  assert.is(tools.stdout.trim(), "");
  const env = (JSON.parse(ok(["inspect", "--format", "{{json .Config.Env}}", TAGS.gpu])) as string[]).join("\n");
  assert.match(env, /^NVIDIA_VISIBLE_DEVICES=all$/m);
  assert.match(env, /^NVIDIA_DRIVER_CAPABILITIES=compute,utility$/m);
  assert.match(env, `NVIDIA_REQUIRE_CUDA=${cfg.image.requireCuda}`);
  const size = (t: string) => Number(ok(["image", "inspect", "--format", "{{.Size}}", t]).trim());
  assert.ok(size(TAGS.gpu) > size(TAGS.cpu), "the GPU image is the larger");
});

test("release --publish pushes every variant to a real registry; each pulls back by digest and runs", async () => {
  const dir = scratch("pipeline-registry-");
  const registry = await startRegistry(dir);
  const port = registry.addr.split(":")[1];
  try {
    const sboms = join(dir, "sbom");
    const r = await cli(["release", "--publish", `127.0.0.1:${port}`, "--out", sboms]);
    assert.is(r.code, 0, explain(r));
    const rows = r.stdout
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s{2,}/));
    assert.is(rows.length, cfg.image.variants.length, r.stdout);
    for (const variant of cfg.image.variants) {
      const suffix = variant === "cpu" ? "" : `-${variant.replace(/^cpu-/, "")}`;
      const ref = `127.0.0.1:${port}/${cfg.name}:${cfg.version}${suffix}`;
      const row = rows.find((x) => x[0] === ref);
      assert.ok(row, `${ref} in the table:\n${r.stdout}`);
      const digest = row![2]!;
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      // The registry itself says it holds this digest under the tag.
      const head = await fetch(`http://127.0.0.1:${port}/v2/${cfg.name}/manifests/${cfg.version}${suffix}`, {
        method: "HEAD",
        headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" },
      });
      assert.is(head.headers.get("docker-content-digest"), digest);
      docker(["rmi", ref]);
      const byDigest = `127.0.0.1:${port}/${cfg.name}@${digest}`;
      ok(["pull", byDigest]);
      const kernel = variant.endsWith("noavx") ? "scalar" : "avx";
      const gpu = variant.startsWith("gpu") ? "on" : "off";
      assert.match(ok(["run", "--rm", byDigest, "--version"]), `minipaddle ${cfg.version} (kernel: ${kernel}, gpu: ${gpu})`);
      docker(["rmi", byDigest]);
      assert.ok(existsSync(join(sboms, `${cfg.name}_${cfg.version}${suffix}.cdx.json`)), `the SBOM of ${variant}`);
    }
  } finally {
    registry.stop();
  }
});

test("release refuses a registry that is not host[:port][/path], and an unknown variant, with exit 2", async () => {
  for (const args of [
    ["--publish", "not a registry"],
    ["--publish", "team/repo"],
    ["--variant", "tpu"],
  ]) {
    const r = await cli(["release", ...args]);
    assert.is(r.code, 2, explain(r));
    assert.match(r.stderr, args[0] === "--publish" ? /--publish '.*': expected a registry/ : /--variant|Invalid values/);
  }
});

test("release --publish to a registry that does not answer fails at once (exit 1), before building anything", async () => {
  const port = await freePort();
  const r = await cli(["release", "--publish", `127.0.0.1:${port}`, "--variant", "cpu"]);
  assert.is(r.code, 1, explain(r));
  assert.match(r.stderr, `--publish 127.0.0.1:${port}: the registry does not answer (ECONNREFUSED`);
  assert.match(r.stderr, "nothing was built");
  assert.not.match(r.stderr, /^#\d+ /m, "no build step ran");
  assert.is(docker(["image", "inspect", `127.0.0.1:${port}/${cfg.name}:${cfg.version}`]).status, 1, "no image was tagged for it");
});

test("book: Jupyter serves the notebooks on the chosen port, asks for the token, and a notebook runs against the framework", async () => {
  const port = await freePort();
  const r = await cli(["book", "--tag", TAGS.book, "--port", String(port)]);
  assert.is(r.code, 0, explain(r));
  const name = `pipeline-e2e-book-${port}`;
  const token = randomBytes(8).toString("hex");
  ok(["run", "-d", "--rm", "--name", name, "--network", "host", "-e", `JUPYTER_TOKEN=${token}`, TAGS.book]);
  try {
    const res = await waitForHttp(`http://127.0.0.1:${port}/api/contents?token=${token}`, 60_000);
    assert.is(res?.status, 200, `Jupyter on ${port}: ${docker(["logs", name]).stderr.slice(-2000)}`);
    const listing = (await res!.json()) as { content: Array<{ name: string; type: string }> };
    const notebooks = readdirSync(join(ROOT, cfg.source, cfg.book.notebooks)).filter((n) => n.endsWith(".ipynb"));
    assert.ok(notebooks.length > 0);
    for (const nb of notebooks)
      assert.ok(
        listing.content.some((c) => c.name === nb && c.type === "notebook"),
        `${nb} listed`,
      );
    const tree = await fetch(`http://127.0.0.1:${port}/tree?token=${token}`);
    assert.is(tree.status, 200);
    const anonymous = await fetch(`http://127.0.0.1:${port}/api/contents`);
    assert.is(anonymous.status, 403, "no access without the token");
  } finally {
    docker(["rm", "-f", name]);
  }
  const nb = readdirSync(join(ROOT, cfg.source, cfg.book.notebooks)).find((n) => n.endsWith(".ipynb"))!;
  const executed = docker([
    "run",
    "--rm",
    "--entrypoint",
    "sh",
    TAGS.book,
    "-c",
    `python3 -m nbconvert --to notebook --execute --stdout /book/${nb}`,
  ]);
  assert.is(executed.status, 0, executed.stderr.slice(-3000));
  const outputs = (JSON.parse(executed.stdout) as { cells: Array<{ outputs?: Array<{ text?: string[] }> }> }).cells
    .flatMap((c) => c.outputs ?? [])
    .flatMap((o) => o.text ?? [])
    .join("");
  assert.match(
    outputs,
    `'version': '${cfg.version}'`,
    `the notebook ran against the installed framework:\n${outputs.slice(0, 2000)}`,
  );
  assert.match(outputs, /TrainResult\(steps=\d+, final_loss=0\.0000\d+/, "its training cell converged");
});

test.after(() => {
  for (const t of Object.values(TAGS)) docker(["rmi", t]);
});

test.run();
