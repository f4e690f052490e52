/**
 * The ISA floor: modules/isa.ts (levels, guard features, qemu models), isa_check.py's classification of
 * objdump text (fixtures captured from tiny C files and an assembled misc.s), isa_check.py end to end on ELF
 * files compiled here with the host gcc, and cpu_guard.c under qemu-user. The last two are skipped, with a
 * message, where gcc (or qemu-x86_64) is missing or the host is not x86-64.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { featuresOf, ISA, ISA_LEVELS, isIsaLevel, levelAtLeast, qemuCpuFor } from "../../modules/isa.ts";

const SCRIPT = fileURLToPath(new URL("../../modules/scripts/isa_check.py", import.meta.url));
const GUARD = fileURLToPath(new URL("../../modules/scripts/cpu_guard.c", import.meta.url));
const fixture = (p: string) => readFileSync(new URL(`../fixtures/isa/${p}`, import.meta.url), "utf8");

function isaCheck(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync("python3", [SCRIPT, ...args], { input: opts.input, encoding: "utf8", env: opts.env ?? process.env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** `LEVEL FEATURE MNEMONIC` lines of --classify, as [mnemonic, level, feature]. */
function classify(text: string): Array<[string, string, string]> {
  const r = isaCheck(["--classify"], { input: text });
  assert.is(r.code, 0, r.err);
  return r.out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [level, feature, mn] = l.split(" ");
      return [mn!, level!, feature!];
    });
}
const above = (rows: Array<[string, string, string]>) => rows.filter(([, level]) => level !== "x86-64");

// ---- modules/isa.ts

test("the levels are ordered and levelAtLeast compares them", () => {
  assert.equal([...ISA_LEVELS], ["x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"]);
  assert.ok(levelAtLeast("x86-64-v3", "x86-64-v2"));
  assert.ok(levelAtLeast("x86-64-v2", "x86-64-v2"));
  assert.not.ok(levelAtLeast("x86-64-v2", "x86-64-v3"));
  assert.not.ok(levelAtLeast("x86-64", "x86-64-v4"));
});

test("isIsaLevel accepts the four level names only", () => {
  for (const l of ISA_LEVELS) assert.ok(isIsaLevel(l));
  for (const s of ["x86-64-v5", "v3", "avx2", "", undefined, 3]) assert.not.ok(isIsaLevel(s), String(s));
});

test("each level's guard features include the level below's, and the right new ones", () => {
  assert.equal(featuresOf("x86-64"), []);
  for (let i = 1; i < ISA_LEVELS.length; i++) {
    const lower = featuresOf(ISA_LEVELS[i - 1]!),
      upper = featuresOf(ISA_LEVELS[i]!);
    assert.ok(
      lower.every((f) => upper.includes(f)),
      ISA_LEVELS[i],
    );
    assert.ok(upper.length > lower.length);
  }
  assert.ok(["SSE4.2", "POPCNT", "SSSE3", "CX16"].every((f) => featuresOf("x86-64-v2").includes(f)));
  assert.ok(["AVX", "AVX2", "FMA", "F16C", "BMI2", "MOVBE"].every((f) => featuresOf("x86-64-v3").includes(f)));
  assert.not.ok(featuresOf("x86-64-v3").some((f) => f.startsWith("AVX512")));
  assert.ok(featuresOf("x86-64-v4").includes("AVX512VL"));
});

test("the guard features in isa.ts are the ones cpu_guard.c checks", () => {
  const c = readFileSync(GUARD, "utf8");
  for (const f of featuresOf("x86-64-v4")) assert.ok(c.includes(`"${f}"`), f);
});

test("qemuCpuFor gives a model for each level qemu-user emulates, none for x86-64-v4", () => {
  assert.is(qemuCpuFor("x86-64"), "qemu64,-pni");
  assert.is(qemuCpuFor("x86-64-v2"), "Nehalem");
  assert.is(qemuCpuFor("x86-64-v3"), "Haswell-noTSX");
  assert.is(qemuCpuFor("x86-64-v4"), undefined);
  for (const l of ISA_LEVELS) assert.ok(ISA[l].description.length > 10);
});

// ---- isa_check.py --classify on captured objdump text

