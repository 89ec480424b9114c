// Addresses of a group's members. Raft's membership (ConfState) holds ids
// only; addresses travel in the context of the conf change that adds a node
// (encode_peer_addresses), are replayed with the log on restart, and are
// saved in the runtime's snapshot envelope, so every member learns them
// through the log and nothing outside it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace raft {

using PeerAddresses = std::map<uint64_t, std::string>;  // node id -> "host:port"

std::string encode_peer_addresses(const PeerAddresses& peers);
// InvalidArgument on malformed bytes; an empty input is an empty table.
absl::StatusOr<PeerAddresses> decode_peer_addresses(std::string_view bytes);

}  // namespace raft
