// Config::validate.
#include "engine/core/config.h"

#include "common/check.h"

namespace raft {
absl::Status Config::validate() const { RAFT_CHECK(false); }
}  // namespace raft
