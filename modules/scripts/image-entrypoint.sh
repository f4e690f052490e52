#!/bin/sh
# pipeline: a production image's entrypoint script, /usr/local/bin/entrypoint.sh, which the runtime guard
# (/usr/local/bin/entrypoint, modules/scripts/cpu_guard.c) runs once the CPU passes. The image's copy has one
# generated line after the first: `program() { exec PROGRAM "$@"; }`, the config's image.entrypoint (default:
# the project's name); everything else is this text (modules/image.ts entrypointScript).
#   IMAGE ARGS...         runs the program with ARGS...
#   IMAGE PROGRAM.py ...  runs the Python program with the framework importable
#   IMAGE python3 ...     runs Python; IMAGE sh ... runs a shell
set -e
case "${1:-}" in
  *.py) exec python3 "$@" ;;
  python|python3) shift; exec python3 "$@" ;;
  sh|bash) exec "$@" ;;
esac
program "$@"
