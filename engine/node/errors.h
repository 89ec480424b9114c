// Errors the runtime returns, beyond plain absl codes: NotLeader carries the
// leader's id and address (as a Status payload) so that a caller can retry
// there, and every code maps to and from the wire's fbs::ErrorCode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "net/client_codec.h"

namespace raft {

struct LeaderHint {
  uint64_t leader_id = 0;  // 0: no leader known.
  std::string address;     // Empty if unknown.
};

// FailedPrecondition "not leader; leader is <id> at <address>" with the hint
// attached. With leader_id 0 it is Unavailable "no leader" instead.
absl::Status not_leader_error(uint64_t leader_id, const std::string& address);

// The hint carried by a not_leader_error, if `status` is one.
std::optional<LeaderHint> not_leader_hint(const absl::Status& status);
bool is_not_leader(const absl::Status& status);

// Between absl::Status and the client protocol's error fields (code,
// message, leader hint for NotLeader).
void set_response_error(net::ClientResponse& response, const absl::Status& status);
absl::Status response_status(const net::ClientResponse& response);

}  // namespace raft
