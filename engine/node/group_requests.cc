// The group driver's requests: proposals, reads, membership changes, id
// reservations and leader transfers, their completion and their deadlines.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/trace.h"
#include "engine/node/errors.h"
#include "engine/node/group.h"
#include "engine/node/group_rules.h"
#include "protocol/records/peer_addresses.h"
#include "spdlog/spdlog.h"

namespace raft {

using namespace group_rules;  // NOLINT(google-build-using-namespace): the driver's own rules.

// ---------------------------------------------------------------------------
// Requests.

int64_t Group::request_deadline() const {
  return ticks_ + std::max<int64_t>(1, config_.request_timeout_ms / config_.tick_interval_ms);
}

size_t Group::pending_requests() const {
  return proposals_.size() + reads_.size() + transfers_.size();
}

absl::Status Group::request_slot() const {
  if (pending_requests() < config_.max_pending_requests) return absl::OkStatus();
  return refused(absl::ResourceExhaustedError(
      absl::StrCat("group ", id_, " has ", pending_requests(),
                   " requests waiting on this node (max_pending_requests); retry later")));
}

std::string Group::address_of(NodeId node) const {
  auto it = peers_.find(node);
  return it == peers_.end() ? std::string() : it->second;
}

void Group::propose(Slice data, ProposeCallback done) {
  if (removed_) {
    return done(failed(absl::FailedPreconditionError("this node was removed from the group")));
  }
  if (data.empty()) return done(failed(absl::InvalidArgumentError("empty proposal")));
  propose_entry(std::move(data), EntryType::kNormal, std::move(done));
}

void Group::propose_entry(Slice data, EntryType type, ProposeCallback done) {
  RAFT_TRACE_POINT("propose");  // Plain and session proposals alike (trace_w1.py).
  if (!halted_.ok()) return done(refused(halted_));
  if (!is_leader()) return done(not_leader_error(leader(), address_of(leader())));
  if (absl::Status s = request_slot(); !s.ok()) return done(s);
  if (absl::Status s = writer_.backlog(); !s.ok()) return done(refused(s));
  // The core refuses before appending anything (backpressure, a transfer in
  // progress, leadership lost within this turn).
  if (absl::Status s = raw_->propose_typed(std::move(data), type); !s.ok()) {
    return done(refused(s));
  }
  Index index = raw_->last_index();
  if (proposals_.contains(index)) replaced_in_own_log(index);
  proposals_[index] = PendingProposal{raw_->term(), request_deadline(), std::move(done), nullptr};
}

void Group::read(std::string query, ReadConsistency consistency, ReadCallback done) {
  if (!halted_.ok()) return done(failed(halted_));
  if (consistency == ReadConsistency::kStale) return done(fsm_->query(query));
  if (absl::Status s = request_slot(); !s.ok()) return done(s);
  uint64_t id = next_read_id_++;
  PendingRead& r = reads_[id];
  r.query = std::move(query);
  r.deadline_tick = request_deadline();
  r.requested_tick = ticks_;
  r.done = std::move(done);
  // The core forwards the request from a follower to the leader; if it
  // cannot be served yet (no leader, or a new leader without a committed
  // entry of its term) it is retried on later ticks until the deadline.
  absl::Status s = raw_->read_index(read_context(self_, incarnation_, id));
  if (!s.ok()) r.requested_tick = ticks_ - config_.election_ticks;
}

void Group::change_membership(std::vector<MemberChange> changes, ConfCallback done) {
  if (changes.empty())
    return done(failed(absl::InvalidArgumentError("no membership change given")));
  if (!is_leader()) return done(not_leader_error(leader(), address_of(leader())));
  ConfState cs = raw_->conf_state();
  ConfChange cc;
  PeerAddresses addresses;
  for (const MemberChange& ch : changes) {
    if (ch.node == kNoNode)
      return done(failed(absl::InvalidArgumentError("node id 0 is not valid")));
    switch (ch.kind) {
      case MemberChangeKind::kAddVoter:
      case MemberChangeKind::kAddLearner: {
        if (ch.address.empty() && !peers_.contains(ch.node)) {
          return done(failed(absl::InvalidArgumentError(
              absl::StrCat("adding node ", ch.node, " needs its address"))));
        }
        if (!ch.address.empty()) addresses[ch.node] = ch.address;
        cc.changes.push_back(ConfChangeSingle{ch.kind == MemberChangeKind::kAddVoter
                                                  ? ConfChangeType::kAddVoter
                                                  : ConfChangeType::kAddLearner,
                                              ch.node});
        break;
      }
      case MemberChangeKind::kPromote:
        if (!contains(cs.learners, ch.node)) {
          return done(failed(
              absl::FailedPreconditionError(absl::StrCat("node ", ch.node, " is not a learner"))));
        }
        cc.changes.push_back(ConfChangeSingle{ConfChangeType::kAddVoter, ch.node});
        break;
      case MemberChangeKind::kRemove:
        if (!is_member(cs, ch.node)) {
          return done(
              failed(absl::NotFoundError(absl::StrCat("node ", ch.node, " is not a member"))));
        }
        cc.changes.push_back(ConfChangeSingle{ConfChangeType::kRemoveNode, ch.node});
        break;
    }
  }
  cc.context = protocol::encode_peer_addresses(addresses);
  propose_conf_change(std::move(cc), std::move(done));
}

absl::Status Group::campaign() { return raw_->campaign(); }

void Group::propose_conf_change(ConfChange cc, ConfCallback done) {
  if (!is_leader()) return done(not_leader_error(leader(), address_of(leader())));
  if (absl::Status s = request_slot(); !s.ok()) return done(s);
  // Refused by the core: another change is pending, or backpressure.
  if (absl::Status s = raw_->propose_conf_change(cc); !s.ok()) return done(refused(s));
  Index index = raw_->last_index();
  if (proposals_.contains(index)) replaced_in_own_log(index);
  proposals_[index] = PendingProposal{raw_->term(), request_deadline(), nullptr, std::move(done)};
}

void Group::reserve_id(const std::string& address,
                       absl::AnyInvocable<void(absl::StatusOr<NodeId>)> done) {
  if (!is_leader()) return done(not_leader_error(leader(), address_of(leader())));
  ConfState cs = raw_->conf_state();
  NodeId id = max_id_seen_;
  for (const auto* v : {&cs.voters, &cs.learners, &cs.voters_outgoing, &cs.learners_next}) {
    for (NodeId n : *v) id = std::max(id, n);
  }
  for (const auto& [n, a] : peers_) id = std::max(id, n);
  ++id;
  // The id is reserved by adding the joiner as a learner through the log:
  // at most one conf change is pending, so two joiners never get one id, and
  // every later leader knows the id is taken.
  change_membership({MemberChange{MemberChangeKind::kAddLearner, id, address}},
                    [id, done = std::move(done)](absl::StatusOr<ConfState> r) mutable {
                      // Another change (often another joiner's reservation)
                      // is pending: that passes, so the joiner may retry.
                      if (absl::IsFailedPrecondition(r.status()) && !is_not_leader(r.status())) {
                        return done(refused(absl::UnavailableError(absl::StrCat(
                            "cannot reserve an id now, retry: ", r.status().message()))));
                      }
                      if (!r.ok()) return done(r.status());
                      done(id);
                    });
}

void Group::transfer_leader(NodeId target, DoneCallback done) {
  if (target == leader() && target != kNoNode) return done(absl::OkStatus());
  if (absl::Status s = request_slot(); !s.ok()) return done(s);
  // Unavailable (no leader) is a refusal, a target that cannot lead a failure.
  if (absl::Status s = raw_->transfer_leader(target); !s.ok()) return done(s);
  transfers_.push_back(
      PendingTransfer{target, ticks_ + 2 * int64_t{config_.election_ticks}, std::move(done)});
}

void Group::make_snapshot(IndexCallback done) { start_snapshot(std::move(done)); }

void Group::replaced_in_own_log(Index index) {
  // This leader appended a new entry at the index of an older pending
  // proposal (from a term it led before). The older entry is gone from this
  // log, but other nodes may still hold it and a later leader may commit it
  // (Raft paper, figure 8): its outcome is unknown, not failed.
  finish_proposal(index, 0,
                  unknown(absl::AbortedError("entry was replaced in this node's log; it may "
                                             "still be committed by another leader")));
}

void Group::finish_proposal(Index index, Term term, absl::StatusOr<ProposeResult> result) {
  auto it = proposals_.find(index);
  if (it == proposals_.end()) return;
  PendingProposal p = std::move(it->second);
  proposals_.erase(it);
  RAFT_TRACE_POINT("proposal_done");
  // Another entry (a newer leader's) took this proposal's index: its result,
  // or its error, is not this proposal's.
  if (term != 0 && p.term != term) result = replaced_error();
  if (p.done) {
    p.done(std::move(result));
  } else if (p.conf_done) {
    p.conf_done(result.ok() ? absl::StatusOr<ConfState>(raw_->conf_state())
                            : absl::StatusOr<ConfState>(result.status()));
  }
}

void Group::serve_reads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    PendingRead& r = it->second;
    if (r.index != 0 && r.index <= applied_) {
      ReadCallback done = std::move(r.done);
      absl::StatusOr<std::string> result = fsm_->query(r.query);
      it = reads_.erase(it);
      done(std::move(result));
    } else {
      ++it;
    }
  }
}

