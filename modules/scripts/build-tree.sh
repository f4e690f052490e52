#!/bin/sh
# pipeline: keeps a variant's build tree on a cache volume between builds (modules/compile.ts compile).
# Usage: build-tree.sh snapshot|age|restore|save CACHE SRC BUILD [LABEL]
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
# age: in a step of its own after the snapshot and the copy of the sources' base (before the recent files: the
# plan copies those after it, so an edit leaves it cached), gives each source that looks newer than the
# snapshot's outputs an old mtime, as restore would (below): a source tree checked out or pulled after its
# build tree was built (a fresh clone, a `cache pull`, a branch switched back) would otherwise be aged by every
# build's restore, a copy of each such file into the build step's layer, every build. Content is not looked at
# here: restore still gives every changed source a new mtime, so an aged file that changed rebuilds.
#
# restore: restores the last build tree of this variant, then makes Ninja's mtime test a content test: the
# tree keeps the SHA-256 of every source file it was built from (and the mtime that build saw), and each file
# whose content is unchanged since then keeps an mtime no newer than that build saw (an old one where it moved),
# a file whose content changed gets a new one. So exactly the changed files rebuild, whichever source tree (a
# branch, a copy) last used the volume.
#
# The volume holds a tree (`tree.ID`), the symlink `current` that names it, and while a save is under way the
# journal `dirty`: a tree is read only through `current`, so a first save that was cut off (an interrupt, a
# lost engine) leaves a `tree.NEW-ID` nobody reads, removed here. File names travel NUL-separated (a name may
# hold a newline): the manifest is `sha256sum -z` records, sorted bytewise (as `LC_ALL=C sort -z`). Most of the
# work runs in one python3 per action (helper), not in dozens of short processes.
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
usage() { echo "usage: build-tree.sh snapshot|age|restore|save CACHE SRC BUILD [LABEL]" >&2; exit 2; }
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