test("a -march=x86-64 build is all baseline, tzcnt (gcc's rep bsf) included", () => {
  const rows = classify(fixture("baseline.txt"));
  assert.ok(rows.length > 40);
  assert.equal(above(rows), []);
  assert.ok(rows.some(([mn]) => mn === "tzcnt"));
});

test("-mavx2 -mfma code is x86-64-v3: AVX, AVX2 for ymm integer ops, FMA, and nothing higher", () => {
  const rows = classify(fixture("avx2-fma.txt"));
  const features = new Set(rows.map(([, , f]) => f));
  for (const f of ["AVX", "AVX2", "FMA"]) assert.ok(features.has(f), f);
  assert.ok(rows.every(([, level]) => level === "x86-64" || level === "x86-64-v3"));
  assert.ok(rows.some(([mn, , f]) => mn === "vfmadd213ps" && f === "FMA"));
  assert.ok(rows.some(([mn, , f]) => mn === "vmovups" && f === "AVX"));
});

test("AVX-512 is recognised by zmm, mask registers, {z}, {1to16}, {rn-sae} and EVEX-only mnemonics", () => {
  const rows = above(classify(fixture("avx512.txt")));
  assert.ok(rows.length >= 9);
  assert.ok(
    rows.every(([, level, f]) => level === "x86-64-v4" && f === "AVX-512"),
    JSON.stringify(rows),
  );
  for (const mn of ["kmovw", "vpternlogd", "vrndscaleps", "vaddps", "vpcmpeqd", "vpmovdb"]) {
    assert.ok(
      rows.some(([m]) => m === mn),
      mn,
    );
  }
});

test("SSE4.2 and POPCNT are x86-64-v2", () => {
  assert.equal(above(classify(fixture("sse42-popcnt.txt"))), [
    ["crc32b", "x86-64-v2", "SSE4.2"],
    ["popcnt", "x86-64-v2", "POPCNT"],
  ]);
});

test("BMI1, BMI2 and LZCNT are x86-64-v3", () => {
  const rows = above(classify(fixture("bmi2-lzcnt.txt")));
  assert.equal(rows.map(([mn, l, f]) => `${mn} ${l} ${f}`).sort(), [
    "andn x86-64-v3 BMI1",
    "lzcnt x86-64-v3 LZCNT",
    "pext x86-64-v3 BMI2",
    "shrx x86-64-v3 BMI2",
  ]);
});

test("AVX-VNNI ({vex} vpdpbusd) is beyond every level", () => {
  assert.equal(above(classify(fixture("avxvnni.txt"))), [["vpdpbusd", "beyond-v4", "AVX-VNNI"]]);
});

test("the assembled misc.s classifies as reviewed (XOP, FMA4, AMX, AES, SSE levels, prefixes, VEX/EVEX)", () => {
  const got = isaCheck(["--classify"], { input: fixture("misc.txt") });
  assert.is(got.out, fixture("misc.expected"));
  const rows = classify(fixture("misc.txt"));
  const of = (mn: string) => rows.filter(([m]) => m === mn).map(([, l, f]) => `${l} ${f}`);
  assert.equal(of("vfmaddps"), ["beyond-v4 FMA4"]);
  assert.equal(of("vpcmov"), ["beyond-v4 XOP"]);
  assert.equal(of("tileloadd"), ["beyond-v4 AMX"]);
  assert.equal(of("vpdpbusd"), ["beyond-v4 AVX-VNNI", "beyond-v4 AVX512-VNNI"]);
  assert.equal(of("vpxor"), ["x86-64-v3 AVX", "x86-64-v3 AVX2"]);
  assert.equal(of("vptest"), ["x86-64-v3 AVX"]);
  assert.equal(of("vbroadcastss"), ["x86-64-v3 AVX", "x86-64-v3 AVX2"]);
  assert.equal(of("vaddps"), ["x86-64-v4 AVX-512"]); // {evex} vaddps %xmm...
  assert.equal(of("vmovaps"), ["x86-64-v4 AVX-512"]); // %ymm16
  assert.equal(of("vmcall"), ["x86-64 base"]);
  assert.equal(of("pshufb"), ["x86-64-v2 SSSE3"]);
  assert.equal(of("cmpxchg16b"), ["x86-64-v2 CX16"]);
  assert.equal(of("movbe"), ["x86-64-v3 MOVBE"]);
  assert.equal(of("stos"), ["x86-64 base"]); // rep stos
});

