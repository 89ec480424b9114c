// A WriteBatch as a journal record's payload (journal.h), and back. Compact
// little-endian, every field of every GroupWrite. Decoding checks every
// length against what is left and refuses garbage with DataLoss; it never
// reads past the input. Decoded entries share one buffer (a copy of the
// payload).
//
// Layout: u32 group count, then per group: u64 group, u8 flags (bit 0
// install, 1 hard state, 2 conf state, 3 save, 4 compact, 5 create, 6
// remove; the last two carry no fields), the install
// snapshot, u32 entry count and per entry (u64 term, u64 index, u8 type,
// u32 size, bytes), the hard state (u64 term, u64 vote, u64 commit), the
// conf state, the saved snapshot, u64 compact index. A snapshot: u64 index,
// u64 term, conf state, u64 file bytes, u64 file checksum. A conf state:
// four u32-counted lists of u64 node ids (voters, learners, voters
// outgoing, learners next), u8 auto_leave.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/write_batch.h"

namespace raft::storage {

// Appends the encoding of `batch` to `out` (reusing its capacity).
void encode_batch(const WriteBatch& batch, std::string& out);
absl::StatusOr<WriteBatch> decode_batch(std::string_view payload);

}  // namespace raft::storage
