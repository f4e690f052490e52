#!/bin/sh
# pipeline: keeps a variant's build tree on a cache volume between builds (modules/compile.ts compile).
# Usage: build-tree.sh snapshot|restore|save CACHE SRC BUILD [LABEL]
#   CACHE  the cache volume's mount point (locked: one build of the variant at a time)
#   SRC    the source tree; BUILD its build tree (inside SRC)
#   LABEL  (snapshot) only part of the step's command, so that a new label makes the engine take a new snapshot
# The source manifest of the build in progress is $TMPDIR/sources.sha256 (TMPDIR: /tmp unless set): `restore`
# writes it, `save` keeps it; the other working files go there too.
#
# snapshot: copies the saved tree into BUILD in a step of its own that comes before the sources, which the
# engine caches, and notes which tree and which save it copied ($TMPDIR/build-tree.snapshot). `restore` then
# brings that copy up to date with the tree by copying only the paths the saves since then changed (each save
# lists them in `changes.ID/N` before it changes anything), so a build's restore copies what changed, not the
# whole tree. Without a snapshot of the volume's current tree (none taken, another tree since, a list pruned),
# restore copies the tree whole and says the snapshot is stale; so it does after a save that starts a new
# tree, and when many saves have passed since the snapshot: a new LABEL then takes a new one (the CLI does so
# at its next build).
#
# restore: restores the last build tree of this variant, then makes Ninja's mtime test a content test: the
# tree keeps the SHA-256 of every source file it was built from (and the mtime that build saw), and each file
# whose content is unchanged since then keeps an mtime no newer than that build saw (an old one where it moved),
# a file whose content changed gets a new one. So exactly the changed files rebuild, whichever source tree (a
# branch, a copy) last used the volume.
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
usage() { echo "usage: build-tree.sh snapshot|restore|save CACHE SRC BUILD [LABEL]" >&2; exit 2; }
[ $# -eq 4 ] || { [ $# -eq 5 ] && [ "$1" = snapshot ]; } || usage
action=$1 cache=$2 src=$3 build=$4
manifest=.pipeline-sources.sha256
mtimes=.pipeline-sources.mtimes
tmp=${TMPDIR:-/tmp}
mark=$tmp/build-tree.snapshot
# The saves since a snapshot after which restore calls it stale (each restore reads their lists and copies
# the union of what they changed: it grows as edits touch other files).
STALE_AFTER=50
STALE="pipeline-build: build tree snapshot: stale"

# Removes everything in folder $1, keeping the folder.
clear_dir() { find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; }

# The number of the last save listed in $1 (a changes folder: its file `last`), 0 if none.
last_save() { cat "$1/last" 2>/dev/null || echo 0; }

snapshot() {
  mkdir -p "$build"
  clear_dir "$build"
  cur=$(readlink "$cache/current" || true)
  if [ -n "$cur" ] && [ -f "$cache/$cur/$manifest" ] && [ ! -f "$cache/dirty" ]; then
    cp -a "$cache/$cur/." "$build"/
    echo "${cur#tree.} $(last_save "$cache/changes.${cur#tree.}")" > "$mark"
    echo "pipeline-build: build tree snapshot: $(du -sh "$build" | cut -f1) of ${cur#tree.}, save $(cut -d' ' -f2 "$mark")"
  else
    echo "none" > "$mark"
    echo "pipeline-build: build tree snapshot: no saved tree"
  fi
}

# kinds DIR: "TYPE ./PATH" records (NUL-separated, sorted) of the paths of $tmp/sync.paths that DIR has.
kinds() {
  (
    cd "$1" || exit 1
    # (find says "No such file" of each path DIR lacks, and exits 1.)
    xargs -0r sh -c 'find "$@" -maxdepth 0 -printf "%y %p\0" 2>/dev/null; true' kinds < "$tmp"/sync.paths
  ) | LC_ALL=C sort -z
}

# sync_paths FROM TO LIST: makes each path of LIST (NUL-separated, relative) in folder TO what it is in FROM:
# removed where FROM has none (or another type), with anything in it; folders made; files and links copied
# (cp -a), each replacing TO's as a whole. Prints how many files and links it copied. Folders are made before
# the copy: cp --parents could make them, but once one call of coreutils's cp has made a folder it treats every
# later file of that call as new, and fails with "File exists" on each one it should replace.
sync_paths() {
  sed -z 's|^|./|' "$3" | LC_ALL=C sort -zu > "$tmp"/sync.paths
  kinds "$1" > "$tmp"/sync.from
  kinds "$2" > "$tmp"/sync.to
  (cd "$2" && LC_ALL=C comm -z -23 "$tmp"/sync.to "$tmp"/sync.from | cut -z -d' ' -f2- | xargs -0r rm -rf --)
  (cd "$2" && LC_ALL=C grep -z '^d ' "$tmp"/sync.from | cut -z -d' ' -f2- | xargs -0r mkdir -p --)
  LC_ALL=C grep -zv '^d ' "$tmp"/sync.from | cut -z -d' ' -f2- > "$tmp"/sync.copy || true
  (cd "$1" && xargs -0r cp -a --remove-destination --parents -t "$2" -- < "$tmp"/sync.copy)
  tr -cd '\0' < "$tmp"/sync.copy | wc -c
}

# catch_up TREE ID: brings the snapshot in BUILD up to date with TREE (the volume's tree ID) by the lists of
# the saves since the snapshot; fails (changing nothing) when BUILD holds no snapshot of that tree or a list
# is missing.
catch_up() {
  [ -f "$mark" ] || return 1
  read -r was from < "$mark" || return 1
  [ "$was" = "$2" ] && [ -n "${from:-}" ] || return 1
  last=$(last_save "$cache/changes.$2")
  [ "$from" -le "$last" ] || return 1
  n=$from
  : > "$tmp"/caught.lists
  while [ "$n" -lt "$last" ]; do
    n=$((n + 1))
    [ -f "$cache/changes.$2/$n" ] || return 1
    cat "$cache/changes.$2/$n" >> "$tmp"/caught.lists
  done
  LC_ALL=C sort -zu "$tmp"/caught.lists > "$tmp"/caught.paths
  copied=$(sync_paths "$1" "$build" "$tmp"/caught.paths)
  for f in "$manifest" "$mtimes"; do
    if [ -f "$1/$f" ]; then cp -a --remove-destination "$1/$f" "$build/$f"; else rm -f "$build/$f"; fi
  done
  echo "pipeline-build: build tree: the snapshot caught up with $((last - from)) saves since ($(tr -cd '\0' < "$tmp"/caught.paths | wc -c) paths changed, $copied files copied)"
  if [ $((last - from)) -gt "$STALE_AFTER" ]; then echo "$STALE ($((last - from)) saves since)"; fi
}

restore() {
  mkdir -p "$build"
  cur=$(readlink "$cache/current" || true)
  # Anything but the current tree, its changes and the journal is what an interrupted first save (or an older
  # layout) left: never read it.
  find "$cache" -mindepth 1 -maxdepth 1 ! -name current ! -name "${cur:-current}" ! -name "changes.${cur#tree.}" ! -name dirty -exec rm -rf {} +
  # A tree without its source manifest is of unknown origin: never trust it (ccache makes a clean build cheap).
  if [ -n "$cur" ] && [ -f "$cache/$cur/$manifest" ]; then
    if ! catch_up "$cache/$cur" "${cur#tree.}"; then
      clear_dir "$build"
      cp -a "$cache/$cur/." "$build"/
      echo "pipeline-build: build tree: restored whole (no snapshot of ${cur#tree.} to bring up to date)"
      echo "$STALE (restored whole)"
    fi
  else
    clear_dir "$build"
  fi
  cd "$src"
  # Every source's digest is compared, never its size and mtime: the volume is shared by every source tree
  # that builds this variant, and two trees can hold one path with the same size and mtime (the clock ticks in
  # milliseconds) but other content, as two copies edited at once do. The CLI that staged the sources may have
  # hashed them already and mounted the manifest at $given (it reads again only the files of that host folder
  # whose inode, size or mtime changed since it hashed them): used when it names exactly the files here, else
  # every file is hashed here.
  given=${PIPELINE_SOURCES_MANIFEST:-/run/pipeline-sources.sha256}
  digests="hashed here"
  if [ -f "$given" ] && find . -path ./build -prune -o -type f -print0 | LC_ALL=C sort -z > "$tmp"/sources.paths &&
    cut -z -c67- "$given" | LC_ALL=C sort -z | cmp -s - "$tmp"/sources.paths; then
    cp "$given" "$tmp"/sources.sha256
    digests="digests from the CLI"
  else
    find . -path ./build -prune -o -type f -print0 | xargs -0r sha256sum -z | LC_ALL=C sort -z > "$tmp"/sources.sha256
  fi
  if [ -f "$build/$manifest" ]; then
    # Changed or new: now. Named by the journal of a cut-off save: now, whatever the content.
    LC_ALL=C comm -z -23 "$tmp"/sources.sha256 "$build/$manifest" | cut -z -c67- > "$tmp"/sources.changed
    if [ -f "$cache/dirty" ]; then
      echo "pipeline-build: the last save of this tree was cut off: the outputs of the $(tr -cd '\0' < "$cache/dirty" | wc -c) sources it had changed are rebuilt, and the tree is configured again"
      cat "$cache/dirty" >> "$tmp"/sources.changed
      # The save replaces each changed file whole (removed, then copied): one cut off may have left out files
      # CMake generated (build.ninja among them), which no source's rebuild writes again. Configuring again does.
      rm -f "$build/.pipeline-configured"
    fi
    xargs -0r touch -c -h < "$tmp"/sources.changed
    # Unchanged since the tree was built: made to look no newer than its outputs, so that ninja leaves them.
    # One older than every output ninja logged, or no newer than that build saw it, already is; any other
    # gets an old mtime. A file is touched only then: touching one the image's layer holds copies the whole
    # file up into this step's layer, so touching every source would cost a copy of the source tree.
    LC_ALL=C comm -z -12 "$tmp"/sources.sha256 "$build/$manifest" | cut -z -c67- > "$tmp"/sources.same
    counts=$(set_mtimes "$tmp"/sources.same "$build/$mtimes" "$tmp"/sources.changed "$build/.ninja_log")
    echo "pipeline-build: sources: $(tr -cd '\0' < "$tmp"/sources.changed | wc -c) changed, ${counts% *} unchanged (${counts#* } given an old mtime); $digests"
  else
    cut -z -c67- "$tmp"/sources.sha256 > "$tmp"/sources.changed
    set_mtimes /dev/null /dev/null "$tmp"/sources.changed /dev/null > /dev/null
    echo "pipeline-build: sources: $(tr -cd '\0' < "$tmp"/sources.changed | wc -c), no earlier tree to build on; $digests"
  fi
}

# set_mtimes SAME TREE_MTIMES CHANGED NINJA_LOG: gives the unchanged sources (SAME) that may look newer than their
# outputs an old mtime, prints "UNCHANGED AGED"; then writes the mtime of every source, as this build's ninja
# sees it, to $tmp/sources.mtimes, saved with the tree for the next restore. (One python3, not two: each
# start costs tens of milliseconds per build.)
set_mtimes() {
  python3 - "$@" "$tmp"/sources.sha256 "$tmp"/sources.mtimes <<'PY'
import os, sys
def records(path):
    try:
        return open(path, "rb").read().split(b"\0")[:-1]
    except OSError:
        return []
changed = set(records(sys.argv[3]))
seen = {}
for rec in records(sys.argv[2]):
    ns, _, path = rec.partition(b" ")
    if ns.isdigit():
        seen[path] = int(ns)
# The oldest output mtime (ns) in ninja's log ("start end mtime path hash" lines): 0 when there is none.
oldest = 0
try:
    logged = [int(f[2]) for f in (l.split(b"\t") for l in open(sys.argv[4], "rb").read().splitlines()[1:]) if len(f) > 2 and f[2].isdigit()]
    oldest = min(logged, default=0)
except OSError:
    pass
aged = same = 0
for path in records(sys.argv[1]):
    if path in changed:
        continue
    same += 1
    now = os.lstat(path).st_mtime_ns
    if now < oldest or (path in seen and now <= seen[path]):
        continue
    os.utime(path, ns=(1_000_000_000, 1_000_000_000), follow_symlinks=False)
    aged += 1
# Every source's mtime now (records of `sha256sum -z`: 64 hex digits, two spaces, the path).
with open(sys.argv[6], "wb") as out:
    for rec in records(sys.argv[5]):
        path = rec[66:]
        out.write(b"%d %s\0" % (os.lstat(path).st_mtime_ns, path))
print(same, aged)
PY
}

# One walk of $1: NUL-separated records "TYPE SIZE MTIME PATH" of its files and links (not the manifest), sorted,
# into $2; the paths of its folders, sorted, into $3.
listing() {
  (cd "$1" && find . -mindepth 1 ! -path "./$manifest" ! -path "./$mtimes" -printf '%y %s %T@ %P\0') > "$tmp"/walk
  LC_ALL=C grep -zv '^d ' "$tmp"/walk | LC_ALL=C sort -z > "$2"
  LC_ALL=C grep -z '^d ' "$tmp"/walk | cut -z -d' ' -f4- | LC_ALL=C sort -z > "$3"
}

save_whole() {
  new=$(mktemp -d "$cache/tree.NEW-XXXXXXXX")
  id=${new##*-}
  cp -a "$build/." "$new"/
  cp "$tmp"/sources.mtimes "$new/$mtimes"
  cp "$tmp"/sources.sha256 "$new/$manifest"
  mv -T "$new" "$cache/tree.$id"
  ln -s "tree.$id" "$cache/current.NEW-$id"
  mv -T "$cache/current.NEW-$id" "$cache/current"
  find "$cache" -mindepth 1 -maxdepth 1 ! -name current ! -name "tree.$id" -exec rm -rf {} +
  # A new tree: no snapshot can be of it.
  echo "$STALE (a new tree)"
}

save_changes() {
  tree=$1
  # The journal first: from here until the manifest is written, the tree may be partly new.
  { if [ -f "$cache/dirty" ]; then cat "$cache/dirty"; fi; cat "$tmp"/sources.changed; } | LC_ALL=C sort -zu > "$cache/dirty.NEW"
  mv -f "$cache/dirty.NEW" "$cache/dirty"
  listing "$build" "$tmp"/tree.after "$tmp"/folders.after
  listing "$tree" "$tmp"/tree.before "$tmp"/folders.before
  cut -z -d' ' -f4- "$tmp"/tree.after | LC_ALL=C sort -z > "$tmp"/paths.after
  cut -z -d' ' -f4- "$tmp"/tree.before | LC_ALL=C sort -z > "$tmp"/paths.before
  LC_ALL=C comm -z -13 "$tmp"/paths.after "$tmp"/paths.before > "$tmp"/paths.gone
  LC_ALL=C comm -z -23 "$tmp"/tree.after "$tmp"/tree.before | cut -z -d' ' -f4- > "$tmp"/paths.changed
  # The list of what this save changes, before it changes anything (restore brings snapshots up to date by
  # these lists); lists older than two weeks go (a snapshot that needs one is then copied again whole).
  changes=$cache/changes.${tree##*/tree.}
  mkdir -p "$changes"
  find "$changes" -type f ! -name last -mtime +14 -delete
  n=$(($(last_save "$changes") + 1))
  { cat "$tmp"/paths.gone "$tmp"/paths.changed; LC_ALL=C comm -z -3 "$tmp"/folders.after "$tmp"/folders.before | sed -z 's/^\t//'; } > "$changes/$n.NEW"
  mv -f "$changes/$n.NEW" "$changes/$n"
  echo "$n" > "$changes/last.NEW"
  mv -f "$changes/last.NEW" "$changes/last"
  # Then the tree is made what the build has at each of those paths: what the build removed (ninja -t cleandead,
  # a removed target) goes, new folders are made, new or changed files and links are copied over.
  sync_paths "$build" "$tree" "$changes/$n" > /dev/null
  cp "$tmp"/sources.mtimes "$tree/$mtimes.NEW"
  mv -f "$tree/$mtimes.NEW" "$tree/$mtimes"
  cp "$tmp"/sources.sha256 "$tree/$manifest.NEW"
  mv -f "$tree/$manifest.NEW" "$tree/$manifest"
  rm -f "$cache/dirty"
  echo "pipeline-build: build tree saved: $(tr -cd '\0' < "$tmp"/paths.changed | wc -c) files written, $(tr -cd '\0' < "$tmp"/paths.gone | wc -c) removed"
}

save() {
  rm -f "$build/$manifest" "$build/$mtimes"
  cur=$(readlink "$cache/current" || true)
  if [ -n "$cur" ] && [ -f "$cache/$cur/$manifest" ]; then save_changes "$cache/$cur"; else save_whole; fi
  mv "$tmp"/sources.sha256 "$build/$manifest"
}

case "$action" in
  snapshot) snapshot ;;
  restore) restore ;;
  save) save ;;
  *) usage ;;
esac
