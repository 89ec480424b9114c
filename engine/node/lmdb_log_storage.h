// The core's read-only view (LogStorage) of one group's durable log in a
// shard's LMDB environment. Bounds and terms come from the env's in-memory
// mirror of what is durable; entries are read through an LMDB read
// transaction. Entries handed to the writer but not yet durable stay in the
// core's unstable buffer until on_persisted, so this view never needs them.
#pragma once

#include "engine/core/log_storage.h"
#include "storage/log_env.h"

namespace raft {

class LmdbLogStorage final : public LogStorage {
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

 private:
  storage::LogEnv* env_;
  GroupId group_;
  ConfState initial_conf_state_;
};

}  // namespace raft
