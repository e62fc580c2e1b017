#!/usr/bin/env bash
# Reproduces every figure of docs/performance.md: each configuration three
# times, replicated and unreplicated runs interleaved so that ratios come
# from runs made side by side, and prints the medians. Takes about ten
# minutes. Usage: docs/perf-runs.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d /tmp/bulwark-perf-XXXX)}
mkdir -p "$out"
go build -o "$out/bulwark" ./cmd/bulwark
b="$out/bulwark"
common=(--replicas 4 --payload 128 --service null --duration 10s --warmup 3s)

field() { # field FILE NAME: a top-level number of a report, or latency_ms.p50
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); k=sys.argv[2].split(".")
for p in k: r=r[p]
print(r)' "$1" "$2"
}
median() { sort -g | sed -n 2p; }

for i in 1 2 3; do
  "$b" bench "${common[@]}" --clients 256 --json "$out/rep-$i.json" > /dev/null
  "$b" bench "${common[@]}" --clients 256 --unreplicated --json "$out/unrep-$i.json" > /dev/null
  "$b" bench "${common[@]}" --clients 256 --procs --json "$out/procs-$i.json" > /dev/null
  "$b" bench "${common[@]}" --clients 1 --json "$out/rep1-$i.json" > /dev/null
  "$b" bench "${common[@]}" --clients 1 --unreplicated --json "$out/unrep1-$i.json" > /dev/null
  "$b" bench "${common[@]}" --clients 256 --fault kill-primary@4s --json "$out/kill-$i.json" --plot "$out/kill-$i.svg" > /dev/null
done

for kind in rep unrep procs; do
  echo "$kind 256 clients: throughput median $(for i in 1 2 3; do field "$out/$kind-$i.json" throughput; done | median) ops/s," \
    "p50 median $(for i in 1 2 3; do field "$out/$kind-$i.json" latency_ms.p50; done | median) ms"
done
for kind in rep1 unrep1; do
  echo "$kind (1 client): p50 median $(for i in 1 2 3; do field "$out/$kind-$i.json" latency_ms.p50; done | median) ms"
done
echo "ratios per pair (replicated / unreplicated throughput, same iteration):"
for i in 1 2 3; do
  python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["throughput"]; b=json.load(open(sys.argv[2]))["throughput"]; print(f"  run {sys.argv[3]}: {a/b:.3f}")' \
    "$out/rep-$i.json" "$out/unrep-$i.json" "$i"
done
echo "kill-primary: back to 80% after (ms) median $(for i in 1 2 3; do field "$out/kill-$i.json" recovery.back_to_80pct_ms; done | median)," \
  "first commit in the new view (ms) median $(for i in 1 2 3; do field "$out/kill-$i.json" recovery.first_commit_ms; done | median)"
echo "reports in $out"
"$b" bench sweep --over replicas --values 4,7,10 "${common[@]}" --duration 5s --clients 256 \
  --json "$out/sweep-replicas.json" --plot "$out/sweep-replicas.svg" > "$out/sweep-replicas.txt"
grep -E '^(replicas|throughput|latency)' "$out/sweep-replicas.txt"
