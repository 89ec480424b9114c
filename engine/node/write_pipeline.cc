#include "engine/node/write_pipeline.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/trace.h"
#include "spdlog/spdlog.h"
#include "storage/journal_batch_codec.h"
#include "storage/state_rules.h"

namespace raft {
namespace {

const std::vector<uint32_t>& latency_bounds_us() {
  static const std::vector<uint32_t> bounds = storage::commit_latency_bounds_us();
  return bounds;
}

}  // namespace

WritePipeline::WritePipeline(storage::LogEnv& env, uint32_t shard_id, ShardMetrics& metrics,
                             Callbacks callbacks)
    : env_(env),
      journal_(*env.journal()),
      shard_id_(shard_id),
      metrics_(metrics),
      callbacks_(std::move(callbacks)),
      max_record_bytes_(env.options().journal_segment_bytes / 4) {}

void WritePipeline::start(net::Reactor& reactor) {
  reactor_ = &reactor;
  retry_timer_ = std::make_unique<net::Timer>(reactor, [this] {
    backing_off_ = false;
    if (current_) {
      write_next_part();
    } else {
      submit(/*lazy_too=*/true);
    }
  });
  lmdb_retry_timer_ = std::make_unique<net::Timer>(reactor, [this] {
    lmdb_backing_off_ = false;
    retry_lmdb();
  });
  completion_poller_ = std::make_unique<net::FdPoller>(reactor, env_.completion_fd(),
                                                       [this] { on_lmdb_completion(); });
  completion_poller_->start();
}

void WritePipeline::stop() {
  stopping_ = true;
  if (retry_timer_) retry_timer_->cancel();
  if (lmdb_retry_timer_) lmdb_retry_timer_->cancel();
  if (completion_poller_) completion_poller_->stop();
}

std::unique_ptr<GroupLog> WritePipeline::open_log(GroupId group, const ConfState& initial) {
  return std::make_unique<JournalLog>(&env_, group, initial, env_.group_state(group), logs_);
}

absl::Status WritePipeline::bootstrap(GroupId group, const std::vector<Entry>& entries,
                                      const HardState& hs) {
  storage::WriteBatch batch;
  const bool create = creates_.contains(group);
  if (create) batch.create_group(group);
  batch.append(group, entries);
  batch.set_hard_state(group, hs);
  absl::Status s = env_.write(batch);  // Synced before it returns.
  if (s.ok() && create) creates_.erase(group);
  if (s.ok()) {
    auto it = logs_->find(group);
    if (it != logs_->end()) it->second->reload();
  }
  return s;
}

uint64_t WritePipeline::remove_group(GroupId group) {
  open_urgent_ = true;
  open_batch_.remove_group(group);
  return open_seq_;
}

absl::Status WritePipeline::bootstrap_groups(const std::vector<GroupBootstrap>& groups) {
  // A few synchronous LMDB transactions, not one per group: a group's
  // writes always go in one of them, so a crash between two leaves every
  // group either bootstrapped or still empty (bootstrapped at the next open).
  storage::WriteBatch batch;
  size_t in_batch = 0;
  auto commit = [&]() -> absl::Status {
    if (in_batch == 0) return absl::OkStatus();
    absl::Status s = env_.write(batch);  // Synced before it returns.
    batch.clear();
    in_batch = 0;
    return s;
  };
  for (const GroupBootstrap& b : groups) {
    batch.append(b.group, b.entries);
    batch.set_hard_state(b.group, b.hard_state);
    if (++in_batch == kBootstrapGroupsPerCommit) {
      if (auto s = commit(); !s.ok()) return s;
    }
  }
  if (auto s = commit(); !s.ok()) return s;
  for (const GroupBootstrap& b : groups) {
    auto it = logs_->find(b.group);
    if (it != logs_->end()) it->second->reload();
  }
  return absl::OkStatus();
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

absl::Status WritePipeline::backlog() const {
  if (!journal_full_) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "the journal of shard ", shard_id_, " is full: its log store is behind (retry later)"));
}

