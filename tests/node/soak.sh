#!/usr/bin/env bash
# A soak run by hand (not in CI): 3 node processes on 127.0.0.1, two writers
# proposing unique keys, the leader killed with SIGKILL every 30 s and
# restarted 5 s later, then every acknowledged write read back
# linearizably. Prints the counts; exits non-zero if any acknowledged write
# was lost.
#   tests/node/soak.sh [seconds=300] [kill_every=30] [--keep]
# --keep keeps the data dirs and node logs (they are kept anyway on failure).
# A node that dies on its own (not killed by the soak) fails the run at once.
# BUILD_DIR (default build/soak) is configured in Release if needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TOTAL="${1:-300}"
KILL_EVERY="${2:-30}"
BUILD_DIR="${BUILD_DIR:-build/soak}"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j2 --target ringraft_soak ringraft_test_node >/dev/null
exec "$BUILD_DIR/tests/node/ringraft_soak" --seconds "$SECONDS_TOTAL" --kill-every "$KILL_EVERY" "${@:3}"
