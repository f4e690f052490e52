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

/** Where the packaging step writes: the .deb (and its lintian report) land in OUT. */
const WORK = "/pkg";
export const PACKAGE_OUT = "/pkg/out";

export { packageName };

/** The other variants' package names: each variant conflicts with (and replaces) the others. */
function siblings(cfg: Config, v: Variant): string[] {
  return allVariants(cfg).map((o) => packageName(cfg, o)).filter((n) => n !== packageName(cfg, v));
}

/**
 * The packaging script. Everything variable comes in through the environment (PKG_*), so the script text
 * is the same for every project and the values are never re-parsed by a shell.
 */
const PACKAGE_SCRIPT = `set -eu
root=${WORK}/debian/$PKG_NAME
rm -rf ${WORK} && mkdir -p "$root/DEBIAN" ${PACKAGE_OUT}
DESTDIR="$root" cmake --install "$BUILD_DIR" --prefix /usr --strip > ${WORK}/install.log
# A runtime package: headers, CMake and pkg-config files, static libraries and the unversioned .so link
# belong to a -dev package.
rm -rf "$root/usr/include" "$root/usr/local"
find "$root" -depth -type d \\( -name cmake -o -name pkgconfig \\) -path '*/lib/*' -exec rm -rf {} +
find "$root" \\( -name '*.a' -o -name '*.la' \\) -delete
find "$root" -type l -name 'lib*.so' -delete
find "$root" -type f -name '*.so*' -exec chmod 0644 {} +
find "$root" -depth -type d -empty -delete; mkdir -p "$root/DEBIAN"
# The runtime guard: each program in /usr/bin becomes a small program (built for any x86-64 CPU) that checks
# the CPU against the variant's ISA floor, then runs the real one from /usr/lib/NAME/bin.
if [ -n "$PKG_GUARD_SOURCE" ] && [ -d "$root/usr/bin" ]; then
  for prog in "$root"/usr/bin/*; do
    { [ -f "$prog" ] && [ ! -L "$prog" ] && head -c4 "$prog" | grep -q ELF; } || continue
    name=$(basename "$prog")
    mkdir -p "$root/usr/lib/$PKG_NAME/bin" && mv "$prog" "$root/usr/lib/$PKG_NAME/bin/$name"
    gcc -O2 -march=x86-64 -mtune=generic -DGUARD_FLOOR="\"$PKG_GUARD_FLOOR\"" -DGUARD_VARIANT="\"$PKG_NAME\"" \\
      -DGUARD_HINT="\"$PKG_GUARD_HINT\"" -DGUARD_EXEC="\"/usr/lib/$PKG_NAME/bin/$name\"" -o "$prog" "$PKG_GUARD_SOURCE"
    strip --strip-unneeded "$prog"
  done
fi
# One timestamp for every file (reproducible; sources restored by the build may carry placeholder times).
[ "$SOURCE_DATE_EPOCH" -gt 946684800 ] || SOURCE_DATE_EPOCH=$(date +%s)
export SOURCE_DATE_EPOCH

doc="$root/usr/share/doc/$PKG_NAME"
mkdir -p "$doc"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: $PKG_SOURCE"
  echo
  echo "Files: *"
  echo "Copyright: \${PKG_COPYRIGHT:-$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) $PKG_MAINTAINER}"
  echo "License: $PKG_LICENSE"
  if [ -f "/usr/share/common-licenses/$PKG_LICENSE" ]; then
    echo " On Debian systems, the full text of the license is in"
    echo " /usr/share/common-licenses/$PKG_LICENSE."
  elif [ -n "$PKG_LICENSE_FILE" ] && [ -f "$PKG_LICENSE_FILE" ]; then
    sed -e 's/^\\s*$/./' -e 's/^/ /' "$PKG_LICENSE_FILE"
  else
    echo " See the project's source for the license text."
  fi
} > "$doc/copyright"
printf '%s (%s) unstable; urgency=medium\\n\\n  * Built by pipeline (variant %s).\\n\\n -- %s  %s\\n' \\
  "$PKG_NAME" "$PKG_VERSION" "$PKG_VARIANT" "$PKG_MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" \\
  | gzip -9n > "$doc/changelog.gz"

# Shared libraries: an shlibs file for packages that link against them, and the ldconfig trigger.
: > "$root/DEBIAN/shlibs"
for lib in $(find "$root" -type f -name 'lib*.so.*' -path '*/lib/*' | sort); do
  soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
  case "$soname" in *.so.*) echo "\${soname%%.so.*} \${soname##*.so.} $PKG_NAME (>= $PKG_VERSION)" >> "$root/DEBIAN/shlibs" ;; esac
done
if [ -s "$root/DEBIAN/shlibs" ]; then echo "activate-noawait ldconfig" > "$root/DEBIAN/triggers"; else rm "$root/DEBIAN/shlibs"; fi

# Depends: the shared libraries the ELF files need, found by dpkg-shlibdeps in the installed packages.
printf 'Source: %s\\nMaintainer: %s\\n\\nPackage: %s\\nArchitecture: any\\n' "$PKG_SOURCE" "$PKG_MAINTAINER" "$PKG_NAME" > ${WORK}/debian/control
elves=$(find "$root" -path "$root/DEBIAN" -prune -o -type f -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \\; -print)
depends=
if [ -n "$elves" ]; then
  (cd ${WORK} && dpkg-shlibdeps -O "-x$PKG_NAME" $elves) > ${WORK}/shlibs.subst
  depends=$(sed -n 's/^shlibs:Depends=//p' ${WORK}/shlibs.subst)
fi
# Python extension modules need the Python they were built for.
pyver=$(find "$root" -name '*.cpython-3*.so' | sed -n 's/.*cpython-3\\([0-9]*\\)-.*/\\1/p' | head -n1)
if [ -n "$pyver" ]; then depends="\${depends:+$depends, }python3 (>= 3.$pyver~), python3 (<< 3.$((pyver + 1)))"; fi
if [ -n "$PKG_DEPENDS" ]; then depends="\${depends:+$depends, }$PKG_DEPENDS"; fi

arch=$(dpkg --print-architecture)
{
  echo "Package: $PKG_NAME"
  echo "Version: $PKG_VERSION"
  echo "Architecture: $arch"
  echo "Maintainer: $PKG_MAINTAINER"
  echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
  [ -z "$depends" ] || echo "Depends: $depends"
  [ -z "$PKG_PROVIDES" ] || echo "Provides: $PKG_PROVIDES"
  [ -z "$PKG_CONFLICTS" ] || { echo "Conflicts: $PKG_CONFLICTS"; echo "Replaces: $PKG_CONFLICTS"; }
  echo "Section: $PKG_SECTION"
  echo "Priority: optional"
  [ -z "$PKG_HOMEPAGE" ] || echo "Homepage: $PKG_HOMEPAGE"
  echo "Description: $PKG_SUMMARY"
  printf '%s\\n' "$PKG_DESCRIPTION" | fold -s -w 78 | sed -e 's/ *$//' -e 's/^$/./' -e 's/^/ /'
} > "$root/DEBIAN/control"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0r md5sum) > "$root/DEBIAN/md5sums"
[ -s "$root/DEBIAN/md5sums" ] || rm "$root/DEBIAN/md5sums"
deb="${PACKAGE_OUT}/\${PKG_NAME}_\${PKG_VERSION}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
`;

