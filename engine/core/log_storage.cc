// The storage error helpers and MemoryLogStorage.
#include "engine/core/log_storage.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace raft {

absl::Status compacted_error() {
  return absl::OutOfRangeError("requested index is unavailable due to compaction");
}
absl::Status unavailable_error() {
  return absl::NotFoundError("requested entry at index is unavailable");
}
absl::Status snapshot_temporarily_unavailable_error() {
  return absl::UnavailableError("snapshot is temporarily unavailable");
}
bool is_compacted(const absl::Status& status) { return absl::IsOutOfRange(status); }
bool is_unavailable(const absl::Status& status) { return absl::IsNotFound(status); }
bool is_snapshot_temporarily_unavailable(const absl::Status& status) {
  return absl::IsUnavailable(status);
}

MemoryLogStorage::MemoryLogStorage() : entries_(1) {}

absl::StatusOr<InitialState> MemoryLogStorage::initial_state() const {
  return InitialState{hard_state_, conf_state_};
}

Index MemoryLogStorage::first_index() const { return entries_[0].index + 1; }

Index MemoryLogStorage::last_index() const { return entries_[0].index + entries_.size() - 1; }

absl::StatusOr<std::vector<Entry>> MemoryLogStorage::entries(Index lo, Index hi,
                                                             uint64_t max_bytes) const {
  const Index offset = entries_[0].index;
  if (lo <= offset) return compacted_error();
  if (hi > last_index() + 1) return unavailable_error();
  std::vector<Entry> out;
  if (lo >= hi) return out;
  out.reserve(hi - lo);
  uint64_t used = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - offset];
    if (!out.empty() && used + e.data.size() > max_bytes) break;
    used += e.data.size();
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<Term> MemoryLogStorage::term(Index i) const {
  const Index offset = entries_[0].index;
  if (i < offset) return compacted_error();
  if (i > last_index()) return unavailable_error();
  return entries_[i - offset].term;
}

absl::StatusOr<Snapshot> MemoryLogStorage::snapshot() const { return snapshot_; }

absl::Status MemoryLogStorage::append(const std::vector<Entry>& ents) {
  if (ents.empty()) return absl::OkStatus();
  for (size_t i = 1; i < ents.size(); ++i) {
    if (ents[i].index != ents[i - 1].index + 1) {
      return absl::InvalidArgumentError("appended entries are not contiguous");
    }
  }
  const Index first = first_index();
  const Index last_new = ents.back().index;
  if (last_new < first) return absl::OkStatus();  // All below the snapshot.
  if (ents.front().index > last_index() + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("gap: appending ", ents.front().index, " after last index ", last_index()));
  }
  // Skip what the snapshot already covers.
  size_t skip = ents.front().index < first ? first - ents.front().index : 0;
  const Index from = ents[skip].index;
  // Truncate a conflicting (or simply overwritten) suffix.
  entries_.resize(from - entries_[0].index);
  entries_.insert(entries_.end(), ents.begin() + skip, ents.end());
  return absl::OkStatus();
}

absl::Status MemoryLogStorage::apply_snapshot(const Snapshot& snapshot) {
  if (entries_[0].index != 0 && snapshot.meta.index <= entries_[0].index) {
    return absl::FailedPreconditionError("snapshot is out of date");
  }
  snapshot_ = snapshot;
  entries_.assign(1, Entry{snapshot.meta.term, snapshot.meta.index, EntryType::kNormal, Slice()});
  conf_state_ = snapshot.meta.conf_state;
  // Everything in a snapshot is committed.
  if (hard_state_.commit < snapshot.meta.index) hard_state_.commit = snapshot.meta.index;
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> MemoryLogStorage::create_snapshot(Index index, const ConfState& conf_state,
                                                           Slice data) {
  if (index <= snapshot_.meta.index) {
    return absl::FailedPreconditionError("snapshot is out of date");
  }
  if (index > last_index()) return unavailable_error();
  const Index offset = entries_[0].index;
  if (index < offset) return compacted_error();
  snapshot_.meta.index = index;
  snapshot_.meta.term = entries_[index - offset].term;
  snapshot_.meta.conf_state = conf_state;
  snapshot_.data = std::move(data);
  return snapshot_;
}

absl::Status MemoryLogStorage::compact(Index index) {
  const Index offset = entries_[0].index;
  if (index <= offset) return compacted_error();
  RAFT_CHECK_MSG(index <= last_index(), "compacting beyond the last index");
  const size_t drop = index - offset;
  Entry dummy{entries_[drop].term, index, EntryType::kNormal, Slice()};
  entries_.erase(entries_.begin(), entries_.begin() + drop);
  entries_[0] = dummy;
  return absl::OkStatus();
}

uint64_t MemoryLogStorage::payload_bytes() const {
  uint64_t n = 0;
  for (const Entry& e : entries_) n += e.data.size();
  return n;
}

}  // namespace raft
