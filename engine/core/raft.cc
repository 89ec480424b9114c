// Raft: state, role changes, the term rules every message passes first, step
// dispatch by role, and logical time.
#include "engine/core/raft.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace raft {

namespace {

// Every node of a group may share one seed; mixing the id in keeps their
// election timeouts apart.
uint64_t node_seed(uint64_t seed, NodeId id) { return seed ^ (id * 0xd6e8feb86659fd93ULL); }

bool waits_for_persistence(MessageType type) {
  switch (type) {
    // A response that acknowledges entries, and any vote, may leave only
    // once what it vouches for is durable.
    case MessageType::kAppendResponse:
    case MessageType::kVote:
    case MessageType::kVoteResponse:
    case MessageType::kPreVote:
    case MessageType::kPreVoteResponse:
      return true;
    default:
      return false;
  }
}

}  // namespace

Raft::Raft(const Config& config, LogStorage* storage, const InitialState& initial)
    : config_(config),
      id_(config.id),
      rng_(node_seed(config.seed, config.id)),
      log_(storage),
      tracker_(config.max_inflight_msgs) {
  restore_conf_state(initial.conf_state);
  const HardState& hs = initial.hard_state;
  RAFT_CHECK_MSG(hs.commit <= log_.last_index(), "hard state commit beyond the stored log");
  log_.commit_to(hs.commit);
  term_ = hs.term;
  vote_ = hs.vote;
  if (config.applied > 0) {
    RAFT_CHECK_MSG(config.applied <= log_.committed(), "Config::applied beyond the commit index");
    log_.applied_to(config.applied);
  }
  become_follower(term_, kNoNode);
  prev_hard_state_ = hard_state();
  durable_hard_state_ = prev_hard_state_;
  prev_soft_state_ = soft_state();
}

void Raft::reset_randomized_election_timeout() {
  randomized_election_timeout_ =
      config_.election_ticks + static_cast<int>(rng_.below(config_.election_ticks));
}

void Raft::reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_election_timeout();
  abort_leader_transfer();
  tracker_.reset_votes();
  self_vote_pending_ = false;
  const Index next = log_.last_index() + 1;
  for (auto& [id, pr] : tracker_.mutable_progress()) {
    bool learner = pr.is_learner;
    pr = Progress(tracker_.max_inflight());
    pr.next = next;
    pr.is_learner = learner;
  }
  pending_conf_index_ = 0;
  uncommitted_bytes_ = 0;
  read_only_.clear();
  pending_reads_.clear();
  pending_broadcast_ = false;
}

