// Handing work to the driver (Ready) and taking its acknowledgements
// (advance, on_persisted).
#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

namespace {
constexpr size_t kMaxPendingPersist = 1 << 16;
}  // namespace

bool Raft::has_ready() const {
  if (pending_broadcast_ && role_ == Role::kLeader) return true;
  if (soft_state() != prev_soft_state_ || hard_state() != prev_hard_state_) return true;
  const Unstable& u = log_.unstable();
  if (u.has_next_entries() || u.has_next_snapshot()) return true;
  if (!msgs_.empty() || !msgs_after_persist_.empty() || !read_states_.empty()) return true;
  return log_.has_next_committed();
}

Ready Raft::ready() {
  if (pending_broadcast_) {
    pending_broadcast_ = false;
    if (role_ == Role::kLeader) bcast_append();
  }
  Ready rd;
  const SoftState ss = soft_state();
  if (ss != prev_soft_state_) {
    rd.soft_state = ss;
    prev_soft_state_ = ss;
  }
  const HardState hs = hard_state();
  if (hs != prev_hard_state_) {
    rd.hard_state = hs;
    prev_hard_state_ = hs;
  }
  Unstable& u = log_.unstable();
  if (u.has_next_snapshot()) rd.snapshot = *u.snapshot();
  if (u.has_next_entries()) rd.entries = u.next_entries();
  u.accept_in_progress();
  rd.messages.swap(msgs_);
  rd.persisted_messages.swap(msgs_after_persist_);
  const uint64_t max_bytes =
      config_.max_committed_bytes_per_ready == 0 ? kNoLimit : config_.max_committed_bytes_per_ready;
  rd.committed_entries = log_.next_committed(max_bytes);
  if (!rd.committed_entries.empty()) {
    log_.applying_to(rd.committed_entries.back().index);
    if (role_ == Role::kLeader) reduce_uncommitted(rd.committed_entries);
  }
  rd.read_states.swap(read_states_);
  if (rd.must_persist()) {
    rd.persist_log_index = log_.last_index();
    rd.persist_log_term = log_.last_term();
    // Bounded: a driver that never reports only delays its own messages.
    if (pending_persist_.size() >= kMaxPendingPersist) pending_persist_.pop_front();
    pending_persist_.push_back(
        PendingPersist{rd.persist_log_index, rd.persist_log_term, rd.hard_state});
  }
  return rd;
}

void Raft::advance(const Ready& rd) {
  if (rd.snapshot) log_.applied_to(rd.snapshot->meta.index);
  if (!rd.committed_entries.empty()) log_.applied_to(rd.committed_entries.back().index);
  maybe_auto_leave_joint();
}

void Raft::on_persisted(Index index, Term term) {
  // Readies are persisted in order: the first pending one with this log
  // position, and all before it, are durable now.
  for (size_t i = 0; i < pending_persist_.size(); ++i) {
    if (pending_persist_[i].index != index || pending_persist_[i].term != term) continue;
    for (size_t k = 0; k <= i; ++k) {
      const PendingPersist& p = pending_persist_.front();
      if (p.hard_state) durable_hard_state_ = *p.hard_state;
      pending_persist_.pop_front();
    }
    break;
  }
  count_pending_self_vote();
  Unstable& u = log_.unstable();
  if (u.snapshot() && u.snapshot()->meta.index <= index) {
    u.stable_snapshot_to(u.snapshot()->meta.index);
  }
  u.stable_to(index, term);
  if (role_ != Role::kLeader) return;
  // The leader's own durable log counts toward the quorum only now.
  if (!log_.match_term(index, term) || index > log_.persisted_last()) return;
  Progress* self = tracker_.find(id_);
  if (self == nullptr) return;
  if (self->maybe_update(index) && maybe_commit()) on_commit_advanced();
}

}  // namespace raft
