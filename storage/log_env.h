// LogEnv: the Raft log of every group of one shard, in one LMDB environment
// (<data-dir>/shard-<n>/), with a writer thread that commits batches for the
// reactor (group commit) and a synchronous API for tools and tests.
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
// Durability: every commit uses LMDB's default full sync (data fdatasync,
// then the meta page with O_DSYNC). The env never sets MDB_NOSYNC,
// MDB_NOMETASYNC, MDB_MAPASYNC or MDB_WRITEMAP.
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
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"
#include "storage/format.h"
#include "storage/group_state.h"
#include "storage/write_batch.h"

namespace raft::storage {

struct EnvOptions {
  std::string dir;  // The shard directory; created if missing.
  uint32_t shard = 0;
  uint32_t shard_count = 1;
  // LMDB map size at open; doubled on MDB_MAP_FULL up to max_map_bytes.
  uint64_t initial_map_bytes = uint64_t{1} << 30;
  uint64_t max_map_bytes = uint64_t{1} << 40;
  // Batches that may wait for the writer thread besides those it commits.
  // The writer takes every waiting batch into its next transaction.
  size_t queue_capacity = 2;
  // Entries per group whose checksums are verified on open (the log tail).
  size_t verify_tail_entries = 64;
  // Compacted log records deleted per commit at most (compaction itself only
  // moves the first index; a large delete in one transaction would stall the
  // writer). When idle the writer commits deletions on its own.
  size_t compacted_records_per_commit = 4096;
  // For tools (raftctl): opens an existing env for reading only, beside a
  // running owner or not; no writer thread, no owner lock, and every write
  // is FailedPrecondition. LMDB forbids opening one env twice in a process.
  bool read_only = false;
};

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
  int completion_fd() const { return event_fd_; }
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
  // Groups with any durable record, ascending.
  std::vector<GroupId> groups() const;

  // Reads every entry of the group and checks its checksum (a scrub; the
  // open only checks the tail).
  absl::Status verify_group(GroupId group) const;

  // Where snapshot files of this shard live (see snapshot_file.h).
  std::string snapshot_dir() const;
  const std::string& dir() const { return options_.dir; }
  std::string data_file() const { return options_.dir + "/data.mdb"; }
  EnvStats stats() const;
  // The LMDB env's flags (mdb_env_get_flags), 0 while the env is closed after
  // a failure. Never MDB_NOSYNC, MDB_NOMETASYNC, MDB_MAPASYNC or MDB_WRITEMAP:
  // each can lose a write that was reported durable.
  unsigned lmdb_flags() const {
    std::shared_lock l(map_mu_);
    unsigned flags = 0;
    if (env_ != nullptr) mdb_env_get_flags(env_, &flags);
    return flags;
  }

 private:
  struct Pending {
    uint64_t id = 0;
    WriteBatch batch;
  };
  using WorkStates = absl::flat_hash_map<GroupId, GroupState>;

  explicit LogEnv(const EnvOptions& options);
  absl::Status open_env();
  absl::Status lock_owner();
  absl::Status open_tables();
  void close_env();
  // With existing_only, checks a format record if there is one; else also
  // writes it into a new env (or refuses records without one).
  absl::Status check_format(MDB_txn* txn, bool existing_only);
  absl::Status recover();
  // The group's compaction mark and last index as `txn` sees them (the
  // published bounds may lag a commit that readers already see).
  absl::StatusOr<std::pair<CompactedMark, Index>> txn_bounds(MDB_txn* txn, MDB_cursor* log,
                                                             GroupId group) const;
  // Why index `i` of `group` has no record in `txn`: compacted (OutOfRange)
  // or truncated (NotFound) by a commit whose bounds were not yet published
  // when the read began, else lost (DataLoss).
  absl::Status missing_entry_status(MDB_txn* txn, MDB_cursor* log, GroupId group, Index i) const;

  // Per batch of a transaction, per group of the batch (in its order): the
  // group's log end right after that batch.
  using BatchEnds = std::vector<std::vector<std::pair<Index, Term>>>;

  // Runs one durable transaction for `batches` (applied in order), growing
  // the map on MDB_MAP_FULL; on success publishes the new group states and,
  // if `ends` is set, fills it.
  absl::Status commit(const std::vector<const WriteBatch*>& batches, WorkStates& work,
                      BatchEnds* ends = nullptr);
  absl::Status commit(const WriteBatch& batch, WorkStates& work) {
    return commit(std::vector<const WriteBatch*>{&batch}, work);
  }
  absl::Status run_txn(const std::vector<const WriteBatch*>& batches, WorkStates& work,
                       bool& map_full, BatchEnds* ends);
  absl::Status grow_map();
  absl::Status reopen_after_failure();
  void after_commit(const std::vector<const WriteBatch*>& batches, WorkStates& work);
  // From the groups a commit changed (`work`), or from all groups if null.
  void update_garbage_groups(const WorkStates* work);
  void writer_loop();

  EnvOptions options_;
  MDB_env* env_ = nullptr;
  MDB_dbi log_dbis_[kLogStripes] = {};  // log_stripe(group) -> its log table.
  MDB_dbi log_dbi(GroupId group) const { return log_dbis_[log_stripe(group)]; }
  MDB_dbi meta_dbi_ = 0;
  MDB_dbi info_dbi_ = 0;
  std::atomic<uint64_t> map_bytes_{0};
  int owner_lock_fd_ = -1;  // flock'ed: one env per shard dir.
  // Set after MDB_PANIC or an I/O error (ENOSPC, EIO) from a commit; guarded
  // by write_mu_. See reopen_after_failure().
  bool reopen_needed_ = false;

  // Shared by every transaction; exclusive while the map is resized or the
  // env reopened, which must not happen under a reader's feet.
  mutable std::shared_mutex map_mu_;
  // One writing transaction at a time (writer thread or a synchronous write).
  std::mutex write_mu_;

  mutable std::mutex state_mu_;
  absl::flat_hash_map<GroupId, GroupState> groups_;  // Written under write_mu_ too.
  // Groups whose compacted records are not all deleted (write_mu_).
  std::set<GroupId> garbage_groups_;
  bool garbage_pending_ = false;  // Same, for the writer's wait (queue_mu_).

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  size_t committing_ = 0;
  bool stopping_ = false;
  uint64_t next_batch_id_ = 1;
  // After a failed commit: every batch is failed untried until the submitter
  // drained the failure (poisoned_), and then those submitted before that
  // drain (ids up to fail_through_). Guarded by queue_mu_.
  bool poisoned_ = false;
  uint64_t fail_through_ = 0;

  std::mutex done_mu_;
  std::vector<Completion> done_;
  int event_fd_ = -1;

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> garbage_commits_{0};
  std::atomic<uint64_t> failed_commits_{0};
  std::atomic<uint64_t> entries_written_{0};
  std::atomic<uint64_t> map_resizes_{0};
  std::atomic<uint64_t> txn_build_ns_{0};
  std::atomic<uint64_t> txn_commit_ns_{0};
  std::vector<uint32_t> latency_bounds_us_ = commit_latency_bounds_us();
  std::unique_ptr<std::atomic<uint64_t>[]> commit_latency_ {
    new std::atomic<uint64_t>[ latency_bounds_us_.size() + 1 ]()
  };

  std::thread writer_;
};

}  // namespace raft::storage
