#include "engine/node/lmdb_log_storage.h"

#include "common/check.h"

namespace raft {

absl::StatusOr<InitialState> LmdbLogStorage::initial_state() const {
  return InitialState{env_->hard_state(group_), initial_conf_state_};
}

absl::StatusOr<std::vector<Entry>> LmdbLogStorage::entries(Index lo, Index hi,
                                                           uint64_t max_bytes) const {
  if (lo < first_index()) return compacted_error();
  if (hi > last_index() + 1) return unavailable_error();
  // Served from memory only when the cache holds the whole range: the bounds
  // above are the durable ones, and every entry the writer took passed
  // through remember() first, so a cached entry in range is the durable one.
  if (lo < hi && !cache_.empty() && lo >= cache_.front().index && hi - 1 <= cache_.back().index) {
    ++cache_hits_;
    std::vector<Entry> out;
    uint64_t bytes = 0;
    for (auto it = cache_.begin() + static_cast<std::ptrdiff_t>(lo - cache_.front().index);
         it != cache_.end() && it->index < hi; ++it) {
      // Same rule as the LMDB read: at least one entry, then stop before the
      // entry that would pass max_bytes.
      if (!out.empty() && bytes + it->data.size() > max_bytes) break;
      bytes += it->data.size();
      out.push_back(*it);
    }
    return out;
  }
  ++cache_misses_;
  return env_->entries(group_, lo, hi, max_bytes);
}

void LmdbLogStorage::remember(const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  const Index first = entries.front().index;
  if (!cache_.empty() && (first < cache_.front().index || first > cache_.back().index + 1)) {
    cache_.clear();
    cache_bytes_ = 0;
  }
  while (!cache_.empty() && cache_.back().index >= first) {
    cache_bytes_ -= cache_.back().data.size();
    cache_.pop_back();
  }
  for (const Entry& e : entries) {
    RAFT_CHECK_MSG(cache_.empty() || e.index == cache_.back().index + 1,
                   "entries handed to the writer are not contiguous");
    cache_.push_back(e);
    cache_bytes_ += e.data.size();
  }
  while (cache_.size() > kCacheEntries || (cache_.size() > 1 && cache_bytes_ > kCacheBytes)) {
    cache_bytes_ -= cache_.front().data.size();
    cache_.pop_front();
  }
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
