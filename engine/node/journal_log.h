// JournalLog: the core's read view (GroupLog) of one group's log when the
// shard writes through the journal (storage/journal.h). A batch is durable
// once its journal record is; LMDB gets it later, from the env's writer
// thread. So this view keeps its own state of the group (bounds, terms,
// hard state, snapshot: a storage::GroupState) that the write pipeline
// advances with every batch as soon as the journal has it (stage), and it
// holds in memory every entry LMDB may not have yet (until lmdb_committed
// says it does), plus the newest ones as a read cache. Reads of older
// entries go to LMDB, which holds every entry below the held ones.
//
// Everything runs on the shard thread. The pipeline finds the views through
// a JournalLogs registry that the views leave when destroyed, so neither
// outlives the other's use of it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "engine/node/ports.h"
#include "storage/group_state.h"
#include "storage/log_env.h"
#include "storage/write_batch.h"

namespace raft {

class JournalLog;

// The open views of one shard, by group (shared by the pipeline and views).
using JournalLogs = absl::flat_hash_map<GroupId, JournalLog*>;

class JournalLog final : public GroupLog {
 public:
  // `state` is the group's durable state when the view opens (from LMDB,
  // after the journal's replay). `initial_conf_state` as in LogStorage.
  JournalLog(storage::LogEnv* env, GroupId group, ConfState initial_conf_state,
             storage::GroupState state, std::shared_ptr<JournalLogs> registry);
  ~JournalLog() override;

  absl::StatusOr<InitialState> initial_state() const override;
  absl::StatusOr<std::vector<Entry>> entries(Index lo, Index hi, uint64_t max_bytes) const override;
  absl::StatusOr<Term> term(Index i) const override;
  Index first_index() const override { return state_.first_index(); }
  Index last_index() const override { return state_.last_index; }
  absl::StatusOr<Snapshot> snapshot() const override;

  // The group's state as of the newest durable batch.
  const storage::GroupState& state() const { return state_; }
  // The write `w` of batch `journal_seq` is durable: apply it (it was
  // checked against state() before it was written; see state_rules.h).
  void stage(const storage::GroupWrite& w, uint64_t journal_seq);
  // A synchronous write went to LMDB directly (bootstrap): start again from
  // LMDB's state of the group.
  void reload();
  // LMDB holds every batch up to `journal_seq`: their entries may go.
  void lmdb_committed(uint64_t journal_seq);

  static constexpr size_t kCacheEntries = 16384;
  static constexpr uint64_t kCacheBytes = 16 << 20;
  size_t held_entries() const { return held_.size(); }

 private:
  struct Held {
    Entry entry;
    uint64_t journal_seq;  // Of the batch that wrote it.
  };
  void hold(const std::vector<Entry>& entries, uint64_t journal_seq);
  // Drops the oldest entries LMDB has, beyond the cache bounds.
  void trim();

  storage::LogEnv* env_;
  GroupId group_;
  ConfState initial_conf_state_;
  storage::GroupState state_;
  std::shared_ptr<JournalLogs> registry_;
  // Contiguous, oldest first, ending at state_.last_index; journal_seq
  // never decreases along it. Every entry below the front is in LMDB.
  std::deque<Held> held_;
  uint64_t held_bytes_ = 0;
  uint64_t lmdb_seq_ = 0;
};

}  // namespace raft