# helper ACTION ARGS: the parts of restore and save that would otherwise start dozens of processes per build
# (each start costs a millisecond or two in a container), in one python3 (isolated, no site: about 15 ms):
#   sync FROM TO LIST   makes each path of LIST (relative) in folder TO what it is in FROM (see sync), prints how
#                       many files and links it copied
#   restore CUR GIVEN   all of restore after the volume's clean-up: the tree CUR (none: "") caught up or copied
#                       whole into BUILD, then (in SRC) the sources checked against it (see restore)
#   save TREE           a save into the volume's tree TREE (not a first one: save_whole)
#   age                 the sources in SRC that look newer than the outputs of the tree in BUILD aged (see age)
# Names are bytes throughout (a name may hold a newline, or not be UTF-8); lists are NUL-separated; files are
# copied by cp -a (mode, owner, times to the nanosecond, links as links).
helper() {
  python3 -I -S - "$tmp" "$cache" "$src" "$build" "$mark" "$STALE_AFTER" "$STALE" "$manifest" "$mtimes" "$@" <<'PY'
import os, stat, subprocess, sys, time

tmp, cache, src, build, mark, stale_after, stale, manifest, mtimes, action, *args = (os.fsencode(a) for a in sys.argv[1:])


def records(path):
    try:
        with open(path, "rb") as f:
            return f.read().split(b"\0")[:-1]
    except OSError:
        return []


def write(path, items):
    with open(path, "wb") as f:
        f.write(b"".join(i + b"\0" for i in items))


def kind(path):
    """The type of path as GNU find's %y prints it, None when there is none."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    for test, letter in ((stat.S_ISREG, "f"), (stat.S_ISDIR, "d"), (stat.S_ISLNK, "l"), (stat.S_ISFIFO, "p"),
                         (stat.S_ISSOCK, "s"), (stat.S_ISCHR, "c"), (stat.S_ISBLK, "b")):
        if test(mode):
            return letter
    return "U"


def remove(path, folder):
    """rm -rf PATH."""
    try:
        if folder:
            import shutil  # (only here: it costs 10 ms to import)

            shutil.rmtree(path)
        else:
            os.unlink(path)
    except (FileNotFoundError, NotADirectoryError):
        pass  # in a folder removed before it


def copy_listed(frm, to, paths):
    """copy_listed of the shell: cp -a of each path (relative to frm) into to, replacing what is there."""
    write(os.path.join(tmp, b"sync.copy"), paths)
    with open(os.path.join(tmp, b"sync.copy"), "rb") as listed:
        subprocess.run([b"xargs", b"-0r", b"cp", b"-a", b"--remove-destination", b"--parents", b"-t", to, b"--"],
                       stdin=listed, cwd=frm, check=True)


def clear_dir(path):
    for e in os.scandir(path):
        remove(e.path, e.is_dir(follow_symlinks=False))


def sync(src, dst, paths):
    """Makes each path of paths in folder dst what it is in src, but for the copy of files and links: removes what
    src has none of (or another type of), with anything in it, and makes folders; returns the files and links to
    copy (copy_listed). Folders are made before the copy: cp --parents could make them, but once one call of
    coreutils's cp has made a folder it treats every later file of that call as new, and fails with "File
    exists" on each one it should replace."""
    paths = sorted({b"./" + p for p in paths})
    have = {p: kind(os.path.join(src, p)) for p in paths}
    there = {p: kind(os.path.join(dst, p)) for p in paths}
    for p in paths:
        if there[p] is not None and there[p] != have[p]:
            remove(os.path.join(dst, p), there[p] == "d")
    for p in paths:
        if have[p] == "d":
            os.makedirs(os.path.join(dst, p), exist_ok=True)
    return [p for p in paths if have[p] not in (None, "d")]


def catch_up(tree, tree_id):
    """Brings the snapshot in build up to date with tree by the lists of the saves since the snapshot (their
    union, synced, with the tree's manifests); False, changing nothing, when build holds no snapshot of that
    tree or a list is missing."""
    try:
        was, start = open(mark, "rb").read().split()
        start = int(start)
    except (OSError, ValueError):
        return False
    changes = os.path.join(cache, b"changes." + tree_id)
    try:
        last = int(open(os.path.join(changes, b"last"), "rb").read())
    except (OSError, ValueError):
        last = 0
    if was != tree_id or start > last:
        return False
    paths = set()
    for n in range(start + 1, last + 1):
        listed = os.path.join(changes, b"%d" % n)
        if not os.path.isfile(listed):
            return False
        paths.update(records(listed))
    copy = sync(tree, build, paths)
    extra = []
    for f in (manifest, mtimes):
        if os.path.isfile(os.path.join(tree, f)):
            extra.append(b"./" + f)
        elif os.path.lexists(os.path.join(build, f)):
            os.unlink(os.path.join(build, f))
    try:
        copy_listed(tree, build, copy + extra)
    except subprocess.CalledProcessError:
        return False
    saves = last - start
    print(f"pipeline-build: build tree: the snapshot caught up with {saves} saves since ({len(paths)} paths changed, {len(copy)} files copied)")
    if saves > int(stale_after):
        print(f"{os.fsdecode(stale)} ({saves} saves since)")
    return True


def listings(*roots):
    """One walk of each root, by GNU find, all at once: for each, {path: "TYPE SIZE MTIME"} of its files and links
    (not the manifests at its root), and the set of its folders; paths relative, without "./"."""
    walks = []
    for i, root in enumerate(roots):
        out = open(os.path.join(tmp, b"walk.%d" % i), "w+b")
        find = [b"find", b".", b"-mindepth", b"1", b"!", b"-path", b"./" + manifest, b"!", b"-path", b"./" + mtimes,
                b"-printf", b"%y %s %T@ %P\\0"]
        walks.append((subprocess.Popen(find, cwd=root, stdout=out), out))
    results = []
    for proc, out in walks:
        if proc.wait():
            raise SystemExit(f"build-tree.sh: find exited {proc.returncode}")
        out.seek(0)
        files, folders = {}, set()
        for rec in out.read().split(b"\0")[:-1]:
            kind, size, mtime, path = rec.split(b" ", 3)
            if kind == b"d":
                folders.add(path)
            else:
                files[path] = (kind, size, mtime)
        out.close()
        results.append((files, folders))
    return results


def save(tree):
    """Writes what this build changed into the tree: the journal first (from then until the manifest is written,
    the tree may be partly new), the list of the paths it changes (restore brings snapshots up to date by these
    lists), then the tree made what the build has at each of them: files whose type, size or mtime differ
    copied, what the build removed (ninja -t cleandead, a removed target) removed, new folders made."""
    dirty = os.path.join(cache, b"dirty")
    write(dirty + b".NEW", sorted(set(records(dirty) + records(os.path.join(tmp, b"sources.changed")))))
    os.replace(dirty + b".NEW", dirty)
    (after, folders_after), (before, folders_before) = listings(build, tree)
    gone = sorted(p for p in before if p not in after)
    changed = sorted(p for p, v in after.items() if before.get(p) != v)
    # Lists older than two weeks go (as find -mtime +14: a snapshot that needs one is then copied again whole).
    changes = os.path.join(cache, b"changes." + tree.rsplit(b"/tree.", 1)[1])
    os.makedirs(changes, exist_ok=True)
    now = time.time()
    for e in os.scandir(changes):
        if e.name != b"last" and e.is_file(follow_symlinks=False) and (now - e.stat().st_mtime) // 86400 > 14:
            os.unlink(e.path)
    try:
        n = int(open(os.path.join(changes, b"last"), "rb").read()) + 1
    except FileNotFoundError:
        n = 1
    listed = os.path.join(changes, b"%d" % n)
    write(listed + b".NEW", gone + changed + sorted(folders_after ^ folders_before))
    os.replace(listed + b".NEW", listed)
    with open(os.path.join(changes, b"last.NEW"), "wb") as f:
        f.write(b"%d\n" % n)
    os.replace(os.path.join(changes, b"last.NEW"), os.path.join(changes, b"last"))
    copy = sync(build, tree, records(listed))
    # Ninja's own logs last, each replaced whole in one rename: a save cut off leaves them as they were or new,
    # never half-written (with a truncated .ninja_deps or .ninja_log, ninja rebuilds every output).
    logs = [p for p in copy if p in (b"./.ninja_deps", b"./.ninja_log")]
    copy_listed(build, tree, [p for p in copy if p not in logs])
    if logs:
        staged = os.path.join(cache, b"ninja-logs.NEW")  # (what a cut-off one leaves, restore removes)
        if os.path.lexists(staged):
            remove(staged, True)
        os.mkdir(staged)
        copy_listed(build, staged, logs)
        for p in logs:
            os.replace(os.path.join(staged, p), os.path.join(tree, p))
        os.rmdir(staged)
    # Each is left as it was, mtime and all, when it has not changed, else written with the mtime of the build's
    # copy: restore copies them into the build, where they must be as this build left them.
    for name, new in ((mtimes, b"sources.mtimes"), (manifest, b"sources.sha256")):
        with open(os.path.join(tmp, new), "rb") as f:
            data = f.read()
            made = os.fstat(f.fileno()).st_mtime_ns
        try:
            with open(os.path.join(tree, name), "rb") as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            pass
        with open(os.path.join(tree, name + b".NEW"), "wb") as out:
            out.write(data)
        os.utime(os.path.join(tree, name + b".NEW"), ns=(made, made))
        os.replace(os.path.join(tree, name + b".NEW"), os.path.join(tree, name))
    os.unlink(dirty)
    print(f"pipeline-build: build tree saved: {len(changed)} files written, {len(gone)} removed")


def restore(cur, given):
    # A tree without its source manifest is of unknown origin: never trust it (ccache makes a clean build cheap).
    tree = os.path.join(cache, cur)
    if cur and os.path.isfile(os.path.join(tree, manifest)):
        tree_id = cur[len(b"tree."):]
        if not catch_up(tree, tree_id):
            clear_dir(build)
            subprocess.run([b"cp", b"-a", tree + b"/.", build + b"/"], check=True)
            print(f"pipeline-build: build tree: restored whole (no snapshot of {os.fsdecode(tree_id)} to bring up to date)")
            print(f"{os.fsdecode(stale)} (restored whole)")
    else:
        clear_dir(build)
    os.chdir(src)
    sources(given)


def source_names():
    """The files of the source tree (the current folder, not its build tree), as `find . -path ./build -prune -o
    -type f` names them, sorted. (The folder entries' types, without a stat per file.)"""
    names = []

    def walk(top):
        with os.scandir(top) as entries:
            for e in entries:
                path = os.path.join(top, e.name)
                if e.is_dir(follow_symlinks=False):
                    if path != b"./build":
                        walk(path)
                elif e.is_file(follow_symlinks=False):
                    names.append(path)

    walk(b".")
    names.sort()
    return names


def outputs_seen():
    """What the tree in build says about when its outputs were made: the mtime (ns) each source had as that
    build's ninja saw it, and the oldest output mtime in ninja's log ("start end mtime path hash" lines; None
    when there is no log: no tree)."""
    seen = {}
    for rec in records(os.path.join(build, mtimes)):
        ns, _, path = rec.partition(b" ")
        if ns.isdigit():
            seen[path] = int(ns)
    try:
        with open(os.path.join(build, b".ninja_log"), "rb") as f:
            logged = [int(x[2]) for x in (l.split(b"\t") for l in f.read().splitlines()[1:]) if len(x) > 2 and x[2].isdigit()]
        return seen, min(logged, default=0)
    except OSError:
        return seen, None


def aged(path, seen, oldest):
    """Gives path an old mtime unless it is older than every output (oldest) or no newer than the last build saw
    it; returns its mtime (ns) as ninja will see it, and whether it was touched here."""
    now = os.lstat(path).st_mtime_ns
    if now < (oldest or 0) or (path in seen and now <= seen[path]):
        return now, False
    os.utime(path, ns=(1_000_000_000, 1_000_000_000), follow_symlinks=False)
    return 1_000_000_000, True


def age():
    # Content unseen: each file restore finds changed gets a new mtime again. Without a tree, nothing.
    os.chdir(src)
    seen, oldest = outputs_seen()
    names = source_names()
    n = 0 if oldest is None else sum(aged(p, seen, oldest)[1] for p in names)
    print(f"pipeline-build: sources: {n} of {len(names)} looked newer than the build tree's outputs and got an old mtime"
          + ("" if oldest is not None else " (no build tree yet)"))


def sources(given):
    names = source_names()
    listed = records(given)
    if listed and sorted(r[66:] for r in listed) == names:
        manifest_now, digests = listed, "digests from the CLI"
    else:
        manifest_now, digests = [], "hashed here"
        import hashlib

        for name in names:
            h = hashlib.sha256()
            with open(name, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            manifest_now.append(h.hexdigest().encode() + b"  " + name)
    manifest_now.sort()
    write(os.path.join(tmp, b"sources.sha256"), manifest_now)
    saved = os.path.join(build, manifest)
    if os.path.isfile(saved):
        before = set(records(saved))
        changed = [r[66:] for r in manifest_now if r not in before]
        same = [r[66:] for r in manifest_now if r in before]
        dirty = os.path.join(cache, b"dirty")
        if os.path.isfile(dirty):
            journal = records(dirty)
            print(f"pipeline-build: the last save of this tree was cut off: the outputs of the {len(journal)} sources it had changed are rebuilt, and the tree is configured again")
            changed += journal
            # The save replaces each changed file whole (removed, then copied): one cut off may have left out
            # files CMake generated (build.ninja among them), which no source's rebuild writes again.
            # Configuring again does; and Ninja's dead outputs are looked for again whatever the graph.
            for stamp in (b".pipeline-configured", b".pipeline-cleaned"):
                if os.path.lexists(os.path.join(build, stamp)):
                    os.unlink(os.path.join(build, stamp))
        for path in changed:
            try:
                os.utime(path, follow_symlinks=False)
            except FileNotFoundError:
                pass
    else:
        changed = [r[66:] for r in manifest_now]
        same = []
    write(os.path.join(tmp, b"sources.changed"), changed)
    # Unchanged since the tree was built: made to look no newer than its outputs, so that ninja leaves them.
    # One older than every output ninja logged, or no newer than that build saw it, already is; any other gets
    # an old mtime. A file is touched only then: touching one the image's layer holds copies the whole file up
    # into this step's layer, so touching every source would cost a copy of the source tree.
    seen, oldest = outputs_seen()
    skip = set(changed)
    # Each source's mtime as ninja will see it: read once here, again only for the files touched here.
    mtime, old = {}, 0
    for path in same:
        if path not in skip:
            mtime[path], touched = aged(path, seen, oldest)
            old += touched
    for path in skip:
        try:
            mtime[path] = os.lstat(path).st_mtime_ns
        except FileNotFoundError:
            pass  # a journal's path the sources no longer have
    write(os.path.join(tmp, b"sources.mtimes"), [b"%d %s" % (mtime[r[66:]], r[66:]) for r in manifest_now])
    if os.path.isfile(saved):
        print(f"pipeline-build: sources: {len(changed)} changed, {len(same) - len(skip.intersection(same))} unchanged ({old} given an old mtime); {digests}")
    else:
        print(f"pipeline-build: sources: {len(changed)}, no earlier tree to build on; {digests}")


if action == b"sync":
    frm, to, listed = args
    copy = sync(frm, to, records(listed))
    copy_listed(frm, to, copy)
    print(len(copy))
elif action == b"restore":
    restore(*args)
elif action == b"save":
    save(*args)
elif action == b"age":
    age()
else:
    sys.exit(f"build-tree.sh helper: no action {os.fsdecode(action)}")
PY
}

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

restore() {
  mkdir -p "$build"
  cur=$(readlink "$cache/current" || true)
  # Anything but the current tree, its changes and the journal is what an interrupted first save (or an older
  # layout) left: never read it.
  find "$cache" -mindepth 1 -maxdepth 1 ! -name current ! -name "${cur:-current}" ! -name "changes.${cur#tree.}" ! -name dirty -exec rm -rf {} +
  # The tree is caught up (or, without a snapshot of it, copied whole: stale), then every source's digest is
  # compared, never its size and mtime: the volume is shared by every source tree that builds this variant, and
  # two trees can hold one path with the same size and mtime (the clock ticks in milliseconds) but other
  # content, as two copies edited at once do. The CLI that staged the sources may have hashed them already and
  # mounted the manifest at $PIPELINE_SOURCES_MANIFEST (it reads again only the files of that host folder whose
  # inode, size or mtime changed since it hashed them): used when it names exactly the files here, else every
  # file is hashed here. The changed files get a new mtime (and those the journal of a cut-off save names,
  # whatever their content), the unchanged ones an old one where they may look newer than their outputs; every
  # source's mtime as this build's ninja sees it goes to $tmp/sources.mtimes, saved with the tree.
  helper restore "$cur" "${PIPELINE_SOURCES_MANIFEST:-/run/pipeline-sources.sha256}"
}

save_whole() {
  new=$(mktemp -d "$cache/tree.NEW-XXXXXXXX")
  id=${new##*-}
  cp -a "$build/." "$new"/
  cp -p "$tmp"/sources.mtimes "$new/$mtimes"
  cp -p "$tmp"/sources.sha256 "$new/$manifest"
  mv -T "$new" "$cache/tree.$id"
  ln -s "tree.$id" "$cache/current.NEW-$id"
  mv -T "$cache/current.NEW-$id" "$cache/current"
  find "$cache" -mindepth 1 -maxdepth 1 ! -name current ! -name "tree.$id" -exec rm -rf {} +
  # A new tree: no snapshot can be of it.
  echo "$STALE (a new tree)"
}

save() {
  # The tree's manifest is kept as it was (its mtime too) when the sources are the same: a build that changed
  # nothing leaves the tree's every byte and mtime as they were, and exports the same folder as the last one.
  # (Both saves leave the build's manifest alone: the helper's walks skip it, save_whole writes the new one over its copy.)
  rm -f "$build/$mtimes"
  cur=$(readlink "$cache/current" || true)
  if [ -n "$cur" ] && [ -f "$cache/$cur/$manifest" ]; then helper save "$cache/$cur"; else save_whole; fi
  if cmp -s "$build/$manifest" "$tmp/sources.sha256"; then rm -f "$tmp/sources.sha256"; else mv "$tmp/sources.sha256" "$build/$manifest"; fi
}

case "$action" in
  snapshot) snapshot ;;
  age) helper age ;;
  restore) restore ;;
  save) save ;;
  *) usage ;;
esac
