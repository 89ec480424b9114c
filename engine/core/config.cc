// Config::validate: every rule a configuration must satisfy, in words.
#include "engine/core/config.h"

namespace raft {

absl::Status Config::validate() const {
  if (id == kNoNode) return absl::InvalidArgumentError("Config::id must not be 0");
  if (heartbeat_ticks <= 0) return absl::InvalidArgumentError("heartbeat_ticks must be > 0");
  if (election_ticks <= heartbeat_ticks) {
    return absl::InvalidArgumentError("election_ticks must be greater than heartbeat_ticks");
  }
  if (max_inflight_msgs == 0) return absl::InvalidArgumentError("max_inflight_msgs must be > 0");
  if (read_only == ReadOnlyOption::kLeaseBased && !check_quorum) {
    return absl::InvalidArgumentError(
        "lease-based reads need check_quorum (a leader must know when its lease ended)");
  }
  return absl::OkStatus();
}

}  // namespace raft