// ---- isa_check.py and cpu_guard.c on real files

const x86 = process.arch === "x64";
const hasGcc = x86 && spawnSync("gcc", ["--version"]).status === 0;
const hasObjdump = spawnSync("objdump", ["--version"]).status === 0;
const hasQemu = spawnSync("qemu-x86_64", ["--version"]).status === 0;
if (!hasGcc || !hasObjdump) {
  console.log(
    `isa.test.ts: skipping the tests on compiled ELF files: ${!x86 ? "the host is not x86-64" : !hasGcc ? "no gcc" : "no objdump (binutils)"}`,
  );
}
if (hasGcc && !hasQemu) console.log("isa.test.ts: skipping the cpu_guard.c test under qemu: no qemu-x86_64 (qemu-user)");

const AVX2_SRC = `#include <immintrin.h>
#include <stdio.h>
int main(int argc, char **argv) {
  (void)argv;
  __m256i a = _mm256_set1_epi32(argc), b = _mm256_add_epi32(a, _mm256_set1_epi32(40));
  int r[8]; _mm256_storeu_si256((__m256i *)r, b); printf("%d\\n", r[7]); return 0;
}
`;
const PLAIN_SRC = `#include <stdio.h>
int main(int argc, char **argv) { (void)argv; printf("%d\\n", argc * 3); return 0; }
`;