void Group::expire_requests() {
  while (!proposals_.empty()) {
    // Deadlines grow with the index (the timeout is fixed), so the oldest
    // proposal expires first; a later one may still be pending.
    auto it = std::find_if(proposals_.begin(), proposals_.end(),
                           [&](const auto& p) { return p.second.deadline_tick <= ticks_; });
    if (it == proposals_.end()) break;
    finish_proposal(
        it->first, 0,
        unknown(absl::DeadlineExceededError("proposal timed out; its outcome is unknown")));
  }
  for (auto it = reads_.begin(); it != reads_.end();) {
    PendingRead& r = it->second;
    if (r.deadline_tick <= ticks_) {
      ReadCallback done = std::move(r.done);
      it = reads_.erase(it);
      done(refused(absl::DeadlineExceededError("read timed out")));
      continue;
    }
    // A read-index request is lost with its message or its leader; ask again.
    if (r.index == 0 && ticks_ - r.requested_tick >= int64_t{config_.election_ticks}) {
      r.requested_tick = ticks_;
      (void)raw_->read_index(read_context(self_, incarnation_, it->first));
    }
    ++it;
  }
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    if (it->deadline_tick <= ticks_) {
      DoneCallback done = std::move(it->done);
      it = transfers_.erase(it);
      done(unknown(absl::DeadlineExceededError("leader transfer did not happen in time")));
    } else {
      ++it;
    }
  }
}

}  // namespace raft
