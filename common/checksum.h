// Checksums for bytes at rest (LMDB records, snapshot files) and on the wire
// (frames). One function, XXH3-64, so that a record written by one layer can
// be verified by another.
#pragma once

#include <cstdint>
#include <string_view>

namespace raft {

// XXH3 64-bit hash of `bytes` with seed 0.
uint64_t checksum64(std::string_view bytes);

// Streaming form, for data that arrives in chunks (snapshot files). Feeding
// the same bytes in any split gives the same digest as checksum64.
class Checksum64 {
 public:
  Checksum64();
  ~Checksum64();
  Checksum64(const Checksum64&) = delete;
  Checksum64& operator=(const Checksum64&) = delete;

  void update(std::string_view bytes);
  uint64_t digest() const;

 private:
  void* state_;  // XXH3_state_t, kept opaque so users need no xxhash include.
};

}  // namespace raft