let dir = "";
function gcc(args: string[]) {
  const r = spawnSync("gcc", args, { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gcc ${args.join(" ")}: ${r.stderr}`);
}

test.before(() => {
  if (!hasGcc || !hasObjdump) return;
  dir = mkdtempSync(join(tmpdir(), "isa-test-"));
  writeFileSync(join(dir, "avx2.c"), AVX2_SRC);
  writeFileSync(join(dir, "plain.c"), PLAIN_SRC);
  for (const d of ["avx", "plain", "lib", "both/CMakeFiles/x.dir", "both/sub"]) mkdirSync(join(dir, d), { recursive: true });
  gcc(["-O2", "-mavx2", "-c", "avx2.c", "-o", "lib/avx2.o"]);
  gcc(["lib/avx2.o", "-o", "avx/app"]);
  gcc(["-O2", "-march=x86-64", "plain.c", "-o", "plain/app"]);
  const ar = spawnSync("ar", ["rcs", "lib/libk.a", "lib/avx2.o"], { cwd: dir });
  if (ar.status !== 0) throw new Error("ar failed");
  // A tree with a clean program, a copy of it, an AVX2 build intermediate under CMakeFiles and a loose .o.
  copyFileSync(join(dir, "plain/app"), join(dir, "both/app"));
  copyFileSync(join(dir, "plain/app"), join(dir, "both/sub/app-copy"));
  copyFileSync(join(dir, "avx/app"), join(dir, "both/CMakeFiles/x.dir/app"));
  copyFileSync(join(dir, "lib/avx2.o"), join(dir, "both/avx2.o"));
});

test.after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const onElf = hasGcc && hasObjdump ? test : test.skip;

onElf("an executable with -mavx2 code fails the x86-64-v2 floor naming the file and AVX2", () => {
  const r = isaCheck(["--floor", "x86-64-v2", "--label", "cpu-noavx", join(dir, "avx")]);
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.out, `${join(dir, "avx/app")}: `);
  assert.match(r.out, /AVX2 \d+/);
  assert.match(r.out, /<main\+0x[0-9a-f]+> [0-9a-f]+: v\w+ .*\(AVX2?, needs x86-64-v3\)/);
  assert.match(r.out, "isa-check: 1 file(s) use instructions above the cpu-noavx floor x86-64-v2:");
  assert.match(r.out, /^hint: the usual culprits are -march=native/m);
});

onElf("the same executable passes the x86-64-v3 floor", () => {
  const r = isaCheck(["--floor", "x86-64-v3", join(dir, "avx")]);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /isa-check: 1 files, \d+ instructions, nothing above x86-64-v3/);
});

onElf("a -march=x86-64 build passes the x86-64-v2 floor", () => {
  const r = isaCheck(["--floor", "x86-64-v2", join(dir, "plain")]);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /max level x86-64\n/);
});

onElf("--exclude skips a file", () => {
  const r = isaCheck(["--floor", "x86-64-v2", "--exclude", "ap*", join(dir, "avx"), join(dir, "plain")]);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, `${join(dir, "avx/app")}: excluded`);
  assert.match(r.out, "isa-check: 0 files");
  const rel = isaCheck(["--floor", "x86-64-v2", "--exclude", "avx/*", dir]);
  assert.match(rel.out, `${join(dir, "avx/app")}: excluded`);
});

onElf("a static archive is checked, and the offending member is named", () => {
  const r = isaCheck(["--floor", "x86-64-v2", join(dir, "lib/libk.a")]);
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.out, /libk\.a: \d+ instructions, max level x86-64-v3/);
  assert.match(r.out, /  avx2\.o: <main\+0x[0-9a-f]+>/);
});

onElf("CMakeFiles and loose .o files are skipped, and copies are checked once", () => {
  const r = isaCheck(["--floor", "x86-64-v2", join(dir, "both")]);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, `${join(dir, "both/sub/app-copy")}: same content as ${join(dir, "both/app")}`);
  assert.match(r.out, "isa-check: 1 files,");
  assert.not.match(r.out, "CMakeFiles");
  assert.not.match(r.out, "avx2.o");
});

onElf("--json writes the report", () => {
  const json = join(dir, "report.json");
  const r = isaCheck(["--floor", "x86-64-v2", "--max-show", "2", "--json", json, join(dir, "avx"), join(dir, "plain")]);
  assert.is(r.code, 1);
  const rep = JSON.parse(readFileSync(json, "utf8"));
  assert.is(rep.floor, "x86-64-v2");
  assert.is(rep.ok, false);
  assert.is(rep.files.length, 2);
  const avx = rep.files.find((f: { path: string }) => f.path.endsWith("avx/app"));
  assert.is(avx.max_level, "x86-64-v3");
  assert.ok(avx.above.AVX2 > 0);
  assert.is(avx.first.length, 2);
  assert.is(avx.first[0].function, "main");
});

onElf(
  "--cache: a second check reuses every verdict and reports the same; a replaced archive member alone is disassembled",
  () => {
    const cache = join(dir, "verdicts");
    const lib = join(dir, "cache-lib");
    mkdirSync(lib, { recursive: true });
    for (let i = 0; i < 6; i++) {
      writeFileSync(join(lib, `m${i}.c`), `int m${i}(int x) { return x * ${i + 3}; }\n`);
      gcc(["-O2", "-march=x86-64", "-c", `cache-lib/m${i}.c`, "-o", `cache-lib/m${i}.o`]);
    }
    const ar = (...a: string[]) => assert.is(spawnSync("ar", a, { cwd: lib }).status, 0);
    ar("rcs", "libm.a", ...Array.from({ length: 6 }, (_, i) => `m${i}.o`));
    const plainJson = join(dir, "plain.json");
    const uncached = isaCheck(["--floor", "x86-64-v2", "--json", plainJson, join(lib, "libm.a"), join(dir, "plain")]);
    assert.is(uncached.code, 0, uncached.out + uncached.err);
    const args = ["--floor", "x86-64-v2", "--cache", cache, join(lib, "libm.a"), join(dir, "plain")];
    const cold = isaCheck(args);
    assert.is(cold.code, 0, cold.out + cold.err);
    assert.match(cold.out, "verdict cache: 0 files or archive members found unchanged, 7 disassembled");
    const warmJson = join(dir, "warm.json");
    const warm = isaCheck([...args, "--json", warmJson]);
    assert.match(warm.out, "verdict cache: 2 files or archive members found unchanged, 0 disassembled");
    const strip = (f: string) => JSON.stringify(JSON.parse(readFileSync(f, "utf8")).files);
    assert.is(strip(warmJson), strip(plainJson), "the cached report is the uncached one");
    // One member replaced by AVX2 code: the archive is new, five members are known, one is disassembled, and the
    // failure names it.
    copyFileSync(join(dir, "lib/avx2.o"), join(lib, "m3.o"));
    ar("rcs", "libm.a", "m3.o");
    const edited = isaCheck(args);
    assert.is(edited.code, 1, edited.out + edited.err);
    assert.match(edited.out, "verdict cache: 6 files or archive members found unchanged, 1 disassembled");
    assert.match(edited.out, /  m3\.o: <main\+0x[0-9a-f]+> .*\(AVX2?, needs x86-64-v3\)/);
  },
);

onElf("--cache-key: a file whose size and mtime are unchanged is not read again; without the key it is", () => {
  const cache = join(dir, "verdicts-stat");
  const tree = join(dir, "stat-tree");
  mkdirSync(tree, { recursive: true });
  copyFileSync(join(dir, "plain/app"), join(tree, "app"));
  const args = (...extra: string[]) => ["--floor", "x86-64-v2", "--cache", cache, ...extra, tree];
  assert.is(isaCheck(args("--cache-key", "variant-a")).code, 0);
  // Recorded with a fixed mtime; then other bytes of the same size under the same mtime (what no build does:
  // a rebuilt file has a new mtime).
  spawnSync("touch", ["-d", "@1600000000", join(tree, "app")]);
  assert.is(isaCheck(args("--cache-key", "variant-a")).code, 0);
  const avx = readFileSync(join(dir, "avx/app"));
  const plain = readFileSync(join(tree, "app"));
  assert.ok(avx.length <= plain.length, "the AVX2 program fits in the plain one's size");
  writeFileSync(join(tree, "app"), Buffer.concat([avx, Buffer.alloc(plain.length - avx.length)]));
  spawnSync("touch", ["-d", "@1600000000", join(tree, "app")]);
  const trusted = isaCheck(args("--cache-key", "variant-a"));
  assert.is(trusted.code, 0, "size and mtime unchanged: the recorded verdict stands");
  assert.match(trusted.out, "1 files or archive members found unchanged, 0 disassembled");
  const reread = isaCheck(args());
  assert.is(reread.code, 1, "without the key the content is hashed and the AVX2 code is found");
  const otherKey = isaCheck(args("--cache-key", "variant-b"));
  assert.is(otherKey.code, 1, "another key does not share the recorded sizes and mtimes");
});

test("usage errors and a missing objdump exit 2", () => {
  assert.is(isaCheck(["/bin/true"]).code, 2);
  assert.is(isaCheck(["--floor", "x86-64-v9", "/bin/true"]).code, 2);
  assert.is(isaCheck(["--floor", "x86-64-v2", "/nonexistent/path"]).code, 2);
  const r = isaCheck(["--floor", "x86-64-v2", "/bin/true"], { env: { ...process.env, OBJDUMP: "no-such-objdump" } });
  assert.is(r.code, 2);
  assert.match(r.err, "install binutils");
});

const onQemu = hasGcc && hasObjdump && hasQemu ? test : test.skip;

onQemu("cpu_guard refuses an x86-64-v3 variant on an emulated Nehalem with exit 132, and runs on Haswell", () => {
  const guard = join(dir, "cpu-guard");
  gcc([
    "-O2",
    "-march=x86-64",
    "-mtune=generic",
    GUARD,
    "-o",
    guard,
    `-DGUARD_FLOOR="x86-64-v3"`,
    `-DGUARD_VARIANT="cpu-avx"`,
    `-DGUARD_HINT="use the image minipaddle:0.1.0-noavx"`,
    `-DGUARD_EXEC="/bin/echo"`,
  ]);
  const run = (cpu: string, env: NodeJS.ProcessEnv = process.env) =>
    spawnSync("qemu-x86_64", ["-cpu", cpu, guard, "hello", "there"], { encoding: "utf8", env });
  const low = run("Nehalem");
  assert.is(low.status, 132, low.stderr);
  assert.match(
    low.stderr,
    "cpu-avx needs an x86-64 CPU with at least x86-64-v3; this CPU lacks AVX, AVX2, BMI1, BMI2, FMA, F16C, LZCNT, " +
      "MOVBE, OSXSAVE. use the image minipaddle:0.1.0-noavx.",
  );
  const ok = run(qemuCpuFor("x86-64-v3")!);
  assert.is(ok.status, 0, ok.stderr);
  assert.is(ok.stdout, "hello there\n");
  const skipped = run("Nehalem", { ...process.env, PIPELINE_SKIP_CPU_CHECK: "1" });
  assert.is(skipped.status, 0);
});

test.run();