void WritePipeline::tick() {
  if (journal_full_ && lmdb_pending_.empty() && lmdb_failed_.empty() && !stopping_) {
    // Everything is in LMDB, but a segment comes free only once a forced
    // sync covers it, and the one after the last commit may have failed
    // (a full disk): with the journal full no commit comes to try again.
    env_.request_forced_sync();
  }
  checkpoint();
  if (journal_full_ && !full_long_reported_ && lmdb_failed_.empty() &&
      net::Clock::now() - full_since_ > std::chrono::seconds(2)) {
    // Not expected: with LMDB not failing (its failures are logged), it
    // catches up and syncs well within 2 s. Say where it stands.
    full_long_reported_ = true;
    spdlog::warn(
        "shard {}: the journal has been full for over 2 s: LMDB has {} batches in flight, {} "
        "waiting for a retry{}; LMDB committed through record {} and synced through {}, the "
        "journal's checkpoint is {}, its next record {}, {} of {} segments free",
        shard_id_, lmdb_pending_.size(), lmdb_failed_.size(),
        lmdb_backing_off_ ? " (backing off)" : "", env_.stats().journal_committed_seq,
        env_.synced_journal_seq(), journal_.checkpoint_seq(), journal_.next_seq(),
        journal_.free_segments(), journal_.segment_count());
  }
  if (!lmdb_failed_.empty() && lmdb_pending_.empty() && !lmdb_backing_off_ && !stopping_) {
    // Every failed batch waits for the retry timer; it is armed when the
    // last batch in flight completes. Should that ever be missed, the tick
    // arms it (and says so).
    spdlog::warn("shard {}: {} LMDB batches were waiting for a retry with none armed", shard_id_,
                 lmdb_failed_.size());
    lmdb_backing_off_ = true;
    lmdb_retry_timer_->arm_after(lmdb_backoff_);
  }
  if (open_seq_ == seq_at_last_tick_) submit(/*lazy_too=*/true);
  seq_at_last_tick_ = open_seq_;
}

absl::Status WritePipeline::check_open_batch() const {
  for (const storage::GroupWrite& w : open_batch_.groups()) {
    auto it = logs_->find(w.group);
    storage::GroupState s = it == logs_->end() ? env_.group_state(w.group) : it->second->state();
    if (absl::Status st = storage::apply_to_state(w, s); !st.ok()) return st;
  }
  return absl::OkStatus();
}

void WritePipeline::submit(bool lazy_too) {
  if (stopping_ || current_ || write_failed_ || backing_off_ || open_batch_.empty()) return;
  if (!open_urgent_ && !lazy_too) return;
  if (absl::Status s = check_open_batch(); !s.ok()) {
    // The driver never writes such a batch (the simulator checks it): keep
    // it, acknowledge nothing behind it, and say why, again after a backoff.
    write_failed_ = true;
    journal_failed(
        absl::InternalError(absl::StrCat("a write batch breaks the log: ", s.message())));
    return;
  }
  Current c;
  c.seq = open_seq_++;
  c.started = net::Clock::now();
  for (storage::WriteBatch& part : storage::split_batch(std::move(open_batch_), max_record_bytes_))
    c.parts.push_back(std::move(part));
  open_batch_ = storage::WriteBatch();
  open_urgent_ = false;
  bump(metrics_.batches_submitted);
  current_ = std::move(c);
  write_next_part();
}

void WritePipeline::write_next_part() {
  if (stopping_ || !current_ || write_op_.in_flight()) return;
  storage::WriteBatch& part = current_->parts.front();
  record_.clear();
  storage::encode_batch(part, record_);
  auto w = journal_.prepare(record_);
  if (!w.ok()) {
    if (absl::IsResourceExhausted(w.status())) {
      // LMDB is behind: the part waits for a checkpoint (checkpoint()), and
      // proposals are refused meanwhile (backlog()).
      if (!journal_full_) {
        spdlog::warn("shard {}: {}; proposals are refused until it has room", shard_id_,
                     std::string(w.status().message()));
        bump(metrics_.journal_full);
        full_since_ = net::Clock::now();
        full_long_reported_ = false;
      }
      journal_full_ = true;
      report_full_if_lmdb_fails();
      return;
    }
    write_failed_ = true;
    journal_failed(w.status());
    return;
  }
  journal_full_ = false;
  full_reported_ = false;
  if (callbacks_.before_submit) callbacks_.before_submit();
  current_->journal_seq = w->seq;
  current_->size = w->size;
  current_->part_started = net::Clock::now();
  RAFT_TRACE_POINT("journal_write");
  io_uring_prep_write(reactor_->prepare(write_op_), w->fd, w->data, static_cast<unsigned>(w->size),
                      w->offset);
  reactor_->submit();
}

