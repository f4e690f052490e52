#!/bin/sh
# pipeline: adds Debian's contrib and non-free sections (where the CUDA toolkit and its runtime libraries are)
# next to whatever Debian mirror the image already uses, with that mirror's keyring (modules/cuda.ts
# withNonFreeSources). The mirror: the first deb822 source's URIs, else the first `deb` line's, else Debian's.
set -e
m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2; exit}')
[ -n "$m" ] || m=$(awk '/^deb / {for (i = 2; i <= NF; i++) if ($i !~ /^\[/) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null)
[ -n "$m" ] || m=http://deb.debian.org/debian
# apt refuses one mirror listed with two different keyrings: reuse the existing entry's.
k=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^Signed-By:/ {print $2; exit}')
o=; [ -z "$k" ] || o="[signed-by=$k] "
# The image's own file, read at run time (VERSION_CODENAME).
# shellcheck source=/dev/null
. /etc/os-release
echo "deb $o$m $VERSION_CODENAME contrib non-free" > /etc/apt/sources.list.d/pipeline-non-free.list
cat /etc/apt/sources.list.d/pipeline-non-free.list
