#!/bin/sh
# Data-parallel training on loopback: WORKERS processes of `minipaddle train` meet over TCP (RANK, WORLD_SIZE,
# MASTER_ADDR, MASTER_PORT) and must end with the single worker's loss and parameters (float tolerance).
#   dist_train.sh MINIPADDLE_PROGRAM [WORKERS] [PORT]
set -eu
program=$1
workers=${2:-3}
port=${3:-0}
if [ "$port" = 0 ]; then
  # A free loopback port: a pseudo-random one in 20000-59999, different per run.
  port=$(( 20000 + ($$ * 7919 + $(date +%s)) % 40000 ))
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args="train --steps 200 --samples 64"
env -u WORLD_SIZE -u RANK "$program" $args >"$dir/single" 2>&1

pids=""
rank=0
while [ "$rank" -lt "$workers" ]; do
  RANK=$rank WORLD_SIZE=$workers MASTER_ADDR=127.0.0.1 MASTER_PORT=$port MINIPADDLE_DIST_TIMEOUT=60 \
    "$program" $args >"$dir/worker-$rank" 2>&1 &
  pids="$pids $!"
  rank=$((rank + 1))
done
failed=0
rank=0
for pid in $pids; do
  if ! wait "$pid"; then echo "worker $rank failed:"; cat "$dir/worker-$rank"; failed=1; fi
  rank=$((rank + 1))
done
[ "$failed" = 0 ] || exit 1

# Every worker's final_loss, weights and bias must match the single run within 2e-4.
values() { grep -E '^(final_loss|weights|bias):' "$1" | cut -d: -f2 | tr '\n' ' '; }
expected=$(values "$dir/single")
echo "1 worker:  $expected"
rank=0
while [ "$rank" -lt "$workers" ]; do
  got=$(values "$dir/worker-$rank")
  echo "worker $rank: $got"
  echo "$expected|$got" | awk -F'|' '{
    n = split($1, a, " "); m = split($2, b, " ");
    if (n != 5 || m != 5) { print "expected 5 values, got " n " and " m; exit 1 }
    for (i = 1; i <= n; i++) { d = a[i] - b[i]; if (d < 0) d = -d; if (d > 2e-4) { print "value " i " differs: " a[i] " vs " b[i]; exit 1 } }
  }'
  rank=$((rank + 1))
done
grep -q "^worker: 0 of $workers" "$dir/worker-0"
echo "PASS: $workers workers match 1 worker"
