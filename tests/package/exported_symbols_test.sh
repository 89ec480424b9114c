#!/usr/bin/env bash
# What libringraft.so exports is the public API, all of it, and nothing else.
# Usage:
#   exported_symbols_test.sh check|selfcheck LIBRINGRAFT_SO LIBRINGRAFT_A ROOT
#
# The public names come from the headers of ROOT/include/public_headers.txt:
# the classes, structs and enums they declare at namespace level, and their
# free functions (not inline). Then, with nm -C:
#  1. every out-of-line function the static library defines (T) as a member
#     of a public class or as a public free function is exported by the
#     shared library (a public declaration without RINGRAFT_API,
#     common/export.h, fails here, naming the symbol);
#  2. every exported symbol in namespace raft (functions, vtables, typeinfo)
#     belongs to a public name: no raft::ShardRuntime, raft::Group,
#     raft::storage::, raft::net::, raft::protocol:: ...;
#  3. every other exported symbol is a vague-linkage instantiation (W, V, u:
#     the standard library's templates, which C++ shares across libraries)
#     that names only public raft types;
#  4. raft::Node::start and raft::Client::propose are exported, the static
#     library defines internal symbols (raft::ShardRuntime, raft::Group,
#     raft::storage::) and the shared one exports none of them, and the
#     SONAME is libringraft.so.<major>.
# selfcheck: the same checks fail, naming the symbol, on listings where
# raft::Node::start is missing and internal symbols are exported.
set -uo pipefail
mode="$1" so="$2" archive="$3" root="$4"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- the public names, from the public headers ---
mapfile -t headers < <(grep -v '^#' "$root/include/public_headers.txt" | tr -d ' \t' | sed '/^$/d')
declare -A public_type=() public_fn=()
for h in "${headers[@]}"; do
  src="$root/$h"
  [[ -f "$root/include/$h" ]] && src="$root/include/$h"
  # class/struct/enum Name (not a forward declaration "class X;").
  while read -r name; do
    [[ -n "$name" ]] && public_type["$name"]=1
  done < <(grep -E '^(class|struct|enum class|enum) ' "$src" | grep -vE '^[^{]*;[[:space:]]*(//.*)?$' |
    sed -E 's/^(class|struct|enum class|enum) (RINGRAFT_API )?([A-Za-z_][A-Za-z0-9_]*).*/\3/')
  # Free functions declared at column 0 (not inline, using, template...).
  while read -r name; do
    [[ -n "$name" ]] && public_fn["$name"]=1
  done < <(grep -E '^[A-Za-z_]' "$src" |
    grep -vE '^(inline|using|namespace|class|struct|enum|template|static|constexpr|typedef|friend|extern|#)' |
    grep -E '\(' | sed -nE 's/^.*[ *&]([a-z_][a-z0-9_]*)\(.*/\1/p')
done
# Aliases the headers declare at namespace level ("using NodeId = ...") name
# standard types; the symbols show the standard types, so nothing to add.

