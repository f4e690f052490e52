#!/bin/sh
# pipeline: lintian over every .deb in DIR (run by modules/package.ts lintianChecked); each report is kept
# next to its package as NAME.lintian.txt. Fails on any lintian error, naming and explaining it.
# Usage: lintian.sh DIR
set -eu
cd "${1:?usage: lintian.sh DIR}"
for deb in *.deb; do
  report="${deb%.deb}.lintian.txt"
  lintian --allow-root --tag-display-limit 0 "$deb" > "$report" 2>&1 || true
  cat "$report"
  if grep -q '^E: ' "$report"; then
    grep '^E: ' "$report" | awk '{print $3}' | sort -u | xargs lintian-explain-tags 2>/dev/null || true
    echo "lintian found errors in $deb:"; grep '^E: ' "$report"; exit 1
  fi
  echo "lintian: $deb: $(grep -c '^W: ' "$report" || true) warnings, no errors"
done
