#include "engine/node/lmdb_log_storage.h"

namespace raft {

absl::StatusOr<InitialState> LmdbLogStorage::initial_state() const {
  return InitialState{env_->hard_state(group_), initial_conf_state_};
}

absl::StatusOr<std::vector<Entry>> LmdbLogStorage::entries(Index lo, Index hi,
                                                           uint64_t max_bytes) const {
  if (lo < first_index()) return compacted_error();
  if (hi > last_index() + 1) return unavailable_error();
  return env_->entries(group_, lo, hi, max_bytes);
}

absl::StatusOr<Term> LmdbLogStorage::term(Index i) const {
  if (i + 1 < first_index()) return compacted_error();
  if (i > last_index()) return unavailable_error();
  return env_->term(group_, i);
}

Index LmdbLogStorage::first_index() const { return env_->first_index(group_); }

Index LmdbLogStorage::last_index() const { return env_->last_index(group_); }

absl::StatusOr<Snapshot> LmdbLogStorage::snapshot() const {
  std::optional<storage::StoredSnapshot> stored = env_->snapshot(group_);
  if (!stored) return Snapshot{};
  return Snapshot{stored->meta, Slice()};
}

}  // namespace raft
