/**
 * The x86-64 ISA levels that build variants promise as their floor (noavx: x86-64-v2, avx: x86-64-v3), as data:
 * what each level means, the CPU features the production images' cpu-guard checks for it (the same lists as
 * modules/scripts/cpu_guard.c), and the qemu-user CPU model that emulates a machine of exactly that level. Pure:
 * no I/O. The checks themselves run in containers: modules/scripts/isa_check.py (disassembly) and cpu_guard.c.
 */

/** The x86-64 psABI micro-architecture levels, lowest first. */
export const ISA_LEVELS = ["x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"] as const;
export type IsaLevel = (typeof ISA_LEVELS)[number];

export interface IsaLevelInfo {
  /** One line for messages and docs. */
  description: string;
  /**
   * The CPU features cpu-guard requires, cumulative (a level includes the ones below), named as the message
   * names them. `isa_check.py` reports features in the same spelling where they coincide (AVX2, FMA, F16C...).
   */
  features: readonly string[];
  /**
   * A `qemu-x86_64 -cpu` value that emulates a CPU with this level and nothing of the next one, for running a
   * variant's binaries below/at its floor; undefined where qemu-user (7.2, TCG) cannot emulate the level.
   */
  qemuCpu: string | undefined;
}

const V2 = ["CX16", "LAHF-SAHF", "SSE3", "SSSE3", "SSE4.1", "SSE4.2", "POPCNT"] as const;
const V3 = ["AVX", "AVX2", "BMI1", "BMI2", "FMA", "F16C", "LZCNT", "MOVBE", "OSXSAVE"] as const;
const V4 = ["AVX512F", "AVX512BW", "AVX512CD", "AVX512DQ", "AVX512VL"] as const;

/** What each level is, the features the guard checks, and how to emulate it. */
export const ISA: Readonly<Record<IsaLevel, IsaLevelInfo>> = {
  "x86-64": {
    description: "baseline x86-64 (SSE2, CMOV, CX8): any 64-bit x86 CPU",
    features: [],
    // qemu64 has SSE3 (not baseline); -pni removes it, and TCG then faults on SSE3 instructions too.
    qemuCpu: "qemu64,-pni",
  },
  "x86-64-v2": {
    description: "x86-64-v2 (SSE3, SSSE3, SSE4.1/4.2, POPCNT, CX16): Nehalem (2008) and later, no AVX",
    features: [...V2],
    qemuCpu: "Nehalem",
  },
  "x86-64-v3": {
    description: "x86-64-v3 (AVX, AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE): Haswell (2013) / Zen and later",
    features: [...V2, ...V3],
    // Haswell-noTSX: TCG lacks TSX, which plain Haswell lists; qemu warns about features it cannot provide
    // (pcid, x2apic, ...) and runs anyway.
    qemuCpu: "Haswell-noTSX",
  },
  "x86-64-v4": {
    description: "x86-64-v4 (AVX-512 F/BW/CD/DQ/VL): Skylake-SP, Ice Lake, Zen 4 and later",
    features: [...V2, ...V3, ...V4],
    // qemu 7.2's TCG implements no AVX-512: -cpu Skylake-Server starts, with AVX-512 removed from CPUID.
    qemuCpu: undefined,
  },
};

/** Whether a string names an ISA level. */
export function isIsaLevel(s: unknown): s is IsaLevel {
  return typeof s === "string" && (ISA_LEVELS as readonly string[]).includes(s);
}

/** Whether level `a` is at least level `b` (a CPU of level `a` runs code built for `b`). */
export function levelAtLeast(a: IsaLevel, b: IsaLevel): boolean {
  return ISA_LEVELS.indexOf(a) >= ISA_LEVELS.indexOf(b);
}

/** The `qemu-x86_64 -cpu` value that emulates exactly this level; undefined where qemu-user cannot (x86-64-v4). */
export function qemuCpuFor(level: IsaLevel): string | undefined {
  return ISA[level].qemuCpu;
}

/** The features a CPU needs for this level, as cpu-guard checks them. */
export function featuresOf(level: IsaLevel): readonly string[] {
  return ISA[level].features;
}