void WritePipeline::on_journal_write(int32_t result, uint32_t /*flags*/) {
  RAFT_TRACE_POINT("journal_durable");
  RAFT_CHECK(current_.has_value());
  Current& c = *current_;
  if (result < 0 || static_cast<size_t>(result) != c.size) {
    journal_.failed(c.journal_seq);
    bump(metrics_.journal_write_failures);
    absl::Status s =
        result < 0
            ? absl::ErrnoToStatus(-result, absl::StrCat("journal write of shard ", shard_id_))
            : absl::DataLossError(absl::StrCat("short journal write of shard ", shard_id_, ": ",
                                               result, " of ", c.size, " bytes"));
    // Nothing of this part is durable: it is written again after a backoff.
    write_failed_ = true;
    if (!stopping_) journal_failed(s);
    callbacks_.wake();
    return;
  }
  journal_.written(c.journal_seq);
  record_write_latency(c.part_started, c.size);
  Behind behind{c.journal_seq, std::move(c.parts.front()), 0, c.size, net::Clock::now()};
  behind.entries = behind.batch.entry_count();
  c.parts.pop_front();
  if (!c.parts.empty()) {
    // More parts to come: this one goes to LMDB now (a copy; the views are
    // staged once the whole batch is durable). The journal frees a segment
    // only when LMDB holds what it carries, so a batch whose parts fill the
    // journal (a follower's backlog after its disk was full) would
    // otherwise wait for itself: its later parts never fit, and its earlier
    // ones never reach LMDB. LMDB holding a prefix of a batch not yet
    // reported durable is what a replay of its first records gives too.
    lag_entries_ += behind.entries;
    lag_bytes_ += behind.bytes;
    submit_to_lmdb(behind);
    c.done.push_back(std::move(behind));
    c.in_lmdb = c.done.size();
    return write_next_part();
  }
  c.done.push_back(std::move(behind));
  // The whole batch is durable: the groups' views see it, the driver hears
  // of it, and LMDB gets it.
  retry_backoff_ = std::chrono::milliseconds(50);
  Current finished = std::move(c);
  current_.reset();
  uint64_t entries = 0;
  for (Behind& b : finished.done) {
    stage(b);
    entries += b.entries;
  }
  bump(metrics_.entries_persisted, entries);
  metrics_.record_batch(entries);
  callbacks_.durable(finished.seq);
  for (size_t i = finished.in_lmdb; i < finished.done.size(); ++i) {
    Behind& b = finished.done[i];
    lag_entries_ += b.entries;
    lag_bytes_ += b.bytes;
    submit_to_lmdb(std::move(b));
  }
  callbacks_.wake();
}

// Full because LMDB behind it fails (a full disk, EIO): this node cannot
// write, and a leader hands off as for a failed write. Checked when the
// journal fills and when a failure comes back from LMDB: the journal may
// fill while the failed batches are in flight again for their retry.
void WritePipeline::report_full_if_lmdb_fails() {
  if (!journal_full_ || full_reported_ || lmdb_failed_.empty()) return;
  full_reported_ = true;
  callbacks_.failed(absl::Status(
      lmdb_error_.code(),
      absl::StrCat("the journal is full and LMDB behind it fails: ", lmdb_error_.message())));
}

void WritePipeline::record_write_latency(net::Clock::time_point started, size_t bytes) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(net::Clock::now() - started).count();
  const auto& bounds = latency_bounds_us();
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds.begin(), bounds.end(), static_cast<uint64_t>(us)) - bounds.begin());
  bump(metrics_.journal_write_latency[std::min(bucket, metrics_.journal_write_latency.size() - 1)]);
  bump(metrics_.journal_writes);
  bump(metrics_.journal_bytes, bytes);
  bump(metrics_.journal_write_us, static_cast<uint64_t>(us));
}

// Reported once per episode; the retry timer writes the batch again.
void WritePipeline::journal_failed(const absl::Status& status) {
  spdlog::error("shard {}: write failed (retrying in {} ms): {}", shard_id_,
                std::chrono::duration_cast<std::chrono::milliseconds>(retry_backoff_).count(),
                status.ToString());
  callbacks_.failed(status);
  write_failed_ = false;  // backing_off_ holds the writes until the retry.
  backing_off_ = true;
  retry_timer_->arm_after(retry_backoff_);
  retry_backoff_ = std::min<net::Clock::duration>(retry_backoff_ * 2, std::chrono::seconds(2));
}

void WritePipeline::stage(const Behind& b) {
  for (const storage::GroupWrite& gw : b.batch.groups()) {
    auto it = logs_->find(gw.group);
    if (it != logs_->end()) it->second->stage(gw, b.journal_seq);
  }
}

void WritePipeline::submit_to_lmdb(Behind behind) {
  if (!lmdb_failed_.empty() || lmdb_backing_off_) {
    lmdb_failed_.push_back(std::move(behind));  // Behind those waiting for their retry.
    update_lag_metrics();
    return;
  }
  behind.batch.set_journal_seq(behind.journal_seq);
  storage::WriteBatch copy = behind.batch;  // Kept to retry a failed commit.
  auto id = env_.try_submit(copy);
  RAFT_CHECK_MSG(id.ok(), "the LMDB queue is bounded by the journal, not by its capacity");
  lmdb_pending_.emplace_back(*id, std::move(behind));
  update_lag_metrics();
}