const LINTIAN_SCRIPT = `set -eu
cd ${PACKAGE_OUT}
for deb in *.deb; do
  report="\${deb%.deb}.lintian.txt"
  lintian --allow-root --tag-display-limit 0 "$deb" > "$report" 2>&1 || true
  cat "$report"
  if grep -q '^E: ' "$report"; then
    grep '^E: ' "$report" | awk '{print $3}' | sort -u | xargs lintian-explain-tags 2>/dev/null || true
    echo "lintian found errors in $deb:"; grep '^E: ' "$report"; exit 1
  fi
  echo "lintian: $deb: $(grep -c '^W: ' "$report" || true) warnings, no errors"
done
`;

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
  const made = withScript(ctr, "cpu_guard.c")
    .withNewFile("/usr/local/bin/pipeline-package", `#!/bin/sh\n# Generated by pipeline: makes the runtime .deb from the build tree.\n${PACKAGE_SCRIPT}`, { permissions: 0o755 })
    .withExec(["pipeline-package"]);
  // The package's files (guards included) are checked against the variant's ISA floor before it is linted.
  const packaged = isaChecked(cfg, made, v, `${WORK}/debian/${packageName(cfg, v)}`).directory(PACKAGE_OUT);
  return lintianChecked(toolchain, packaged);
}

/** Runs lintian over every .deb in `debs` (in the toolchain image, lintian added); fails on any error. */
export function lintianChecked(toolchain: Container, debs: Directory): Directory {
  return withAptPackages(toolchain, ["lintian"])
    .withDirectory(PACKAGE_OUT, debs)
    .withNewFile("/usr/local/bin/pipeline-lintian", `#!/bin/sh\n# Generated by pipeline: lintian over every .deb; fails on errors.\n${LINTIAN_SCRIPT}`, { permissions: 0o755 })
    .withExec(["pipeline-lintian"])
    .directory(PACKAGE_OUT);
}
