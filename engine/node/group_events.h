// GroupEvents: which events (engine/node/events.h) a group delivers to its
// state machine, and when. The driver tells it the core's role, term and
// leader at each Ready, before that Ready's snapshot and committed entries
// are applied, and what it applies (the first entry of a term this node
// leads, conf changes, snapshots). Each event goes to the state machine at
// once, so it falls between the applies in log order.
#pragma once

#include "engine/core/status.h"
#include "engine/core/types.h"
#include "engine/node/events.h"
#include "engine/node/state_machine.h"

namespace raft {

class GroupEvents {
 public:
  // `fsm` outlives this object.
  GroupEvents(GroupId group, NodeId self, StateMachine* fsm)
      : group_(group), self_(self), fsm_(fsm) {}

  // The core's state as of the Ready being handled; `applied` is the index
  // applied so far. Delivers kLeaderStop and kLeaderChanged.
  void on_core_state(Role role, Term term, NodeId leader, Index applied);

  // Whether `e`, just applied, is the first entry of the term this node
  // leads, and the core (`role`, `term`) still leads it: applying a conf
  // change may have made it step down. If so the driver hands the state
  // machine every entry before it and calls leader_started(e).
  bool starts_leadership(const Entry& e, Role role, Term term) const {
    return pending_term_ != 0 && e.term == pending_term_ && role == Role::kLeader &&
           term == pending_term_;
  }
  void leader_started(const Entry& e);

  void membership_applied(Index index, Term term, const ConfState& cs);
  void snapshot_installed(const SnapshotMeta& meta);
  void snapshot_taken(Index index, Term term);

  // The term whose kLeaderStart was delivered and not yet its kLeaderStop
  // (0: none).
  Term leading_term() const { return leading_term_; }

 private:
  void deliver(EventKind kind, Term term, Index index, NodeId leader, ConfState cs = {});

  GroupId group_;
  NodeId self_;
  StateMachine* fsm_;
  Term pending_term_ = 0;          // This node leads it; its first entry is not applied yet.
  Term leading_term_ = 0;          // kLeaderStart delivered, kLeaderStop not yet.
  NodeId known_leader_ = kNoNode;  // As last reported by kLeaderChanged.
  Term known_term_ = 0;
};

}  // namespace raft
