// Reading FlatBuffers fields that the Verifier leaves unsafe to read in place.
//
// The Verifier checks the alignment of a vector's length field but not of
// its elements, so a hostile frame can place a [ulong] vector's data at an
// offset that is not 8-byte aligned; reading it through the generated
// accessors is then a misaligned load (undefined behaviour, found by the
// client protocol fuzzer). These helpers copy the bytes instead.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

#include "flatbuffers/flatbuffers.h"

namespace raft::protocol {

// FlatBuffers stores scalars little-endian; the copy below relies on the
// host being little-endian too.
static_assert(std::endian::native == std::endian::little);

inline std::vector<uint64_t> read_u64_vector(const flatbuffers::Vector<uint64_t>* v) {
  std::vector<uint64_t> out;
  if (v == nullptr || v->size() == 0) return out;
  out.resize(v->size());
  std::memcpy(out.data(), v->Data(), out.size() * sizeof(uint64_t));
  return out;
}

}  // namespace raft::protocol
