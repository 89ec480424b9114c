#!/usr/bin/env bash
# The include rules of ARCHITECTURE.md section 2, checked on every source
# file: each layer includes only the project folders below it, engine/core
# includes nothing that does IO (sockets, files, threads, clocks, randomness),
# and no library or program includes examples/, cli/, bench/ or tests/.
# Prints every violation (file:line: include) and fails if there is one.
set -uo pipefail
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$ROOT"
status=0

# check DIR ALLOWED_REGEX WHY: every project include ("dir/...") in DIR's
# sources must match ALLOWED_REGEX.
check() {
  local dir="$1" allowed="$2" why="$3"
  while IFS= read -r hit; do
    local inc="${hit#*#include \"}"
    inc="${inc%%\"*}"
    case "$inc" in
      absl/* | flatbuffers/* | spdlog/* | toml++/* | gtest/* | gmock/* | benchmark/*) continue ;;
    esac
    if [[ ! "$inc" =~ $allowed ]]; then
      echo "${hit%%:#include*}: includes \"$inc\" ($why)"
      status=1
    fi
  done < <(grep -rnH '^#include "' "$dir" --include='*.h' --include='*.cc' | sed 's/:\([0-9]*\):/:\1:/')
}

check common '^common/' "common/ is the base layer"
check engine/core '^(common|engine/core)/' "the core includes only the base layer and itself"
check storage '^(common|storage)/|^engine/core/types\.h$' \
  "storage knows LMDB and files, and only the core's vocabulary (types.h)"
check net '^(common|net|fbs)/' "net knows sockets and frames, not Raft or the runtime"
check engine/node '^(common|engine/core|engine/node|storage|net|fbs)/' \
  "the runtime is the top library layer"

# The core does no IO and reads no clock or random source.
while IFS= read -r hit; do
  echo "$hit (engine/core must not do IO, threads, clocks or randomness)"
  status=1
done < <(grep -rnE '^#include <(sys/[^>]*|unistd\.h|fcntl\.h|thread|mutex|condition_variable|chrono|random|fstream|filesystem|liburing\.h|lmdb\.h|netinet/[^>]*|arpa/[^>]*|ctime|time\.h)>' \
  engine/core --include='*.h' --include='*.cc')

# No library includes a program, a benchmark or a test.
while IFS= read -r hit; do
  echo "$hit (a library must not include programs, benchmarks or tests)"
  status=1
done < <(grep -rnE '^#include "(examples|cli|bench|tests)/' common engine storage net \
  --include='*.h' --include='*.cc')

if ((status == 0)); then echo "layering: every include follows the rules"; fi
exit $status
