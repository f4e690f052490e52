/**
 * Build variants, owned here: their names, tag and package suffixes, CMake arguments, environment and ISA
 * floor, resolved from the project config's `variants` (and the `cmake.options` shorthand). A variant is the
 * combination of a value of each axis: `accel` (cpu, gpu, ...) and `isa` (avx, noavx, ...). Its name is the
 * accel value, then `-ISA` unless the isa value is avx (cpu, cpu-noavx, gpu, gpu-noavx); its tag and package
 * suffix leave out the defaults cpu and avx ("", -noavx, -gpu, -gpu-noavx). Pure data: no I/O.
 */
import type { Config } from "./config.ts";
import { ArgumentError } from "./errors.ts";

import type { IsaLevel } from "./isa.ts";

/** The oldest CPU a variant's binaries must run on: an x86-64 level (modules/isa.ts). */
export type IsaFloor = IsaLevel;

/** A resolved variant: everything the stages need to build, check, package and tag it. */
export interface Variant {
  /** cpu, cpu-noavx, gpu, gpu-noavx, or a combination of values the config adds. */
  name: string;
  accel: string;
  isa: string;
  /** Built with the CUDA toolkit; its images carry the CUDA runtime. */
  cuda: boolean;
  /** The oldest CPU its binaries must run on. */
  floor: IsaFloor;
  /** Configure arguments of both values, accel's first. */
  cmake: string[];
  /** Environment of its configure, build and test steps. */
  env: Record<string, string>;
  /** The image tag and package name suffix: "", -noavx, -gpu, -gpu-noavx. */
  suffix: string;
}

/** The values every project has: the plain CPU build and the AVX build. */
export const DEFAULT_ACCEL = "cpu";
export const DEFAULT_ISA = "avx";
/** The four variants of the seed design, in their usual order. */
export const STANDARD_VARIANTS = ["cpu", "cpu-noavx", "gpu", "gpu-noavx"] as const;

interface AxisValue {
  cmake: string[];
  env: Record<string, string>;
  cuda?: boolean;
  floor?: IsaFloor;
}

/** The values of an axis: the config's, with the shorthand filling in the standard ones it leaves out. */
function axisValues(cfg: Config, axis: "accel" | "isa"): Map<string, AxisValue> {
  const o = cfg.cmake.options;
  const shorthand: Record<string, AxisValue> =
    axis === "accel"
      ? { cpu: { cmake: [`-D${o.gpu}=OFF`], env: {}, cuda: false }, gpu: { cmake: [`-D${o.gpu}=ON`], env: {}, cuda: true } }
      : {
          avx: { cmake: [`-D${o.avx}=ON`], env: {}, floor: "x86-64-v3" },
          noavx: { cmake: [`-D${o.avx}=OFF`], env: {}, floor: "x86-64-v2" },
        };
  const configured = cfg.variants[axis] as Record<string, AxisValue | false>;
  const out = new Map<string, AxisValue>();
  for (const [name, value] of Object.entries(shorthand)) if (!(name in configured)) out.set(name, value);
  for (const [name, value] of Object.entries(configured)) if (value !== false) out.set(name, value);
  return out;
}

/** A variant's name from its values: cpu, cpu-noavx, gpu, gpu-noavx. */
export function variantName(accel: string, isa: string): string {
  return `${accel}${isa === DEFAULT_ISA ? "" : `-${isa}`}`;
}

/** A variant's tag and package suffix from its values: "", -noavx, -gpu, -gpu-noavx. */
export function variantSuffix(accel: string, isa: string): string {
  return `${accel === DEFAULT_ACCEL ? "" : `-${accel}`}${isa === DEFAULT_ISA ? "" : `-${isa}`}`;
}

