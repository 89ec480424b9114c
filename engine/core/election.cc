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
  if (poll(id_, true) == VoteResult::kWon) {
    // A single voter wins at once.
    if (pre_vote) {
      campaign(false, transfer);
    } else {
      become_leader();
    }
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
