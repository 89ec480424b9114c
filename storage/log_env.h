// LogEnv: the Raft log of every group of one shard, in one LMDB environment
// (<data-dir>/shard-<n>/), with a writer thread that commits batches for the
// reactor (group commit) and a synchronous API for tools and tests.
//
// Parts it owns, each with its own state and threading rules:
// - LmdbEnv (lmdb_env.h): the MDB_env, its tables, map size, owner lock;
//   open with the format check, map growth, reopen after a fatal error.
// - CommitQueue (commit_queue.h): the submitted batches, the writer thread,
//   the completions and their eventfd. It calls back into the env to commit
//   the batches it takes in one transaction (commit) and, when idle, to
//   delete compacted records.
// - CompactedGarbage (compacted_garbage.h): which groups still have
//   compacted records in LMDB, and how many go per transaction.
// LogEnv itself keeps the published GroupStates (state_mu_), serializes
// writing transactions (write_mu_), applies batches (txn_apply.cc), recovers
// (recovery.cc) and answers reads.
//
// Threads:
// - Reads (entries, term, bounds, meta getters, groups) are safe from any
//   thread. All but entries() answer from an in-memory GroupState per group
//   that mirrors what is durable; entries() opens an LMDB read txn.
// - try_submit / drain_completions / completion_fd are for one submitting
//   thread (the shard's reactor); they never block on the disk.
// - The synchronous writes (write, append, ...) run a transaction and its
//   full sync on the calling thread; they serialize with the writer thread.
//
// Durability: without the journal every commit uses LMDB's default full
// sync (data fdatasync, then the meta page with O_DSYNC). With the journal
// (EnvOptions::journal) a batch is durable once its journal record is, the
// writer commits batches behind it with MDB_NOMETASYNC and records the
// newest journal sequence each commit holds; the writer then forces a sync
// (at the end of a burst, and at least every 100 ms under load) and
// publishes synced_journal_seq(), below which the journal may reuse its
// segments. Open replays the journal records after LMDB's mark, in order,
// in one fully synced transaction. The env never sets MDB_NOSYNC,
// MDB_MAPASYNC or MDB_WRITEMAP.
//
// Errors from the world are Statuses: DataLoss for a checksum mismatch (it
// names group and index) or a damaged env file (it names the file),
// ResourceExhausted for a full disk or a map that cannot grow further,
// Unavailable for EIO. A failed batch leaves nothing behind; the batches
// queued behind it fail with it (see try_submit), and the next batch submitted
// after the failure was drained is tried afresh, so the env works again once
// space is freed.
//
// Error codes of reads follow engine/core/log_storage.h: an index below
// first_index() - 1 is OutOfRange ("compacted"), above last_index() NotFound
// ("unavailable").
#pragma once

#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"
#include "storage/commit_queue.h"
#include "storage/compacted_garbage.h"
#include "storage/env_options.h"
#include "storage/format.h"
#include "storage/group_state.h"
#include "storage/journal.h"
#include "storage/lmdb_env.h"
#include "storage/write_batch.h"

namespace raft::storage {

// Upper bounds (µs) of the buckets of the commit latency histogram: 25 µs
// wide up to 1 ms, 100 µs wide up to 3 ms, then coarser; one more bucket
// counts the rest. Fine enough to read a median off a load run.
std::vector<uint32_t> commit_latency_bounds_us();

struct EnvStats {
  uint64_t commits = 0;  // Batches committed: one write transaction, one full sync each.
  // Transactions the idle writer committed to delete compacted records.
  uint64_t garbage_commits = 0;
  // Write transactions that failed (rolled back), or that could not begin
  // because the env could not be reopened after an earlier failure.
  uint64_t failed_commits = 0;
  uint64_t entries_written = 0;
  uint64_t map_resizes = 0;
  uint64_t map_bytes = 0;
  uint64_t garbage_groups = 0;  // Groups with compacted records not yet deleted.
  // With the journal: forced syncs, records replayed at open, and the
  // newest journal sequence committed and synced.
  uint64_t forced_syncs = 0;
  uint64_t journal_replayed = 0;
  uint64_t journal_committed_seq = 0;
  uint64_t journal_synced_seq = 0;
  // Where the writer's time goes: building transactions (puts, deletes) and
  // committing them (page writes, fdatasync, meta page write with O_DSYNC).
  uint64_t txn_build_ns = 0;
  uint64_t txn_commit_ns = 0;
  // Latency of mdb_txn_commit (page writes and both syncs) of every write
  // transaction, counted per bucket of commit_latency_bounds_us() (+1 last).
  std::vector<uint64_t> commit_latency;
};

class LogEnv {
 public:
  // Opens (or creates) the env in options.dir, checks its format record
  // against kFormatVersion and the shard count, and recovers every group.
  static absl::StatusOr<std::unique_ptr<LogEnv>> open(const EnvOptions& options);

