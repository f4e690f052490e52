#!/usr/bin/env python3
"""Checks the CUDA architectures really embedded in a build against the configured ones.

Usage: cuda_check.py --architectures "70 80-real 90-virtual" [--label VARIANT] PATH...

Every ELF file under PATH with device code is read with cuobjdump: its SASS (cubin, `sm_NN`) and PTX
(`compute_NN`) architectures. An architecture NN as CMake means it (CMAKE_CUDA_ARCHITECTURES) wants SASS and
PTX for NN, `NN-real` SASS only, `NN-virtual` PTX only. Exit 0 when the build holds exactly what was asked,
1 naming both lists when not (or when no file holds device code), 2 when cuobjdump is missing.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys


def elf_files(paths):
    for root in paths:
        if os.path.isfile(root):
            yield root
            continue
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if x != "CMakeFiles"]
            for f in files:
                p = os.path.join(d, f)
                # The build tree's bookkeeping (never ELF), which its save writes while this check runs.
                if f.startswith(".pipeline-") or os.path.islink(p) or not os.path.isfile(p):
                    continue
                with open(p, "rb") as fh:
                    if fh.read(4) == b"\x7fELF":
                        yield p


def expected(archs):
    sass, ptx = set(), set()
    for a in archs:
        m = re.fullmatch(r"(\d+)(-real|-virtual)?", a)
        if not m:
            raise SystemExit(f"cuda-check: not an architecture: {a}")
        if m.group(2) != "-virtual":
            sass.add(int(m.group(1)))
        if m.group(2) != "-real":
            ptx.add(int(m.group(1)))
    return sass, ptx


def embedded(cuobjdump, path):
    sass, ptx = set(), set()
    for flag, found, pat in (("--list-elf", sass, r"\.sm_(\d+)\."), ("--list-ptx", ptx, r"\.sm_(\d+)\.")):
        r = subprocess.run([cuobjdump, flag, path], capture_output=True, text=True)
        if r.returncode != 0:
            continue
        for line in r.stdout.splitlines():
            m = re.search(pat, line) or re.search(r"(?:sm|compute)_(\d+)", line)
            if m:
                found.add(int(m.group(1)))
    return sass, ptx


def show(s):
    return ", ".join(str(x) for x in sorted(s)) or "none"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--architectures", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    cuobjdump = shutil.which("cuobjdump")
    if not cuobjdump:
        print("cuda-check: cuobjdump is missing (Debian package nvidia-cuda-toolkit)", file=sys.stderr)
        return 2
    want_sass, want_ptx = expected(a.architectures.split())
    bad, seen = [], 0
    for path in elf_files(a.paths):
        sass, ptx = embedded(cuobjdump, path)
        if not sass and not ptx:
            continue
        seen += 1
        print(f"{path}: SASS {show(sass)}; PTX {show(ptx)}")
        if sass != want_sass or ptx != want_ptx:
            bad.append((path, sass, ptx))
    asked = f"SASS {show(want_sass)}; PTX {show(want_ptx)}"
    if seen == 0:
        print(f"cuda-check: {a.label}: no file holds CUDA device code; expected {asked} (cuda.architectures)")
        return 1
    if bad:
        print(f"cuda-check: {a.label}: {len(bad)} file(s) embed other CUDA architectures than cuda.architectures asks ({asked}):")
        for path, sass, ptx in bad:
            print(f"  {path}: SASS {show(sass)}; PTX {show(ptx)}")
        print("hint: CMAKE_CUDA_ARCHITECTURES set in the project's CMakeLists.txt, or -gencode flags of its own, override the pipeline's")
        return 1
    print(f"cuda-check: {a.label}: {seen} file(s) with device code, all {asked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