void Raft::become_follower(Term term, NodeId lead) {
  reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void Raft::become_pre_candidate() {
  RAFT_CHECK_MSG(role_ != Role::kLeader, "a leader cannot become pre-candidate");
  // Pre-vote changes neither term nor vote: a partitioned node that keeps
  // failing pre-votes never disrupts the cluster with a higher term.
  tracker_.reset_votes();
  self_vote_pending_ = false;
  role_ = Role::kPreCandidate;
  lead_ = kNoNode;
}

void Raft::become_candidate() {
  RAFT_CHECK_MSG(role_ != Role::kLeader, "a leader cannot become candidate");
  reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void Raft::become_leader() {
  RAFT_CHECK_MSG(role_ == Role::kCandidate, "only a candidate becomes leader");
  reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  lease_valid_ = true;
  Progress* self = tracker_.find(id_);
  RAFT_CHECK(self != nullptr);
  self->become_replicate();
  // Only what is durable counts as our own ack (thesis §10.2.1).
  self->maybe_update(log_.persisted_last());
  self->recent_active = true;
  // Conf changes in the uncommitted tail may be pending: allow no new one
  // until everything up to here is applied.
  pending_conf_index_ = log_.last_index();
  // The no-op lets the leader commit (and learn the commit index) in its own
  // term (§5.4.2, §8).
  bool appended = append_entries({Entry{0, 0, EntryType::kNormal, Slice()}});
  RAFT_CHECK(appended);
}

bool Raft::promotable() const {
  const Progress* pr = tracker_.find(id_);
  return pr != nullptr && !pr->is_learner && !log_.unstable().snapshot();
}

void Raft::send(Message m) {
  m.group = config_.group;
  m.from = id_;
  RAFT_CHECK_MSG(m.to != id_, "a node never sends to itself");
  const bool forwarded = m.type == MessageType::kPropose || m.type == MessageType::kReadIndex ||
                         m.type == MessageType::kTransferLeader;
  if (forwarded) {
    m.term = 0;  // Stepped by the leader without term checks.
  } else if (m.type == MessageType::kVote || m.type == MessageType::kPreVote ||
             m.type == MessageType::kPreVoteResponse) {
    RAFT_CHECK_MSG(m.term != 0, "vote message without a term");
  } else {
    m.term = term_;
  }
  // Anything sent while the term or vote is not yet handed out for
  // persistence waits too: a term or vote never leaves before it is durable.
  if (waits_for_persistence(m.type) || hard_state_dirty()) {
    msgs_after_persist_.push_back(std::move(m));
  } else {
    msgs_.push_back(std::move(m));
  }
}

absl::Status Raft::step_term(const Message& m, bool* drop) {
  *drop = false;
  if (m.term == 0) return absl::OkStatus();  // Local or forwarded.
  if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      const bool force = m.context.view() == kTransferContext;
      // With check-quorum, a node that heard from a leader within the
      // minimum election timeout ignores votes: it protects a live leader
      // from a disruptive (rejoining) node.
      // The leader itself asking has no lease to protect.
      const bool in_lease = config_.check_quorum && lead_ != kNoNode && m.from != lead_ &&
                            election_elapsed_ < config_.election_ticks;
      if (!force && in_lease) {
        *drop = true;
        return absl::OkStatus();
      }
    }
    if (m.type == MessageType::kPreVote) {
      // A pre-vote at a higher term never moves our term.
    } else if (m.type == MessageType::kPreVoteResponse && !m.reject) {
      // A granted pre-vote carries the future term; the candidate keeps its own.
    } else if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnapshot || m.type == MessageType::kQuiesce) {
      become_follower(m.term, m.from);
    } else if (m.type == MessageType::kVote) {
      // A vote request moves our term, but only granting the vote restarts
      // the election timer (§5.2): keep the timeout drawn when we last heard
      // from a leader.
      const int elapsed = election_elapsed_;
      const int timeout = randomized_election_timeout_;
      const bool was_follower = role_ == Role::kFollower;
      become_follower(m.term, kNoNode);
      if (was_follower) {
        election_elapsed_ = elapsed;
        randomized_election_timeout_ = timeout;
      }
    } else {
      become_follower(m.term, kNoNode);
    }
    return absl::OkStatus();
  }
  if (m.term < term_) {
    if (m.type == MessageType::kHeartbeat || m.type == MessageType::kAppend ||
        m.type == MessageType::kQuiesce) {
      // A stale leader (e.g. back from a partition) learns our term and steps
      // down (§5.1: reply with currentTerm). etcd does this only with
      // check-quorum or pre-vote, counting on a candidate's higher-term vote
      // request to depose the stale leader otherwise; but when every node that
      // could win lists only the stale leader among its voters, no such
      // request ever reaches it and the group stalls (sim seed 10359).
      Message resp;
      resp.type = MessageType::kAppendResponse;
      resp.to = m.from;
      send(std::move(resp));
    } else if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
      // Reject with our term (§5.1) so that a candidate behind us in terms
      // catches up instead of campaigning below us forever.
      Message resp;
      resp.type =
          m.type == MessageType::kVote ? MessageType::kVoteResponse : MessageType::kPreVoteResponse;
      resp.to = m.from;
      resp.term = term_;
      resp.reject = true;
      send(std::move(resp));
    }
    *drop = true;
  }
  return absl::OkStatus();
}

absl::Status Raft::step(Message m) {
  // Our own leader campaigning has lost its leadership: the election it
  // needs must not wait for timers a quiesced node stopped (quiesce.cc).
  const bool leader_campaigns = (m.type == MessageType::kVote || m.type == MessageType::kPreVote) &&
                                m.from == lead_ && lead_ != id_ && m.term > term_;
  if (quiesced_ && leader_campaigns) wake(/*leader_lost=*/true);
  bool drop = false;
  absl::Status status = step_term(m, &drop);
  // What the term rules drop (stale terms, votes within a leader's lease)
  // leaves a quiesced node asleep, but for a member's vote request within
  // the lease: that member has lost the leader. At the leader, heartbeats
  // must resume to tell it. At a follower the lease itself is stale (its
  // timers stopped when it quiesced, and the leader may have stepped down
  // since while its node stayed live): it wakes, and tells the leader, so
  // that either the leader's heartbeats resume or its election timer runs
  // out and the election goes ahead (sim seed 208251). A removed node's
  // requests do not count.
  if (drop && quiesced_ && m.term > term_ &&
      (m.type == MessageType::kVote || m.type == MessageType::kPreVote) &&
      tracker_.find(m.from) != nullptr) {
    wake(/*leader_lost=*/false);
    if (role_ == Role::kFollower && lead_ != kNoNode) send_wake_ping();
  }
  if (!status.ok() || drop) return status;
  if (quiesced_ && wakes(m)) wake_for(m);
  switch (m.type) {
    case MessageType::kHup:
      hup(false);
      return absl::OkStatus();
    case MessageType::kVote:
    case MessageType::kPreVote:
      handle_vote_request(m);
      return absl::OkStatus();
    default:
      break;
  }
  switch (role_) {
    case Role::kLeader:
      return step_leader(m);
    case Role::kCandidate:
    case Role::kPreCandidate:
      return step_candidate(m);
    case Role::kFollower:
      return step_follower(m);
  }
  return absl::OkStatus();
}

