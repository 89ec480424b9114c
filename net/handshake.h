// The handshake that opens every connection (fbs/frame.fbs: Handshake).
// The dialer sends its Handshake first and may pipeline frames right after
// it; the acceptor checks it (protocol version, cluster id, target shard,
// role) and answers with its own Handshake, or with a HandshakeReject naming
// the reason before closing.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "net/frame.h"

namespace raft::net {

inline constexpr uint32_t kProtocolVersion = 1;

enum class ConnectionRole : uint8_t { kPeer = 0, kClient = 1 };

struct HandshakeInfo {
  uint32_t protocol_version = kProtocolVersion;
  uint64_t cluster_id = 0;
  uint64_t node_id = 0;       // 0 for clients.
  uint32_t shard = 0;         // The sender's shard.
  uint32_t target_shard = 0;  // The receiver's shard this connection serves.
  ConnectionRole role = ConnectionRole::kPeer;
  // The sender's shard count; 0 (not sent: an older sender) means one. An
  // acceptor's reply carries its node's, so a client learns where groups
  // live (group % shard_count) from its first connection.
  uint32_t shard_count = 0;

  friend bool operator==(const HandshakeInfo&, const HandshakeInfo&) = default;
};

OutFrame encode_handshake(const HandshakeInfo& info);
OutFrame encode_handshake_reject(std::string_view reason);
HandshakeInfo decode_handshake(const fbs::Handshake& hs);

// What an acceptor checks in a dialer's handshake. `local` is the acceptor's
// own identity. Returns FailedPrecondition with the reason on a mismatch.
absl::Status check_incoming_handshake(const HandshakeInfo& local, uint32_t shard_count,
                                      const HandshakeInfo& remote);
// What a dialer checks in the acceptor's reply: same version and cluster,
// and (for peers) the node it meant to reach.
absl::Status check_reply_handshake(const HandshakeInfo& local, uint64_t expected_node_id,
                                   const HandshakeInfo& remote);

}  // namespace raft::net
