// WritePipeline: the shard's log writer (the LogWriter port of ports.h) over
// its journal and LMDB env (storage/journal.h, storage/log_env.h).
//
// The write path, all on the shard thread:
//   1. the groups write into the open batch;
//   2. at the end of a loop turn, submit() checks the batch against the
//      groups' durable states (storage/state_rules.h), encodes it as one
//      journal record and writes it with one io_uring write on the shard's
//      own ring (the journal's files are O_DSYNC: the completion is the
//      durability point). One journal write is in flight at a time; the
//      next batch fills meanwhile and goes when it completes;
//   3. on completion the batch is staged into each group's JournalLog (the
//      core's read view), Callbacks::durable reports its sequence, and the
//      batch goes to the env's writer thread, which commits it to LMDB
//      behind the journal (group commit, off the latency path);
//   4. LMDB's completions (the env's eventfd) release the staged entries
//      and, once LMDB synced them, let the journal reuse its segments.
//
// Failures: a journal write that fails (ENOSPC, EIO, a short write) is
// reported once through Callbacks::failed, and the batch is retried ahead
// of the open batch after a backoff (50 ms doubling to 2 s), so nothing
// becomes durable out of order. A failed LMDB commit is retried behind the
// journal (the journal keeps the batches meanwhile). When the journal is
// full (LMDB is behind), backlog() turns ResourceExhausted and the open
// batch waits for a checkpoint.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "engine/node/journal_log.h"
#include "engine/node/metrics.h"
#include "engine/node/ports.h"
#include "net/reactor.h"
#include "storage/journal.h"
#include "storage/log_env.h"
#include "storage/write_batch.h"

namespace raft {

class WritePipeline final : public LogWriter {
 public:
  struct Callbacks {
    // Every batch up to `seq` is durable.
    absl::AnyInvocable<void(uint64_t seq)> durable;
    // A batch failed; nothing of it or of those behind it is durable (they
    // will be retried). Called once per failure episode.
    absl::AnyInvocable<void(const absl::Status&)> failed;
    // About to write: a chance to put queued sends on the wire first (they
    // go to the kernel in the same submission).
    absl::AnyInvocable<void()> before_submit;
    // Something changed that the shard's loop must look at.
    absl::AnyInvocable<void()> wake;
  };

  // `env` must have been opened with EnvOptions::journal.
  WritePipeline(storage::LogEnv& env, uint32_t shard_id, ShardMetrics& metrics,
                Callbacks callbacks);
  WritePipeline(const WritePipeline&) = delete;
  WritePipeline& operator=(const WritePipeline&) = delete;

  // Starts polling the env's completions and arms the retry timer on `reactor`.
  void start(net::Reactor& reactor);
  // Stops writing. The journal write in flight (if any) is left to finish:
  // keep the pipeline alive until the reactor stopped.
  void stop();

  // End of a loop turn: writes the open batch if it holds a write that must
  // be durable (or anything at all when `lazy_too`), no journal write is in
  // flight and no failed batch waits for its retry.
  void submit(bool lazy_too = false);
  // A tick passed: a shard that stayed idle for a whole tick writes its lazy
  // commit indexes, and checkpoints are looked at.
  void tick();

  // ---- Groups created and removed at runtime (ShardRuntime).
  // The next bootstrap of `group` also records it as created (hosted here):
  // one synchronous write holds both. False from take_create if no
  // bootstrap took it (the group had durable state already).
  void mark_create(GroupId group) { creates_.insert(group); }
  bool take_create(GroupId group) { return creates_.erase(group) > 0; }
  // The removal of `group` goes into the open batch (which drops the
  // group's other writes there); returns the batch's sequence: the
  // removal is durable once Callbacks::durable reports it. The group must
  // be closed already (nothing writes it any more).
  uint64_t remove_group(GroupId group);

