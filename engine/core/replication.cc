// Log replication: the leader's AppendEntries and heartbeats with their
// responses, the follower's handling of them, and commitment.
#include <algorithm>

#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

bool Raft::maybe_send_append(NodeId to, bool send_if_empty) {
  Progress* pr = tracker_.find(to);
  RAFT_CHECK(pr != nullptr);
  if (pr->is_paused()) return false;
  const Index prev_index = pr->next - 1;
  absl::StatusOr<Term> prev_term = log_.term(prev_index);
  if (!prev_term.ok()) return send_snapshot(to, *pr);
  absl::StatusOr<std::vector<Entry>> ents = log_.entries_from(pr->next, config_.max_size_per_msg);
  if (!ents.ok()) return send_snapshot(to, *pr);
  if (ents->empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev_index;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  const size_t count = ents->size();
  m.entries = std::move(*ents);
  pr->sent_entries(prev_index + count, count);
  send(std::move(m));
  return true;
}

void Raft::send_heartbeat(NodeId to, Slice ctx) {
  const Progress* pr = tracker_.find(to);
  RAFT_CHECK(pr != nullptr);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  // Never tell a follower to commit entries it may not have.
  m.commit = std::min(pr->match, log_.committed());
  m.context = std::move(ctx);
  send(std::move(m));
}

void Raft::bcast_append() {
  for (const auto& [id, pr] : tracker_.progress()) {
    if (id != id_) maybe_send_append(id, true);
  }
}

void Raft::bcast_heartbeat() { bcast_heartbeat_with_context(read_only_.last_context()); }

void Raft::bcast_heartbeat_with_context(Slice ctx) {
  for (const auto& [id, pr] : tracker_.progress()) {
    if (id != id_) send_heartbeat(id, ctx);
  }
}

void Raft::handle_append(Message& m) {
  Message resp;
  resp.type = MessageType::kAppendResponse;
  resp.to = m.from;
  if (m.index < log_.committed()) {
    // Everything up to our commit index is known to match.
    resp.index = log_.committed();
    send(std::move(resp));
    return;
  }
  std::optional<Index> last_new =
      log_.maybe_append(m.index, m.log_term, m.commit, std::move(m.entries));
  if (last_new) {
    resp.index = *last_new;
    send(std::move(resp));
    return;
  }
  // Reject with a hint: the last index at or below the leader's probe whose
  // term is at most the leader's term there. The leader skips a whole term
  // of ours per round trip instead of one entry.
  Index hint = std::min(m.index, log_.last_index());
  hint = log_.find_conflict_by_term(hint, m.log_term);
  resp.index = m.index;
  resp.reject = true;
  resp.reject_hint = hint;
  resp.log_term = log_.term_or_zero(hint);
  send(std::move(resp));
}

void Raft::handle_heartbeat(const Message& m) {
  log_.commit_to(m.commit);
  Message resp;
  resp.type = MessageType::kHeartbeatResponse;
  resp.to = m.from;
  resp.context = m.context;
  send(std::move(resp));
}

void Raft::handle_append_response(const Message& m, Progress& pr) {
  pr.recent_active = true;
  if (m.reject) {
    Index next_probe = m.reject_hint;
    if (m.log_term > 0) {
      // The follower's log at reject_hint has term log_term: any entry of
      // ours with a higher term after the last entry of term <= log_term
      // cannot match.
      next_probe =
          log_.find_conflict_by_term(std::min(m.reject_hint, log_.last_index()), m.log_term);
    }
    if (pr.maybe_decrease_to(m.index, next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      maybe_send_append(m.from, true);
    }
    return;
  }
  const bool was_paused = pr.is_paused();
  if (!pr.maybe_update(m.index) && !(pr.match == m.index && pr.state == ProgressState::kProbe)) {
    return;
  }
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.become_replicate();
      break;
    case ProgressState::kSnapshot:
      if (pr.match + 1 >= log_.first_index()) {
        pr.become_probe();
        pr.become_replicate();
      }
      break;
    case ProgressState::kReplicate:
      pr.inflights.free_le(m.index);
      break;
  }
  if (maybe_commit()) {
    on_commit_advanced();
  } else if (was_paused) {
    maybe_send_append(m.from, true);
  }
  // Optimistic pipelining: keep sending while the window allows.
  while (maybe_send_append(m.from, false)) {
  }
  if (m.from == lead_transferee_ && pr.match == log_.last_index()) send_timeout_now(m.from);
}

void Raft::handle_heartbeat_response(const Message& m, Progress& pr) {
  pr.recent_active = true;
  pr.probe_sent = false;
  // A lost append must not stall a full window forever: free one slot so
  // the next append either fills the gap or draws a rejection.
  if (pr.state == ProgressState::kReplicate && pr.inflights.full()) pr.inflights.free_first_one();
  if (pr.match < log_.last_index()) maybe_send_append(m.from, true);
  // Lease-based reads also take a heartbeat round while the lease is not
  // trusted (after quiescence).
  if (!m.context.empty()) handle_read_acks(m);
}

bool Raft::maybe_commit() {
  // Only entries of the current term are committed by counting (§5.4.2);
  // maybe_commit checks the term of the quorum index.
  return log_.maybe_commit(tracker_.committed(), term_);
}

void Raft::on_commit_advanced() {
  // Followers learn the new commit index from the next appends.
  pending_broadcast_ = true;
  if (!pending_reads_.empty() && committed_entry_in_current_term()) release_pending_reads();
}

bool Raft::committed_entry_in_current_term() const {
  return log_.term_or_zero(log_.committed()) == term_;
}

}  // namespace raft