/** Every variant the config defines, by name (cpu first). */
export function allVariants(cfg: Config): Variant[] {
  const accels = axisValues(cfg, "accel");
  const isas = axisValues(cfg, "isa");
  const out: Variant[] = [];
  for (const [accel, a] of accels) {
    for (const [isa, i] of isas) {
      out.push({
        name: variantName(accel, isa),
        accel,
        isa,
        cuda: a.cuda ?? accel === "gpu",
        floor: i.floor ?? (isa === "avx" ? "x86-64-v3" : "x86-64-v2"),
        cmake: [...a.cmake, ...i.cmake],
        env: { ...a.env, ...i.env },
        suffix: variantSuffix(accel, isa),
      });
    }
  }
  return out;
}

/** The variant called `name`, or an ArgumentError (exit 2) that lists the config's variants. */
export function variantByName(cfg: Config, name: string): Variant {
  const all = allVariants(cfg);
  const found = all.find((v) => v.name === name);
  if (!found) throw new ArgumentError(`--variant must be one of ${all.map((v) => v.name).join(", ")}, got '${name}'`);
  return found;
}

/** The variant the GPU/AVX switches select: accel gpu or cpu, isa avx or noavx. */
export function variantFromSwitches(cfg: Config, s: { gpu: boolean; avx: boolean }): Variant {
  const accel = s.gpu ? "gpu" : DEFAULT_ACCEL;
  const isa = s.avx ? DEFAULT_ISA : "noavx";
  const found = allVariants(cfg).find((v) => v.accel === accel && v.isa === isa);
  if (!found) {
    const missing = allVariants(cfg).some((v) => v.accel === accel) ? `isa value '${isa}'` : `accel value '${accel}'`;
    throw new ArgumentError(
      `this project's config has no ${missing} (variants: ${allVariants(cfg)
        .map((v) => v.name)
        .join(", ")})`,
    );
  }
  return found;
}

/** A variant by name when one is given (--variant), else by the GPU/AVX switches. */
export function selectVariant(cfg: Config, s: { gpu: boolean; avx: boolean; variant?: string }): Variant {
  return s.variant ? variantByName(cfg, s.variant) : variantFromSwitches(cfg, s);
}

/**
 * Checks what the schema cannot: the default values are not removed, new isa values name their floor, and
 * `image.variants` names defined variants. Returns the first problem as [key path, message], else undefined.
 */
export function variantProblem(cfg: Config): [string, string] | undefined {
  for (const [axis, name] of [
    ["accel", DEFAULT_ACCEL],
    ["isa", DEFAULT_ISA],
  ] as const) {
    if (cfg.variants[axis][name] === false)
      return [`variants.${axis}.${name}`, `the ${axis} value ${name} cannot be removed (every project builds it)`];
  }
  for (const [name, value] of Object.entries(cfg.variants.isa)) {
    if (value && !value.floor && name !== "avx" && name !== "noavx") {
      return [`variants.isa.${name}.floor`, "a new isa value needs its floor: one of x86-64, x86-64-v2, x86-64-v3, x86-64-v4"];
    }
  }
  const names = allVariants(cfg).map((v) => v.name);
  const bad = cfg.image.variants.findIndex((v) => !names.includes(v));
  if (bad >= 0)
    return [
      `image.variants.${bad}`,
      `'${cfg.image.variants[bad]}' is not a variant of this config (its variants: ${names.join(", ")})`,
    ];
  return undefined;
}

/** The Debian package name of a variant: NAME, NAME-noavx, NAME-gpu, NAME-gpu-noavx. */
export function packageName(cfg: Config, v: Pick<Variant, "suffix">): string {
  return `${cfg.name}${v.suffix}`;
}

/** The image's name and tag by the config's scheme: NAME:VERSION, NAME:VERSION-noavx, NAME:VERSION-gpu, ... */
export function imageRef(cfg: Config, v: Pick<Variant, "suffix">): string {
  const tag = cfg.image.tag.replaceAll("{version}", cfg.version).replaceAll("{variant}", v.suffix);
  return `${cfg.image.name ?? cfg.name}:${tag}`;
}
