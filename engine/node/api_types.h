// The vocabulary of the public API: what a proposal returns, how a read is
// served, what a membership change is, and the callbacks the asynchronous
// calls take. No runtime, storage or network types: client.h, node.h and the
// runtime all use these.
#pragma once

#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"

namespace raft {

struct ProposeResult {
  Index index = 0;
  Term term = 0;
  std::string result;  // What StateMachine::apply returned.
};

enum class ReadConsistency : uint8_t {
  kLinearizable,  // ReadIndex (or lease, per NodeConfig::read_mode).
  kStale,         // Whatever this node has applied.
};

enum class MemberChangeKind : uint8_t { kAddVoter, kAddLearner, kPromote, kRemove };

struct MemberChange {
  MemberChangeKind kind = MemberChangeKind::kAddVoter;
  NodeId node = kNoNode;
  std::string address;  // Required for kAddVoter / kAddLearner of a new node.
};

using ProposeCallback = absl::AnyInvocable<void(absl::StatusOr<ProposeResult>)>;
using ReadCallback = absl::AnyInvocable<void(absl::StatusOr<std::string>)>;
using ConfCallback = absl::AnyInvocable<void(absl::StatusOr<ConfState>)>;
using DoneCallback = absl::AnyInvocable<void(absl::Status)>;
using IndexCallback = absl::AnyInvocable<void(absl::StatusOr<Index>)>;

}  // namespace raft
