/**
 * The Debian package: the project's install tree (`cmake --install`, stripped) made into a runtime `.deb`
 * with dpkg-deb. Its control data comes from the project config (name, version, maintainer, description),
 * the architecture from dpkg, and the runtime `Depends` from dpkg-shlibdeps (plus the Python version its
 * extension modules were built for). Headers, CMake/pkg-config files and static libraries are left out: this
 * is what a machine needs to run the framework, and what the production images install. The package is
 * checked with lintian, and any lintian error fails the stage.
 */
import type { Container, Directory } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { BUILD_DIR } from "./compile.ts";
import { allVariants, packageName, type Variant } from "./variants.ts";
import { guardHint, isaChecked, withScript } from "./checks.ts";
import { SCRIPTS_DIR } from "./scripts.ts";
import { withAptPackages } from "./apt.ts";

/**
 * Where the packaging step (modules/scripts/package.sh) works: the package's tree is WORK/debian/NAME, and
 * the .deb (and its lintian report) land in OUT. The script's text is the same for every project: these
 * and everything else variable reach it through the environment (PKG_*).
 */
const WORK = "/pkg";
export const PACKAGE_OUT = "/pkg/out";

export { packageName };

/** The other variants' package names: each variant conflicts with (and replaces) the others. */
function siblings(cfg: Config, v: Variant): string[] {
  return allVariants(cfg)
    .map((o) => packageName(cfg, o))
    .filter((n) => n !== packageName(cfg, v));
}

/** The synopsis: the configured one (else the description's first line), and what the variant is. */
function summary(cfg: Config, v: Variant): string {
  const base = (cfg.package.summary ?? cfg.package.description.split("\n")[0]!).replace(/\.$/, "");
  const isa = v.isa === "avx" ? "" : v.isa === "noavx" ? "no AVX" : `${v.isa} build`;
  const notes = [v.cuda ? "CUDA build" : v.accel === "cpu" ? "" : `${v.accel} build`, isa].filter(Boolean);
  return notes.length ? `${base} (${notes.join(", ")})` : base;
}

export interface PackageOptions {
  /** Seconds since the epoch for the changelog's date (reproducible builds); default: the version's commit time or 0. */
  sourceDateEpoch?: number;
}

/**
 * Builds the variant's `.deb` from a compiled container (the result of `compile`, with the build tree at
 * /src/build) and checks it with lintian in `toolchain` (the development image). Returns a folder with NAME_VERSION_ARCH.deb and its lintian report.
 */
export function debPackage(
  cfg: Config,
  toolchain: Container,
  built: Container,
  v: Variant,
  opts: PackageOptions = {},
): Directory {
  const p = cfg.package;
  const env: Record<string, string> = {
    BUILD_DIR,
    PKG_WORK: WORK,
    PKG_OUT: PACKAGE_OUT,
    PKG_NAME: packageName(cfg, v),
    PKG_SOURCE: cfg.name,
    PKG_VERSION: cfg.version,
    PKG_VARIANT: v.name,
    PKG_MAINTAINER: p.maintainer,
    PKG_SUMMARY: summary(cfg, v),
    PKG_DESCRIPTION: p.description,
    PKG_SECTION: p.section,
    PKG_HOMEPAGE: p.homepage ?? "",
    PKG_LICENSE: p.license,
    PKG_LICENSE_FILE: p.licenseFile ? `/src/${p.licenseFile}` : "",
    PKG_COPYRIGHT: p.copyright ?? "",
    PKG_DEPENDS: [...p.depends, ...(v.cuda ? p.gpuDepends : [])].join(", "),
    PKG_CONFLICTS: siblings(cfg, v).join(", "),
    PKG_PROVIDES: packageName(cfg, v) === cfg.name ? "" : `${cfg.name} (= ${cfg.version})`,
    SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch ?? 0),
    PKG_GUARD_SOURCE: `${SCRIPTS_DIR}/cpu_guard.c`,
    PKG_GUARD_FLOOR: v.floor,
    PKG_GUARD_HINT: guardHint(cfg, v),
  };
  let ctr = built;
  for (const [k, val] of Object.entries(env)) ctr = ctr.withEnvVariable(k, val);
  const made = withScript(withScript(ctr, "cpu_guard.c"), "package.sh").withExec([`${SCRIPTS_DIR}/package.sh`]);
  // The package's files (guards included) are checked against the variant's ISA floor before it is linted.
  const packaged = isaChecked(cfg, made, v, `${WORK}/debian/${packageName(cfg, v)}`).directory(PACKAGE_OUT);
  return lintianChecked(toolchain, packaged);
}

/** Runs lintian over every .deb in `debs` (in the toolchain image, lintian added); fails on any error. */
export function lintianChecked(toolchain: Container, debs: Directory): Directory {
  return withScript(withAptPackages(toolchain, ["lintian"]).withDirectory(PACKAGE_OUT, debs), "lintian.sh")
    .withExec([`${SCRIPTS_DIR}/lintian.sh`, PACKAGE_OUT])
    .directory(PACKAGE_OUT);
}
