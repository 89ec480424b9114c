#!/usr/bin/env bash
# Checks that layering_test.sh bites: on a made-up tree it must report each
# planted violation (and fail), leave the allowed includes alone, and pass
# the same tree once the violations are gone.
set -uo pipefail
CHECK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/layering_test.sh"
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT
fail=0

put() {  # put FILE LINE...: writes the lines to $d/FILE.
  mkdir -p "$(dirname "$d/$1")"
  local f="$1"
  shift
  printf '%s\n' "$@" >"$d/$f"
}

# A clean tree: every include below is allowed.
put common/slice.h '#pragma once' '#include <string>'
put engine/core/types.h '#pragma once' '#include "common/slice.h"'
put engine/core/status.h '#pragma once' '#include "engine/core/types.h"'
put engine/core/raw_node.h '#pragma once' '#include "engine/core/status.h"'
put engine/core/raw_node.cc '#include "engine/core/raw_node.h"'
put engine/core/progress.h '#pragma once' '#include "engine/core/status.h"'
put storage/log_env.h '#pragma once' '#include "engine/core/types.h"' '#include "engine/core/status.h"'
put net/reactor.h '#pragma once' '#include "common/slice.h"'
put engine/node/group.h '#pragma once' '#include "net/reactor.h"' '#include "storage/log_env.h"'
put engine/node/errors.h '#pragma once' '#include <string>' '#include "absl/status/status.h"'
put engine/node/node.h '#pragma once' '#include <memory>' '#include "engine/node/errors.h"' \
  '#include "engine/core/types.h"'
put include/ringraft/ringraft.h '#pragma once' '#include "engine/node/node.h"'
put protocol/client_codec.h '#pragma once' '#include "net/frame.h"' '#include "fbs/client_generated.h"' \
  '#include "engine/node/api_types.h"' '#include "engine/node/errors.h"' '#include "engine/core/types.h"'
put protocol/records/snapshot_envelope.h '#pragma once' '#include "engine/node/peer_table.h"' \
  '#include "absl/status/statusor.h"'
put engine/node/client_service.h '#pragma once' '#include "protocol/client_codec.h"'
put engine/node/node_context.h '#pragma once' '#include "engine/core/types.h"'
put engine/node/shard_runtime.h '#pragma once' '#include "engine/node/node_context.h"'
put engine/node/node_impl.h '#pragma once' '#include "engine/node/node.h"' \
  '#include "engine/node/shard_runtime.h"'
put engine/node/node.cc '#include "engine/node/node.h"' '#include "engine/node/node_impl.h"'
put include/public_headers.txt '# public' ringraft/ringraft.h common/slice.h engine/core/types.h \
  engine/node/errors.h engine/node/node.h

if ! out="$(bash "$CHECK" "$d" 2>&1)"; then
  echo "FAIL: a clean tree is reported:"
  echo "$out"
  fail=1
fi

# Plant one violation per rule.
put engine/core/bad.cc '#include "net/reactor.h"' '#include <thread>'
put engine/core/progress.h '#pragma once' '#include "engine/core/raw_node.h"'
put storage/log_env.h '#pragma once' '#include "engine/core/types.h"' '#include "engine/core/raft.h"'
put engine/node/node.h '#pragma once' '#include <memory>' '#include "engine/node/errors.h"' \
  '#include "net/reactor.h"' '#include <liburing.h>'
put engine/node/errors.h '#pragma once' '#include <string>' '#  include "engine/node/group.h"' \
  '#include "flatbuffers/flatbuffers.h"' '#include <sys/uio.h>'
put engine/node/bad.cc '#include "tests/helper.h"'
put engine/node/shard_runtime.cc '#include "engine/node/shard_runtime.h"' \
  '#include "engine/node/node_impl.h"'
