// The vocabulary of the public API: what a proposal returns, how a read is
// served, what a membership change is, a member's role, and the callbacks the
// asynchronous calls take. No runtime, storage or network types: client.h,
// node.h, config.h, the runtime and the client protocol (protocol/) all use
// these; the wire has no enum of its own for them (protocol/client_codec.cc
// maps them to and from fbs/client.fbs).
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

// A proposal's place in a client session (exactly-once proposals, Raft
// thesis §6.3; Node::open_session). Sequence numbers start at 1; `floor` is
// the lowest sequence number the client still waits for an answer to (the
// results of those below it are freed).
struct SessionRef {
  uint64_t session = 0;
  uint64_t sequence = 0;
  uint64_t floor = 0;
};

// How one read is served. Linearizable reads are confirmed the way the
// serving node's NodeConfig::read_mode says (ReadIndex or lease).
enum class ReadConsistency : uint8_t {
  kLinearizable,  // ReadIndex (or lease, per NodeConfig::read_mode).
  kStale,         // Whatever this node has applied.
};

enum class MemberChangeKind : uint8_t { kAddVoter, kAddLearner, kPromote, kRemove };

struct MemberChange {
  MemberChangeKind kind = MemberChangeKind::kAddVoter;
  NodeId node = kNoNode;
  std::string address;  // Required for kAddVoter / kAddLearner of a new node.
  friend bool operator==(const MemberChange&, const MemberChange&) = default;
};

// A member's role in a group's configuration. A configured peer
// (PeerConfig::role, NodeConfig::join_as) is kVoter or kLearner; the other
// two name the sets of a joint configuration (ConfState::voters_outgoing,
// learners_next), as a member list read from the cluster may report them.
enum class PeerRole : uint8_t { kVoter, kLearner, kVoterOutgoing, kLearnerNext };

using ProposeCallback = absl::AnyInvocable<void(absl::StatusOr<ProposeResult>)>;
using ReadCallback = absl::AnyInvocable<void(absl::StatusOr<std::string>)>;
using ConfCallback = absl::AnyInvocable<void(absl::StatusOr<ConfState>)>;
using DoneCallback = absl::AnyInvocable<void(absl::Status)>;
using IndexCallback = absl::AnyInvocable<void(absl::StatusOr<Index>)>;

}  // namespace raft
