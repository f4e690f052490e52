#!/bin/sh
# pipeline: keeps a variant's build tree on a cache volume between builds (modules/compile.ts compile).
# Usage: build-tree.sh restore|save CACHE SRC BUILD
#   CACHE  the cache volume's mount point (locked: one build of the variant at a time)
#   SRC    the source tree; BUILD its build tree (inside SRC)
# The source manifest of the build in progress is $TMPDIR/sources.sha256 (TMPDIR: /tmp unless set): `restore`
# writes it, `save` keeps it; the other working files go there too.
#
# restore: restores the last build tree of this variant, then makes Ninja's mtime test a content test: the
# tree keeps the SHA-256 of every source file it was built from, and each file gets an old mtime if its
# content is unchanged since then, a new one if not. So exactly the changed files rebuild, whichever source
# tree (a branch, a copy) last used the volume.
#
# The volume holds a tree (`tree.ID`), the symlink `current` that names it, and while a save is under way the
# journal `dirty`: a tree is read only through `current`, so a first save that was cut off (an interrupt, a
# lost engine) leaves a `tree.NEW-ID` nobody reads, removed here. File names travel NUL-separated (a name may hold a newline): the manifest is `sha256sum -z`
# records, sorted and compared with `sort -z`/`comm -z`.
#
# save: keeps the new tree. The first save of a volume (or after a tree was found untrusted) copies the whole
# tree atomically: into a fresh `tree.NEW-ID` (without the old manifest), its manifest written last, renamed
# to `tree.ID`, then `current` switched to it by a rename (`mv -T` of a new symlink); only then are older trees
# removed. Later saves update the current tree in place, writing only what this build changed (the cost of a
# one-file edit does not grow with the tree): files whose size, mtime or type differ from the tree's are
# copied, files and folders the build no longer has are removed (new folders are made first), then the
# new source manifest is written. A save cut off
# half-way leaves a tree that is partly new: the journal `dirty` at the volume's root, written before the
# first change and removed after the manifest, names the sources this build changed (and those of any earlier
# cut-off save), and restore treats them as changed whatever their content, so every output a cut-off save
# may have left half-written is rebuilt.
set -eu
usage() { echo "usage: build-tree.sh restore|save CACHE SRC BUILD" >&2; exit 2; }
[ $# -eq 4 ] || usage
action=$1 cache=$2 src=$3 build=$4
manifest=.pipeline-sources.sha256
tmp=${TMPDIR:-/tmp}

restore() {
  mkdir -p "$build"
  cur=$(readlink "$cache/current" || true)
  # Anything but the current tree and the journal is what an interrupted first save (or an older layout) left:
  # never read it.
  find "$cache" -mindepth 1 -maxdepth 1 ! -name current ! -name "${cur:-current}" ! -name dirty -exec rm -rf {} +
  # A tree without its source manifest is of unknown origin: never trust it (ccache makes a clean build cheap).
  if [ -n "$cur" ] && [ -f "$cache/$cur/$manifest" ]; then cp -a "$cache/$cur/." "$build"/; fi
  cd "$src"
  # Every source is hashed, never trusted by its size and mtime: the volume is shared by every source tree
  # that builds this variant, and two trees can hold one path with the same size and mtime (the clock ticks in
  # milliseconds) but other content, as two copies edited at once do.
  find . -path ./build -prune -o -type f -print0 | xargs -0r sha256sum -z | LC_ALL=C sort -z > "$tmp"/sources.sha256
  if [ -f "$build/$manifest" ]; then
    # Unchanged since the tree was built: an old mtime. Changed or new: now. Named by the journal of a cut-off
    # save: now, whatever the content.
    LC_ALL=C comm -z -12 "$tmp"/sources.sha256 "$build/$manifest" | cut -z -c67- | xargs -0r touch -h -d @1
    LC_ALL=C comm -z -23 "$tmp"/sources.sha256 "$build/$manifest" | cut -z -c67- > "$tmp"/sources.changed
    if [ -f "$cache/dirty" ]; then
      echo "pipeline-build: the last save of this tree was cut off: the outputs of the $(tr -cd '\0' < "$cache/dirty" | wc -c) sources it had changed are rebuilt"
      cat "$cache/dirty" >> "$tmp"/sources.changed
    fi
    xargs -0r touch -c -h < "$tmp"/sources.changed
  else
    cut -z -c67- "$tmp"/sources.sha256 > "$tmp"/sources.changed
  fi
}

# One walk of $1: NUL-separated records "TYPE SIZE MTIME PATH" of its files and links (not the manifest), sorted,
# into $2; the paths of its folders, sorted, into $3.
listing() {
  (cd "$1" && find . -mindepth 1 ! -path "./$manifest" -printf '%y %s %T@ %P\0') > "$tmp"/walk
  LC_ALL=C grep -zv '^d ' "$tmp"/walk | LC_ALL=C sort -z > "$2"
  LC_ALL=C grep -z '^d ' "$tmp"/walk | cut -z -d' ' -f4- | LC_ALL=C sort -z > "$3"
}

save_whole() {
  new=$(mktemp -d "$cache/tree.NEW-XXXXXXXX")
  id=${new##*-}
  cp -a "$build/." "$new"/
  cp "$tmp"/sources.sha256 "$new/$manifest"
  mv -T "$new" "$cache/tree.$id"
  ln -s "tree.$id" "$cache/current.NEW-$id"
  mv -T "$cache/current.NEW-$id" "$cache/current"
  find "$cache" -mindepth 1 -maxdepth 1 ! -name current ! -name "tree.$id" -exec rm -rf {} +
}

save_changes() {
  tree=$1
  # The journal first: from here until the manifest is written, the tree may be partly new.
  { if [ -f "$cache/dirty" ]; then cat "$cache/dirty"; fi; cat "$tmp"/sources.changed; } | LC_ALL=C sort -zu > "$cache/dirty.NEW"
  mv -f "$cache/dirty.NEW" "$cache/dirty"
  listing "$build" "$tmp"/tree.after "$tmp"/folders.after
  listing "$tree" "$tmp"/tree.before "$tmp"/folders.before
  # Gone from the build (ninja -t cleandead, a removed target): removed from the tree.
  cut -z -d' ' -f4- "$tmp"/tree.after | LC_ALL=C sort -z > "$tmp"/paths.after
  cut -z -d' ' -f4- "$tmp"/tree.before | LC_ALL=C sort -z > "$tmp"/paths.before
  LC_ALL=C comm -z -13 "$tmp"/paths.after "$tmp"/paths.before > "$tmp"/paths.gone
  (cd "$tree" && xargs -0r rm -rf -- < "$tmp"/paths.gone)
  # Folders: those the build no longer has (or that became files) go, with anything left in them; those new to
  # the build are made before the copy. (cp --parents could make them, but once one call of coreutils's cp has
  # made a folder it treats every later file of that call as new, and fails with "File exists" on each one it
  # should replace.)
  (cd "$tree" && LC_ALL=C comm -z -13 "$tmp"/folders.after "$tmp"/folders.before | xargs -0r rm -rf --)
  (cd "$tree" && LC_ALL=C comm -z -23 "$tmp"/folders.after "$tmp"/folders.before | xargs -0r mkdir -p --)
  # New or changed (type, size or mtime): copied over, each replacing the tree's file or link as a whole.
  LC_ALL=C comm -z -23 "$tmp"/tree.after "$tmp"/tree.before | cut -z -d' ' -f4- > "$tmp"/paths.changed
  (cd "$build" && xargs -0r cp -a --remove-destination --parents -t "$tree" -- < "$tmp"/paths.changed)
  cp "$tmp"/sources.sha256 "$tree/$manifest.NEW"
  mv -f "$tree/$manifest.NEW" "$tree/$manifest"
  rm -f "$cache/dirty"
  echo "pipeline-build: build tree saved: $(tr -cd '\0' < "$tmp"/paths.changed | wc -c) files written, $(tr -cd '\0' < "$tmp"/paths.gone | wc -c) removed"
}

save() {
  rm -f "$build/$manifest"
  cur=$(readlink "$cache/current" || true)
  if [ -n "$cur" ] && [ -f "$cache/$cur/$manifest" ]; then save_changes "$cache/$cur"; else save_whole; fi
  mv "$tmp"/sources.sha256 "$build/$manifest"
}

case "$action" in
  restore) restore ;;
  save) save ;;
  *) usage ;;
esac
