// ConfChange helpers and encoding.
#include "engine/core/conf_change.h"

#include "common/check.h"

namespace raft {
bool ConfChange::enters_joint() const { RAFT_CHECK(false); }
ConfChange single_change(ConfChangeType, NodeId) { RAFT_CHECK(false); }
ConfChange leave_joint_change() { RAFT_CHECK(false); }
std::string encode_conf_change(const ConfChange&) { RAFT_CHECK(false); }
absl::StatusOr<ConfChange> decode_conf_change(std::string_view) { RAFT_CHECK(false); }
}  // namespace raft
