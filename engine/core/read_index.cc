// Linearizable reads: ReadIndex confirmed by a heartbeat round (safe) or by
// the leader's lease (lease-based, only with check-quorum).
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

absl::Status Raft::read_index(Slice ctx) {
  // The context identifies the request in heartbeat rounds: it must exist.
  if (ctx.empty()) return absl::InvalidArgumentError("read_index needs a non-empty context");
  Message m;
  m.type = MessageType::kReadIndex;
  m.from = id_;
  m.context = std::move(ctx);
  return step(std::move(m));
}

absl::Status Raft::handle_read_index(const Message& m) {
  // Until the leader commits an entry of its own term it does not know the
  // real commit index (§8): park the request.
  if (!committed_entry_in_current_term()) {
    if (pending_reads_.size() >= ReadOnly::kMaxPending) {
      return absl::ResourceExhaustedError("too many pending read requests");
    }
    pending_reads_.push_back(m);
    return absl::OkStatus();
  }
  // Only a leader that is itself a voter may answer on its own word: the sole
  // voter when it is alone, its lease otherwise. A leader that removed itself
  // and is still handing off must hear from the voters, since one of them may
  // already lead a newer term.
  const bool self_voter = tracker_.is_voter(id_);
  if (self_voter && tracker_.is_singleton()) {
    respond_read_index(ReadIndexRequest{log_.committed(), m.from, m.context});
    return absl::OkStatus();
  }
  // A leader that was quiesced trusts its lease again only after a
  // check-quorum since it woke (quiesce.cc).
  if (self_voter && config_.read_only == ReadOnlyOption::kLeaseBased && lease_valid_) {
    respond_read_index(ReadIndexRequest{log_.committed(), m.from, m.context});
    return absl::OkStatus();
  }
  if (const ReadIndexRequest* pending = read_only_.find(m.context.view())) {
    // The same node asking again (its retry after a lost message) is
    // answered by the round already in flight. Another node's request with
    // the same context cannot share that round (its index predates the
    // request), so it is refused at once rather than left unanswered.
    if (pending->from == m.from) return absl::OkStatus();
    reject_read_index(m);
    return absl::AlreadyExistsError("a read with this context is already pending");
  }
  if (read_only_.full()) return absl::ResourceExhaustedError("too many pending read requests");
  read_only_.add(log_.committed(), m.from, m.context);
  read_only_.ack(id_, m.context.view());
  bcast_heartbeat_with_context(m.context);
  return absl::OkStatus();
}

void Raft::respond_read_index(const ReadIndexRequest& req) {
  if (req.from == id_ || req.from == kNoNode) {
    read_states_.push_back(ReadState{req.index, req.context});
    return;
  }
  Message m;
  m.type = MessageType::kReadIndexResponse;
  m.to = req.from;
  m.index = req.index;
  m.context = req.context;
  send(std::move(m));
}

void Raft::reject_read_index(const Message& request) {
  if (request.from == id_ || request.from == kNoNode) {
    read_states_.push_back(ReadState{0, request.context, true});
    return;
  }
  Message m;
  m.type = MessageType::kReadIndexResponse;
  m.to = request.from;
  m.reject = true;
  m.context = request.context;
  send(std::move(m));
}

void Raft::release_pending_reads() {
  std::vector<Message> reads;
  reads.swap(pending_reads_);
  for (const Message& m : reads) (void)handle_read_index(m);
}

bool Raft::read_acks_won(const std::set<NodeId>& acks) const {
  std::map<NodeId, bool> votes;
  for (NodeId id : acks) votes[id] = true;
  return tracker_.config().voters.vote_result(votes) == VoteResult::kWon;
}

void Raft::handle_read_acks(const Message& m) {
  const std::set<NodeId>* acks = read_only_.ack(m.from, m.context.view());
  if (acks == nullptr || !read_acks_won(*acks)) return;
  for (const ReadIndexRequest& req : read_only_.advance(m.context.view())) respond_read_index(req);
}

void Raft::recheck_pending_reads() {
  // The newest request whose acks are a quorum now releases it and every
  // older one. Without this, reads pending when the voters shrank to this
  // leader alone would wait for heartbeat answers that never come.
  const std::deque<std::string>& ctxs = read_only_.contexts();
  for (auto it = ctxs.rbegin(); it != ctxs.rend(); ++it) {
    const std::set<NodeId>* acks = read_only_.acks(*it);
    if (acks == nullptr || !read_acks_won(*acks)) continue;
    const std::string ctx = *it;
    for (const ReadIndexRequest& req : read_only_.advance(ctx)) respond_read_index(req);
    return;
  }
}

}  // namespace raft
