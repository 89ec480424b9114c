#!/usr/bin/env bash
# demo.sh: a 3-node memstore cluster on 127.0.0.1, end to end.
#
#   examples/demo.sh [BUILD_DIR]      (default build/release; `./dev demo` runs it)
#
# 1. starts 3 memstore nodes (free ports, temp data dirs);
# 2. writes keys through one node and reads them back through the others;
# 3. kill -9 the leader;
# 4. shows the new leader, elected in a higher term, serving the same data;
# 5. stops every process it started (by PID) and deletes its temp dir.
# Bounded in time (DEMO_SECONDS, default 55); exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-build/release}"
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
MEMSTORE="$BUILD/examples/memstore/memstore"
LIMIT="${DEMO_SECONDS:-55}"
START=$SECONDS

say() { printf '\033[1m[demo]\033[0m %s\n' "$*"; }
fail() {
  printf '\033[1;31m[demo] FAILED:\033[0m %s\n' "$*" >&2
  for i in 1 2 3; do
    [[ -f "$WORK/n$i.log" ]] && { echo "--- node $i log (tail)" >&2; tail -n 15 "$WORK/n$i.log" >&2; }
  done
  exit 1
}

[[ -x "$MEMSTORE" ]] || { echo "demo: $MEMSTORE not built (./dev build release)" >&2; exit 1; }
command -v curl >/dev/null || { echo "demo: curl is needed (./dev deps)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ringraft-demo.XXXXXX")"
declare -A PID=()

