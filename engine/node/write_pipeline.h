// WritePipeline: the shard's log writer (the LogWriter port of ports.h over
// its LMDB env). It owns the open batch the groups write into, submits it to
// the env's writer thread (group commit), takes the completions back from
// the env's eventfd and retries failed batches in order.
//
// Batches are submitted without waiting for the ones before them (up to
// kMaxBatchesInFlight); the writer thread takes every batch waiting into its
// next transaction. Completions come back in order. A failed batch fails the
// ones behind it too (LogEnv fails them untried); all of them are retried
// together, in order, ahead of the open batch and after a backoff (50 ms,
// doubling to 2 s), so the log never becomes durable out of order.
//
// Everything runs on the shard thread. The shard tells the pipeline when a
// turn ends (submit) and when a tick passes (tick); the pipeline tells the
// shard what became durable or failed through Callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "engine/node/metrics.h"
#include "engine/node/ports.h"
#include "net/reactor.h"
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
    // About to wake the writer: a chance to put queued sends on the wire.
    absl::AnyInvocable<void()> before_submit;
    // Something changed that the shard's loop must look at.
    absl::AnyInvocable<void()> wake;
  };

  static constexpr size_t kMaxBatchesInFlight = 16;

  WritePipeline(storage::LogEnv& env, uint32_t shard_id, ShardMetrics& metrics,
                Callbacks callbacks);
  WritePipeline(const WritePipeline&) = delete;
  WritePipeline& operator=(const WritePipeline&) = delete;

  // Starts polling the env's completions and arms the retry timer on `reactor`.
  void start(net::Reactor& reactor);
  void stop();

  // End of a loop turn: submits the open batch if it holds a write that must
  // be durable (or anything at all when `lazy_too`), the env's queue has
  // room and no failed batch waits for its retry.
  void submit(bool lazy_too = false);
  // A tick passed: a shard that stayed idle for a whole tick writes its lazy
  // commit indexes. A busy one carries them with its next batch anyway, and
  // a sync of its own here would delay the next write behind it.
  void tick();

  // ---- LogWriter.
  std::unique_ptr<GroupLog> open_log(GroupId group, const ConfState& initial) override;
  absl::Status bootstrap(GroupId group, const std::vector<Entry>& entries,
                         const HardState& hs) override;
  uint64_t open_seq() const override { return open_seq_; }
  void append(GroupId group, const std::vector<Entry>& entries) override;
  void set_hard_state(GroupId group, const HardState& hs) override;
  void set_lazy_hard_state(GroupId group, const HardState& hs) override;
  void install_snapshot(GroupId group, const StoredSnapshot& snapshot) override;
  void save_snapshot(GroupId group, const StoredSnapshot& snapshot, Index compact_to) override;

 private:
  struct Submitted {
    uint64_t seq = 0;
    storage::WriteBatch batch;  // Kept to retry after a failure.
  };

  void on_completion();
  // Every failed batch came back: their writes go ahead of the open batch's,
  // which is retried after the backoff.
  void requeue_failed();

  storage::LogEnv& env_;
  uint32_t shard_id_;
  ShardMetrics& metrics_;
  Callbacks callbacks_;
  std::unique_ptr<net::Timer> retry_timer_;
  std::unique_ptr<net::FdPoller> completion_poller_;
  bool stopping_ = false;

  storage::WriteBatch open_batch_;
  bool open_urgent_ = false;  // The open batch holds more than lazy hard states.
  uint64_t open_seq_ = 1;
  uint64_t seq_at_last_tick_ = 0;    // open_seq_ at the previous tick.
  std::deque<Submitted> in_flight_;  // Submitted and not yet completed, oldest first.
  bool write_failed_ = false;
  storage::WriteBatch failed_writes_;  // Of the failed batches, in order.
  bool backing_off_ = false;
  net::Clock::duration retry_backoff_ = std::chrono::milliseconds(50);
  std::vector<storage::Completion> completions_;
};

}  // namespace raft
