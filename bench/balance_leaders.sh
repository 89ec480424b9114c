#!/usr/bin/env bash
# Leader balance on 3 real node processes (bench_node) on 127.0.0.1: starts
# the cluster with [balance] leaders = false and N groups, waits until every
# group has a leader, prints the leaders per node (the skew elections
# leave, or with SKEW=1 every leader moved to node 1 first), then turns
# balance on in every node (SIGUSR2) and polls the nodes' metrics
# (SIGUSR1 -> <data_dir>/metrics.txt) until each node leads at most
# ceil(N/3) + MARGIN groups and every group has one leader. Prints the
# leaders per node after, the seconds it took, and the transfers started
# and failed (ringraft_balance_transfers{,_failed}_total).
#
#   bench/balance_leaders.sh [BUILD_DIR=build/release]
# Env: GROUPS_N (1000), SHARDS (1), MARGIN (1), PERIOD_TICKS (10),
#      MAX_TRANSFERS (8), TICK_MS (100), QUIESCE_TICKS (20), SKEW (0),
#      TIMEOUT_S (600), PORT0 (7640), BASE (/tmp/ringraft_balance).
# Every process it starts is stopped by PID at exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build/release}; [[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
GROUPS_N=${GROUPS_N:-1000}
SHARDS=${SHARDS:-1}
MARGIN=${MARGIN:-1}
PERIOD_TICKS=${PERIOD_TICKS:-10}
MAX_TRANSFERS=${MAX_TRANSFERS:-8}
TICK_MS=${TICK_MS:-100}
QUIESCE_TICKS=${QUIESCE_TICKS:-20}
SKEW=${SKEW:-0}
TIMEOUT_S=${TIMEOUT_S:-600}
PORT0=${PORT0:-7640}
BASE=${BASE:-/tmp/ringraft_balance}
BENCH_NODE=$BUILD/bench/loadgen/bench_node
RAFTCTL=$BUILD/cli/raftctl
[[ -x $BENCH_NODE ]] || { echo "build first: cmake --build $BUILD --target bench_node raftctl" >&2; exit 1; }
log() { echo "[balance $(date -u +%H:%M:%S)] $*" >&2; }