  // Commits the batches still queued, stops the writer, closes the env.
  // Completions not drained are dropped.
  ~LogEnv();
  LogEnv(const LogEnv&) = delete;
  LogEnv& operator=(const LogEnv&) = delete;

  // ---- Synchronous writes: one durable transaction on the calling thread.
  absl::Status write(const WriteBatch& batch);
  absl::Status append(GroupId group, const std::vector<Entry>& entries);
  absl::Status set_hard_state(GroupId group, const HardState& hard_state);
  absl::Status set_conf_state(GroupId group, const ConfState& conf_state);
  absl::Status compact(GroupId group, Index index);
  absl::Status save_snapshot(GroupId group, const StoredSnapshot& snapshot);
  absl::Status apply_snapshot(GroupId group, const StoredSnapshot& snapshot);

  // ---- Group commit (one submitting thread).
  // Hands `batch` to the writer thread and returns its id; `batch` is left
  // empty. ResourceExhausted (batch untouched) when the queue is full: keep
  // filling it and retry after the next completion.
  //
  // The writer commits, in one transaction, every batch waiting when it gets
  // to them, in submission order: the submitter may hand over batch N+1
  // while N is still queued and never waits for the writer between them.
  // Each batch still gets its own completion, all with the transaction's
  // outcome. After a failed batch, every batch submitted before the failure
  // was drained (drain_completions) fails too, without being tried: each
  // was built on the failed ones, so none may become durable alone. The
  // submitter retries them together, in order, once it has seen the failure.
  absl::StatusOr<uint64_t> try_submit(WriteBatch& batch);
  // Readable (eventfd, non-blocking) when completions are waiting. Poll it
  // from io_uring, then call drain_completions.
  int completion_fd() const { return queue_.completion_fd(); }
  // Appends every waiting completion to `out` (in batch order) and returns
  // how many it appended. Clears the eventfd.
  size_t drain_completions(std::vector<Completion>& out);
  // Batches submitted whose completions were not yet produced.
  size_t batches_in_flight() const;
  // Of those, the ones the writer has not taken yet.
  size_t queued_batches() const;

  // ---- Reads (any thread).
  // Entries [lo, hi) of the group, at most max_bytes of payload but at least
  // one entry if lo < hi. The payloads share one buffer.
  absl::StatusOr<std::vector<Entry>> entries(GroupId group, Index lo, Index hi,
                                             uint64_t max_bytes) const;
  // Term of entry i for first_index() - 1 <= i <= last_index().
  absl::StatusOr<Term> term(GroupId group, Index i) const;
  Index first_index(GroupId group) const;  // 1 for a group never written.
  Index last_index(GroupId group) const;   // first_index() - 1 when empty.
  HardState hard_state(GroupId group) const;
  ConfState conf_state(GroupId group) const;
  std::optional<StoredSnapshot> snapshot(GroupId group) const;
  // A copy of the whole in-memory state of a group (default if unknown).
  GroupState group_state(GroupId group) const;
  // Groups with any durable record, ascending (removed ones included).
  std::vector<GroupId> groups() const;
  // Groups created at runtime and not removed (GroupLifecycle::kHosted),
  // and removed groups (their tombstones), ascending.
  std::vector<GroupId> hosted_groups() const { return groups_in(GroupLifecycle::kHosted); }
  std::vector<GroupId> removed_groups() const { return groups_in(GroupLifecycle::kRemoved); }

  // Reads every entry of the group and checks its checksum (a scrub; the
  // open only checks the tail).
  absl::Status verify_group(GroupId group) const;

  // Where snapshot files of this shard live (see snapshot_file.h).
  std::string snapshot_dir() const;
  const std::string& dir() const { return options_.dir; }
  const EnvOptions& options() const { return options_; }
  std::string data_file() const { return options_.dir + "/data.mdb"; }
  // With EnvOptions::journal: the shard's journal, for its one writing thread
  // (the reactor); nullptr otherwise.
  Journal* journal() { return journal_.get(); }
  // The newest journal sequence durably in LMDB (after a forced sync): the
  // journal may reuse segments up to it (Journal::checkpoint). Any thread.
  uint64_t synced_journal_seq() const {
    return synced_journal_seq_.load(std::memory_order_acquire);
  }
  // Asks the writer thread for a forced sync of what LMDB committed behind
  // the journal but has not synced yet, at its next idle turn. Any thread.
  // A forced sync that failed (ENOSPC from a full disk, say) is otherwise
  // tried again only after the next commit, and a full journal sends none:
  // its owner asks for one each tick while it is full.
  void request_forced_sync() {
    sync_wanted_.store(true, std::memory_order_release);
    queue_.set_idle_work(true);
  }
  EnvStats stats() const;
  // The LMDB env's flags (mdb_env_get_flags), 0 while the env is closed after
  // a failure. Never MDB_NOSYNC, MDB_MAPASYNC or MDB_WRITEMAP: each can lose
  // a write that was reported durable (or corrupt the env); MDB_NOMETASYNC
  // only with the journal in front.
  unsigned lmdb_flags() const { return lmdb_.flags(); }

