// The runtime's snapshot image: what a snapshot file holds, and what a leader
// streams to a follower in SnapshotChunk frames. Besides the state machine's
// bytes it carries the group's peer addresses and the highest node id ever
// seen, which Raft's ConfState does not hold but a node restored from the
// snapshot (or a follower that installs it) needs, and the client session
// table (engine/node/session_table.h), which is replicated state too.
//
//   "RRSNAP02" | u32 rest-of-header bytes | u32 peer-table bytes | peer table
//              | u64 max id seen | u32 session-table bytes | session table
//              | fsm bytes
//
// (little-endian; the peer table as in peer_addresses.h). Images of the
// first version, "RRSNAP01" | u32 peer-table bytes | peer table | u64 max id
// seen | fsm bytes, still decode (with no sessions). Target
// raft_protocol_records: no FlatBuffers, no frames, no net.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/node/peer_table.h"

namespace raft::protocol {

struct SnapshotEnvelope {
  PeerAddresses peers;
  uint64_t max_id_seen = 0;
  std::string_view sessions;   // The encoded session table; points into the image.
  std::string_view fsm_bytes;  // Points into the decoded image.
};

std::string encode_snapshot_header(const PeerAddresses& peers, uint64_t max_id_seen,
                                   std::string_view sessions = {});
// DataLoss on a malformed image.
absl::StatusOr<SnapshotEnvelope> decode_snapshot_image(std::string_view image);

// For reading an image as a stream: the header's first kSnapshotHeaderPrefix
// bytes (magic and table length) give the whole header's size; the header
// alone then decodes with decode_snapshot_image (empty fsm_bytes), and the
// state machine's bytes follow it in the stream. DataLoss on a bad magic or
// a header above kMaxSnapshotHeaderBytes (a first-version peer table above
// kMaxSnapshotPeerTableBytes).
inline constexpr size_t kSnapshotHeaderPrefix = 12;
inline constexpr uint32_t kMaxSnapshotPeerTableBytes = 16u << 20;
inline constexpr uint32_t kMaxSnapshotHeaderBytes = 1u << 30;
absl::StatusOr<size_t> snapshot_header_size(std::string_view prefix);

}  // namespace raft::protocol
