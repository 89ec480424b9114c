#!/usr/bin/env bash
# The Debian packages CPack builds (`./dev package`) hold what they should
# and depend on what they need. Usage:
#   deb_test.sh BUILD_DIR SOURCE_DIR CPACK CXX
#
# Builds the packages of BUILD_DIR into a temp dir with `cpack -G DEB`, then:
#  - libringraft0 holds libringraft.so.<version> and its SONAME link, and
#    nothing else but docs; its Depends (dpkg-shlibdeps) name the runtime
#    libraries (liburing2, liblmdb0, libabsl, libspdlog, libxxhash0,
#    libtomlplusplus3); it has a shlibs file;
#  - libringraft-dev holds the headers, libringraft.a, the .so link, the
#    CMake package and ringraft.pc, and depends on libringraft0 of the same
#    version and on the -dev packages the headers and the static library need;
#  - ringraft-tools holds raftctl and memstore;
#  - unpacked with `dpkg -x` into a scratch root, the packages build and run
#    tests/package/consumer through the unpacked ringraft.pc.
set -uo pipefail
build="$(cd "$1" && pwd)" src="$(cd "$2" && pwd)" cpack="$3" cxx="$4"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail=0
bad() {
  echo "FAIL: $*"
  fail=1
}
t0=$SECONDS
if ! out="$("$cpack" -G DEB -B "$work/packages" --config "$build/CPackConfig.cmake" 2>&1)"; then
  echo "$out"
  echo "FAIL: cpack -G DEB"
  exit 1
fi
echo "cpack: $((SECONDS - t0)) s"
version="$(sed -nE 's/^set\(CPACK_PACKAGE_VERSION "(.*)"\)$/\1/p' "$build/CPackConfig.cmake")"
major="${version%%.*}"
arch="$(dpkg --print-architecture)"

# deb NAME: the path of package NAME, or empty.
deb() { ls "$work/packages/$1_${version}_${arch}.deb" 2>/dev/null; }
for p in "libringraft$major" libringraft-dev ringraft-tools; do
  [[ -n "$(deb "$p")" ]] || bad "no package ${p}_${version}_${arch}.deb; cpack made: $(ls "$work/packages")"
done
((fail)) && exit 1

runtime="$(deb "libringraft$major")" dev="$(deb libringraft-dev)" tools="$(deb ringraft-tools)"
# has DEB PATH...: every path is in DEB's file list.
has() {
  local d="$1" list
  shift
  list="$(dpkg-deb -c "$d" | awk '{print $6}')"
  for f in "$@"; do
    grep -qxF "./$f" <<<"$list" || bad "$(basename "$d") lacks /$f"
  done
}
has "$runtime" "usr/lib/libringraft.so.$version" "usr/lib/libringraft.so.$major"
has "$dev" usr/include/ringraft/ringraft.h usr/include/ringraft/engine/node/node.h \
  usr/lib/libringraft.a usr/lib/libringraft.so usr/lib/cmake/ringraft/ringraftConfig.cmake \
  usr/lib/cmake/ringraft/ringraftTargets.cmake usr/lib/pkgconfig/ringraft.pc
has "$tools" usr/bin/raftctl usr/bin/memstore
# (grep reads captured text: with pipefail, grep -q closing a pipe early
# would fail the producer.)
runtime_files="$(dpkg-deb -c "$runtime" | awk '{print $6}')"
dev_files="$(dpkg-deb -c "$dev" | awk '{print $6}')"
if grep -qE '\.(h|a)$|/include/' <<<"$runtime_files"; then
  bad "$(basename "$runtime") holds development files"
fi
if grep -qE "libringraft\.so\.$major" <<<"$dev_files"; then
  bad "$(basename "$dev") holds the runtime library"
fi

depends="$(dpkg-deb -f "$runtime" Depends)"
echo "libringraft$major Depends: $depends"
for lib in liburing2 liblmdb0 libabsl libspdlog libxxhash0 libtomlplusplus3 libstdc++6 libc6; do
  grep -q "$lib" <<<"$depends" || bad "libringraft$major does not depend on $lib"
done
grep -qw shlibs <<<"$(dpkg-deb -I "$runtime")" || bad "libringraft$major has no shlibs file"
dev_depends="$(dpkg-deb -f "$dev" Depends)"
echo "libringraft-dev Depends: $dev_depends"
for d in "libringraft$major (= $version)" libabsl-dev liburing-dev liblmdb-dev libxxhash-dev \
  libtomlplusplus-dev libspdlog-dev libflatbuffers-dev; do
  grep -qF "$d" <<<"$dev_depends" || bad "libringraft-dev does not depend on $d"
done
tools_depends="$(dpkg-deb -f "$tools" Depends)"
grep -q libhttp-parser <<<"$tools_depends" ||
  bad "ringraft-tools does not depend on libhttp-parser (memstore): $tools_depends"

# The unpacked packages are enough to build and run an embedder.
root="$work/root"
for d in "$runtime" "$dev" "$tools"; do dpkg -x "$d" "$root" || bad "dpkg -x $(basename "$d")"; done
export PKG_CONFIG_PATH="$root/usr/lib/pkgconfig"
if ! flags="$(pkg-config --cflags --libs ringraft 2>&1)"; then
  bad "pkg-config ringraft from the unpacked packages: $flags"
else
  launcher=()
  command -v ccache >/dev/null && launcher=(ccache)
  # shellcheck disable=SC2086
  if ! out="$("${launcher[@]}" "$cxx" -std=c++20 "$src/tests/package/consumer/main.cc" \
    -o "$work/consumer" $flags 2>&1)"; then
    bad "the consumer does not build against the unpacked packages ($flags):"
    echo "$out"
  elif ! out="$(LD_LIBRARY_PATH="$root/usr/lib" timeout 60 "$work/consumer" "$work/data" 2>&1)"; then
    bad "the consumer built against the unpacked packages fails:"
    echo "$out"
  elif ! grep -qF "$root/usr/lib/libringraft.so.$major" \
    <<<"$(LD_LIBRARY_PATH="$root/usr/lib" ldd "$work/consumer")"; then
    bad "the consumer does not load the unpacked libringraft.so.$major"
  else
    echo "consumer on the unpacked packages: ${out##*$'\n'}"
  fi
fi
[[ -x "$root/usr/bin/raftctl" ]] || bad "raftctl is not executable"

((fail == 0)) && echo "deb: 3 packages ($version, $arch) with the expected files and dependencies;" \
  "the consumer builds and runs on them ($((SECONDS - t0)) s)"
exit $fail
