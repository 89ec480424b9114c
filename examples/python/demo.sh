#!/usr/bin/env bash
# demo.sh: three Python memstore nodes (memstore.py) on 127.0.0.1, a few
# writes and reads over HTTP, the leader killed with kill -9, a new leader
# serving the data, the old one restarted and caught up.
#
#   examples/python/demo.sh            (after ./dev build release)
#   PYTHONPATH=/where/ringraft/is examples/python/demo.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export PYTHONPATH="${PYTHONPATH:-$ROOT/build/release/python}"
PY=/usr/bin/python3
DIR="$(mktemp -d /tmp/ringraft-pydemo-XXXXXX)"
BASE="${DEMO_BASE_PORT:-17100}"
PEERS="1=127.0.0.1:$((BASE + 1)),2=127.0.0.1:$((BASE + 2)),3=127.0.0.1:$((BASE + 3))"
declare -A PIDS

start() {
  local i=$1
  "$PY" "$HERE/memstore.py" --id "$i" --address "127.0.0.1:$((BASE + i))" \
    --data-dir "$DIR/n$i" --peers "$PEERS" --http "127.0.0.1:$((BASE + 10 + i))" \
    --tick-ms 20 >>"$DIR/n$i.log" 2>&1 &
  PIDS[$i]=$!
}
http() { curl -s --max-time 5 "$@"; echo; }
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

leader_of() {  # leader id as node $1 sees it, polling for up to 20 s
  local deadline=$((SECONDS + 20)) id=""
  while ((SECONDS < deadline)); do
    id=$(curl -s --max-time 1 "127.0.0.1:$((BASE + 10 + $1))/leader" |
      "$PY" -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])' 2>/dev/null || true)
    [[ -n $id && $id != "$2" ]] && { echo "$id"; return; }
    sleep 0.1
  done
  echo "no leader" >&2; exit 1
}

for i in 1 2 3; do start "$i"; done
L=$(leader_of 1 "")
echo "== leader: node $L"
http -X PUT --data-binary hello "127.0.0.1:$((BASE + 10 + L))/store/greeting"
http -X PUT "127.0.0.1:$((BASE + 10 + L))/store/answer/42"
F=$(( L % 3 + 1 ))
echo "== linearizable read on follower $F:"; http "127.0.0.1:$((BASE + 10 + F))/store/greeting"
echo "== kill -9 node $L (pid ${PIDS[$L]})"
kill -9 "${PIDS[$L]}"; wait "${PIDS[$L]}" 2>/dev/null || true; unset "PIDS[$L]"
N=$(leader_of "$F" "$L")
echo "== new leader: node $N"
http "127.0.0.1:$((BASE + 10 + N))/store/answer"
http -X PUT --data-binary after "127.0.0.1:$((BASE + 10 + N))/store/crash"
echo "== restart node $L from its data dir"
start "$L"
deadline=$((SECONDS + 20))
until [[ $(curl -s --max-time 1 "127.0.0.1:$((BASE + 10 + L))/store/crash?stale=true") == after ]]; do
  ((SECONDS < deadline)) || { echo "node $L did not catch up" >&2; exit 1; }
  sleep 0.1
done
echo "== node $L caught up:"; http "127.0.0.1:$((BASE + 10 + L))/store/crash?stale=true"
echo "== peers:"; http "127.0.0.1:$((BASE + 10 + N))/peers"
