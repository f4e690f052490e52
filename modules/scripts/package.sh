#!/bin/sh
# pipeline: makes the runtime .deb of a variant from its build tree (run by modules/package.ts debPackage).
# The text is the same for every project: everything variable comes in through the environment, so values
# are never re-parsed by a shell.
#   BUILD_DIR         the CMake build tree to install from
#   PKG_WORK          a scratch folder, emptied first; the package's tree is PKG_WORK/debian/PKG_NAME
#   PKG_OUT           where the .deb is written (NAME_VERSION_ARCH.deb)
#   PKG_NAME, PKG_SOURCE, PKG_VERSION, PKG_VARIANT, PKG_MAINTAINER, PKG_SUMMARY, PKG_DESCRIPTION, PKG_SECTION,
#   PKG_HOMEPAGE, PKG_LICENSE, PKG_LICENSE_FILE, PKG_COPYRIGHT, PKG_DEPENDS, PKG_CONFLICTS, PKG_PROVIDES:
#                     the control data and copyright file (empty: left out or the default)
#   PKG_GUARD_SOURCE, PKG_GUARD_FLOOR, PKG_GUARD_HINT: the runtime guard (cpu_guard.c) put in front of each
#                     program in /usr/bin (no source: no guard)
#   SOURCE_DATE_EPOCH every file's time and the changelog's date (0 or older than 2000: now)
set -eu
work=${PKG_WORK:?}
out=${PKG_OUT:?}
root="$work"/debian/$PKG_NAME
rm -rf "$work" && mkdir -p "$root/DEBIAN" "$out"
DESTDIR="$root" cmake --install "$BUILD_DIR" --prefix /usr --strip > "$work"/install.log
# A runtime package: headers, CMake and pkg-config files, static libraries and the unversioned .so link
# belong to a -dev package.
rm -rf "${root:?}/usr/include" "${root:?}/usr/local"
find "$root" -depth -type d \( -name cmake -o -name pkgconfig \) -path '*/lib/*' -exec rm -rf {} +
find "$root" \( -name '*.a' -o -name '*.la' \) -delete
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
    gcc -O2 -march=x86-64 -mtune=generic -DGUARD_FLOOR="\"$PKG_GUARD_FLOOR\"" -DGUARD_VARIANT="\"$PKG_NAME\"" \
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
  echo "Copyright: ${PKG_COPYRIGHT:-$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) $PKG_MAINTAINER}"
  echo "License: $PKG_LICENSE"
  if [ -f "/usr/share/common-licenses/$PKG_LICENSE" ]; then
    echo " On Debian systems, the full text of the license is in"
    echo " /usr/share/common-licenses/$PKG_LICENSE."
  elif [ -n "$PKG_LICENSE_FILE" ] && [ -f "$PKG_LICENSE_FILE" ]; then
    sed -e 's/^\s*$/./' -e 's/^/ /' "$PKG_LICENSE_FILE"
  else
    echo " See the project's source for the license text."
  fi
} > "$doc/copyright"
printf '%s (%s) unstable; urgency=medium\n\n  * Built by pipeline (variant %s).\n\n -- %s  %s\n' \
  "$PKG_NAME" "$PKG_VERSION" "$PKG_VARIANT" "$PKG_MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" \
  | gzip -9n > "$doc/changelog.gz"

# Shared libraries: an shlibs file for packages that link against them, and the ldconfig trigger.
: > "$root/DEBIAN/shlibs"
for lib in $(find "$root" -type f -name 'lib*.so.*' -path '*/lib/*' | sort); do
  soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
  case "$soname" in *.so.*) echo "${soname%%.so.*} ${soname##*.so.} $PKG_NAME (>= $PKG_VERSION)" >> "$root/DEBIAN/shlibs" ;; esac
done
if [ -s "$root/DEBIAN/shlibs" ]; then echo "activate-noawait ldconfig" > "$root/DEBIAN/triggers"; else rm "$root/DEBIAN/shlibs"; fi

# Depends: the shared libraries the ELF files need, found by dpkg-shlibdeps in the installed packages.
printf 'Source: %s\nMaintainer: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG_SOURCE" "$PKG_MAINTAINER" "$PKG_NAME" > "$work"/debian/control
elves=$(find "$root" -path "$root/DEBIAN" -prune -o -type f -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \; -print)
depends=
if [ -n "$elves" ]; then
  # One argument per file: the names are the install tree's own (split on white space, as they always were).
  # shellcheck disable=SC2086
  (cd "$work" && dpkg-shlibdeps -O "-x$PKG_NAME" $elves) > "$work"/shlibs.subst
  depends=$(sed -n 's/^shlibs:Depends=//p' "$work"/shlibs.subst)
fi
# Python extension modules need the Python they were built for.
pyver=$(find "$root" -name '*.cpython-3*.so' | sed -n 's/.*cpython-3\([0-9]*\)-.*/\1/p' | head -n1)
if [ -n "$pyver" ]; then depends="${depends:+$depends, }python3 (>= 3.$pyver~), python3 (<< 3.$((pyver + 1)))"; fi
if [ -n "$PKG_DEPENDS" ]; then depends="${depends:+$depends, }$PKG_DEPENDS"; fi

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
  printf '%s\n' "$PKG_DESCRIPTION" | fold -s -w 78 | sed -e 's/ *$//' -e 's/^$/./' -e 's/^/ /'
} > "$root/DEBIAN/control"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0r md5sum) > "$root/DEBIAN/md5sums"
[ -s "$root/DEBIAN/md5sums" ] || rm "$root/DEBIAN/md5sums"
deb="$out/${PKG_NAME}_${PKG_VERSION}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
