#!/usr/bin/env bash
# The include rules of ARCHITECTURE.md section 2, checked on every source
# file: each layer includes only the project folders below it (net never
# includes protocol/, protocol includes only net/frame.h of net), engine/core
# includes nothing that does IO (sockets, files, threads, clocks, randomness)
# and never its own facade (raw_node.h), the runtime below the node
# (shard runtime, client service, group driver) never includes node_impl.h
# or node.h, no library or program includes
# examples/, cli/, bench/ or tests/, and the public headers
# (include/public_headers.txt) include only the standard library, Abseil and
# each other. Prints every violation (file:line: include) and fails if there
# is one. tests/layering_test_selfcheck.sh checks that each rule bites.
set -uo pipefail
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$ROOT" || exit 2
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
check storage '^(common|storage)/|^engine/core/(types|status)\.h$' \
  "storage knows LMDB and files, and only the core's vocabulary (raft_types: types.h, status.h)"
check net '^(common|net|fbs)/' "net knows sockets and frames, not Raft, the protocol or the runtime"
# protocol/: every wire encoding. It may use net's frame type (net/frame.h)
# but nothing else of net (no reactor, connections or transport), the
# core's vocabulary (types.h) and the public API's vocabulary
# (api_types.h, errors.h, peer_table.h), never a runtime header.
# protocol/records/ (raft_protocol_records, linked by the group driver)
# uses neither FlatBuffers nor net.
PROTOCOL_VOCABULARY='^engine/core/types\.h$|^engine/node/(api_types|errors|peer_table)\.h$'
if [[ -d protocol ]]; then
  check protocol "^(common|protocol|fbs)/|^net/frame\.h\$|$PROTOCOL_VOCABULARY" \
    "protocol uses net's frames and the API's vocabulary, not the reactor or the runtime"
fi
if [[ -d protocol/records ]]; then
  check protocol/records "^(common|protocol/records)/|$PROTOCOL_VOCABULARY" \
    "protocol/records needs neither FlatBuffers nor net (the driver links it)"
  while IFS= read -r hit; do
    echo "$hit (protocol/records needs neither FlatBuffers nor net)"
    status=1
  done < <(grep -rnH '^#include "flatbuffers/' protocol/records --include='*.h' --include='*.cc')
fi
check engine/node '^(common|engine/core|engine/node|storage|net|protocol|fbs)/' \
  "the runtime is the top library layer"

# Below the node, nothing includes it: the shard runtime and what it is
# made of (write_pipeline, snapshot_streams), the client service, the
# metrics text, the group driver (group*) and NodeContext itself see the
# node only through NodeContext (node_context.h), never through NodeImpl
# (node_impl.h) or Node (node.h), which sit on top of them.
BELOW_NODE='^engine/node/(shard_runtime|client_service|write_pipeline|snapshot_streams|metrics_text|node_context|group)[^/]*\.(h|cc)$'
while IFS= read -r hit; do
  [[ "${hit%%:*}" =~ $BELOW_NODE ]] || continue
  echo "$hit (the runtime below the node sees it only through NodeContext, node_context.h)"
  status=1
done < <(grep -rnHE '^#[[:space:]]*include "engine/node/(node_impl|node)\.h"' engine/node \
  --include='*.h' --include='*.cc' 2>/dev/null)

# The core does no IO and reads no clock or random source.
while IFS= read -r hit; do
  echo "$hit (engine/core must not do IO, threads, clocks or randomness)"
  status=1
done < <(grep -rnE '^#include <(sys/[^>]*|unistd\.h|fcntl\.h|thread|mutex|condition_variable|chrono|random|fstream|filesystem|liburing\.h|lmdb\.h|netinet/[^>]*|arpa/[^>]*|ctime|time\.h)>' \
  engine/core --include='*.h' --include='*.cc')

# The core's internals do not include its facade: RawNode (raw_node.h) sits
# on top of them, and what they share with it (status.h, types.h, ready.h,
# ...) has its own header. Only raw_node.cc includes raw_node.h.
while IFS= read -r hit; do
  case "${hit%%:*}" in
    engine/core/raw_node.cc | engine/core/raw_node.h) continue ;;
  esac
  echo "$hit (the core's internals must not include its facade raw_node.h)"
  status=1
done < <(grep -rnH '^#include "engine/core/raw_node\.h"' engine/core --include='*.h' --include='*.cc')

# The public headers: each listed header exists, and includes only standard
# C++ headers (<name>, no directory, no .h), Abseil and other listed headers.
# No LMDB, liburing, FlatBuffers, spdlog or toml++, no system or POSIX
# header, no runtime, storage or net header.
PUBLIC_LIST=include/public_headers.txt
if [[ ! -f "$PUBLIC_LIST" ]]; then
  echo "$PUBLIC_LIST: missing (the list of public headers)"
  status=1
else
  mapfile -t public_list < <(grep -v '^#' "$PUBLIC_LIST" | tr -d ' \t' | sed '/^$/d')
  declare -A public=()
  for h in "${public_list[@]}"; do public["$h"]=1; done
  for h in "${public_list[@]}"; do
    src="$h"
    [[ -f "include/$h" ]] && src="include/$h"
    if [[ ! -f "$src" ]]; then
      echo "$PUBLIC_LIST: lists $h, which does not exist"
      status=1
      continue
    fi
    while IFS= read -r hit; do
      inc="${hit#*#include}"
      inc="${inc#"${inc%%[!$' \t']*}"}"
      name="${inc:1}"
      case "${inc:0:1}" in
        '"') name="${name%%\"*}" ;;
        '<') name="${name%%>*}" ;;
        *) name="$inc" ;;
      esac
      if [[ "$name" == absl/* ]]; then continue; fi
      if [[ "${inc:0:1}" == '<' && "$name" =~ ^[a-z_0-9]+$ ]]; then continue; fi
      if [[ "${inc:0:1}" == '"' && -n "$name" && -n "${public[$name]:-}" ]]; then continue; fi
      echo "${hit%%:#include*}: includes ${inc%%[$' \t']*} (a public header includes only the" \
        "standard library, Abseil and the headers of $PUBLIC_LIST)"
      status=1
    done < <(grep -nH '^[[:space:]]*#[[:space:]]*include' "$src" | sed 's/:[[:space:]]*#[[:space:]]*include/:#include /')
  done
fi

# No library includes a program, a benchmark or a test.
while IFS= read -r hit; do
  echo "$hit (a library must not include programs, benchmarks or tests)"
  status=1
done < <(grep -rnE '^#include "(examples|cli|bench|tests)/' common engine storage net protocol \
  --include='*.h' --include='*.cc' 2>/dev/null)

if ((status == 0)); then echo "layering: every include follows the rules"; fi
exit $status