if ((${#public_type[@]} < 5 || ${#public_fn[@]} < 3)); then
  echo "FAIL: found only ${#public_type[@]} public types and ${#public_fn[@]} public functions" \
    "in the public headers: the header parsing of $0 is broken"
  exit 1
fi

# owner SYMBOL: the first name after raft:: for a symbol in namespace raft
# (after "typeinfo for " and the like), else empty.
owner() {
  local s="$1"
  s="${s#non-virtual thunk to }"
  s="${s#virtual thunk to }"
  for p in "typeinfo name for " "typeinfo for " "vtable for " "VTT for " "guard variable for "; do
    s="${s#"$p"}"
  done
  if [[ "$s" =~ ^raft::([A-Za-z_][A-Za-z0-9_]*) ]]; then
    echo "${BASH_REMATCH[1]}"
  fi
}

# check_listings ARCHIVE_LISTING SO_LISTING SONAME_MAJOR_OK: the checks 1-4
# on `nm -C --defined-only` of the archive and `nm -D -C --defined-only` of
# the shared library ("<address> <type> <symbol>" lines).
check_listings() {
  local a_list="$1" so_list="$2" fail=0
  declare -A exported=()
  while IFS= read -r line; do
    exported["${line#* * }"]=1
  done < <(grep -E '^[0-9a-f]* [A-Za-z] ' "$so_list")

  # 1. every public out-of-line function is exported.
  local missing=0 checked=0
  while IFS= read -r line; do
    local sym="${line#* * }" name
    name="$(owner "$sym")"
    [[ -z "$name" ]] && continue
    if [[ "$sym" =~ ^raft::${name}:: && -n "${public_type[$name]:-}" ]] ||
      [[ "$sym" =~ ^raft::${name}\( && -n "${public_fn[$name]:-}" ]]; then
      checked=$((checked + 1))
      if [[ -z "${exported[$sym]:-}" ]]; then
        echo "FAIL: public but not exported by libringraft.so: $sym" \
          "(mark its declaration RINGRAFT_API, common/export.h)"
        missing=1
      fi
    fi
  done < <(grep -E '^[0-9a-f]* T ' "$a_list" | sort -u)
  ((missing)) && fail=1

  # 2 and 3. nothing else is exported.
  while IFS= read -r line; do
    local type sym name
    type="$(awk '{print $2}' <<<"$line")"
    sym="${line#* * }"
    name="$(owner "$sym")"
    if [[ -n "$name" ]]; then
      if [[ -z "${public_type[$name]:-}${public_fn[$name]:-}" ]]; then
        echo "FAIL: internal symbol exported by libringraft.so: $sym"
        fail=1
      fi
      continue
    fi
    if [[ "$type" != [WVu] ]]; then
      echo "FAIL: libringraft.so exports a symbol outside namespace raft: $type $sym"
      fail=1
      continue
    fi
    local rest="$sym"
    while [[ "$rest" =~ raft::([A-Za-z_][A-Za-z0-9_]*)(.*)$ ]]; do
      if [[ -z "${public_type[${BASH_REMATCH[1]}]:-}" ]]; then
        echo "FAIL: libringraft.so exports an instantiation over an internal type" \
          "(raft::${BASH_REMATCH[1]}): $sym"
        fail=1
        break
      fi
      rest="${BASH_REMATCH[2]}"
    done
  done < <(grep -E '^[0-9a-f]* [A-Za-z] ' "$so_list")

  # 4. the anchors.
  for want in 'raft::Node::start(' 'raft::Client::propose(' 'raft::NodeConfig::validate(' \
    'raft::load_config_toml('; do
    if ! grep -qF " $want" "$so_list"; then
      echo "FAIL: libringraft.so does not export ${want%(}"
      fail=1
    fi
  done
  for internal in 'raft::ShardRuntime::' 'raft::Group::' 'raft::storage::'; do
    if ! grep -qE "^[0-9a-f]* T ${internal}" "$a_list"; then
      echo "FAIL: libringraft.a defines no ${internal} symbol: the runtime's objects are missing" \
        "(or the class was renamed: update $0)"
      fail=1
    elif grep -qF " ${internal}" "$so_list"; then
      echo "FAIL: libringraft.so exports ${internal} symbols"
      fail=1
    fi
  done
  if ((fail == 0)); then
    echo "exported symbols: $(wc -l <"$so_list") exported, $checked public functions all" \
      "exported, no internal symbol"
  fi
  return $fail
}

nm -C --defined-only "$archive" 2>/dev/null >"$work/a.txt"
nm -D -C --defined-only "$so" >"$work/so.txt" || exit 1

case "$mode" in
  check)
    status=0
    major="$(basename "$(readlink -f "$so")" | sed -nE 's/^libringraft\.so\.([0-9]+)\..*/\1/p')"
    soname="$(readelf -d "$so" | sed -nE 's/.*Library soname: \[(.*)\].*/\1/p')"
    if [[ -z "$major" || "$soname" != "libringraft.so.$major" ]]; then
      echo "FAIL: SONAME is '$soname', expected libringraft.so.<major> for $(readlink -f "$so")"
      status=1
    fi
    check_listings "$work/a.txt" "$work/so.txt" || status=1
    exit $status
    ;;
  selfcheck)
    # A missing public symbol and three kinds of leak must each be reported.
    grep -vF ' raft::Node::start(' "$work/so.txt" >"$work/bad.txt"
    {
      echo "0000000000001000 T raft::ShardRuntime::fake_for_selfcheck()"
      echo "0000000000001000 V vtable for raft::storage::FakeForSelfcheck"
      echo "0000000000001000 W std::vector<raft::Group, std::allocator<raft::Group> >::size() const"
      echo "0000000000001000 T leaked_c_function_for_selfcheck"
    } >>"$work/bad.txt"
    out="$(check_listings "$work/a.txt" "$work/bad.txt")"
    status=0
    for want in "public but not exported by libringraft.so: raft::Node::start(" \
      "internal symbol exported by libringraft.so: raft::ShardRuntime::fake_for_selfcheck" \
      "internal symbol exported by libringraft.so: vtable for raft::storage::FakeForSelfcheck" \
      "instantiation over an internal type (raft::Group)" \
      "outside namespace raft: T leaked_c_function_for_selfcheck"; do
      if ! grep -qF -- "$want" <<<"$out"; then
        echo "FAIL: selfcheck: not reported: $want"
        status=1
      fi
    done
    if ((status)); then
      echo "the check said:"
      echo "$out"
    else
      echo "exported symbols self-check: the missing public symbol and each planted leak are reported"
    fi
    exit $status
    ;;
  *)
    echo "usage: $0 check|selfcheck LIBRINGRAFT_SO LIBRINGRAFT_A ROOT" >&2
    exit 2
    ;;
esac
