// Quiescence: a group with nothing to do stops its timers, so that an idle
// group costs no ticks and no heartbeats (CockroachDB's quiesced ranges,
// dragonboat's quiesce). Only liveness depends on timers, never safety, so
// the rules here decide when a group may stop them and what restarts them:
//
// - The leader quiesces (the driver asks, after enough idle ticks) when
//   everything is committed, applied and durable here, no read, transfer or
//   conf change is pending, and every peer the driver reports live holds the
//   whole log, a quorum of voters among them. It tells those peers with a
//   kQuiesce naming its last entry and commit, and stops ticking.
// - A follower whose log ends at that entry takes the commit and stops
//   ticking; one that does not answers as to a heartbeat, which wakes the
//   leader, and keeps its timers.
// - Any message (or local request) wakes a quiesced node, except its own
//   leader's appends and heartbeats in its term (a follower's timers only
//   watch for the leader's failure, which node-level liveness covers) and
//   plain heartbeat responses (answers to the leader's last heartbeats). A
//   woken follower tells its leader (a rejecting heartbeat response), so
//   the leader's heartbeats resume and keep the lease that stops a
//   disruptive candidate. A member's vote request, even one the lease
//   drops, wakes a quiesced node: a quiesced follower's lease is stale.
// - A follower cannot hear a quiesced leader die: the driver watches the
//   leader's node (node-level liveness, shared by all its groups) and wakes
//   the follower with leader_lost, which counts the minimum election
//   timeout as passed, so it campaigns within the random part of one.
// - A woken leader's lease is not trusted (lease reads take the heartbeat
//   round) until a check-quorum after waking confirms it: while it was
//   quiesced a majority may have elected another leader.
#include <map>

#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

bool Raft::can_quiesce(absl::FunctionRef<bool(NodeId)> live) const {
  if (role_ != Role::kLeader || quiesced_ || lead_transferee_ != kNoNode) return false;
  const Index last = log_.last_index();
  if (log_.committed() != last || log_.applied() != last || log_.persisted_last() != last) {
    return false;
  }
  if (read_only_.size() != 0 || !pending_reads_.empty() || !pending_persist_.empty() ||
      hard_state_dirty()) {
    return false;
  }
  // A joint configuration left automatically is about to change; one left
  // by hand may stay for long and quiesces like any other (a quorum then
  // means both majorities).
  if (tracker_.config().voters.is_joint() && tracker_.config().auto_leave) return false;
  std::map<NodeId, bool> caught_up;
  for (const auto& [id, pr] : tracker_.progress()) {
    if (id == id_) {
      caught_up[id] = true;
      continue;
    }
    if (!live(id)) continue;  // Woken when it comes back.
    if (pr.match != last || pr.state == ProgressState::kSnapshot) return false;
    caught_up[id] = true;
  }
  return tracker_.config().voters.vote_result(caught_up) == VoteResult::kWon;
}

void Raft::quiesce(absl::FunctionRef<bool(NodeId)> live) {
  RAFT_CHECK(can_quiesce(live));
  const Index last = log_.last_index();
  const Term last_term = log_.term_or_zero(last);
  for (const auto& [id, pr] : tracker_.progress()) {
    if (id == id_ || !live(id)) continue;
    Message m;
    m.type = MessageType::kQuiesce;
    m.to = id;
    m.index = last;
    m.log_term = last_term;
    m.commit = last;
    send(std::move(m));
  }
  quiesced_ = true;
  lease_valid_ = false;
}

void Raft::wake(bool leader_lost) {
  if (!quiesced_) return;
  quiesced_ = false;
  heartbeat_elapsed_ = 0;
  if (role_ == Role::kLeader) {
    // Check-quorum counts only peers heard from after waking.
    election_elapsed_ = 0;
    for (auto& [id, pr] : tracker_.mutable_progress()) pr.recent_active = id == id_;
    return;
  }
  election_elapsed_ = leader_lost ? config_.election_ticks : 0;
}

bool Raft::wakes(const Message& m) const {
  switch (m.type) {
    case MessageType::kQuiesce:
    case MessageType::kUnreachable:
      return false;
    case MessageType::kHeartbeatResponse:
      return m.reject;
    case MessageType::kPreVote:
      // A pre-vote changes no term; one from a node outside the
      // configuration (a removed node still campaigning) needs nothing.
      return tracker_.find(m.from) != nullptr;
    case MessageType::kHeartbeat:
    case MessageType::kAppend:
    case MessageType::kSnapshot:
      // A follower's timers only watch for the leader's failure, which the
      // driver's node-level liveness reports: its own leader's traffic
      // (perhaps sent before the kQuiesce and reordered behind it) need
      // not restart them.
      return !(role_ == Role::kFollower && m.from == lead_ && m.term == term_);
    default:
      return true;
  }
}

void Raft::send_wake_ping() {
  Message ping;
  ping.type = MessageType::kHeartbeatResponse;
  ping.to = lead_;
  ping.reject = true;
  send(std::move(ping));
}

void Raft::wake_for(const Message&) {
  wake(false);
  // Whoever woke it (its own leader too, e.g. answering a stale append of
  // ours, which leaves that leader quiesced: sim seed 208251), the leader
  // may still be asleep: a follower ticking alone would time out and
  // campaign against a live leader. At an awake leader the ping counts as
  // a heartbeat answer.
  if (role_ == Role::kFollower && lead_ != kNoNode) send_wake_ping();
}

void Raft::handle_quiesce(const Message& m) {
  election_elapsed_ = 0;
  lead_ = m.from;
  // Log matching: an entry of the leader's at (log_term, index) here means
  // the whole prefix is the leader's, so its commit holds here too. Entries
  // after it (an old term's tail) are overwritten by the next append.
  if (m.index <= log_.last_index() && log_.term_or_zero(m.index) == m.log_term &&
      m.commit == m.index) {
    log_.commit_to(m.commit);
    quiesced_ = true;
    return;
  }
  // Behind: the leader must stay awake and catch us up.
  send_wake_ping();
}

}  // namespace raft
