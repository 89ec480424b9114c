#!/usr/bin/env bash
# W=1 put latency against each node's LMDB commit latency in the same run:
# starts a 3-node bench_node cluster (cluster.sh), runs ringraft_loadgen at
# --window 1 for SECS seconds, and prints the put percentiles beside each
# node's commit percentiles (the ringraft_commit_latency_seconds histogram,
# read from the node's metrics before and after the load).
#   bench/loadgen/w1_tail.sh [BUILD_DIR] [SECS]
# With a RAFT_LATENCY_TRACE=ON build and RINGRAFT_TRACE_FILE=/tmp/t-%p.txt
# exported, the trace files feed trace_w1.py --slowest 0.01.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$ROOT/build/release}
SECS=${2:-10}
LOADGEN=$BUILD/bench/loadgen/ringraft_loadgen
BENCH_NODE=$BUILD/bench/loadgen/bench_node
[[ -x $LOADGEN && -x $BENCH_NODE ]] || { echo "build first: cmake --build $BUILD --target ringraft_loadgen bench_node" >&2; exit 1; }
BASE=${BASE:-/tmp/ringraft_w1_tail}
PORT0=${PORT0:-7300}
OUT=$(mktemp -d /tmp/ringraft_w1_tail_out.XXXXXX)
source "$ROOT/bench/loadgen/cluster.sh"
trap cluster_stop EXIT

# Asks every node to write DIR/metrics.txt (SIGUSR1) and copies it to OUT/TAG-nI.txt.
snapshot_metrics() {
  local tag=$1 i
  for i in 1 2 3; do rm -f "$BASE/n$i/metrics.txt"; kill -USR1 "${NODE_PIDS[$((i - 1))]}"; done
  for i in 1 2 3; do
    for _ in $(seq 100); do [[ -s $BASE/n$i/metrics.txt ]] && break; sleep 0.05; done
    cp "$BASE/n$i/metrics.txt" "$OUT/$tag-n$i.txt"
  done
}

cluster_start bench 1 1 count
snapshot_metrics before
timeout $((SECS + 60)) "$LOADGEN" --nodes "$NODE_ADDRS" --groups 1 --window 1 --size 128 \
  --duration "$SECS" --warmup 2 --json "${NODE_ARGS[@]}" >"$OUT/loadgen.json" 2>"$OUT/loadgen.err"
snapshot_metrics after
cluster_stop
python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
d = json.load(open(f"{out}/loadgen.json"))
print(f"puts: {d['ops_per_s']:.0f}/s p50 {d['p50_us']:.0f} us p99 {d['p99_us']:.0f} us "
      f"p99.9 {d['p999_us']:.0f} us max {d['max_us']:.0f} us verified {d['verified']}")
def load(path):
    h = []
    for line in open(path):
        m = re.match(r'ringraft_commit_latency_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
        if m:
            h.append((m.group(1), int(m.group(2))))
    return h
for n in (1, 2, 3):
    before = dict(load(f"{out}/before-n{n}.txt"))
    delta = [(le, c - before.get(le, 0)) for le, c in load(f"{out}/after-n{n}.txt")]
    total = delta[-1][1] if delta else 0
    cols = []
    for q in (0.5, 0.9, 0.99, 0.999):
        le = next((le for le, c in delta if c >= q * total), "+Inf")
        cols.append(f"p{q * 100:g} <= " + (le if le == "+Inf" else f"{float(le) * 1e6:.0f} us"))
    print(f"node {n} commits {total}: " + ", ".join(cols))
PY
echo "files in $OUT"
