#!/usr/bin/env bash
# long_run.sh: the long simulation. Runs SEEDS seeds (default 100000; half on
# 3 nodes, half on 5) of the deterministic simulator in Release, JOBS at a
# time (default 2), and prints the number of seeds run, the failures (each
# with its replay command) and the wall time.
#
#   tests/sim/long_run.sh [SEEDS] [STEPS]
#   env: JOBS (parallel workers), BUILD_DIR (default build/sim-long),
#        FIRST (first seed, default 1), CHUNK (seeds per worker call, 500)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SEEDS="${1:-100000}"
STEPS="${2:-2000}"
JOBS="${JOBS:-2}"
FIRST="${FIRST:-1}"
CHUNK="${CHUNK:-500}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build/sim-long}"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target raft_sim >/dev/null
SIM="$BUILD_DIR/tests/sim/raft_sim"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# One line per chunk: nodes first count.
half=$(( SEEDS / 2 ))
{
  for nodes in 3 5; do
    n=$half
    [[ $nodes == 5 ]] && n=$(( SEEDS - half ))
    s=$FIRST
    end=$(( FIRST + n ))
    while (( s < end )); do
      c=$(( end - s < CHUNK ? end - s : CHUNK ))
      echo "$nodes $s $c"
      s=$(( s + c ))
    done
  done
} > "$OUT/chunks"

echo "long_run: $SEEDS seeds ($half on 3 nodes, $(( SEEDS - half )) on 5), $STEPS steps each, $JOBS workers"
start=$(date +%s)
export SIM STEPS OUT
# Each chunk writes its own log. If the core aborts (a RAFT_CHECK), the
# simulator's SIGABRT handler has printed the seed; the worker notes it and
# goes on with the next seed of the chunk.
xargs -P "$JOBS" -L 1 bash -c '
  nodes=$0; first=$1; count=$2
  end=$(( first + count ))
  log="$OUT/chunk-$nodes-$1.log"
  while (( first < end )); do
    "$SIM" --nodes "$nodes" --first "$first" --seeds "$(( end - first ))" --steps "$STEPS" \
      >> "$log" 2>&1 || true
    if tail -1 "$log" | grep -q "^raft_sim: nodes"; then break; fi
    s=$(sed -n "s/.*ABORT in seed \([0-9]*\).*/\1/p" "$log" | tail -1)
    if [[ -z "$s" ]]; then echo "CRASHED without a seed" >> "$log"; break; fi
    echo "ABORTED seed $s" >> "$log"
    first=$(( s + 1 ))
  done
' < "$OUT/chunks"
end=$(date +%s)

ran=0
failed=0
for f in "$OUT"/chunk-*.log; do
  while read -r r fl; do
    ran=$(( ran + r ))
    failed=$(( failed + fl ))
  done < <(sed -n 's/.*: \([0-9]*\) ran, \([0-9]*\) failed.*/\1 \2/p' "$f")
  aborts=$(grep -c '^ABORTED seed' "$f" || true)
  ran=$(( ran + aborts ))
  failed=$(( failed + aborts ))
  grep -A1 '^FAIL' "$f" || true
  grep -B3 -A2 'ABORT in seed' "$f" | grep -v '^--$' || true
  grep 'CRASHED without a seed' "$f" && failed=$(( failed + 1 ))
done
echo "long_run: $ran seeds ran, $failed failed, wall time $(( end - start )) s"
(( failed == 0 ))
