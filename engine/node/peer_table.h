// Addresses of a group's members. Raft's membership (ConfState) holds ids
// only; addresses travel in the context of the conf change that adds a node,
// are replayed with the log on restart, and are saved in the runtime's
// snapshot envelope, so every member learns them through the log and nothing
// outside it. Their byte encoding is protocol/records/peer_addresses.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace raft {

using PeerAddresses = std::map<uint64_t, std::string>;  // node id -> "host:port"

}  // namespace raft
