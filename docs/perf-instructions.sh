#!/usr/bin/env bash
# Instructions per committed request, counted by valgrind's callgrind: a
# figure noise cannot fake (wall-clock throughput on this machine varies by
# 20-50% between runs; instruction counts repeat to a fraction of a
# percent). It runs internal/sim's TestCallgrindCluster, one fixed and
# deterministic 4-replica cluster of 2,000 operations (seed 1, batches of up
# to 64, no network faults), once with real ed25519 signatures and once
# with the simulator's cheap HMAC scheme (the protocol's own cost), and the
# same test skipped (the test binary's start-up, subtracted). Quote its
# before and after for every performance change. Takes a few minutes.
# Usage: docs/perf-instructions.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "perf-instructions: valgrind is not installed" >&2; exit 1; }
out=${1:-$(mktemp -d /tmp/bulwark-instr-XXXX)}
mkdir -p "$out"
go test -c -o "$out/sim.test" ./internal/sim
ops=2000 # callgrindOps in internal/sim/callgrind_test.go

count() { # count NAME ENV: total instructions (Ir) of one run
  BULWARK_CALLGRIND="$2" GOMAXPROCS=1 GOGC=off valgrind --tool=callgrind \
    --callgrind-out-file="$out/$1.callgrind" "$out/sim.test" -test.run '^TestCallgrindCluster$' \
    > "$out/$1.log" 2>&1
  sed -n 's/^summary: //p' "$out/$1.callgrind"
}

base=$(count startup "")
ed=$(count ed25519 1)
hmac=$(count hmac hmac)
awk -v b="$base" -v e="$ed" -v h="$hmac" -v n="$ops" 'BEGIN {
  printf "start-up (test skipped)    %14.0f instructions\n", b
  printf "cluster, ed25519           %14.0f instructions, %9.0f per committed request\n", e, (e - b) / n
  printf "cluster, hmac (protocol)   %14.0f instructions, %9.0f per committed request\n", h, (h - b) / n
}'
echo "callgrind files and logs: $out"