absl::Status Raft::step_leader(Message& m) {
  switch (m.type) {
    case MessageType::kBeat:
      bcast_heartbeat();
      return absl::OkStatus();
    case MessageType::kCheckQuorum:
      if (!tracker_.quorum_active(id_)) {
        become_follower(term_, kNoNode);
        return absl::OkStatus();
      }
      lease_valid_ = true;
      for (auto& [id, pr] : tracker_.mutable_progress()) pr.recent_active = id == id_;
      return absl::OkStatus();
    case MessageType::kPropose:
      return handle_propose(m);
    case MessageType::kReadIndex:
      return handle_read_index(m);
    case MessageType::kTransferLeader:
      handle_transfer_leader(m.index);
      return absl::OkStatus();
    default:
      break;
  }
  Progress* pr = tracker_.find(m.from);
  if (pr == nullptr) return absl::OkStatus();
  switch (m.type) {
    case MessageType::kAppendResponse:
      handle_append_response(m, *pr);
      break;
    case MessageType::kHeartbeatResponse:
      handle_heartbeat_response(m, *pr);
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status Raft::step_candidate(Message& m) {
  switch (m.type) {
    case MessageType::kPropose:
    case MessageType::kReadIndex:
    case MessageType::kTransferLeader:
      return absl::UnavailableError("no leader (election in progress)");
    case MessageType::kAppend:
      become_follower(m.term, m.from);
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      break;
    case MessageType::kSnapshot:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      break;
    case MessageType::kQuiesce:
      become_follower(m.term, m.from);
      handle_quiesce(m);
      break;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse: {
      const bool mine = (role_ == Role::kPreCandidate && m.type == MessageType::kPreVoteResponse) ||
                        (role_ == Role::kCandidate && m.type == MessageType::kVoteResponse);
      if (!mine) break;
      learn_commit(m.commit, m.log_term);
      on_vote_result(poll(m.from, !m.reject));
      break;
    }
    default:
      break;  // kTimeoutNow and responses meant for a leader are ignored.
  }
  return absl::OkStatus();
}

absl::Status Raft::step_follower(Message& m) {
  switch (m.type) {
    case MessageType::kPropose:
      return handle_propose(m);
    case MessageType::kAppend:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_heartbeat(m);
      break;
    case MessageType::kSnapshot:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_snapshot(m);
      break;
    case MessageType::kQuiesce:
      handle_quiesce(m);
      break;
    case MessageType::kTransferLeader:
    case MessageType::kReadIndex:
      if (lead_ == kNoNode) return absl::UnavailableError("no leader");
      m.to = lead_;
      send(std::move(m));
      break;
    case MessageType::kTimeoutNow:
      // The leader hands us leadership: campaign at once, skipping pre-vote
      // and overriding the voters' leader lease.
      hup(true);
      break;
    case MessageType::kReadIndexResponse:
      read_states_.push_back(ReadState{m.reject ? 0 : m.index, m.context, m.reject});
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

void Raft::tick() {
  if (quiesced_) return;
  if (role_ == Role::kLeader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void Raft::tick_election() {
  ++election_elapsed_;
  if (promotable() && past_election_timeout()) {
    election_elapsed_ = 0;
    hup(false);
  }
}

void Raft::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      Message m;
      m.type = MessageType::kCheckQuorum;
      (void)step(std::move(m));
    }
    // A transfer that did not happen within an election timeout is abandoned
    // so that proposals flow again; a removed leader tries again (perhaps
    // with another voter).
    if (role_ == Role::kLeader && lead_transferee_ != kNoNode) {
      abort_leader_transfer();
      if (removed_from_config()) hand_off_leadership();
    }
  }
  if (role_ != Role::kLeader) return;
  if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    bcast_heartbeat();
  }
}

NodeStatus Raft::status() const {
  NodeStatus s;
  s.id = id_;
  s.group = config_.group;
  s.hard_state = hard_state();
  s.applied = log_.applied();
  s.first_index = log_.first_index();
  s.last_index = log_.last_index();
  s.role = role_;
  s.leader = lead_;
  s.lead_transferee = lead_transferee_;
  s.conf_state = tracker_.config().to_conf_state();
  s.randomized_election_timeout = randomized_election_timeout_;
  s.quiesced = quiesced_;
  if (role_ == Role::kLeader) {
    for (const auto& [id, pr] : tracker_.progress()) {
      PeerStatus p;
      p.id = id;
      p.match = pr.match;
      p.next = pr.next;
      p.state = pr.state;
      p.inflight = pr.inflights.count();
      p.recent_active = pr.recent_active;
      p.learner = pr.is_learner;
      p.pending_snapshot = pr.pending_snapshot;
      s.progress.push_back(p);
    }
  }
  return s;
}

}  // namespace raft
