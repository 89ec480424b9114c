// The peer address table's bytes: the context of a conf change entry that
// adds nodes (their addresses, replayed with the log), and the table in the
// snapshot envelope (snapshot_envelope.h).
//
//   u8 version (1) | u32 count | count x (u64 id | u32 length | address)
//
// Little-endian. Needs neither FlatBuffers nor frames: target
// raft_protocol_records, which the group driver links.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/node/peer_table.h"

namespace raft::protocol {

std::string encode_peer_addresses(const PeerAddresses& peers);
// InvalidArgument on malformed bytes; an empty input is an empty table.
absl::StatusOr<PeerAddresses> decode_peer_addresses(std::string_view bytes);

}  // namespace raft::protocol
