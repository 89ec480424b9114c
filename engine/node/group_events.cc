#include "engine/node/group_events.h"

#include <utility>

#include "common/check.h"
#include "spdlog/spdlog.h"

namespace raft {

void GroupEvents::on_core_state(Role role, Term term, NodeId leader, Index applied) {
  const bool leads = role == Role::kLeader;
  if (leading_term_ != 0 && !(leads && term == leading_term_)) {
    const Term stopped = leading_term_;
    leading_term_ = 0;
    deliver(EventKind::kLeaderStop, stopped, applied, self_);
  }
  // Lost before its first entry was applied: no start, so no stop either.
  if (pending_term_ != 0 && !(leads && term == pending_term_)) pending_term_ = 0;
  if (leads && leading_term_ != term) pending_term_ = term;
  if (leader != known_leader_ || (leader != kNoNode && term != known_term_)) {
    known_leader_ = leader;
    known_term_ = term;
    deliver(EventKind::kLeaderChanged, term, applied, leader);
  }
}

void GroupEvents::leader_started(const Entry& e) {
  RAFT_CHECK(pending_term_ != 0 && e.term == pending_term_);
  pending_term_ = 0;
  leading_term_ = e.term;
  deliver(EventKind::kLeaderStart, e.term, e.index, self_);
}

void GroupEvents::membership_applied(Index index, Term term, const ConfState& cs) {
  deliver(EventKind::kMembershipApplied, term, index, known_leader_, cs);
}

void GroupEvents::snapshot_installed(const SnapshotMeta& meta) {
  deliver(EventKind::kSnapshotInstalled, meta.term, meta.index, known_leader_, meta.conf_state);
}

void GroupEvents::snapshot_taken(Index index, Term term) {
  deliver(EventKind::kSnapshotTaken, term, index, known_leader_);
}

void GroupEvents::deliver(EventKind kind, Term term, Index index, NodeId leader, ConfState cs) {
  // Leaderships are rare and worth an operator's eye.
  if (kind == EventKind::kLeaderStart) {
    spdlog::info("group {}: node {} leads term {} from index {}", group_, self_, term, index);
  } else if (kind == EventKind::kLeaderStop) {
    spdlog::info("group {}: node {} no longer leads term {} (applied {})", group_, self_, term,
                 index);
  } else {
    SPDLOG_DEBUG("group {}: event {} term {} index {} leader {}", group_, event_kind_name(kind),
                 term, index, leader);
  }
  Event event;
  event.kind = kind;
  event.group = group_;
  event.term = term;
  event.index = index;
  event.leader = leader;
  event.conf_state = std::move(cs);
  fsm_->on_event(event);
}

}  // namespace raft
