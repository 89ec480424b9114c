// The core's status vocabulary: a node's role, the leader's view of each
// peer's replication, and the snapshot of a group's state that
// RawNode::status() returns. Header-only, like types.h (target raft_types):
// the core's internals (progress.h, raft.h) and users that only report
// status include this, not the RawNode facade.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/core/types.h"

namespace raft {

enum class Role : uint8_t {
  kFollower = 0,
  kPreCandidate = 1,
  kCandidate = 2,
  kLeader = 3,
};

// "follower", "pre-candidate", "candidate", "leader".
inline const char* role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

enum class ProgressState : uint8_t {
  kProbe = 0,      // Sends one append per heartbeat until the match is known.
  kReplicate = 1,  // Pipelines appends optimistically up to the inflight window.
  kSnapshot = 2,   // Waits for a snapshot to be installed.
};

// "probe", "replicate", "snapshot".
inline const char* progress_state_name(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

// The leader's view of one peer (itself included).
struct PeerStatus {
  NodeId id = kNoNode;
  Index match = 0;
  Index next = 0;
  ProgressState state = ProgressState::kProbe;
  size_t inflight = 0;         // Append messages in flight.
  bool recent_active = false;  // Heard from within the last election timeout.
  bool learner = false;
  Index pending_snapshot = 0;  // In kSnapshot: the snapshot's index.
};

struct NodeStatus {
  NodeId id = kNoNode;
  GroupId group = 0;
  HardState hard_state;
  Index applied = 0;
  Index first_index = 0;  // First index the core can read (snapshot + 1).
  Index last_index = 0;
  Role role = Role::kFollower;
  NodeId leader = kNoNode;
  NodeId lead_transferee = kNoNode;  // Leader transfer in progress, if any.
  ConfState conf_state;
  int randomized_election_timeout = 0;  // Ticks, in [election, 2*election).
  bool quiesced = false;                // Timers stopped (quiesce.cc).
  std::vector<PeerStatus> progress;     // Leader only; sorted by id.
};

}  // namespace raft
