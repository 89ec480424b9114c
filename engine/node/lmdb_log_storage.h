// The core's read-only view (LogStorage) of one group's durable log in a
// shard's LMDB environment. Bounds and terms come from the env's in-memory
// mirror of what is durable; entries are read through an LMDB read
// transaction. Entries handed to the writer but not yet durable stay in the
// core's unstable buffer until on_persisted, so this view never needs them.
//
// The newest entries handed to the writer are also kept in memory (bounded,
// see remember()): the core reads an entry back soon after it became durable,
// to apply it once committed and to send it to a follower that lags a little,
// and those reads are then served without an LMDB read transaction. The
// bytes are shared with the entries already held (Slice), never copied.
#pragma once

#include <deque>

#include "engine/node/ports.h"
#include "storage/log_env.h"

namespace raft {

class LmdbLogStorage final : public GroupLog {
 public:
  // `env` must outlive this object. `initial_conf_state` is the membership
  // the core starts from: the newest snapshot's (or empty, before any
  // snapshot); the conf changes after it are replayed from the log.
  LmdbLogStorage(storage::LogEnv* env, GroupId group, ConfState initial_conf_state)
      : env_(env), group_(group), initial_conf_state_(std::move(initial_conf_state)) {}

  absl::StatusOr<InitialState> initial_state() const override;
  absl::StatusOr<std::vector<Entry>> entries(Index lo, Index hi, uint64_t max_bytes) const override;
  absl::StatusOr<Term> term(Index i) const override;
  Index first_index() const override;
  Index last_index() const override;
  // The newest durable snapshot's metadata. Its bytes stay in the snapshot
  // file: the runtime streams them to a follower in chunks.
  absl::StatusOr<Snapshot> snapshot() const override;

  // Called with every run of entries handed to the writer for this group, in
  // order (the core's Ready entries). A run starting at index i replaces
  // what the cache held from i on (a conflicting suffix the writer
  // truncates); a run that does not continue the cache replaces all of it.
  // The oldest entries are dropped beyond kCacheEntries or kCacheBytes.
  void remember(const std::vector<Entry>& entries);
  void appending(const std::vector<Entry>& entries) override { remember(entries); }

  static constexpr size_t kCacheEntries = 16384;
  static constexpr uint64_t kCacheBytes = 16 << 20;
  // For tests: reads served from the cache, and from LMDB.
  uint64_t cache_hits() const { return cache_hits_; }
  uint64_t cache_misses() const { return cache_misses_; }

 private:
  storage::LogEnv* env_;
  GroupId group_;
  ConfState initial_conf_state_;
  // Contiguous entries, oldest first; cache_bytes_ sums their payload sizes.
  std::deque<Entry> cache_;
  uint64_t cache_bytes_ = 0;
  mutable uint64_t cache_hits_ = 0;
  mutable uint64_t cache_misses_ = 0;
};

}  // namespace raft
