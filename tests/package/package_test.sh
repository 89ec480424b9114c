#!/usr/bin/env bash
# The installed package works for an embedder. Usage:
#   package_test.sh BUILD_DIR SOURCE_DIR CMAKE CXX
#
# 1. `cmake --install BUILD_DIR --prefix <tmp>` (components runtime and
#    development) gives exactly: the public headers under include/ringraft/,
#    libringraft.a, libringraft.so.<version> with its SONAME links, the
#    CMake package and ringraft.pc.
# 2. The umbrella header compiles (-Wall -Wextra -Wpedantic -Werror) with only
#    <tmp>/include on the path (and the system's, where Abseil is, with
#    LMDB, liburing, FlatBuffers, spdlog, toml++ and xxHash headers shadowed
#    by #error).
# 3. tests/package/consumer (a one-node cluster: start, propose, read, stop,
#    restart on the same data dir, read back) is built and run four times:
#    find_package(ringraft) with the shared library, the same with
#    ringraft_USE_STATIC_LIBS, and plain $CXX with `pkg-config ringraft`
#    (shared) and `pkg-config --static ringraft` (libringraft.a); the shared
#    builds need libringraft.so.<major>, the static ones do not.
# 4. As a subdirectory of another project (add_subdirectory, configured only)
#    ringraft builds no tests, benchmarks or examples, needs no GTest, and
#    puts neither -Werror nor its warning flags on the parent's targets.
set -uo pipefail
build="$(cd "$1" && pwd)" src="$(cd "$2" && pwd)" cmake="$3" cxx="$4"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
launcher=()
command -v ccache >/dev/null && launcher=(ccache)
cmake_launcher=()
((${#launcher[@]})) && cmake_launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fail=0
t0=$SECONDS
step() { echo "--- $* ($((SECONDS - t0)) s)"; }
bad() {
  echo "FAIL: $*"
  fail=1
}

# --- 1. install ---
step "cmake --install into $prefix"
for c in runtime development; do
  if ! out="$("$cmake" --install "$build" --prefix "$prefix" --component "$c" 2>&1)"; then
    echo "$out"
    echo "FAIL: cmake --install --component $c"
    exit 1
  fi
done
libdir=""
for d in lib lib64 lib/x86_64-linux-gnu; do
  [[ -f "$prefix/$d/libringraft.a" ]] && libdir="$prefix/$d"
done
if [[ -z "$libdir" ]]; then
  echo "FAIL: no libringraft.a under $prefix:"
  (cd "$prefix" && find . | sort)
  exit 1
fi
mapfile -t headers < <(grep -v '^#' "$src/include/public_headers.txt" | tr -d ' \t' | sed '/^$/d')
want="$(for h in "${headers[@]}"; do
  [[ "$h" == ringraft/* ]] && echo "$h" || echo "ringraft/$h"
done | sort)"
have="$(cd "$prefix/include" && find . -type f | sed 's|^\./||' | sort)"
if [[ "$have" != "$want" ]]; then
  bad "$prefix/include does not hold exactly the public headers (include/public_headers.txt):"
  diff <(echo "$want") <(echo "$have")
fi
so="$(ls "$libdir"/libringraft.so.*.*.* 2>/dev/null | head -1)"
if [[ -z "$so" ]]; then
  bad "no libringraft.so.<version> in $libdir"
else
  major="$(basename "$so" | sed -nE 's/^libringraft\.so\.([0-9]+)\..*/\1/p')"
  soname="$(readelf -d "$so" | sed -nE 's/.*Library soname: \[(.*)\].*/\1/p')"
  [[ "$soname" == "libringraft.so.$major" ]] || bad "SONAME of $so is '$soname'"
  [[ "$(readlink "$libdir/libringraft.so.$major")" == "$(basename "$so")" ]] ||
    bad "$libdir/libringraft.so.$major does not link to $(basename "$so")"
  [[ "$(readlink "$libdir/libringraft.so")" == "libringraft.so.$major" ]] ||
    bad "$libdir/libringraft.so does not link to libringraft.so.$major"
fi
for f in cmake/ringraft/ringraftConfig.cmake cmake/ringraft/ringraftConfigVersion.cmake \
  cmake/ringraft/ringraftTargets.cmake pkgconfig/ringraft.pc; do
  [[ -f "$libdir/$f" ]] || bad "$libdir/$f not installed"
done
((fail)) && exit 1

# --- 2. the umbrella header alone ---
step "umbrella header with only $prefix/include"
poison="$work/poison"
for h in lmdb.h liburing.h flatbuffers/flatbuffers.h spdlog/spdlog.h fmt/format.h fmt/core.h \
  toml++/toml.h toml++/toml.hpp xxhash.h; do
  mkdir -p "$(dirname "$poison/$h")"
  printf '#error "<%s> reached from an installed public header"\n' "$h" >"$poison/$h"
done
printf '#include <ringraft/ringraft.h>\nint main() { return raft::NodeConfig{}.validate().ok(); }\n' \
  >"$work/umbrella.cc"
if ! out="$(cd "$work" && "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror \
  -I"$poison" -I"$prefix/include" umbrella.cc 2>&1)"; then
  bad "the installed umbrella header does not compile with only $prefix/include:"
  echo "$out"
fi

# run NAME BINARY SHARED(yes|no): the consumer runs, and links libringraft.so
# exactly when SHARED.
run() {
  local name="$1" bin="$2" shared="$3"
  if [[ ! -x "$bin" ]]; then
    bad "$name: no binary $bin"
    return
  fi
  local needs=no
  grep -q 'NEEDED.*libringraft\.so' <<<"$(readelf -d "$bin")" && needs=yes
  [[ "$needs" == "$shared" ]] || bad "$name: needs libringraft.so: $needs (expected $shared)"
  local out
  if ! out="$(timeout 60 "$bin" "$work/data-$name" 2>&1)"; then
    bad "$name: the consumer failed:"
    echo "$out"
  else
    echo "$name: $out"
  fi
}

# --- 3a. find_package ---
for mode in shared static; do
  step "find_package(ringraft), $mode"
  extra=()
  [[ $mode == static ]] && extra=(-Dringraft_USE_STATIC_LIBS=ON)
  b="$work/cmake-$mode"
  if ! out="$("$cmake" -S "$src/tests/package/consumer" -B "$b" -DCMAKE_PREFIX_PATH="$prefix" \
    "${cmake_launcher[@]}" -DCMAKE_CXX_COMPILER="$cxx" "${extra[@]}" 2>&1 &&
    "$cmake" --build "$b" 2>&1)"; then
    bad "find_package ($mode): the consumer does not configure or build:"
    echo "$out"
    continue
  fi
  run "find_package-$mode" "$b/consumer" "$([[ $mode == shared ]] && echo yes || echo no)"
done

# --- 3b. pkg-config ---
export PKG_CONFIG_PATH="$libdir/pkgconfig"
step "pkg-config, shared"
if ! flags="$(pkg-config --cflags --libs ringraft 2>&1)"; then
  bad "pkg-config --cflags --libs ringraft: $flags"
else
  # shellcheck disable=SC2086
  if ! out="$("${launcher[@]}" "$cxx" -std=c++20 "$src/tests/package/consumer/main.cc" \
    -o "$work/pc-shared" $flags -Wl,-rpath,"$libdir" 2>&1)"; then
    bad "pkg-config (shared): the consumer does not build with: $flags"
    echo "$out"
  else
    run pkg-config-shared "$work/pc-shared" yes
  fi
fi
step "pkg-config --static"
if ! flags="$(pkg-config --cflags --libs --static ringraft 2>&1)"; then
  bad "pkg-config --static --cflags --libs ringraft: $flags"
else
  # Both libraries are installed; -l:libringraft.a picks the static one.
  flags="$(sed -E 's/(^| )-lringraft( |$)/\1-l:libringraft.a\2/' <<<"$flags")"
  # shellcheck disable=SC2086
  if ! out="$("${launcher[@]}" "$cxx" -std=c++20 "$src/tests/package/consumer/main.cc" \
    -o "$work/pc-static" $flags 2>&1)"; then
    bad "pkg-config --static: the consumer does not build with: $flags"
    echo "$out"
  else
    run pkg-config-static "$work/pc-static" no
  fi
fi

# --- 4. as a subdirectory ---
step "add_subdirectory (configure only)"
b="$work/subproject"
if ! out="$("$cmake" -S "$src/tests/package/consumer" -B "$b" -DRINGRAFT_SOURCE_DIR="$src" \
  -DCMAKE_CXX_COMPILER="$cxx" 2>&1)"; then
  bad "as a subdirectory, ringraft does not configure:"
  echo "$out"
else
  for opt in RINGRAFT_BUILD_TESTS RINGRAFT_BUILD_BENCHMARKS RINGRAFT_BUILD_EXAMPLES \
    RINGRAFT_BUILD_TOOLS RINGRAFT_INSTALL RAFT_WERROR; do
    grep -q "^$opt:BOOL=OFF" "$b/CMakeCache.txt" || bad "as a subdirectory, $opt is not OFF"
  done
  grep -q '^CMAKE_BUILD_TYPE:STRING=$' "$b/CMakeCache.txt" ||
    bad "as a subdirectory, ringraft set the parent's CMAKE_BUILD_TYPE"
  if [[ -d "$b/ringraft/tests" || -d "$b/ringraft/bench" || -d "$b/ringraft/examples" ]]; then
    bad "as a subdirectory, tests, benchmarks or examples are configured"
  fi
  [[ -f "$b/CPackConfig.cmake" ]] && bad "as a subdirectory, ringraft wrote the parent's CPackConfig.cmake"
  grep -qE '^(GTest_DIR|benchmark_DIR|HTTP_PARSER_LIB):' "$b/CMakeCache.txt" &&
    bad "as a subdirectory, ringraft looked for GTest, Google Benchmark or http-parser"
  cmd="$(grep -A3 '"file": ".*tests/package/consumer/main.cc"' "$b/compile_commands.json" |
    grep '"command"' ; grep -B3 '"file": ".*tests/package/consumer/main.cc"' \
    "$b/compile_commands.json" | grep '"command"')"
  if [[ -z "$cmd" ]]; then
    bad "no compile command for the parent's main.cc in $b/compile_commands.json"
  elif grep -qE -- '-Werror|-Wall|-Wextra|-Wpedantic' <<<"$cmd"; then
    bad "ringraft's warning flags reach the parent's target: $cmd"
  fi
fi

step "done"
((fail == 0)) && echo "package: install, umbrella header, find_package (shared, static)," \
  "pkg-config (shared, static) and add_subdirectory all work"
exit $fail