cleanup() {
  local rc=$?
  for i in "${!PID[@]}"; do kill -TERM "${PID[$i]}" 2>/dev/null || true; done
  for i in "${!PID[@]}"; do
    # Graceful stop first; kill -9 what is still there after 5 s.
    for _ in $(seq 50); do kill -0 "${PID[$i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PID[$i]}" 2>/dev/null || true
    wait "${PID[$i]}" 2>/dev/null || true
  done
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

time_left() { (( SECONDS - START < LIMIT )); }

# free_port VAR: sets VAR to a port nobody listens on (checked through
# bash's /dev/tcp), not handed out twice by this script. It assigns instead of
# printing: in a $(...) subshell the USED list would not be kept, and two
# nodes could get the same port.
USED=" "
free_port() {
  local candidate
  while :; do
    # Below the kernel's ephemeral range (32768+), where outgoing connections
    # could be holding the port.
    candidate=$(( 10000 + (RANDOM * 32768 + RANDOM) % 22000 ))
    [[ "$USED" == *" $candidate "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
      USED+="$candidate "
      printf -v "$1" '%s' "$candidate"
      return
    fi
  done
}

# http METHOD NODE PATH [BODY]: the answer's status in $CODE, body in $BODY.
CODE=0
BODY=""
http() {
  local method=$1 node=$2 path=$3 body=${4:-}
  local out="$WORK/resp"
  rm -f "$out"
  CODE=$(curl -sS -m 5 -o "$out" -w '%{http_code}' -X "$method" \
    ${body:+--data-binary "$body"} "http://${HTTP[$node]}$path" 2>/dev/null) || CODE=000
  BODY=$(cat "$out" 2>/dev/null || true)
}

# until_ok DESCRIPTION COMMAND...: polls COMMAND until it succeeds or time is up.
until_ok() {
  local what=$1; shift
  while ! "$@"; do
    time_left || fail "timed out waiting for $what"
    sleep 0.1
  done
}

declare -A RAFT=() HTTP=()
for i in 1 2 3; do
  free_port port; RAFT[$i]="127.0.0.1:$port"
  free_port port; HTTP[$i]="127.0.0.1:$port"
done

for i in 1 2 3; do
  cat >"$WORK/n$i.toml" <<TOML
[node]
id = $i
address = "${RAFT[$i]}"
data_dir = "$WORK/data-$i"

[raft]
tick_interval_ms = 50
election_ticks = 10

[[peers]]
id = 1
address = "${RAFT[1]}"
[[peers]]
id = 2
address = "${RAFT[2]}"
[[peers]]
id = 3
address = "${RAFT[3]}"
TOML
done

say "1. starting 3 memstore nodes (data in $WORK)"
for i in 1 2 3; do
  "$MEMSTORE" --config "$WORK/n$i.toml" --http "${HTTP[$i]}" --log-level warn \
    >"$WORK/n$i.log" 2>&1 &
  PID[$i]=$!
  say "   node $i: pid ${PID[$i]}, raft ${RAFT[$i]}, http ${HTTP[$i]}"
done

leader_of() {  # leader id as seen by node $1 (empty if none)
  http GET "$1" /leader
  [[ $CODE == 200 ]] || return 1
  [[ $BODY =~ \"leader_id\":([0-9]+) ]] || return 1
  LEADER=${BASH_REMATCH[1]}
  [[ $LEADER != 0 ]]
}
term_of() {  # current term of node $1, in $TERM_NOW
  http GET "$1" /status
  [[ $CODE == 200 ]] || fail "GET /status on node $1 answered $CODE"
  [[ $BODY =~ \"term\":([0-9]+) ]] || fail "no term in /status of node $1: $BODY"
  TERM_NOW=${BASH_REMATCH[1]}
}

LEADER=""
until_ok "a leader" leader_of 1
OLD_LEADER=$LEADER
term_of "$OLD_LEADER"; OLD_TERM=$TERM_NOW
say "   leader: node $OLD_LEADER (term $OLD_TERM)"

say "2. writing keys through node 1, reading them through nodes 2 and 3"
for kv in "apple=red" "banana=yellow" "cherry=dark red"; do
  key=${kv%%=*} value=${kv#*=}
  http PUT 1 "/store/$key" "$value"
  [[ $CODE == 201 || $CODE == 200 ]] || fail "PUT /store/$key answered $CODE: $BODY"
  say "   PUT /store/$key '$value' -> $CODE $BODY"
done
http PUT 2 /store/durian/green
[[ $CODE == 201 || $CODE == 200 ]] || fail "PUT /store/durian/green answered $CODE: $BODY"
say "   PUT /store/durian/green (via node 2) -> $CODE"
for node in 2 3; do
  for kv in "apple=red" "banana=yellow" "cherry=dark red" "durian=green"; do
    key=${kv%%=*} value=${kv#*=}
    http GET "$node" "/store/$key"
    [[ $CODE == 200 && $BODY == "$value" ]] || fail "node $node GET /store/$key: $CODE '$BODY'"
  done
  say "   node $node reads all 4 keys (linearizable)"
done
http GET 3 "/store/apple?stale=true"
[[ $CODE == 200 && $BODY == red ]] || fail "stale read on node 3: $CODE '$BODY'"
say "   node 3 stale read: apple=$BODY"

say "3. kill -9 the leader (node $OLD_LEADER, pid ${PID[$OLD_LEADER]})"
kill -KILL "${PID[$OLD_LEADER]}"
wait "${PID[$OLD_LEADER]}" 2>/dev/null || true
unset "PID[$OLD_LEADER]"

SURVIVOR=""
for i in 1 2 3; do [[ $i == "$OLD_LEADER" ]] || { SURVIVOR=$i; break; }; done
new_leader() { leader_of "$SURVIVOR" && [[ $LEADER != "$OLD_LEADER" ]]; }
until_ok "a new leader" new_leader
NEW_LEADER=$LEADER
term_of "$NEW_LEADER"; NEW_TERM=$TERM_NOW
(( NEW_TERM > OLD_TERM )) || fail "new term $NEW_TERM is not above $OLD_TERM"
say "4. new leader: node $NEW_LEADER in term $NEW_TERM (was node $OLD_LEADER in term $OLD_TERM)"
for kv in "apple=red" "banana=yellow" "cherry=dark red" "durian=green"; do
  key=${kv%%=*} value=${kv#*=}
  http GET "$NEW_LEADER" "/store/$key"
  [[ $CODE == 200 && $BODY == "$value" ]] || fail "new leader GET /store/$key: $CODE '$BODY'"
done
say "   node $NEW_LEADER serves all 4 keys"
http PUT "$NEW_LEADER" /store/elderberry/purple
[[ $CODE == 201 ]] || fail "write after failover answered $CODE: $BODY"
for i in "${!PID[@]}"; do
  http GET "$i" /store/elderberry
  [[ $CODE == 200 && $BODY == purple ]] || fail "node $i GET /store/elderberry: $CODE '$BODY'"
done
say "   a new write commits with 2 of 3 nodes: elderberry=purple on nodes ${!PID[*]}"

say "5. stopping nodes ${!PID[*]} (SIGTERM) and removing $WORK"
for i in "${!PID[@]}"; do
  kill -TERM "${PID[$i]}"
  for _ in $(seq 100); do kill -0 "${PID[$i]}" 2>/dev/null || break; sleep 0.1; done
  kill -0 "${PID[$i]}" 2>/dev/null && fail "node $i did not stop within 10 s of SIGTERM"
  rc=0
  wait "${PID[$i]}" || rc=$?
  [[ $rc == 0 ]] || fail "node $i exited with $rc after SIGTERM"
  unset "PID[$i]"
done
say "done in $((SECONDS - START)) s"