 private:
  using WorkStates = absl::flat_hash_map<GroupId, GroupState>;

  explicit LogEnv(const EnvOptions& options);
  std::vector<GroupId> groups_in(GroupLifecycle lifecycle) const;
  absl::Status recover();  // recovery.cc
  // Opens the journal and replays what LMDB lacks (or refuses a journal the
  // options do not ask for).
  absl::Status open_journal();
  // Writer thread, after a commit of journaled batches: a forced sync when
  // due, then synced_journal_seq_.
  void maybe_force_sync();
  // Writer thread: the forced sync itself, if LMDB holds batches not synced.
  absl::Status force_sync_now();
  // The group's compaction mark and last index as `txn` sees them (the
  // published bounds may lag a commit that readers already see).
  absl::StatusOr<std::pair<CompactedMark, Index>> txn_bounds(MDB_txn* txn, MDB_cursor* log,
                                                             GroupId group) const;
  // Why index `i` of `group` has no record in `txn`: compacted (OutOfRange)
  // or truncated (NotFound) by a commit whose bounds were not yet published
  // when the read began, else lost (DataLoss).
  absl::Status missing_entry_status(MDB_txn* txn, MDB_cursor* log, GroupId group, Index i) const;

  // Runs one durable transaction for `batches` (applied in order), growing
  // the map on MDB_MAP_FULL; on success publishes the new group states and,
  // if `ends` is set, fills it.
  absl::Status commit(const std::vector<const WriteBatch*>& batches, WorkStates& work,
                      BatchEnds* ends = nullptr);
  absl::Status commit(const WriteBatch& batch, WorkStates& work) {
    return commit(std::vector<const WriteBatch*>{&batch}, work);
  }
  // txn_apply.cc: one attempt at that transaction.
  absl::Status run_txn(const std::vector<const WriteBatch*>& batches, WorkStates& work,
                       bool& map_full, BatchEnds* ends);
  absl::Status apply_batches(MDB_txn* txn, const std::vector<const WriteBatch*>& batches,
                             WorkStates& work, bool& map_full, BatchEnds* ends);
  void record_commit_latency(uint64_t commit_ns);
  absl::Status put_journal_mark(MDB_txn* txn, const std::vector<const WriteBatch*>& batches,
                                bool& map_full);
  absl::Status reopen_after_failure();
  void after_commit(const std::vector<const WriteBatch*>& batches, WorkStates& work);
  // Tells the writer whether idle work is due: deleting compacted records,
  // or a forced sync someone asked for.
  void update_idle_work() {
    queue_.set_idle_work(garbage_.pending() || sync_wanted_.load(std::memory_order_acquire));
  }

  const EnvOptions options_;
  // The LMDB env, its tables, map size and owner lock (lmdb_env.h).
  LmdbEnv lmdb_;
  // One writing transaction at a time (writer thread or a synchronous write).
  std::mutex write_mu_;

  mutable std::mutex state_mu_;
  absl::flat_hash_map<GroupId, GroupState> groups_;  // Written under write_mu_ too.
  CompactedGarbage garbage_;  // Under write_mu_ (or before the writer starts).
  // The queue of submitted batches and the writer thread (commit_queue.h).
  CommitQueue queue_;
  std::unique_ptr<Journal> journal_;
  // Newest journal sequence committed (writer, write_mu_) and synced.
  std::atomic<uint64_t> committed_journal_seq_{0};
  std::atomic<uint64_t> synced_journal_seq_{0};
  std::chrono::steady_clock::time_point last_forced_sync_{};  // Writer thread.
  std::atomic<bool> sync_wanted_{false};                      // request_forced_sync().
  std::atomic<uint64_t> forced_syncs_{0};
  uint64_t journal_replayed_ = 0;  // Set at open.

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> garbage_commits_{0};
  std::atomic<uint64_t> failed_commits_{0};
  std::atomic<uint64_t> entries_written_{0};
  std::atomic<uint64_t> txn_build_ns_{0};
  std::atomic<uint64_t> txn_commit_ns_{0};
  std::vector<uint32_t> latency_bounds_us_ = commit_latency_bounds_us();
  std::unique_ptr<std::atomic<uint64_t>[]> commit_latency_ {
    new std::atomic<uint64_t>[ latency_bounds_us_.size() + 1 ]()
  };
};

}  // namespace raft::storage
