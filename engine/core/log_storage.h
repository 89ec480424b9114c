// LogStorage: the read-only view of the durable log that the core reads from.
// The driver (runtime, tests) writes it: the core never does. Also
// MemoryLogStorage, an in-memory implementation for tests, the simulator and
// benchmarks.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"

namespace raft {

inline constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

// Errors a LogStorage returns. They are distinct status codes so that the
// core can tell them apart from real failures (which abort the core: a storage
// that cannot read its own log cannot take part in Raft).
//   compacted:   the index is below first_index() - 1 (covered by a snapshot).
//   unavailable: the index is above last_index().
//   snapshot temporarily unavailable: the snapshot is being built; the leader
//   retries later.
absl::Status compacted_error();                         // absl::StatusCode::kOutOfRange
absl::Status unavailable_error();                       // absl::StatusCode::kNotFound
absl::Status snapshot_temporarily_unavailable_error();  // absl::StatusCode::kUnavailable
bool is_compacted(const absl::Status& status);
bool is_unavailable(const absl::Status& status);
bool is_snapshot_temporarily_unavailable(const absl::Status& status);

struct InitialState {
  HardState hard_state;
  ConfState conf_state;
};

// All indexes are 1-based. The storage holds a (possibly empty) snapshot at
// index first_index() - 1 and the entries [first_index(), last_index()].
class LogStorage {
 public:
  virtual ~LogStorage() = default;

  // The hard state and the membership at the time the core is created.
  virtual absl::StatusOr<InitialState> initial_state() const = 0;

  // Entries [lo, hi), at most max_bytes of payload but always at least one
  // entry if lo < hi. Requires first_index() <= lo (else compacted_error) and
  // hi <= last_index() + 1 (else unavailable_error).
  virtual absl::StatusOr<std::vector<Entry>> entries(Index lo, Index hi,
                                                     uint64_t max_bytes) const = 0;

  // Term of entry i, for first_index() - 1 <= i <= last_index() (the term of
  // first_index() - 1 is the snapshot's). compacted_error below,
  // unavailable_error above.
  virtual absl::StatusOr<Term> term(Index i) const = 0;

  // Index of the first entry that may be read (snapshot index + 1).
  virtual Index first_index() const = 0;
  // Index of the last entry; first_index() - 1 when there are no entries.
  virtual Index last_index() const = 0;

  // The most recent snapshot. May return
  // snapshot_temporarily_unavailable_error().
  virtual absl::StatusOr<Snapshot> snapshot() const = 0;
};

// In-memory LogStorage. Not thread-safe (the core and its driver run on one
// thread). Payloads are shared Slices: appending copies no bytes.
class MemoryLogStorage final : public LogStorage {
 public:
  MemoryLogStorage();

  absl::StatusOr<InitialState> initial_state() const override;
  absl::StatusOr<std::vector<Entry>> entries(Index lo, Index hi, uint64_t max_bytes) const override;
  absl::StatusOr<Term> term(Index i) const override;
  Index first_index() const override;
  Index last_index() const override;
  absl::StatusOr<Snapshot> snapshot() const override;

  // Appends contiguous entries. Entries at or below the snapshot are skipped;
  // an entry whose index is already present replaces it and everything after
  // it (a conflicting suffix is truncated). InvalidArgument if the first new
  // entry would leave a gap or the entries are not contiguous.
  absl::Status append(const std::vector<Entry>& entries);

  void set_hard_state(const HardState& hard_state) { hard_state_ = hard_state; }
  const HardState& hard_state() const { return hard_state_; }
  // Sets the membership reported by initial_state() (bootstrap, or after the
  // driver applied a conf change).
  void set_conf_state(const ConfState& conf_state) { conf_state_ = conf_state; }
  const ConfState& conf_state() const { return conf_state_; }

  // Replaces the log with a snapshot: entries are dropped, first_index()
  // becomes snapshot index + 1, the conf state becomes the snapshot's and the
  // hard state's commit moves up to the snapshot index. FailedPrecondition
  // (out of date) if the snapshot is older than the current one.
  absl::Status apply_snapshot(const Snapshot& snapshot);

  // Makes a snapshot at applied index `index` (<= last_index()) with the
  // given membership and state-machine bytes. The log is not compacted.
  // FailedPrecondition if index is at or below the current snapshot,
  // unavailable_error if above last_index().
  absl::StatusOr<Snapshot> create_snapshot(Index index, const ConfState& conf_state, Slice data);

  // Discards the entries at and below `index`, which must already be applied
  // and covered by a snapshot the driver keeps. Afterwards first_index() ==
  // index + 1 and term(index) stays readable. compacted_error if index is
  // already compacted; requires index <= last_index().
  absl::Status compact(Index index);

  // Payload bytes currently held (for tests).
  uint64_t payload_bytes() const;

 private:
  // entries_[0] is a dummy carrying the snapshot's (index, term); real entries
  // follow, so entries_[i].index == entries_[0].index + i.
  std::vector<Entry> entries_;
  HardState hard_state_;
  ConfState conf_state_;
  Snapshot snapshot_;
};

}  // namespace raft
