/*
 * cpu-guard: the first program a production image runs. It checks that the CPU has every feature of the
 * variant's x86-64 level (its ISA floor) and then execs the real entrypoint, so that an image built for
 * x86-64-v3 says which features are missing, and exits 132 (128 + SIGILL), on an older CPU instead of dying
 * with "Illegal instruction" somewhere in a library.
 *
 * Configured at compile time; built for plain x86-64 so that it runs on any x86-64 CPU:
 *   gcc -O2 -march=x86-64 -mtune=generic \
 *     -DGUARD_FLOOR='"x86-64-v3"' -DGUARD_VARIANT='"cpu-avx"' \
 *     -DGUARD_HINT='"use the image minipaddle:0.1.0-noavx or the package minipaddle-noavx"' \
 *     -DGUARD_EXEC='"/usr/local/bin/entrypoint.sh"' -o cpu-guard cpu_guard.c
 *
 * GUARD_EXEC "" makes a check-only program (exit 0 when the CPU is good enough). PIPELINE_SKIP_CPU_CHECK=1 in
 * the environment skips the check. The CPU is asked through CPUID (never /proc/cpuinfo, which an emulator such
 * as qemu-user does not fake), so `qemu-x86_64 -cpu Nehalem cpu-guard` sees a Nehalem.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef GUARD_FLOOR
#define GUARD_FLOOR "x86-64-v2"
#endif
#ifndef GUARD_VARIANT
#define GUARD_VARIANT "this build"
#endif
#ifndef GUARD_HINT
#define GUARD_HINT ""
#endif
#ifndef GUARD_EXEC
#define GUARD_EXEC ""
#endif

/* Exit status when the CPU is below the floor: what a shell reports for a process killed by SIGILL. */
#define EXIT_CPU 132

/* The features gcc's __builtin_cpu_supports knows (they also account for the OS saving the AVX state), as the
 * message names them; builtin_has(i) asks for BUILTIN[i]. */
static const char *const BUILTIN[] = {
  /* x86-64-v2 */ "SSE3", "SSSE3", "SSE4.1", "SSE4.2", "POPCNT",
  /* x86-64-v3 */ "AVX", "AVX2", "BMI1", "BMI2", "FMA", "F16C", "LZCNT", "MOVBE",
  /* x86-64-v4 */ "AVX512F", "AVX512BW", "AVX512CD", "AVX512DQ", "AVX512VL",
};
/* How many of BUILTIN each level needs (they are listed level by level). */
static const int BUILTIN_UPTO[] = {0, 0, 5, 13, 18};

/* __builtin_cpu_supports only accepts a string literal, hence the switch. */
static int builtin_has(int i) {
  switch (i) {
    case 0: return __builtin_cpu_supports("sse3");
    case 1: return __builtin_cpu_supports("ssse3");
    case 2: return __builtin_cpu_supports("sse4.1");
    case 3: return __builtin_cpu_supports("sse4.2");
    case 4: return __builtin_cpu_supports("popcnt");
    case 5: return __builtin_cpu_supports("avx");
    case 6: return __builtin_cpu_supports("avx2");
    case 7: return __builtin_cpu_supports("bmi");
    case 8: return __builtin_cpu_supports("bmi2");
    case 9: return __builtin_cpu_supports("fma");
    case 10: return __builtin_cpu_supports("f16c");
    case 11: return __builtin_cpu_supports("lzcnt");
    case 12: return __builtin_cpu_supports("movbe");
    case 13: return __builtin_cpu_supports("avx512f");
    case 14: return __builtin_cpu_supports("avx512bw");
    case 15: return __builtin_cpu_supports("avx512cd");
    case 16: return __builtin_cpu_supports("avx512dq");
    case 17: return __builtin_cpu_supports("avx512vl");
  }
  return 0;
}

/* The level's features that __builtin_cpu_supports does not know, read from CPUID. */
static int cpuid_bit(unsigned leaf, int reg, int bit) {
  unsigned r[4] = {0, 0, 0, 0};
  if (!__get_cpuid(leaf, &r[0], &r[1], &r[2], &r[3])) return 0;
  return (r[reg] >> bit) & 1;
}
enum { EAX, EBX, ECX, EDX };

static int level_of(const char *floor) {
  if (strcmp(floor, "x86-64") == 0) return 1;
  if (strcmp(floor, "x86-64-v2") == 0) return 2;
  if (strcmp(floor, "x86-64-v3") == 0) return 3;
  if (strcmp(floor, "x86-64-v4") == 0) return 4;
  return 0;
}

/* Appends a missing feature's name to the comma-separated list. */
static void add_missing(char *buf, size_t size, const char *name) {
  size_t n = strlen(buf);
  snprintf(buf + n, size - n, "%s%s", n ? ", " : "", name);
}

int main(int argc, char **argv) {
  const char *skip = getenv("PIPELINE_SKIP_CPU_CHECK");
  if (!(skip && strcmp(skip, "1") == 0)) {
    int level = level_of(GUARD_FLOOR);
    if (level == 0) {
      fprintf(stderr, "cpu-guard: unknown ISA floor '%s' (built with a wrong GUARD_FLOOR)\n", GUARD_FLOOR);
      return 2;
    }
    char missing[512] = "";
    __builtin_cpu_init();
    if (level >= 2) {
      if (!cpuid_bit(1, ECX, 13)) add_missing(missing, sizeof missing, "CX16");
      if (!cpuid_bit(0x80000001u, ECX, 0)) add_missing(missing, sizeof missing, "LAHF-SAHF");
    }
    for (int i = 0; i < BUILTIN_UPTO[level]; i++)
      if (!builtin_has(i)) add_missing(missing, sizeof missing, BUILTIN[i]);
    if (level >= 3 && !cpuid_bit(1, ECX, 27)) add_missing(missing, sizeof missing, "OSXSAVE");
    if (missing[0]) {
      const char *hint = GUARD_HINT;
      size_t h = strlen(hint);
      fprintf(stderr, "%s needs an x86-64 CPU with at least %s; this CPU lacks %s.%s%s%s\n", GUARD_VARIANT,
              GUARD_FLOOR, missing, h ? " " : "", hint, h && hint[h - 1] != '.' ? "." : "");
      return EXIT_CPU;
    }
  }
  if (GUARD_EXEC[0] == 0) return 0;
  /* argv[0] is kept as given (a login shell's "-sh" stays one); with no argv at all the program's path is used. */
  char *fallback[] = {(char *)GUARD_EXEC, NULL};
  execv(GUARD_EXEC, argc > 0 ? argv : fallback);
  fprintf(stderr, "cpu-guard: cannot run %s: %s\n", GUARD_EXEC, strerror(errno));
  return 127;
}
