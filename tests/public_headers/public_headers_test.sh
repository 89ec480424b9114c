#!/usr/bin/env bash
# The public surface compiles on its own. Usage:
#   public_headers_test.sh check|selfcheck CXX PUBLIC_DIR ROOT [COMPILER FLAGS...]
# PUBLIC_DIR is the assembled public include directory (target
# raft_public_include), ROOT the source tree; extra flags are -I for Abseil
# when it is not in a system directory.
#
# check: PUBLIC_DIR holds exactly the headers of include/public_headers.txt,
# at their installed paths (ringraft/<path>, their includes of each other
# rewritten to match);
# each of them compiles alone, and umbrella_test.cc (which includes only
# ringraft/ringraft.h) compiles, with only PUBLIC_DIR on the include path.
# Nothing from the source tree is reachable, so a public header that includes
# a runtime, storage or net header fails. The system include directories are
# on the path too (Abseil lives there), so LMDB, liburing, FlatBuffers,
# spdlog, toml++, xxHash and http-parser are shadowed by a "poison" directory,
# searched first, whose headers of those names are #error.
#
# selfcheck: the same compile fails, naming the culprit, on a file that
# includes a non-public header and on copies of PUBLIC_DIR where a public
# header includes a storage header, <liburing.h> or FlatBuffers.
set -uo pipefail
mode="$1" cxx="$2" pub="$3" root="$4"
shift 4
extra=("$@")
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

poison="$work/poison"
for h in lmdb.h liburing.h liburing/io_uring.h flatbuffers/flatbuffers.h flatbuffers/base.h \
  flatbuffers/flatbuffer_builder.h flatbuffers/verifier.h spdlog/spdlog.h spdlog/logger.h \
  spdlog/fmt/fmt.h fmt/format.h fmt/core.h toml++/toml.h toml++/toml.hpp xxhash.h http_parser.h; do
  mkdir -p "$(dirname "$poison/$h")"
  printf '#error "<%s> reached from a public header (public headers: standard library and Abseil only)"\n' \
    "$h" >"$poison/$h"
done

# compile INCLUDE_DIR SOURCE: syntax check with warnings as errors, as an
# embedder's strict build would.
compile() {
  "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror \
    -I"$poison" -I"$1" "${extra[@]}" -x c++ "$2" 2>&1
}

mapfile -t listed < <(grep -v '^#' "$root/include/public_headers.txt" | tr -d ' \t' | sed '/^$/d')
# Their paths in PUBLIC_DIR, the installed layout: ringraft/<path>, the
# umbrella ringraft/ringraft.h as it is (cmake/ringraft_package.cmake).
headers=()
for h in "${listed[@]}"; do
  [[ "$h" == ringraft/* ]] && headers+=("$h") || headers+=("ringraft/$h")
done
fail=0

check() {
  if [[ ! -f "$pub/ringraft/ringraft.h" ]]; then
    echo "FAIL: $pub/ringraft/ringraft.h missing (build the target raft_public_include)"
    return 1
  fi
  local have want
  have="$(cd "$pub" && find . -type f | sed 's|^\./||' | sort)"
  want="$(printf '%s\n' "${headers[@]}" | sort)"
  if [[ "$have" != "$want" ]]; then
    echo "FAIL: $pub does not hold exactly the public headers:"
    diff <(echo "$want") <(echo "$have")
    fail=1
  fi
  for h in "${headers[@]}"; do
    printf '#include "%s"\n' "$h" >"$work/one.cc"
    if ! out="$(compile "$pub" "$work/one.cc")"; then
      echo "FAIL: $h does not compile alone with only the public headers:"
      echo "$out"
      fail=1
    fi
  done
  if ! out="$(compile "$pub" "$here/umbrella_test.cc")"; then
    echo "FAIL: umbrella_test.cc does not compile with only the public headers:"
    echo "$out"
    fail=1
  fi
  ((fail == 0)) && echo "public headers: ${#headers[@]} headers, each compiles alone and through ringraft/ringraft.h"
  return $fail
}

# must_fail NAME PUBLIC_DIR SOURCE PATTERN: the compile fails and says PATTERN.
must_fail() {
  local out
  if out="$(compile "$2" "$3")"; then
    echo "FAIL: $1: compiled although it should not"
    fail=1
  elif ! grep -qF -- "$4" <<<"$out"; then
    echo "FAIL: $1: failed without naming $4:"
    echo "$out"
    fail=1
  else
    echo "ok: $1"
  fi
}

# planted NAME HEADER INCLUDE PATTERN: a copy of the public headers where
# HEADER also includes INCLUDE must not compile.
planted() {
  rm -rf "$work/pub"
  cp -r "$pub" "$work/pub"
  printf '#include %s\n' "$3" >>"$work/pub/$2"
  must_fail "$1" "$work/pub" "$here/umbrella_test.cc" "$4"
}

selfcheck() {
  printf '#include "ringraft/ringraft.h"\n#include "net/reactor.h"\n' >"$work/nonpublic.cc"
  must_fail "a file including a non-public header" "$pub" "$work/nonpublic.cc" "net/reactor.h"
  planted "node.h including storage/log_env.h" ringraft/engine/node/node.h '"storage/log_env.h"' \
    "storage/log_env.h"
  planted "client.h including <liburing.h>" ringraft/engine/node/client.h '<liburing.h>' \
    "<liburing.h> reached from a public header"
  planted "errors.h including FlatBuffers" ringraft/engine/node/errors.h '"flatbuffers/flatbuffers.h"' \
    "<flatbuffers/flatbuffers.h> reached from a public header"
  planted "types.h including <lmdb.h>" ringraft/engine/core/types.h '<lmdb.h>' \
    "<lmdb.h> reached from a public header"
  ((fail == 0)) && echo "public headers self-check: every planted violation fails to compile"
  return $fail
}

case "$mode" in
  check) check ;;
  selfcheck) selfcheck ;;
  *)
    echo "usage: $0 check|selfcheck CXX PUBLIC_DIR ROOT [FLAGS...]" >&2
    exit 2
    ;;
esac
