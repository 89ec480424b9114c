// Elections: starting a campaign (with or without pre-vote), granting votes,
// counting them.
#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

bool Raft::has_unapplied_conf_change() const {
  if (log_.applied() >= log_.committed()) return false;
  absl::StatusOr<std::vector<Entry>> ents =
      log_.slice(log_.applied() + 1, log_.committed() + 1, kNoLimit);
  if (!ents.ok()) return false;
  for (const Entry& e : *ents) {
    if (e.type == EntryType::kConfChange) return true;
  }
  return false;
}

void Raft::hup(bool transfer) {
  if (role_ == Role::kLeader) return;
  if (!promotable()) return;
  // A node that has not applied a committed conf change does not know its
  // real configuration yet; campaigning with the old one could elect two
  // leaders.
  if (has_unapplied_conf_change()) return;
  if (config_.pre_vote && !transfer) {
    campaign(true, false);
  } else {
    campaign(false, transfer);
  }
}

absl::Status Raft::campaign_now() {
  if (role_ == Role::kLeader) return absl::OkStatus();
  if (!promotable()) {
    return absl::FailedPreconditionError(is_learner_ ? "a learner cannot campaign"
                                                     : "this node is not a voter of the group");
  }
  hup(false);
  return absl::OkStatus();
}

void Raft::campaign(bool pre_vote, bool transfer) {
  MessageType type;
  Term vote_term;
  if (pre_vote) {
    become_pre_candidate();
    type = MessageType::kPreVote;
    // Ask whether we could win at the next term, without moving to it.
    vote_term = term_ + 1;
  } else {
    become_candidate();
    type = MessageType::kVote;
    vote_term = term_;
  }
  campaign_transfer_ = transfer;
  // When our own vote alone decides the election (a sole voter), it counts
  // only once it is durable: a leader must not lead a term it could forget in
  // a crash. With other voters this holds anyway, since their votes answer
  // requests that leave only after our hard state is durable.
  const bool self_decides = tracker_.config().voters.vote_result({{id_, true}}) == VoteResult::kWon;
  if (self_decides && hard_state_dirty()) {
    self_vote_pending_ = true;
  } else if (poll(id_, true) != VoteResult::kPending) {
    on_vote_result(tracker_.tally());
    return;
  }
  const Index last_index = log_.last_index();
  const Term last_term = log_.last_term();
  for (NodeId id : tracker_.config().voters.all_ids()) {
    if (id == id_) continue;
    Message m;
    m.type = type;
    m.to = id;
    m.term = vote_term;
    m.index = last_index;
    m.log_term = last_term;
    if (transfer) m.context = Slice::copy_of(kTransferContext);
    send(std::move(m));
  }
}

void Raft::on_vote_result(VoteResult result) {
  if (result == VoteResult::kWon && !promotable()) {
    become_follower(term_, kNoNode);
    return;
  }
  if (result == VoteResult::kWon) {
    if (role_ == Role::kPreCandidate) {
      campaign(false, campaign_transfer_);
    } else {
      become_leader();
    }
  } else if (result == VoteResult::kLost) {
    become_follower(term_, kNoNode);
  }
}

void Raft::count_pending_self_vote() {
  if (!self_vote_pending_ || hard_state_dirty()) return;
  self_vote_pending_ = false;
  if (role_ != Role::kCandidate && role_ != Role::kPreCandidate) return;
  on_vote_result(poll(id_, true));
}

void Raft::learn_commit(Index commit, Term term) {
  // Commitment is a fact anyone may tell: if we hold the entry the peer
  // says is committed, our prefix up to it is the committed one. This lets
  // a node that missed the commit of a membership change apply it, instead
  // of campaigning forever under a configuration that is already gone.
  if (commit > log_.committed() && log_.match_term(commit, term)) log_.commit_to(commit);
}

VoteResult Raft::poll(NodeId id, bool granted) {
  tracker_.record_vote(id, granted);
  return tracker_.tally();
}

void Raft::handle_vote_request(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  const MessageType resp_type = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  // First come, first served: one vote per term; a repeated request from the
  // node we voted for is granted again. A pre-vote for a future term is
  // granted whenever the log allows it.
  const bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) || (pre && m.term > term_);
  Message resp;
  resp.type = resp_type;
  resp.to = m.from;
  // Tell the candidate what we know is committed (see learn_commit).
  resp.commit = log_.committed();
  resp.log_term = log_.term_or_zero(resp.commit);
  // Election restriction (§5.4.1): only a candidate whose log is at least as
  // up to date as ours gets our vote.
  if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
    resp.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    resp.term = term_;
    resp.reject = true;
  }
  send(std::move(resp));
}

}  // namespace raft
