// Fixed-width little-endian integers for the byte records (snapshot
// envelope, peer table, session commands, session table): appended to a
// string, written at a pointer, or read from the front of a string_view.
// The records are little-endian on disk and on the wire; the hosts this
// builds for are too (checked below), so a value is its memcpy.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace raft::protocol {

static_assert(std::endian::native == std::endian::little,
              "the byte records are little-endian; a big-endian host needs byte swaps here");

inline void put_u8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
inline void put_u32(std::string* out, uint32_t v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}
inline void put_u64(std::string* out, uint64_t v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}
// Writes at `out`, returns the byte after it.
inline char* put_u64(char* out, uint64_t v) {
  std::memcpy(out, &v, sizeof(v));
  return out + sizeof(v);
}
inline uint32_t load_u32(const char* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline uint64_t load_u64(const char* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Reads from the front of `in`. A read past the end sets ok to false and
// returns 0 (or an empty view); every later read does the same, so a
// decoder checks ok once after a group of reads.
struct LeReader {
  std::string_view in;
  bool ok = true;

  bool has(size_t n) {
    if (ok && in.size() >= n) return true;
    ok = false;
    return false;
  }
  uint8_t u8() {
    if (!has(1)) return 0;
    const auto v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }
  uint32_t u32() {
    if (!has(4)) return 0;
    const uint32_t v = load_u32(in.data());
    in.remove_prefix(4);
    return v;
  }
  uint64_t u64() {
    if (!has(8)) return 0;
    const uint64_t v = load_u64(in.data());
    in.remove_prefix(8);
    return v;
  }
  std::string_view bytes(size_t n) {
    if (!has(n)) return {};
    std::string_view v = in.substr(0, n);
    in.remove_prefix(n);
    return v;
  }
};

}  // namespace raft::protocol
