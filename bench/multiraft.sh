#!/usr/bin/env bash
# Multi-raft at scale (issue 19) on 3 local bench_node processes
# (127.0.0.1, real disk under $BASE, fsync on):
#   1. start-up: seconds until a fresh node with STARTUP_GROUPS groups serves,
#      and a restart on the same data;
#   2. idle: for each N of IDLE_GROUPS and quiescence on ([raft]
#      quiesce_ticks default) / off (quiesce_ticks = 0), after the groups
#      settled: CPU % of a core per node (/proc/PID/stat utime+stime over
#      WINDOW s), Raft messages and frames per second sent by each node to
#      each peer (ringraft_peer_messages_sent_total{peer=}, frames include the
#      node-level liveness beats), RSS and RSS per group; then the wake-up
#      probe (ringraft_loadgen --wake: the first put to each of WAKE_K idle
#      groups against a second put right after, plain puts, after a pause of
#      each of WAKE_GAPS ms) and a closed-loop W=1 run of W1_SECS (plain puts);
#   3. throughput with W=1024 over each G of TPUT_GROUPS groups (fresh
#      cluster of G groups, TPUT_SECS measured);
#   4. [node] shards: for each S of SHARDS_LIST, W=1024 over SHARD_GROUPS
#      groups (set SHARDS_LIST="1 2 4 8 16" on a bigger machine).
# Writes $OUT/results.jsonl, $OUT/table.md and $OUT/multiraft.png (plot_multiraft.py),
# copied to bench/results/multiraft-<stamp>.{md,png,jsonl}.
#
#   bench/multiraft.sh [BUILD_DIR=build/release]
# Env: IDLE_GROUPS ("1000 10000"), QUIESCE ("on off"), SETTLE_MAX (120),
#      SETTLE_EXTRA (5), WINDOW (20), WAKE_K (50), WAKE_GAPS ("0 20"), W1_SECS (5),
#      TPUT_GROUPS ("1 8 64 1000"), TPUT_SECS (10), SHARDS_LIST ("1 2"),
#      SHARD_GROUPS (8), STARTUP_GROUPS (10000), SKIP (any of: startup idle
#      tput shards), OUT (/tmp/ringraft_multiraft/<stamp>), BASE (/tmp/ringraft_mr),
#      PORT0 (7560: the nodes listen on PORT0+1..3).
# Every load is bounded by `timeout`; only the processes started here are
# stopped, by PID. The machine is shared: the "foreign cores" column is the
# busy CPU of other processes during each idle window.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build/release}; [[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
IDLE_GROUPS=${IDLE_GROUPS:-"1000 10000"}
QUIESCE=${QUIESCE:-"on off"}
SETTLE_MAX=${SETTLE_MAX:-120}
SETTLE_EXTRA=${SETTLE_EXTRA:-5}
WINDOW=${WINDOW:-20}
WAKE_K=${WAKE_K:-50}
WAKE_GAPS=${WAKE_GAPS:-"0 20"}
W1_SECS=${W1_SECS:-5}
TPUT_GROUPS=${TPUT_GROUPS:-"1 8 64 1000"}
TPUT_SECS=${TPUT_SECS:-10}
SHARDS_LIST=${SHARDS_LIST:-"1 2"}
SHARD_GROUPS=${SHARD_GROUPS:-8}
STARTUP_GROUPS=${STARTUP_GROUPS:-10000}
SKIP=${SKIP:-}
STAMP=$(date +%Y%m%d-%H%M)
OUT=${OUT:-/tmp/ringraft_multiraft/$STAMP}; mkdir -p "$OUT"
LOADGEN=$BUILD/bench/loadgen/ringraft_loadgen
BENCH_NODE=${BENCH_NODE:-$BUILD/bench/loadgen/bench_node}
BASE=${BASE:-/tmp/ringraft_mr}
PORT0=${PORT0:-7560}
export START_WAIT_S=${START_WAIT_S:-300}
source "$ROOT/bench/loadgen/cluster.sh"
trap 'cluster_stop' EXIT
HZ=$(getconf CLK_TCK)
RES=$OUT/results.jsonl
skip() { [[ " $SKIP " == *" $1 "* ]]; }
log() { echo "[multiraft $(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }
[[ -x $LOADGEN && -x $BENCH_NODE ]] || {
  echo "build first: make -C $BUILD ringraft_loadgen bench_node" >&2; exit 1; }
log "machine: $(nproc) cores, $(uname -r), $BASE on $(findmnt -no SOURCE,FSTYPE -T /tmp); load: $(cut -d' ' -f1-3 /proc/loadavg)"
log "results in $OUT"

quiesce_toml() { [[ $1 == off ]] && printf '[raft]\nquiesce_ticks = 0\n' || true; }

# Machine busy ticks (all CPUs) and a process's utime+stime ticks.
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
proc_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

# Asks every node for metrics.txt (SIGUSR1) and waits until each wrote it;
# copies them to $1.n<i>.
dump_metrics() {
  local i p
  for i in 1 2 3; do rm -f "$BASE/n$i/metrics.txt"; kill -USR1 "${NODE_PIDS[$((i - 1))]}"; done
  for i in 1 2 3; do
    for _ in $(seq 200); do [[ -s $BASE/n$i/metrics.txt ]] && break; sleep 0.05; done
    cp "$BASE/n$i/metrics.txt" "$1.n$i" 2>/dev/null || : >"$1.n$i"
  done
}
# metric FILE NAME: the value of an unlabelled metric line (0 when absent).
metric() { awk -v n="$2" '$1==n{print $2; f=1} END{if(!f)print 0}' "$1"; }
# Sum of a per-group gauge over the groups (e.g. ringraft_is_leader).
metric_sum() { awk -v n="$2" 'index($1, n"{")==1{s+=$2} END{print s+0}' "$1"; }

# Waits until every node reports N quiesced groups (quiescence on) or N
# leaders over the nodes (off), at most SETTLE_MAX s; then SETTLE_EXTRA s.
settle() {
  local n=$1 q=$2 t0 now
  t0=$(date +%s)
  while :; do
    dump_metrics "$OUT/settle"
    local leaders=0 quiesced=0 i
    for i in 1 2 3; do
      leaders=$((leaders + $(metric_sum "$OUT/settle.n$i" ringraft_is_leader)))
      quiesced=$((quiesced + $(metric "$OUT/settle.n$i" ringraft_groups_quiesced)))
    done
    now=$(date +%s)
    if [[ $q == on ]] && (( quiesced >= 3 * n )); then break; fi
    if [[ $q == off ]] && (( leaders >= n )); then break; fi
    if (( now - t0 >= SETTLE_MAX )); then
      log "settle: not settled after ${SETTLE_MAX}s (leaders $leaders, quiesced $quiesced of $((3 * n)))"
      break
    fi
    sleep 2
  done
  SETTLED_S=$(( $(date +%s) - t0 ))
  log "settled in ${SETTLED_S}s: leaders $leaders, quiesced $quiesced of $((3 * n))"
  sleep "$SETTLE_EXTRA"
}

# The idle window: CPU, messages, frames per peer, RSS; one JSON line.
idle_measure() {
  local n=$1 q=$2 i
  local -a t0 t1
  dump_metrics "$OUT/m0"
  local b0 w0; b0=$(busy_ticks); w0=$(date +%s.%N)
  for i in 0 1 2; do t0[$i]=$(proc_ticks "${NODE_PIDS[$i]}"); done
  sleep "$WINDOW"
  for i in 0 1 2; do t1[$i]=$(proc_ticks "${NODE_PIDS[$i]}"); done
  local b1 w1; b1=$(busy_ticks); w1=$(date +%s.%N)
  dump_metrics "$OUT/m1"
  local rss=() ticks=()
  for i in 0 1 2; do rss+=("$(rss_kb "${NODE_PIDS[$i]}")"); ticks+=("$(( t1[i] - t0[i] ))"); done
  python3 - "$OUT" "$n" "$q" "$w0" "$w1" "$HZ" "$((b1 - b0))" "${ticks[*]}" "${rss[*]}" \
    "$SETTLED_S" "$STARTUP_S" <<'PY' >>"$RES"
import json, re, sys
out, n, q, w0, w1, hz, busy, ticks, rss, settled, startup = sys.argv[1:]
n = int(n); wall = float(w1) - float(w0); hz = int(hz)
ticks = [int(x) for x in ticks.split()]; rss = [int(x) for x in rss.split()]
def load(path):
    m = {}
    for line in open(path):
        if line.startswith("#"): continue
        parts = line.split()
        if len(parts) == 2: m[parts[0]] = float(parts[1])
    return m
nodes = []
for i in range(3):
    a, b = load(f"{out}/m0.n{i+1}"), load(f"{out}/m1.n{i+1}")
    ok = bool(a) and bool(b)  # An overloaded node may write no metrics within 10 s.
    d = lambda k: (b.get(k, 0) - a.get(k, 0)) / wall
    peers = {}
    for k in b:
        mm = re.match(r'ringraft_peer_(messages|frames)_sent_total\{peer="(\d+)"\}', k)
        if mm: peers.setdefault(mm.group(2), {})[mm.group(1) + "_per_s"] = round(d(k), 1)
    nodes.append({
        "cpu_pct": round(100.0 * ticks[i] / hz / wall, 2),
        "raft_msgs_per_s": round(d("ringraft_raft_messages_sent_total"), 1),
        "beats_per_s": round(d("ringraft_liveness_beats_total"), 1),
        "to_peer": peers,
        "rss_mb": round(rss[i] / 1024, 1),
        "rss_kb_per_group": round(rss[i] / n, 2),
        "metrics_ok": ok,
        "quiesced": int(b.get("ringraft_groups_quiesced", 0)),
        "leaders": int(sum(v for k, v in b.items() if k.startswith("ringraft_is_leader{"))),
    })
node_cpu = sum(ticks) / hz
print(json.dumps({"kind": "idle", "groups": n, "quiesce": q, "window_s": round(wall, 1),
                  "settle_s": int(settled), "startup_s": float(startup or 0),
                  "foreign_cores": round(max(0.0, int(busy) / hz - node_cpu) / wall, 2),
                  "nodes": nodes}))
PY
  log "idle n=$n quiesce=$q: $(tail -1 "$RES")"
}

# The wake-up probe, once per pause of WAKE_GAPS (ms before each put: 0 =
# right after the previous group's put, the nodes' threads still running).
wake_probe() {
  local n=$1 q=$2 line gap first=1
  for gap in $WAKE_GAPS; do
    line=$(timeout 60 "$LOADGEN" --nodes "$NODE_ADDRS" --wake "$WAKE_K" --wake-first "$first" \
      --wake-gap-ms "$gap" --label "wake-g$n-q$q-gap$gap" 2>>"$OUT/loadgen.err") || true
    [[ -n $line ]] && python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(kind="wake", groups=int(sys.argv[2]), quiesce=sys.argv[3], gap_ms=int(sys.argv[4])); print(json.dumps(d))' \
      "$line" "$n" "$q" "$gap" >>"$RES"
    log "wake n=$n quiesce=$q gap=${gap}ms: $line"
    first=$((first + WAKE_K))  # Groups not touched yet (quiesced) for the next probe.
  done
}

# loadgen_run KIND LABEL GROUPS WINDOW SECS [extra JSON fields [loadgen args]]: one bounded run.
loadgen_run() {
  local kind=$1 label=$2 groups=$3 w=$4 secs=$5 extra=${6:-"{}"} line
  shift 5; (( $# > 0 )) && shift
  line=$(timeout $((secs + 60)) "$LOADGEN" --nodes "$NODE_ADDRS" --groups "$groups" --window "$w" \
    --size 128 --duration "$secs" --warmup 2 --label "$label" --json "${NODE_ARGS[@]}" "$@" \
    2>>"$OUT/loadgen.err") || true
  if [[ -z $line ]]; then log "$label: loadgen produced nothing (see $OUT/loadgen.err)"; return 0; fi
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(json.loads(sys.argv[3])); d["kind"]=sys.argv[2]; print(json.dumps(d))' \
    "$line" "$kind" "$extra" >>"$RES"
  log "$label: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["ops_per_s"], "ops/s p50", d["p50_us"], "us p99", d["p99_us"], "us verified", d["verified"], "foreign", d["foreign_cores"])' "$line")"
}

if ! skip startup; then
  EXTRA_TOML="" cluster_start bench "$STARTUP_GROUPS" 1 count
  first=$STARTUP_S
  cluster_stop
  KEEP_DATA=1 EXTRA_TOML="" cluster_start bench "$STARTUP_GROUPS" 1 count
  again=$STARTUP_S
  cluster_stop
  echo "{\"kind\": \"startup\", \"groups\": $STARTUP_GROUPS, \"fresh_s\": $first, \"restart_s\": $again}" >>"$RES"
  log "startup of $STARTUP_GROUPS groups: fresh ${first}s, restart ${again}s"
fi

if ! skip idle; then
  for n in $IDLE_GROUPS; do
    for q in $QUIESCE; do
      EXTRA_TOML=$(quiesce_toml "$q") cluster_start bench "$n" 1 count
      log "cluster of $n groups (quiescence $q) serving after ${STARTUP_S}s"
      settle "$n" "$q"
      idle_measure "$n" "$q"
      wake_probe "$n" "$q"
      loadgen_run w1 "w1-g$n-q$q" 1 1 "$W1_SECS" "{\"groups_hosted\": $n, \"quiesce\": \"$q\"}" --no-sessions
      cluster_stop
    done
  done
fi

if ! skip tput; then
  for g in $TPUT_GROUPS; do
    EXTRA_TOML="" cluster_start bench "$g" 1 count
    sleep 2
    loadgen_run tput "tput-g$g" "$g" 1024 "$TPUT_SECS" "{\"active_groups\": $g}"
    cluster_stop
  done
fi

if ! skip shards; then
  for s in $SHARDS_LIST; do
    EXTRA_TOML="" cluster_start bench "$SHARD_GROUPS" "$s" count
    sleep 2
    loadgen_run shards "shards$s-g$SHARD_GROUPS" "$SHARD_GROUPS" 1024 "$TPUT_SECS" "{\"shards\": $s}"
    cluster_stop
  done
fi

/usr/bin/python3 "$ROOT/bench/plot_multiraft.py" "$OUT" --table "$OUT/table.md" || log "no plot/table (see above)"
mkdir -p "$ROOT/bench/results"
cp "$RES" "$ROOT/bench/results/multiraft-$STAMP.jsonl"
[[ -f $OUT/table.md ]] && cp "$OUT/table.md" "$ROOT/bench/results/multiraft-$STAMP.md"
[[ -f $OUT/multiraft.png ]] && cp "$OUT/multiraft.png" "$ROOT/bench/results/multiraft-$STAMP.png"
log "done: bench/results/multiraft-$STAMP.{md,jsonl,png}"