  // ---- LogWriter.
  std::unique_ptr<GroupLog> open_log(GroupId group, const ConfState& initial) override;
  absl::Status bootstrap(GroupId group, const std::vector<Entry>& entries,
                         const HardState& hs) override;
  // In transactions of at most kBootstrapGroupsPerCommit groups, each synced.
  absl::Status bootstrap_groups(const std::vector<GroupBootstrap>& groups) override;
  static constexpr size_t kBootstrapGroupsPerCommit = 4096;
  uint64_t open_seq() const override { return open_seq_; }
  void append(GroupId group, const std::vector<Entry>& entries) override;
  void set_hard_state(GroupId group, const HardState& hs) override;
  void set_lazy_hard_state(GroupId group, const HardState& hs) override;
  void install_snapshot(GroupId group, const StoredSnapshot& snapshot) override;
  void save_snapshot(GroupId group, const StoredSnapshot& snapshot, Index compact_to) override;
  absl::Status backlog() const override;

 private:
  // A batch durable in the journal, waiting for LMDB.
  struct Behind {
    uint64_t journal_seq = 0;
    storage::WriteBatch batch;
    size_t entries = 0;
    uint64_t bytes = 0;
    net::Clock::time_point durable_at{};  // Its journal write completed.
  };

  // The batch being written: one journal record per part (split_batch),
  // one write in flight at a time; durable once every part is.
  struct Current {
    uint64_t seq = 0;                       // The driver's batch sequence.
    std::deque<storage::WriteBatch> parts;  // Not yet written; front next.
    std::vector<Behind> done;               // Written, in order.
    size_t in_lmdb = 0;                     // Of done, the first ones already sent to LMDB.
    uint64_t journal_seq = 0;               // Of the front part's write.
    size_t size = 0;                        // Its bytes.
    net::Clock::time_point started{}, part_started{};
  };

  // Checks the open batch against the groups' durable states.
  absl::Status check_open_batch() const;
  void write_next_part();
  void on_journal_write(int32_t result, uint32_t flags);
  void record_write_latency(net::Clock::time_point started, size_t bytes);
  void report_full_if_lmdb_fails();
  void journal_failed(const absl::Status& status);
  void stage(const Behind& b);
  void submit_to_lmdb(Behind behind);
  void on_lmdb_completion();
  void retry_lmdb();
  void checkpoint();
  void update_lag_metrics();

  storage::LogEnv& env_;
  storage::Journal& journal_;
  uint32_t shard_id_;
  ShardMetrics& metrics_;
  Callbacks callbacks_;
  net::Reactor* reactor_ = nullptr;
  std::unique_ptr<net::Timer> retry_timer_;
  std::unique_ptr<net::Timer> lmdb_retry_timer_;
  std::unique_ptr<net::FdPoller> completion_poller_;
  net::MemberOperation<WritePipeline, &WritePipeline::on_journal_write> write_op_{this};
  bool stopping_ = false;
  std::shared_ptr<JournalLogs> logs_ = std::make_shared<JournalLogs>();

  storage::WriteBatch open_batch_;
  absl::flat_hash_set<GroupId> creates_;  // mark_create, until a bootstrap takes it.
  bool open_urgent_ = false;              // The open batch holds more than lazy hard states.
  uint64_t open_seq_ = 1;
  uint64_t seq_at_last_tick_ = 0;  // open_seq_ at the previous tick.
  std::optional<Current> current_;
  std::string record_;  // The encoded part in flight (reused).
  // A record's payload at most (a quarter segment: a batch larger than
  // that is split).
  uint64_t max_record_bytes_;
  bool journal_full_ = false;
  bool full_reported_ = false;  // Reported as a write failure (LMDB failing).
  net::Clock::time_point full_since_{};
  bool full_long_reported_ = false;  // Full for over 2 s: logged with the state.
  absl::Status lmdb_error_;          // The last failed LMDB commit's.
  bool write_failed_ = false;        // A failed batch waits for its retry.
  bool backing_off_ = false;
  net::Clock::duration retry_backoff_ = std::chrono::milliseconds(50);

  // Batches handed to LMDB, oldest first, with the env's batch ids.
  std::deque<std::pair<uint64_t, Behind>> lmdb_pending_;
  std::deque<Behind> lmdb_failed_;  // Waiting for their retry, in order.
  uint64_t lag_entries_ = 0;        // Entries and bytes of both lists.
  uint64_t lag_bytes_ = 0;
  bool lmdb_backing_off_ = false;
  net::Clock::duration lmdb_backoff_ = std::chrono::milliseconds(50);
  std::vector<storage::Completion> completions_;
};

}  // namespace raft
