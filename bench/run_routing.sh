#!/usr/bin/env bash
# Routing A/B (issue 19): 3 bench_node processes with `[node] shards =
# SHARDS` and NGROUPS groups (on every shard: group g lives on shard
# g % SHARDS), driven by ringraft_loadgen with client routing on (each put
# on a connection to the shard that owns its group) and off (--no-route:
# every connection to shard 0, as clients did before routing, so the puts
# for other shards' groups take two thread hops on the leader). The runs
# are interleaved on one cluster (A B, then B A, ... per window) because
# the machine is shared and noisy; each is bounded in time. Prints the
# median per mode and window, and the cross-shard hops the nodes counted
# (ringraft_client_cross_shard_total).
#
#   bench/run_routing.sh [BUILD_DIR=build/release] [SECS=8]
# Env: WINDOWS ("1 64"), ROUNDS (3), NGROUPS (8), SHARDS (2), CONNS (loadgen
#      default: connections per node, split over the shards when routed),
#      ROUTE_CONNS (CONNS: --conns of the routed runs),
#      OUT (/tmp/ringraft_routing/<stamp>), PORT0 (7300),
#      BASE (/tmp/ringraft_routing_bench), QUIET_WAIT (60: seconds to wait
#      for a quiet machine before each round, peers' quiet.sh if present).
# Only processes started here are stopped, by PID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build/release}; [[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
SECS=${2:-8}
WINDOWS=${WINDOWS:-"1 64"}
ROUNDS=${ROUNDS:-3}
NGROUPS=${NGROUPS:-8}
SHARDS=${SHARDS:-2}
CONNS=${CONNS:-}
ROUTE_CONNS=${ROUTE_CONNS:-$CONNS}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-/tmp/ringraft_routing/$STAMP}; mkdir -p "$OUT"
export PORT0=${PORT0:-7300}
export BASE=${BASE:-/tmp/ringraft_routing_bench}
QUIET_WAIT=${QUIET_WAIT:-60}
PEERS=${PEERS:-$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || echo /work/shared/peers)}
LOADGEN=$BUILD/bench/loadgen/ringraft_loadgen
BENCH_NODE=$BUILD/bench/loadgen/bench_node
[[ -x $LOADGEN && -x $BENCH_NODE ]] || {
  echo "build first: cmake --build $BUILD --target ringraft_loadgen bench_node" >&2; exit 1; }
source "$ROOT/bench/loadgen/cluster.sh"
trap 'cluster_stop' EXIT
log() { echo "[routing $(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }
quiet() { [[ -x $PEERS/quiet.sh ]] && "$PEERS/quiet.sh" "$QUIET_WAIT" 10 >&2 || true; }

log "machine: $(nproc) cores, $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"
log "3 nodes, shards $SHARDS, groups 1..$NGROUPS, windows $WINDOWS, $ROUNDS rounds of ${SECS}s, conns ${CONNS:-default} (routed ${ROUTE_CONNS:-default}); results in $OUT"
cluster_start bench "$NGROUPS" "$SHARDS" count

# run MODE WINDOW: one bounded loadgen run (JSON line to ours.jsonl).
run() {
  local mode=$1 w=$2 line args=()
  if [[ $mode == noroute ]]; then
    args+=(--no-route)
    [[ -n $CONNS ]] && args+=(--conns "$CONNS")
  else
    [[ -n $ROUTE_CONNS ]] && args+=(--conns "$ROUTE_CONNS")
  fi
  line=$(timeout $((SECS + 60)) "$LOADGEN" --nodes "$NODE_ADDRS" --groups "$NGROUPS" \
    --window "$w" --size 128 --duration "$SECS" --warmup 2 --verify-sample 50 \
    --label "$mode-w$w" --json "${NODE_ARGS[@]}" "${args[@]}" 2>>"$OUT/loadgen.err") || true
  [[ -n $line ]] || { log "$mode-w$w: loadgen produced nothing (see $OUT/loadgen.err)"; return 0; }
  echo "$line" >>"$OUT/ours.jsonl"
  log "$mode-w$w: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["ops_per_s"], "ops/s p50", d["p50_us"], "us p99", d["p99_us"], "us cross-shard", d["cross_shard_requests"], "verified", d["verified"], "foreign", d["foreign_cores"])' "$line")"
}

for round in $(seq 1 "$ROUNDS"); do
  quiet
  for w in $WINDOWS; do
    if (( round % 2 == 1 )); then run route "$w"; run noroute "$w"; else run noroute "$w"; run route "$w"; fi
  done
done
cluster_stop

python3 - "$OUT/ours.jsonl" <<'PY' | tee "$OUT/summary.txt"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault((r["window"], r["label"].split("-")[0]), []).append(r)
med = lambda xs: statistics.median(xs) if xs else float("nan")
print(f'{"W":>4} {"mode":>8} {"runs":>4} {"ops/s":>9} {"p50 us":>8} {"p99 us":>8} '
      f'{"node us/op":>10} {"cross/op":>8} {"foreign":>7}  ops/s each run')
for w in sorted({k[0] for k in by}, key=int):
    m = {}
    for mode in ("noroute", "route"):
        rs = by.get((w, mode), [])
        if not rs: continue
        ops = [r["ops_per_s"] for r in rs]
        m[mode] = (med(ops), med([r["p50_us"] for r in rs]), med([r["p99_us"] for r in rs]))
        cross = [r["cross_shard_requests"] / max(r["ops"], 1) for r in rs
                 if r.get("cross_shard_requests") is not None]
        print(f'{w:>4} {mode:>8} {len(rs):>4} {m[mode][0]:>9.0f} {m[mode][1]:>8.0f} '
              f'{m[mode][2]:>8.0f} {med([r["cpu_us_per_op"] for r in rs]):>10.1f} '
              f'{med(cross):>8.3f} {med([r["foreign_cores"] for r in rs]):>7.2f}  '
              + " ".join(f"{x:.0f}" for x in ops))
    if len(m) == 2:
        a, b = m["noroute"], m["route"]
        print(f'{w:>4} route/noroute of the medians: throughput x{b[0] / a[0]:.3f}, '
              f'p50 x{b[1] / a[1]:.3f}, p99 x{b[2] / a[2]:.3f}')
        # Paired: the i-th runs of both modes ran back to back in round i.
        pairs = list(zip(by[(w, "route")], by[(w, "noroute")]))
        def paired(key):
            rs = [r[key] / n[key] for r, n in pairs if n[key]]
            return med(rs), sum(1 for x in rs if x > 1), len(rs)
        parts = []
        for key, name in (("ops_per_s", "throughput"), ("p50_us", "p50"), ("p99_us", "p99"),
                          ("cpu_us_per_op", "node cpu/op")):
            x, above, n = paired(key)
            parts.append(f"{name} x{x:.3f} ({above}/{n} above 1)")
        print(f'{w:>4} route/noroute, median of {len(pairs)} pairs: ' + ", ".join(parts))
PY
