// Per-follower progress and the inflight window.
#include "engine/core/progress.h"

#include <algorithm>

#include "common/check.h"

namespace raft {

void Inflights::add(Index last_index) {
  RAFT_CHECK_MSG(!full(), "inflight window overflow");
  if (count_ == buffer_.size()) {
    // Grow lazily: most peers never fill their window.
    size_t want = std::min(capacity_, std::max<size_t>(8, buffer_.size() * 2));
    std::vector<Index> grown(want);
    for (size_t i = 0; i < count_; ++i) grown[i] = buffer_[(start_ + i) % buffer_.size()];
    buffer_ = std::move(grown);
    start_ = 0;
  }
  size_t slot = (start_ + count_) % buffer_.size();
  if (count_ > 0) {
    size_t prev = (start_ + count_ - 1) % buffer_.size();
    RAFT_CHECK_MSG(buffer_[prev] <= last_index, "inflights out of order");
  }
  buffer_[slot] = last_index;
  ++count_;
}

void Inflights::free_le(Index index) {
  while (count_ > 0 && buffer_[start_] <= index) {
    start_ = (start_ + 1) % buffer_.size();
    --count_;
  }
  if (count_ == 0) start_ = 0;
}

void Inflights::free_first_one() {
  if (count_ == 0) return;
  start_ = (start_ + 1) % buffer_.size();
  --count_;
  if (count_ == 0) start_ = 0;
}

void Progress::reset_state(ProgressState new_state) {
  probe_sent = false;
  pending_snapshot = 0;
  state = new_state;
  inflights.reset();
}

void Progress::become_probe() {
  // Coming back from a snapshot, resume after it: the follower either has it
  // installed or will reject and be probed back.
  if (state == ProgressState::kSnapshot) {
    Index snap = pending_snapshot;
    reset_state(ProgressState::kProbe);
    next = std::max(match + 1, snap + 1);
  } else {
    reset_state(ProgressState::kProbe);
    next = match + 1;
  }
}

void Progress::become_replicate() {
  reset_state(ProgressState::kReplicate);
  next = match + 1;
}

void Progress::become_snapshot(Index snapshot_index) {
  reset_state(ProgressState::kSnapshot);
  pending_snapshot = snapshot_index;
}

bool Progress::maybe_update(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decrease_to(Index rejected, Index match_hint) {
  if (state == ProgressState::kReplicate) {
    // Rejections at or below match are stale: the entries are known good.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // Probe/snapshot: only the rejection of the append last sent counts.
  if (next == 0 || next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

void Progress::sent_entries(Index last_index, size_t count) {
  switch (state) {
    case ProgressState::kReplicate:
      if (count > 0) {
        next = last_index + 1;
        inflights.add(last_index);
      }
      break;
    case ProgressState::kProbe:
      probe_sent = true;
      break;
    case ProgressState::kSnapshot:
      RAFT_CHECK_MSG(false, "sending entries to a peer in snapshot state");
  }
}

bool Progress::is_paused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

}  // namespace raft
