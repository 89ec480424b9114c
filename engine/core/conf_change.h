// Membership changes: the ConfChange a client proposes (one or several
// single-node changes, applied directly or through joint consensus), and its
// byte encoding as the payload of a kConfChange log entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/types.h"

namespace raft {

enum class ConfChangeType : uint8_t {
  kAddVoter = 0,    // Add a voter, or promote a learner.
  kAddLearner = 1,  // Add a learner, or demote a voter.
  kRemoveNode = 2,
};

struct ConfChangeSingle {
  ConfChangeType type = ConfChangeType::kAddVoter;
  NodeId node = kNoNode;

  friend bool operator==(const ConfChangeSingle&, const ConfChangeSingle&) = default;
};

enum class ConfChangeTransition : uint8_t {
  // A single voter change is applied directly (one step); anything else
  // enters a joint configuration that is left automatically.
  kAuto = 0,
  // Always joint; the leader leaves it automatically once it is applied.
  kJointImplicit = 1,
  // Always joint; the joint config is left only by an explicit empty
  // ConfChange proposed by the user.
  kJointExplicit = 2,
};

struct ConfChange {
  ConfChangeTransition transition = ConfChangeTransition::kAuto;
  // Empty means "leave the joint configuration".
  std::vector<ConfChangeSingle> changes;
  // Opaque to the core (the runtime may carry addresses here).
  std::string context;

  bool is_leave_joint() const { return changes.empty(); }
  // True if applying this change enters a joint configuration.
  bool enters_joint() const;

  friend bool operator==(const ConfChange&, const ConfChange&) = default;
};

// Convenience constructors.
ConfChange single_change(ConfChangeType type, NodeId node);
ConfChange leave_joint_change();

// Encoding for the payload of a kConfChange entry (versioned, little-endian,
// with its length checked on decode).
std::string encode_conf_change(const ConfChange& change);
// InvalidArgument on any malformed input (a bad payload must not crash the
// node).
absl::StatusOr<ConfChange> decode_conf_change(std::string_view bytes);

}  // namespace raft
