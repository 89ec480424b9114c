#include "engine/node/write_pipeline.h"

#include <algorithm>

#include "common/check.h"
#include "common/trace.h"
#include "engine/node/lmdb_log_storage.h"
#include "spdlog/spdlog.h"

namespace raft {
namespace {

// Puts the writes of `later` after those of `into` (the retry of failed
// batches: the open batch's writes come after the failed ones').
void append_writes(storage::WriteBatch& into, const storage::WriteBatch& later) {
  for (const storage::GroupWrite& w : later.groups()) {
    storage::GroupWrite& dst = into.group(w.group);
    if (w.apply_snapshot) into.apply_snapshot(w.group, *w.apply_snapshot);
    if (!w.entries.empty()) into.append(w.group, w.entries);
    if (w.hard_state) dst.hard_state = w.hard_state;
    if (w.conf_state) dst.conf_state = w.conf_state;
    if (w.save_snapshot) dst.save_snapshot = w.save_snapshot;
    if (w.compact_to) dst.compact_to = w.compact_to;
  }
}

}  // namespace

WritePipeline::WritePipeline(storage::LogEnv& env, uint32_t shard_id, ShardMetrics& metrics,
                             Callbacks callbacks)
    : env_(env), shard_id_(shard_id), metrics_(metrics), callbacks_(std::move(callbacks)) {}

void WritePipeline::start(net::Reactor& reactor) {
  retry_timer_ = std::make_unique<net::Timer>(reactor, [this] {
    backing_off_ = false;
    submit(/*lazy_too=*/true);
  });
  completion_poller_ =
      std::make_unique<net::FdPoller>(reactor, env_.completion_fd(), [this] { on_completion(); });
  completion_poller_->start();
}

void WritePipeline::stop() {
  stopping_ = true;
  if (retry_timer_) retry_timer_->cancel();
  if (completion_poller_) completion_poller_->stop();
}

std::unique_ptr<GroupLog> WritePipeline::open_log(GroupId group, const ConfState& initial) {
  return std::make_unique<LmdbLogStorage>(&env_, group, initial);
}

absl::Status WritePipeline::bootstrap(GroupId group, const std::vector<Entry>& entries,
                                      const HardState& hs) {
  storage::WriteBatch batch;
  batch.append(group, entries);
  batch.set_hard_state(group, hs);
  return env_.write(batch);
}

void WritePipeline::append(GroupId group, const std::vector<Entry>& entries) {
  open_urgent_ = true;
  open_batch_.append(group, entries);
}

void WritePipeline::set_hard_state(GroupId group, const HardState& hs) {
  open_urgent_ = true;
  open_batch_.set_hard_state(group, hs);
}

void WritePipeline::set_lazy_hard_state(GroupId group, const HardState& hs) {
  open_batch_.set_hard_state(group, hs);
}

void WritePipeline::install_snapshot(GroupId group, const StoredSnapshot& snapshot) {
  open_urgent_ = true;
  open_batch_.apply_snapshot(group, snapshot);  // Drops an older save (see LogWriter).
}

void WritePipeline::save_snapshot(GroupId group, const StoredSnapshot& snapshot, Index compact_to) {
  open_urgent_ = true;
  open_batch_.save_snapshot(group, snapshot);
  if (compact_to != 0) open_batch_.compact(group, compact_to);
}

void WritePipeline::tick() {
  if (open_seq_ == seq_at_last_tick_) submit(/*lazy_too=*/true);
  seq_at_last_tick_ = open_seq_;
}

void WritePipeline::submit(bool lazy_too) {
  if (stopping_ || write_failed_ || backing_off_ || open_batch_.empty()) return;
  if (in_flight_.size() >= kMaxBatchesInFlight) return;
  if (!open_urgent_ && !lazy_too) return;
  // What is queued for peers (the followers' appends) goes on the wire
  // before the storage writer wakes: on a machine with few cores the woken
  // writer would otherwise delay the send, and a write is committed when a
  // follower has it too.
  if (callbacks_.before_submit) callbacks_.before_submit();
  open_urgent_ = false;
  Submitted s;
  s.seq = open_seq_++;
  s.batch = std::move(open_batch_);
  open_batch_ = storage::WriteBatch();
  storage::WriteBatch copy = s.batch;
  const uint64_t entries = copy.entry_count();
  RAFT_TRACE_POINT("batch_submit");
  auto id = env_.try_submit(copy);
  RAFT_CHECK_MSG(id.ok(), "storage queue full below kMaxBatchesInFlight");
  in_flight_.push_back(std::move(s));
  bump(metrics_.batches_submitted);
  bump(metrics_.entries_persisted, entries);
  metrics_.record_batch(entries);
}

void WritePipeline::on_completion() {
  RAFT_TRACE_POINT("durable_seen");
  completions_.clear();
  env_.drain_completions(completions_);
  // Completions come per group, batches in submission order.
  size_t i = 0;
  while (i < completions_.size() && !in_flight_.empty()) {
    const uint64_t id = completions_[i].batch;
    absl::Status failure;
    for (; i < completions_.size() && completions_[i].batch == id; ++i) {
      if (!completions_[i].status.ok() && failure.ok()) failure = completions_[i].status;
    }
    if (failure.ok() && !write_failed_) {
      const uint64_t seq = in_flight_.front().seq;
      in_flight_.pop_front();
      retry_backoff_ = std::chrono::milliseconds(50);
      callbacks_.durable(seq);
      continue;
    }
    // Nothing of this batch is durable, nor of those behind it (the writer
    // fails them untried). Gather them all, oldest first, in front of the
    // open batch, and retry that after a backoff: no later write may become
    // durable before them.
    if (!write_failed_) {
      write_failed_ = true;
      spdlog::error("shard {}: write batch failed (retrying in {} ms): {}", shard_id_,
                    std::chrono::duration_cast<std::chrono::milliseconds>(retry_backoff_).count(),
                    failure.ToString());
      callbacks_.failed(failure);
    }
    Submitted failed = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (failed_writes_.empty()) {
      failed_writes_ = std::move(failed.batch);
    } else {
      append_writes(failed_writes_, failed.batch);
    }
  }
  if (write_failed_ && in_flight_.empty()) requeue_failed();
  callbacks_.wake();
}

void WritePipeline::requeue_failed() {
  write_failed_ = false;
  storage::WriteBatch merged = std::move(failed_writes_);
  failed_writes_ = storage::WriteBatch();
  append_writes(merged, open_batch_);
  // Groups tagged their waiting messages with the open sequence; the merged
  // batch takes that sequence, so they are released when it is durable.
  open_batch_ = std::move(merged);
  open_urgent_ = true;
  backing_off_ = true;
  retry_timer_->arm_after(retry_backoff_);
  retry_backoff_ = std::min<net::Clock::duration>(retry_backoff_ * 2, std::chrono::seconds(2));
}

}  // namespace raft
