// Events: what a group tells its state machine about leadership, membership
// and snapshots (StateMachine::on_event, engine/node/state_machine.h).
//
// A group delivers its events on the shard thread that owns it, in log
// order: an event tied to an index is delivered after the state machine
// applied that index and before it applies the next one, so an embedder sees
// the same sequence of applies and events on every run of the same log.
#pragma once

#include <cstdint>

#include "engine/core/types.h"

namespace raft {

enum class EventKind : uint8_t {
  // This node leads `term`, and its state machine has applied every entry up
  // to and including `index`, the first entry of its term (the empty entry a
  // new leader appends). Delivered once that entry is applied: every entry of
  // earlier terms is in the state machine, so leader-only work may start. A
  // node that loses leadership before that entry commits gets neither this
  // nor kLeaderStop for the term.
  kLeaderStart,
  // This node no longer leads `term` (it saw a higher term, stepped down,
  // or handed leadership over). Follows the kLeaderStart of the same term;
  // `index` is the applied index when it happened. Not delivered when the
  // node stops: the state machine is destroyed then.
  kLeaderStop,
  // The leader this node knows changed: `leader` in `term`, or kNoNode when
  // none is known any more. Delivered when the leader's id changes, and when
  // a known leader is seen in a new term. `index` is the applied index.
  kLeaderChanged,
  // The conf change entry at `index` (of `term`) was applied: the membership
  // is now `conf_state`. After a restart the entries after the last snapshot
  // are applied again, and their membership events are delivered again.
  kMembershipApplied,
  // This node's own snapshot at `index` (of `term`) is written and
  // recorded: the log up to `index` may be compacted. Delivered on the shard
  // thread some time after the state machine's snapshot() ran; later
  // entries may have been applied meanwhile.
  kSnapshotTaken,
  // The state machine was restored from a snapshot the leader sent, at
  // `index` (of `term`); the membership is now `conf_state`. The next apply
  // is of the entry after `index`.
  kSnapshotInstalled,
};

// "leader_start", "leader_stop", "leader_changed", "membership_applied",
// "snapshot_taken", "snapshot_installed".
inline const char* event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::kLeaderStart:
      return "leader_start";
    case EventKind::kLeaderStop:
      return "leader_stop";
    case EventKind::kLeaderChanged:
      return "leader_changed";
    case EventKind::kMembershipApplied:
      return "membership_applied";
    case EventKind::kSnapshotTaken:
      return "snapshot_taken";
    case EventKind::kSnapshotInstalled:
      return "snapshot_installed";
  }
  return "unknown";
}

struct Event {
  EventKind kind = EventKind::kLeaderChanged;
  GroupId group = 0;
  Term term = 0;
  Index index = 0;
  // kLeaderChanged: the leader now known (kNoNode: none). kLeaderStart and
  // kLeaderStop: this node. Otherwise the leader known when it happened.
  NodeId leader = kNoNode;
  // kMembershipApplied, kSnapshotInstalled: the membership from now on.
  // Empty for the other kinds.
  ConfState conf_state;

  friend bool operator==(const Event&, const Event&) = default;
};

}  // namespace raft
