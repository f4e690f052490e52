#!/bin/sh
# Usage: ccache-toolchain.sh PACKAGES CCACHE_DIR
#
# ccache's entries serve only the toolchain they were made with: its keys hold the compiler and the system
# headers. A compiler cache filled on another machine (`pipeline cache pull`) whose dev image installed its
# Debian packages on another day misses every compile here, silently. The dev image lists its packages in
# PACKAGES (/etc/pipeline-toolchain: "name version" lines, sorted); the build keeps that list in the cache as
# pipeline-toolchain. When the cache's list is not this image's, this says which packages differ and how to get
# the image the cache was made with, then records this image's list (the entries this build adds are its own).
# It never fails the build.
set -u
mine=$1
dir=$2
theirs="$dir/pipeline-toolchain"
[ -f "$mine" ] && [ -d "$dir" ] || exit 0
cmp -s "$mine" "$theirs" && exit 0
if [ -f "$theirs" ]; then
  # Changed versions first (the usual case: an update), then packages only one side has.
  changed=$(awk '
    function note(x) { n++; if (n <= 3) s = s (n > 1 ? ", " : "") x }
    NR == FNR { had[$1] = $2; next }
    { seen[$1] = 1 }
    ($1 in had) && had[$1] != $2 { note($1 " " had[$1] " -> " $2) }
    !($1 in had) { added[++a] = $1 " (none) -> " $2 }
    END {
      for (p in had) if (!(p in seen)) note(p " " had[p] " -> (none)")
      for (i = 1; i <= a; i++) note(added[i])
      if (n > 3) s = s ", and " (n - 3) " more"
      print s
    }' "$theirs" "$mine")
  echo "pipeline-build: warning: the compiler cache was filled with another toolchain than this dev image's" \
    "(${changed}): what was compiled there misses here. Build with the dev image the cache was made with:" \
    "pipeline cache pull REGISTRY --only dev-image (a plain cache pull brings it too)"
fi
tmp="$theirs.$$"
if cp "$mine" "$tmp" 2>/dev/null; then mv -f "$tmp" "$theirs" 2>/dev/null || rm -f "$tmp"; fi
exit 0
