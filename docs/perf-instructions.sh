#!/usr/bin/env bash
# Instructions per committed request, counted by valgrind's callgrind: a
# figure noise cannot fake (wall-clock throughput on this machine varies by
# 20-50% between runs; instruction counts repeat to a fraction of a
# percent). It runs internal/sim's TestCallgrindCluster, one fixed and
# deterministic 4-replica cluster of 2,000 operations (seed 1, batches of up
# to 64, no network faults), once with real ed25519 signatures and once
# with the simulator's cheap HMAC scheme (the protocol's own cost), and the
# same test skipped (the test binary's start-up, subtracted); then the
# crypto and storage micro-benchmarks (crypto's and internal/storage's
# TestCallgrind*: a fixed count of one operation, less the same set-up
# without it). Quote its before and after for every performance change.
# Takes about a minute.
# Usage: docs/perf-instructions.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "perf-instructions: valgrind is not installed" >&2; exit 1; }
out=${1:-$(mktemp -d /tmp/bulwark-instr-XXXX)}
mkdir -p "$out"
go test -c -o "$out/sim.test" ./internal/sim
go test -c -o "$out/crypto.test" ./crypto
go test -c -o "$out/storage.test" ./internal/storage
ops=2000 # callgrindOps in internal/sim/callgrind_test.go

run() { # run NAME BINARY TEST VAR=VALUE [VAR=VALUE]: total instructions (Ir) of one run
  env "$4" ${5:+"$5"} GOMAXPROCS=1 GOGC=off valgrind --tool=callgrind \
    --callgrind-out-file="$out/$1.callgrind" "$out/$2" -test.run "^$3\$" \
    > "$out/$1.log" 2>&1 || { echo "perf-instructions: $1 failed, see $out/$1.log" >&2; exit 1; }
  sed -n 's/^summary: //p' "$out/$1.callgrind"
}
count() { run "$1" sim.test TestCallgrindCluster "BULWARK_CALLGRIND=$2"; }

base=$(count startup "")
ed=$(count ed25519 1)
hmac=$(count hmac hmac)
awk -v b="$base" -v e="$ed" -v h="$hmac" -v n="$ops" 'BEGIN {
  printf "start-up (test skipped)    %14.0f instructions\n", b
  printf "cluster, ed25519           %14.0f instructions, %9.0f per committed request\n", e, (e - b) / n
  printf "cluster, hmac (protocol)   %14.0f instructions, %9.0f per committed request\n", h, (h - b) / n
}'
micro() { # micro NAME BINARY TEST VAR SPEC N: instructions per operation
  local with without
  # Without async preemption: its signals crashed callgrind here (an
  # assertion in its signal handling) on the storage run.
  with=$(run "$1" "$2" "$3" "$4=$5" GODEBUG=asyncpreemptoff=1)
  without=$(run "$1-setup" "$2" "$3" "$4=$5:setup" GODEBUG=asyncpreemptoff=1)
  awk -v a="$with" -v b="$without" -v n="$6" -v name="$1" 'BEGIN { printf "%-26s %14.0f instructions per operation\n", name, (a - b) / n }'
}
micro "sign" crypto.test TestCallgrindCrypto BULWARK_CALLGRIND_CRYPTO sign:200 200
micro "verify, key with table" crypto.test TestCallgrindCrypto BULWARK_CALLGRIND_CRYPTO verify-hot:200 200
micro "verify, new key" crypto.test TestCallgrindCrypto BULWARK_CALLGRIND_CRYPTO verify-cold:200 200
micro "batch of 16, per sig" crypto.test TestCallgrindCrypto BULWARK_CALLGRIND_CRYPTO batch:240 240
micro "protocol log write" storage.test TestCallgrindStorage BULWARK_CALLGRIND_STORAGE 500 500
echo "callgrind files and logs: $out"