NODE_PIDS=()
stop_nodes() {
  local p
  for p in "${NODE_PIDS[@]:-}"; do [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${NODE_PIDS[@]:-}"; do
    [[ -n "$p" ]] || continue
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  NODE_PIDS=()
}
trap stop_nodes EXIT

rm -rf "$BASE"; mkdir -p "$BASE"
glist=$(seq -s, 1 "$GROUPS_N")
peers=""
for i in 1 2 3; do peers+=$'\n'"[[peers]]"$'\n'"id = $i"$'\n'"address = \"127.0.0.1:$((PORT0 + i))\""; done
CLUSTER=""
for i in 1 2 3; do
  mkdir -p "$BASE/n$i"
  cat >"$BASE/n$i.toml" <<TOML
[node]
id = $i
address = "127.0.0.1:$((PORT0 + i))"
data_dir = "$BASE/n$i"
groups = [$glist]
shards = $SHARDS
[raft]
tick_interval_ms = $TICK_MS
quiesce_ticks = $QUIESCE_TICKS
[balance]
leaders = false
margin = $MARGIN
period_ticks = $PERIOD_TICKS
max_transfers_per_period = $MAX_TRANSFERS
$peers
TOML
  "$BENCH_NODE" --config "$BASE/n$i.toml" >"$BASE/n$i.log" 2>&1 &
  NODE_PIDS+=($!)
  CLUSTER+="${CLUSTER:+,}127.0.0.1:$((PORT0 + i))"
done
log "3 nodes (pids ${NODE_PIDS[*]}), $GROUPS_N groups, $SHARDS shard(s), tick $TICK_MS ms," \
  "margin $MARGIN, period $PERIOD_TICKS ticks, <= $MAX_TRANSFERS transfers/period; logs in $BASE"
for i in 1 2 3; do
  for _ in $(seq 600); do [[ -s $BASE/n$i/ready ]] && break; sleep 0.1; done
  [[ -s $BASE/n$i/ready ]] || { log "node $i did not start (see $BASE/n$i.log)"; exit 1; }
done

# metric NODE NAME: the value of an unlabelled metric in the node's last metrics.txt.
metric() { awk -v n="ringraft_$2" '$1 == n { print $2; exit }' "$BASE/n$1/metrics.txt"; }
# Asks every node for fresh metrics and waits until all three are written.
refresh() {
  local i
  for i in 1 2 3; do rm -f "$BASE/n$i/metrics.txt"; kill -USR1 "${NODE_PIDS[$((i - 1))]}"; done
  for i in 1 2 3; do
    for _ in $(seq 200); do [[ -s $BASE/n$i/metrics.txt ]] && break; sleep 0.02; done
  done
}
# Leaders per node ("a b c") from the nodes' ringraft_groups_led gauges.
leaders() { refresh; echo "$(metric 1 groups_led) $(metric 2 groups_led) $(metric 3 groups_led)"; }
sum() { local s=0 x; for x in "$@"; do s=$((s + x)); done; echo $s; }

# Every group led once: the gauges sum to N (a leader that lost its term but
# has not heard yet counts twice for a moment, so wait for a steady sum).
wait_all_led() {
  local deadline=$((SECONDS + TIMEOUT_S)) l
  while ((SECONDS < deadline)); do
    l=$(leaders)
    # shellcheck disable=SC2086
    (( $(sum $l) == GROUPS_N )) && { echo "$l"; return 0; }
    sleep 0.2
  done
  log "not every group has a leader after ${TIMEOUT_S} s: $l"; return 1
}

start_s=$SECONDS
before=$(wait_all_led)
log "every group led after $((SECONDS - start_s)) s: leaders per node $before"
if [[ $SKEW == 1 ]]; then
  [[ -x $RAFTCTL ]] || { echo "SKEW=1 needs raftctl: cmake --build $BUILD --target raftctl" >&2; exit 1; }
  log "moving every leader to node 1 (raftctl transfer-leader, 4 at a time)"
  seq 1 "$GROUPS_N" | xargs -P 4 -I{} sh -c \
    "'$RAFTCTL' transfer-leader 1 --group {} --cluster '$CLUSTER' >/dev/null 2>&1 || true"
  before=$(wait_all_led)
  log "after the skew: leaders per node $before"
fi

share=$(( (GROUPS_N + 2) / 3 ))
limit=$((share + MARGIN))
t0=$(date +%s.%N)
for p in "${NODE_PIDS[@]}"; do kill -USR2 "$p"; done
log "balance on (share $share, limit $limit per node)"
deadline=$((SECONDS + TIMEOUT_S))
after=""
while ((SECONDS < deadline)); do
  l=$(leaders)
  read -r a b c <<<"$l"
  if (( a <= limit && b <= limit && c <= limit && a + b + c == GROUPS_N )); then after=$l; break; fi
  sleep 0.1
done
t1=$(date +%s.%N)
[[ -n $after ]] || { log "not balanced within ${TIMEOUT_S} s: $l"; exit 1; }
secs=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
started=$(( $(metric 1 balance_transfers_total) + $(metric 2 balance_transfers_total) + $(metric 3 balance_transfers_total) ))
failed=$(( $(metric 1 balance_transfers_failed_total) + $(metric 2 balance_transfers_failed_total) + $(metric 3 balance_transfers_failed_total) ))
# Still balanced a few periods later (nothing oscillates).
sleep "$(python3 -c "print($TICK_MS * $PERIOD_TICKS * 5 / 1000)")"
settled=$(leaders)
started_later=$(( $(metric 1 balance_transfers_total) + $(metric 2 balance_transfers_total) + $(metric 3 balance_transfers_total) ))
echo "groups=$GROUPS_N shards=$SHARDS tick_ms=$TICK_MS margin=$MARGIN period_ticks=$PERIOD_TICKS max_transfers=$MAX_TRANSFERS skew=$SKEW"
echo "leaders before (node 1 2 3): $before"
echo "leaders after  (node 1 2 3): $after   (limit $limit)"
echo "seconds to balance: $secs"
echo "transfers started: $started, failed: $failed"
echo "5 periods later: leaders $settled, transfers started $started_later"
