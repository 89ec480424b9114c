// The core's view of the Raft log: durable entries read from LogStorage,
// followed by the "unstable" tail (entries and possibly a snapshot the driver
// has not yet reported durable), plus the committed and applied indexes.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/log_storage.h"
#include "engine/core/types.h"

namespace raft {

// Entries and a snapshot not yet durable. entries_[i].index == offset_ + i.
// Those at or after offset_in_progress_ have not been handed to the driver
// yet; those before it have been handed out but are not yet durable.
class Unstable {
 public:
  explicit Unstable(Index offset) : offset_(offset), offset_in_progress_(offset) {}

  std::optional<Index> maybe_first_index() const;
  std::optional<Index> maybe_last_index() const;
  std::optional<Term> maybe_term(Index i) const;

  // Entries and snapshot not yet handed out.
  bool has_next_entries() const { return offset_in_progress_ < offset_ + entries_.size(); }
  std::vector<Entry> next_entries() const;
  bool has_next_snapshot() const { return snapshot_ && !snapshot_in_progress_; }
  const std::optional<Snapshot>& snapshot() const { return snapshot_; }
  // Marks everything as handed out.
  void accept_in_progress();

  // Entries up to (i, t) are durable. Ignored if the entry at i is not
  // unstable or has another term (it was overwritten meanwhile).
  void stable_to(Index i, Term t);
  // The snapshot at index i is durable.
  void stable_snapshot_to(Index i);

  void restore(const Snapshot& snapshot);
  // Appends, truncating any conflicting unstable suffix first.
  // Requires ents non-empty and ents.front().index <= last + 1.
  void truncate_and_append(std::vector<Entry> ents);
  // Appends one entry right after the last one (the leader's hot path).
  void append_one(Entry e);
  // Entries [lo, hi); requires offset_ <= lo <= hi <= last + 1.
  void slice(Index lo, Index hi, uint64_t max_bytes, uint64_t* used_bytes,
             std::vector<Entry>* out) const;

  Index offset() const { return offset_; }

 private:
  std::optional<Snapshot> snapshot_;
  bool snapshot_in_progress_ = false;
  std::vector<Entry> entries_;
  Index offset_;
  Index offset_in_progress_;
};

class RaftLog {
 public:
  // Requires a readable storage; aborts otherwise (the caller checked
  // initial_state first).
  explicit RaftLog(LogStorage* storage);

  Index first_index() const;
  Index last_index() const;
  Term last_term() const;
  // Term of entry i; compacted_error / unavailable_error outside the log.
  absl::StatusOr<Term> term(Index i) const;
  // Term of entry i, or 0 if it is not in the log (compacted or beyond).
  Term term_or_zero(Index i) const;
  bool match_term(Index i, Term t) const;

  Index committed() const { return committed_; }
  Index applied() const { return applied_; }
  Index applying() const { return applying_; }

  // Follower side of AppendEntries: if (prev_index, prev_term) matches,
  // appends the new part of `ents` (truncating a conflicting suffix) and
  // commits up to min(committed, last new index). Returns the last new index.
  std::optional<Index> maybe_append(Index prev_index, Term prev_term, Index committed,
                                    std::vector<Entry> ents);
  // Appends at the tail; returns the new last index.
  Index append(std::vector<Entry> ents);
  // Appends one entry at last_index() + 1 (leader proposals).
  void append_one(Entry e);
  // The first entry of `ents` whose term differs from ours (or that we lack);
  // 0 if all match.
  Index find_conflict(const std::vector<Entry>& ents) const;
  // The largest index <= index whose term is <= term (fast backtracking).
  Index find_conflict_by_term(Index index, Term term) const;

  // Entries [lo, hi), at most max_bytes of payload (always at least one).
  absl::StatusOr<std::vector<Entry>> slice(Index lo, Index hi, uint64_t max_bytes) const;
  absl::StatusOr<std::vector<Entry>> entries_from(Index lo, uint64_t max_bytes) const;

  void commit_to(Index i);
  // Commits i if entry i has term t (only current-term entries are committed
  // by counting).
  bool maybe_commit(Index i, Term t);
  bool is_up_to_date(Index last, Term term) const;

  // Highest index that is durable locally.
  Index persisted_last() const;
  // Committed, durable entries not yet handed out for applying.
  bool has_next_committed() const;
  std::vector<Entry> next_committed(uint64_t max_bytes) const;
  void applying_to(Index i);
  void applied_to(Index i);

  absl::StatusOr<Snapshot> snapshot() const;
  void restore(const Snapshot& snapshot);

  Unstable& unstable() { return unstable_; }
  const Unstable& unstable() const { return unstable_; }
  LogStorage* storage() const { return storage_; }

 private:
  LogStorage* storage_;
  Unstable unstable_;
  Index committed_ = 0;
  Index applying_ = 0;  // Handed out to the driver for applying.
  Index applied_ = 0;   // Reported applied through advance().
};

}  // namespace raft
