#!/usr/bin/env bash
# Side by side on this machine, in one run: our 3-node cluster (bench_node,
# real disk under /tmp, fsync on) driven by ringraft_loadgen, then memstore
# over HTTP with wrk, then etcd 3.4 (wrk) and canonical/raft (libraft) from
# ../shared/peers, with the same payload (128 B) and concurrency. Prints a
# table with our ratio against each peer.
#
#   bench/run_compare.sh [BUILD_DIR=build/release] [SECS=10]
# Env: WINDOWS ("1 16 256 1024"), WRK_CONNS ("1 16 256 1024"), GROUPS8 (8),
#      SKIP ("" or any of: ours memstore etcd craft), OUT (/tmp/ringraft_compare/<stamp>),
#      PEERS (../shared/peers), SHARDS (1), FOREIGN_MAX (0.5), MAX_TRIES (3),
#      SESSIONS_COMPARE (1: each of our windows again without client sessions).
#      TLS_COMPARE=1: only our cluster, each of WINDOWS with TLS off then on
#      (bench/loadgen/cluster.sh TLS=1: mutual TLS between the nodes and to
#      the load generator), in the same run; prints the cost of TLS.
# Before every measurement it waits for a quiet machine (peers' quiet.sh) and
# retries a measurement whose foreign load exceeded FOREIGN_MAX cores. Every
# load is bounded in time; only processes started here are stopped, by PID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build/release}; [[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
SECS=${2:-10}
WINDOWS=${WINDOWS:-"1 16 256 1024"}
WRK_CONNS=${WRK_CONNS:-"1 16 256 1024"}
GROUPS8=${GROUPS8:-8}
SHARDS=${SHARDS:-1}
SKIP=${SKIP:-}
PEERS=${PEERS:-$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || echo /work/shared/peers)}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-/tmp/ringraft_compare/$STAMP}; mkdir -p "$OUT"
export PEERS_RESULTS=$OUT/peers
MAX_TRIES=${MAX_TRIES:-3}
source "$PEERS/lib.sh"
LOADGEN=$BUILD/bench/loadgen/ringraft_loadgen
BENCH_NODE=$BUILD/bench/loadgen/bench_node
MEMSTORE=$BUILD/examples/memstore/memstore
BASE=/tmp/ringraft_bench
source "$ROOT/bench/loadgen/cluster.sh"
trap 'cluster_stop' EXIT
skip() { [[ " $SKIP " == *" $1 "* ]]; }
log() { echo "[compare $(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }
# The peers and wrk come from Debian (../shared/peers/README.md): installed when missing.
peer_pkgs=()
command -v wrk >/dev/null || peer_pkgs+=(wrk)
command -v etcd >/dev/null || peer_pkgs+=(etcd-server etcd-client)
pkg-config --exists raft libuv 2>/dev/null || peer_pkgs+=(libraft-dev libuv1-dev pkg-config)
if ((${#peer_pkgs[@]} > 0)); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "[compare] installing ${peer_pkgs[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${peer_pkgs[@]}" >/dev/null || echo "[compare] could not install ${peer_pkgs[*]}" >&2
fi
[[ -x $LOADGEN && -x $BENCH_NODE ]] || { echo "build first: cmake --build $BUILD --target ringraft_loadgen bench_node memstore" >&2; exit 1; }
log "machine: $(nproc) cores, $(uname -r), /tmp on $(findmnt -no SOURCE,FSTYPE -T /tmp); load: $(cut -d' ' -f1-3 /proc/loadavg)"
log "results in $OUT"

# ours LABEL GROUPS WINDOW [extra loadgen args]: fresh cluster, one bounded loadgen run, JSON line.
ours() {
  local label=$1 groups=$2 w=$3; shift 3
  local try line fc
  for try in $(seq 1 "$MAX_TRIES"); do
    wait_quiet
    cluster_start bench "$groups" "$SHARDS" count
    line=$(timeout $((SECS + 60)) "$LOADGEN" --nodes "$NODE_ADDRS" --groups "$groups" --window "$w" \
      --size 128 --duration "$SECS" --warmup 2 --label "$label" --json "${NODE_ARGS[@]}" \
      "${LOADGEN_TLS_ARGS[@]}" "$@" \
      2>>"$OUT/loadgen.err") || true
    cluster_stop
    [[ -n "$line" ]] || { log "$label: loadgen produced nothing (see $OUT/loadgen.err)"; continue; }
    fc=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["foreign_cores"])' "$line")
    if too_noisy "$fc" && (( try < MAX_TRIES )); then log "$label: discarded, foreign cores $fc"; continue; fi
    echo "$line" >>"$OUT/ours.jsonl"
    log "$label: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["ops_per_s"], "ops/s p50", d["p50_us"], "us p99", d["p99_us"], "us verified", d["verified"], "foreign", d["foreign_cores"])' "$line")"
    return 0
  done
}

if [[ ${TLS_COMPARE:-0} == 1 ]]; then
  for w in $WINDOWS; do
    TLS=0 ours "plain-w$w" 1 "$w"
    TLS=1 ours "tls-w$w" 1 "$w"
  done
  python3 - "$OUT/ours.jsonl" <<'PY' | tee "$OUT/tls_table.md"
import json, sys
rows = {json.loads(l)["label"]: json.loads(l) for l in open(sys.argv[1])}
print("| W | plain ops/s | TLS ops/s | throughput cost | plain p50 us | TLS p50 us | p50 cost us |")
print("|---|---|---|---|---|---|---|")
for label in rows:
    if not label.startswith("plain-"): continue
    w = label[len("plain-w"):]
    p, t = rows[label], rows.get("tls-w" + w)
    if t is None: continue
    cost = 100.0 * (1 - t["ops_per_s"] / p["ops_per_s"]) if p["ops_per_s"] else float("nan")
    print(f"| {w} | {p['ops_per_s']:.0f} | {t['ops_per_s']:.0f} | {cost:.1f} % | "
          f"{p['p50_us']:.0f} | {t['p50_us']:.0f} | {t['p50_us'] - p['p50_us']:.0f} |")
PY
  exit 0
fi

if ! skip ours; then
  for w in $WINDOWS; do
    extra=(); [[ $w == 1 ]] && extra=(--probe /tmp)
    ours "w$w" 1 "$w" "${extra[@]}"
    # SESSIONS_COMPARE=1: the same load with plain puts right after, for the
    # cost of exactly-once proposals (the loadgen puts in a session by default).
    [[ ${SESSIONS_COMPARE:-0} == 1 ]] && ours "w$w-nosessions" 1 "$w" --no-sessions
  done
  ours "g$GROUPS8-w1024" "$GROUPS8" 1024
  if [[ ${SESSIONS_COMPARE:-0} == 1 ]]; then
    python3 - "$OUT/ours.jsonl" <<'PY' | tee -a "$OUT/run.log" >&2
import json, sys
runs = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    runs[d["label"]] = d
for label, on in runs.items():
    off = runs.get(label + "-nosessions")
    if off is None or not off["ops_per_s"]:
        continue
    print(f"sessions {label}: {on['ops_per_s']:.0f} vs {off['ops_per_s']:.0f} ops/s "
          f"({on['ops_per_s'] / off['ops_per_s']:.3f}x), p50 {on['p50_us']} vs {off['p50_us']} us, "
          f"p99 {on['p99_us']} vs {off['p99_us']} us")
PY
  fi
fi

if ! skip memstore; then
  if [[ -x $MEMSTORE ]]; then
    printf "conns\treq_s\tp50_ms\tp99_ms\tmax_ms\trequests\tnon2xx\terrs\tnode_cores\twrk_cores\tforeign_cores\n" >"$OUT/memstore_wrk.tsv"
    for c in $WRK_CONNS; do
      t=$(( c < 2 ? 1 : 2 ))
      wait_quiet
      cluster_start memstore 1 "$SHARDS"
      leader=""
      for _ in $(seq 50); do
        # GET /leader answers {"leader_id":N,...}; node N serves HTTP on HTTP0+N.
        id=$(curl -sf "http://${HTTP_ADDRS[0]}/leader" 2>/dev/null | sed -nE 's/.*"leader_id":([0-9]+).*/\1/p')  || true
        if [[ -n $id && $id != 0 ]]; then leader=127.0.0.1:$((HTTP0 + id)); break; fi
        sleep 0.2
      done
      [[ -n $leader ]] || leader=${HTTP_ADDRS[0]}
      read -r b0 _ < <(cpu_ticks); e0=$(pid_ticks "${NODE_PIDS[@]}"); w0=$(date +%s.%N)
      TIMEFORMAT='WRKCPU %U %S'
      out=$( { time timeout $((SECS + 30)) wrk -t"$t" -c"$c" -d"${SECS}s" --timeout 10s --latency \
        -s "$ROOT/bench/loadgen/put.lua" "http://$leader" ; } 2>&1) || true
      read -r b1 _ < <(cpu_ticks); e1=$(pid_ticks "${NODE_PIDS[@]}"); w1=$(date +%s.%N)
      cluster_stop
      echo "$out" >>"$OUT/memstore_wrk.log"
      wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b-a}')
      wcpu=$(echo "$out" | awk '/^WRKCPU/{print $2+$3}')
      ecpu=$(awk -v a="$e0" -v b="$e1" -v hz="$HZ" 'BEGIN{print (b-a)/hz}')
      fc=$(foreign_cores $((b1 - b0)) "$(awk -v a="$ecpu" -v b="${wcpu:-0}" 'BEGIN{print a+b}')" "$wall")
      echo "$out" | awk -v c="$c" -v ec="$ecpu" -v wc="${wcpu:-0}" -v w="$wall" -v fc="$fc" '/^RESULT/{
        for(i=2;i<=NF;i++){split($i,kv,"="); v[kv[1]]=kv[2]}
        printf "%s\t%.0f\t%.3f\t%.3f\t%.1f\t%s\t%s\t%s\t%.2f\t%.2f\t%s\n", c, v["req/s"], v["p50_ms"], v["p99_ms"], v["max_ms"], v["requests"], v["non2xx"], v["sockerr"]+v["timeouts"], ec/w, wc/w, fc}' \
        | tee -a "$OUT/memstore_wrk.tsv" >&2
    done
  else
    log "memstore not built ($MEMSTORE): wrk comparison skipped"
  fi
fi

if ! skip etcd; then
  log "etcd: $PEERS/run_etcd.sh 1 $SECS \"$WRK_CONNS\""
  "$PEERS/run_etcd.sh" 1 "$SECS" "$WRK_CONNS" >>"$OUT/run.log" 2>&1 || log "etcd run failed (see $OUT/run.log)"
fi
if ! skip craft; then
  log "canonical/raft: $PEERS/craft_bench/run.sh 1 $SECS \"$WINDOWS\" --snapshot-threshold 100000"
  "$PEERS/craft_bench/run.sh" 1 "$SECS" "$WINDOWS" --snapshot-threshold 100000 >>"$OUT/run.log" 2>&1 ||
    log "craft run failed (see $OUT/run.log)"
fi

python3 "$ROOT/bench/loadgen/compare_table.py" "$OUT" | tee "$OUT/table.md"

# The same run as a PNG beside the table (writes/s against p50 and p99 for
# each W). matplotlib comes from Debian, for the system python.
if ! /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  log "installing python3-matplotlib for the plot"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    python3-matplotlib >>"$OUT/run.log" 2>&1 || log "python3-matplotlib could not be installed"
fi
/usr/bin/python3 "$ROOT/bench/plot_compare.py" "$OUT" && log "plot: $OUT/table.png" ||
  log "no plot (see the message above)"
