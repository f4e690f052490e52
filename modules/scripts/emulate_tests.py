#!/usr/bin/env python3
"""Runs a build's tests (or a smoke command) on an emulated CPU at the variant's ISA floor, with qemu-user.

Usage (in the build tree):
  emulate_tests.py --cpu MODEL --floor LEVEL --label VARIANT [--tests REGEX] [--exclude-label L]
                   [--results DIR] [--command WORD...]

The test list comes from `ctest --show-only=json-v1`: each test's command runs under `qemu-x86_64 -cpu MODEL`
with the test's working directory and environment. A program that is a script runs its interpreter under
qemu. qemu-user does not follow exec into a child process, so what a test starts runs natively: the report
says which tests ran emulated. An instruction the floor CPU lacks ends the test with SIGILL, named as such.
Writes RESULTS/emulated.log and RESULTS/emulated-status (0, or 1 when a test failed); exits 0 itself so the
results can be exported either way.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

SIGILL_CODES = (-signal.SIGILL, 128 + signal.SIGILL)
# Programs that start the test as a child process: under qemu-user the child runs natively.
WRAPPERS = {"cmake", "ctest", "sh", "bash", "dash", "env", "timeout", "xargs"}


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def resolve(program, cwd, env):
    if "/" in program:
        p = program if os.path.isabs(program) else os.path.join(cwd, program)
        return p if os.path.exists(p) else None
    return shutil.which(program, path=env.get("PATH"))


def emulated_argv(qemu, cpu, argv, cwd, env):
    """The command line that runs argv on the emulated CPU, and whether its program is emulated."""
    program = resolve(argv[0], cwd, env)
    if program is None:
        return argv, False
    if is_elf(program):
        # A program that runs the test as a child of its own (a CMake script, a shell) is emulated itself, but
        # the test is not: qemu-user does not follow a child process.
        wrapper = os.path.basename(program) in WRAPPERS
        return [qemu, "-cpu", cpu, program, *argv[1:]], not wrapper
    try:
        with open(program, "rb") as f:
            first = f.readline(256).decode("utf-8", "replace").strip()
    except OSError:
        return argv, False
    if first.startswith("#!"):
        words = first[2:].split()
        if words and os.path.basename(words[0]) == "env" and len(words) > 1:
            words = words[1:]
        interp = resolve(words[0], cwd, env) if words else None
        if interp and is_elf(interp):
            return [qemu, "-cpu", cpu, interp, *words[1:], program, *argv[1:]], True
    return argv, False


def ctest_list(build_dir):
    out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build_dir, capture_output=True, text=True, check=True).stdout
    tests = []
    for t in json.loads(out).get("tests", []):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        if props.get("DISABLED") or "command" not in t:
            continue
        env = {}
        for item in props.get("ENVIRONMENT", []):
            k, _, v = item.partition("=")
            env[k] = v
        tests.append({
            "name": t["name"],
            "command": t["command"],
            "cwd": props.get("WORKING_DIRECTORY", build_dir),
            "env": env,
            "labels": props.get("LABELS", []),
            "timeout": float(props.get("TIMEOUT", 0) or 0),
            "will_fail": bool(props.get("WILL_FAIL", False)),
            "pass_regex": props.get("PASS_REGULAR_EXPRESSION", []),
            "fail_regex": props.get("FAIL_REGULAR_EXPRESSION", []),
            "skip_code": props.get("SKIP_RETURN_CODE"),
        })
    return tests


def run_one(qemu, cpu, argv, cwd, env, timeout):
    full_env = {**os.environ, **env}
    cmd, emulated = emulated_argv(qemu, cpu, argv, cwd, full_env)
    started = time.time()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        code, output = p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        code, output = "timeout", (e.stdout or b"").decode("utf-8", "replace")
    # qemu's notes about features TCG does not model are not the test's output.
    output = "".join(l for l in output.splitlines(keepends=True) if not l.startswith("qemu-x86_64: warning: TCG doesn't support"))
    return code, output, emulated, time.time() - started


def verdict(t, code, output):
    """As ctest judges a test (WILL_FAIL, PASS/FAIL_REGULAR_EXPRESSION, SKIP_RETURN_CODE); an illegal
    instruction or a time-out fails whatever the test expects."""
    if code == "timeout":
        return "timed out"
    if code in SIGILL_CODES:
        return "ILLEGAL INSTRUCTION"
    if t.get("skip_code") is not None and code == int(t["skip_code"]):
        return "skipped"
    if any(re.search(r, output) for r in t.get("fail_regex", [])):
        return "failed (output matched FAIL_REGULAR_EXPRESSION)"
    if t.get("pass_regex"):
        ok = any(re.search(r, output) for r in t["pass_regex"])
    else:
        ok = code == 0
    if t.get("will_fail"):
        ok = not ok
    return "passed" if ok else f"failed (exit {code})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", required=True, help="qemu CPU model at the floor, e.g. Nehalem")
    ap.add_argument("--floor", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--tests", default="", help="only tests whose name matches this regex")
    ap.add_argument("--exclude-label", action="append", default=[])
    ap.add_argument("--results", default="/results")
    ap.add_argument("--build-dir", default=os.getcwd())
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--command", nargs=argparse.REMAINDER, default=[])
    a = ap.parse_args()

    qemu = shutil.which("qemu-x86_64")
    os.makedirs(a.results, exist_ok=True)
    log = open(os.path.join(a.results, "emulated.log"), "w")

    def say(line=""):
        print(line, flush=True)
        log.write(line + "\n")

    if not qemu:
        say("emulate: qemu-x86_64 is missing (Debian package qemu-user); no emulated run")
        status = 1
    else:
        if a.command:
            jobs = [{"name": " ".join(a.command), "command": a.command, "cwd": a.build_dir, "env": {}, "labels": [], "timeout": 0}]
        else:
            jobs = [t for t in ctest_list(a.build_dir)
                    if not set(t["labels"]) & set(a.exclude_label) and (not a.tests or re.search(a.tests, t["name"]))]
        say(f"emulate: {len(jobs)} {'command' if a.command else 'test(s)'} of {a.label} on an emulated {a.cpu} CPU (floor {a.floor})")
        failed = []
        native = []
        for t in jobs:
            timeout = max(a.timeout, t["timeout"] * 20) if t["timeout"] else a.timeout
            code, output, emulated, secs = run_one(qemu, a.cpu, t["command"], t["cwd"], t["env"], timeout)
            v = verdict(t, code, output)
            say(f"  {t['name']}: {v} in {secs:.1f}s{'' if emulated else ' (not emulated: its program is a script or starts the test as a child process)'}")
            if not emulated:
                native.append(t["name"])
            if v not in ("passed", "skipped"):
                failed.append((t["name"], v))
                for line in output.strip().splitlines()[-15:]:
                    say(f"    | {line}")
        passed = len(jobs) - len(failed)
        say(f"emulate: {passed} passed, {len(failed)} failed on {a.cpu} ({a.floor})"
            + (f"; {len(native)} ran natively" if native else ""))
        for name, v in failed:
            hint = (f": {a.label} uses an instruction that an {a.floor} CPU lacks" if v == "ILLEGAL INSTRUCTION" else "")
            say(f"  FAILED on the emulated {a.cpu}: {name}: {v}{hint}")
        status = 1 if failed else 0
    with open(os.path.join(a.results, "emulated-status"), "w") as f:
        f.write(f"{status}\n")
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