put engine/node/write_pipeline.h '#pragma once' '#include "engine/node/node_impl.h"'
put engine/node/group_apply.cc '#include "engine/node/node.h"'
put engine/node/client_service.cc '#include "engine/node/node_impl.h"'
put protocol/bad.cc '#include "net/reactor.h"' '#include "engine/node/group.h"' '#include "storage/log_env.h"'
put protocol/records/bad.cc '#include "net/frame.h"' '#include "flatbuffers/flatbuffers.h"' \
  '#include "protocol/client_codec.h"'
put net/bad.cc '#include "protocol/client_codec.h"'
put storage/bad.cc '#include "protocol/records/snapshot_envelope.h"'
printf 'engine/node/missing.h\n' >>"$d/include/public_headers.txt"

out="$(bash "$CHECK" "$d" 2>&1)"
rc=$?
if [[ $rc -eq 0 ]]; then
  echo "FAIL: the check passed a tree with violations"
  fail=1
fi
expect=(
  'engine/core/bad.cc:1: includes "net/reactor.h"'
  'engine/core/bad.cc:2:#include <thread>'
  'engine/core/progress.h:2:#include "engine/core/raw_node.h" (the core'
  'storage/log_env.h:3: includes "engine/core/raft.h"'
  'engine/node/node.h:4: includes "net/reactor.h" (a public header'
  'engine/node/node.h:5: includes <liburing.h> (a public header'
  'engine/node/errors.h:3: includes "engine/node/group.h" (a public header'
  'engine/node/errors.h:4: includes "flatbuffers/flatbuffers.h" (a public header'
  'engine/node/errors.h:5: includes <sys/uio.h> (a public header'
  'engine/node/bad.cc:1:#include "tests/helper.h" (a library'
  'lists engine/node/missing.h, which does not exist'
  'protocol/bad.cc:1: includes "net/reactor.h" (protocol uses'
  'protocol/bad.cc:2: includes "engine/node/group.h" (protocol uses'
  'protocol/bad.cc:3: includes "storage/log_env.h" (protocol uses'
  'protocol/records/bad.cc:1: includes "net/frame.h" (protocol/records needs'
  'protocol/records/bad.cc:2:#include "flatbuffers/flatbuffers.h" (protocol/records needs'
  'protocol/records/bad.cc:3: includes "protocol/client_codec.h" (protocol/records needs'
  'net/bad.cc:1: includes "protocol/client_codec.h"'
  'storage/bad.cc:1: includes "protocol/records/snapshot_envelope.h"'
  'engine/node/shard_runtime.cc:2:#include "engine/node/node_impl.h" (the runtime below the node'
  'engine/node/write_pipeline.h:2:#include "engine/node/node_impl.h" (the runtime below the node'
  'engine/node/group_apply.cc:1:#include "engine/node/node.h" (the runtime below the node'
  'engine/node/client_service.cc:1:#include "engine/node/node_impl.h" (the runtime below the node'
)
for e in "${expect[@]}"; do
  if ! grep -qF -- "$e" <<<"$out"; then
    echo "FAIL: not reported: $e"
    fail=1
  fi
done
# Allowed includes stay unreported.
for e in 'engine/core/raw_node.cc' 'engine/node/group.h:' 'engine/node/node.h:3:' \
  'include/ringraft/ringraft.h' 'errors.h:2:' 'storage/log_env.h:2:' 'protocol/client_codec.h:' \
  'protocol/records/snapshot_envelope.h:' 'engine/node/client_service.h:' \
  'engine/node/node.cc:' 'engine/node/node_impl.h:' 'engine/node/shard_runtime.h:' \
  'engine/node/node_context.h:' 'engine/node/shard_runtime.cc:1:'; do
  if grep -qF -- "$e" <<<"$out"; then
    echo "FAIL: reported although allowed: $e"
    fail=1
  fi
done
if ((fail)) || [[ -n "${SELFCHECK_VERBOSE:-}" ]]; then
  echo "--- layering_test.sh said:"
  echo "$out"
fi
((fail == 0)) || exit 1
echo "layering self-check: every planted violation is reported, and only those"