void WritePipeline::on_lmdb_completion() {
  completions_.clear();
  env_.drain_completions(completions_);
  std::deque<Behind> failed_now;
  size_t i = 0;
  while (i < completions_.size() && !lmdb_pending_.empty()) {
    const uint64_t id = completions_[i].batch;
    absl::Status failure;
    for (; i < completions_.size() && completions_[i].batch == id; ++i) {
      if (!completions_[i].status.ok() && failure.ok()) failure = completions_[i].status;
    }
    RAFT_CHECK(lmdb_pending_.front().first == id);
    Behind b = std::move(lmdb_pending_.front().second);
    lmdb_pending_.pop_front();
    if (failure.ok() && failed_now.empty()) {
      for (const storage::GroupWrite& gw : b.batch.groups()) {
        auto it = logs_->find(gw.group);
        if (it != logs_->end()) it->second->lmdb_committed(b.journal_seq);
      }
      lag_entries_ -= b.entries;
      lag_bytes_ -= b.bytes;
      lmdb_backoff_ = std::chrono::milliseconds(50);
      continue;
    }
    // This one and every batch behind it fail (the env fails them untried):
    // all are retried, in order, after a backoff. The journal keeps them.
    if (failed_now.empty() && lmdb_failed_.empty()) {
      spdlog::error("shard {}: LMDB commit behind the journal failed (retrying in {} ms): {}",
                    shard_id_,
                    std::chrono::duration_cast<std::chrono::milliseconds>(lmdb_backoff_).count(),
                    failure.ToString());
      bump(metrics_.lmdb_commit_failures);
    }
    lmdb_error_ = failure;
    failed_now.push_back(std::move(b));
  }
  for (Behind& b : failed_now) lmdb_failed_.push_back(std::move(b));  // Sorted at the retry.
  report_full_if_lmdb_fails();
  if (!lmdb_failed_.empty()) {
    if (lmdb_pending_.empty() && !lmdb_backing_off_ && !stopping_) {
      lmdb_backing_off_ = true;
      lmdb_retry_timer_->arm_after(lmdb_backoff_);
      lmdb_backoff_ = std::min<net::Clock::duration>(lmdb_backoff_ * 2, std::chrono::seconds(2));
    }
  }
  checkpoint();
  update_lag_metrics();
  callbacks_.wake();
}

void WritePipeline::retry_lmdb() {
  if (stopping_) return;
  std::deque<Behind> again = std::move(lmdb_failed_);
  lmdb_failed_.clear();
  // Failures come back over several drains, and batches made durable
  // meanwhile wait in the same list: journal order is the order to commit.
  std::sort(again.begin(), again.end(),
            [](const Behind& a, const Behind& b) { return a.journal_seq < b.journal_seq; });
  for (Behind& b : again) submit_to_lmdb(std::move(b));
}

void WritePipeline::checkpoint() {
  const uint64_t synced = env_.synced_journal_seq();
  if (synced > journal_.checkpoint_seq()) {
    journal_.checkpoint(synced);
    bump(metrics_.journal_checkpoints);
  }
  if (journal_full_ && current_ && journal_.has_room(current_->parts.front().payload_bytes())) {
    write_next_part();
  }
}

void WritePipeline::update_lag_metrics() {
  metrics_.lmdb_lag_batches.store(lmdb_pending_.size() + lmdb_failed_.size(),
                                  std::memory_order_relaxed);
  metrics_.lmdb_lag_entries.store(lag_entries_, std::memory_order_relaxed);
  metrics_.lmdb_lag_bytes.store(lag_bytes_, std::memory_order_relaxed);
  // lmdb_pending_ is in journal order; lmdb_failed_ is sorted only at its retry.
  std::optional<net::Clock::time_point> oldest;
  if (!lmdb_pending_.empty()) oldest = lmdb_pending_.front().second.durable_at;
  for (const Behind& b : lmdb_failed_) {
    if (!oldest || b.durable_at < *oldest) oldest = b.durable_at;
  }
  const uint64_t ns =
      oldest ? static_cast<uint64_t>(
                   std::chrono::duration_cast<std::chrono::nanoseconds>(oldest->time_since_epoch())
                       .count())
             : 0;
  metrics_.lmdb_lag_oldest_ns.store(ns, std::memory_order_relaxed);
}

}  // namespace raft
