#!/bin/sh
# pipeline: keeps a variant's build tree on a cache volume between builds (modules/compile.ts compile).
# Usage: build-tree.sh restore|save CACHE SRC BUILD
#   CACHE  the cache volume's mount point (locked: one build of the variant at a time)
#   SRC    the source tree; BUILD its build tree (inside SRC)
# The source manifest of the build in progress is /tmp/sources.sha256: `restore` writes it, `save` keeps it.
#
# restore: restores the last build tree of this variant, then makes Ninja's mtime test a content test: the
# tree keeps the SHA-256 of every source file it was built from, and each file gets an old mtime if its
# content is unchanged since then, a new one if not. So exactly the changed files rebuild, whichever source
# tree (a branch, a copy) last used the volume.
#
# The volume holds whole trees (`tree.ID`) and one switch point, the symlink `current`: a tree is read only
# through it, so a save that was cut off (an interrupt, a lost engine) leaves a `tree.NEW-ID` nobody reads,
# removed here. File names travel NUL-separated (a name may hold a newline): the manifest is `sha256sum -z`
# records, sorted and compared with `sort -z`/`comm -z`.
#
# save: keeps the new tree, atomically: copied into a fresh `tree.NEW-ID` (without the old manifest), its
# manifest written last, renamed to `tree.ID`, then `current` switched to it by a rename (`mv -T` of a new
# symlink); only then are older trees removed. Cut off at any point, the volume's `current` is the old tree
# or the new.
set -eu
usage() { echo "usage: build-tree.sh restore|save CACHE SRC BUILD" >&2; exit 2; }
[ $# -eq 4 ] || usage
action=$1 cache=$2 src=$3 build=$4
manifest=.pipeline-sources.sha256

restore() {
  mkdir -p "$build"
  cur=$(readlink "$cache/current" || true)
  # Anything but the current tree is what an interrupted save (or an older layout) left: never read it.
  find "$cache" -mindepth 1 -maxdepth 1 ! -name current ! -name "${cur:-current}" -exec rm -rf {} +
  # A tree without its source manifest is of unknown origin: never trust it (ccache makes a clean build cheap).
  if [ -n "$cur" ] && [ -f "$cache/$cur/$manifest" ]; then cp -a "$cache/$cur/." "$build"/; fi
  cd "$src"
  find . -path ./build -prune -o -type f -print0 | xargs -0r sha256sum -z | LC_ALL=C sort -z > /tmp/sources.sha256
  if [ -f "$build/$manifest" ]; then
    # Unchanged since the tree was built: an old mtime. Changed or new: now.
    LC_ALL=C comm -z -12 /tmp/sources.sha256 "$build/$manifest" | cut -z -c67- | xargs -0r touch -h -d @1
    LC_ALL=C comm -z -23 /tmp/sources.sha256 "$build/$manifest" | cut -z -c67- | xargs -0r touch -h
  fi
}

save() {
  rm -f "$build/$manifest"
  new=$(mktemp -d "$cache/tree.NEW-XXXXXXXX")
  id=${new##*-}
  cp -a "$build/." "$new"/
  cp /tmp/sources.sha256 "$new/$manifest"
  mv -T "$new" "$cache/tree.$id"
  ln -s "tree.$id" "$cache/current.NEW-$id"
  mv -T "$cache/current.NEW-$id" "$cache/current"
  find "$cache" -mindepth 1 -maxdepth 1 ! -name current ! -name "tree.$id" -exec rm -rf {} +
  mv /tmp/sources.sha256 "$build/$manifest"
}

case "$action" in
  restore) restore ;;
  save) save ;;
  *) usage ;;
esac
