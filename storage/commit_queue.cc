#include "storage/commit_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/trace.h"
#include "storage/lmdb_util.h"

namespace raft::storage {

CommitQueue::CommitQueue(std::string name, size_t capacity, std::chrono::microseconds linger)
    : name_(std::move(name)), capacity_(capacity), linger_(linger) {}

CommitQueue::~CommitQueue() {
  stop();
  if (event_fd_ >= 0) ::close(event_fd_);
}

absl::Status CommitQueue::start(Hooks hooks) {
  hooks_ = std::move(hooks);
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) return errno_status("eventfd for", name_);
  writer_ = std::thread([this] { run(); });
  return absl::OkStatus();
}

void CommitQueue::stop() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard l(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  writer_.join();
}

absl::StatusOr<uint64_t> CommitQueue::try_submit(WriteBatch& batch) {
  uint64_t id;
  {
    std::lock_guard l(queue_mu_);
    if (queue_.size() >= capacity_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("storage queue of ", name_, " is full (", queue_.size(), " batches)"));
    }
    id = next_batch_id_++;
    queue_.push_back(Pending{id, std::move(batch)});
  }
  batch.clear();
  queue_cv_.notify_one();
  return id;
}

size_t CommitQueue::in_flight() const {
  std::lock_guard l(queue_mu_);
  return queue_.size() + committing_;
}

size_t CommitQueue::queued() const {
  std::lock_guard l(queue_mu_);
  return queue_.size();
}

size_t CommitQueue::drain_completions(std::vector<Completion>& out) {
  uint64_t counter;
  while (::read(event_fd_, &counter, sizeof(counter)) < 0 && errno == EINTR) {
  }
  std::lock_guard l(done_mu_);
  size_t n = done_.size();
  bool failed = false;
  for (auto& c : done_) {
    failed = failed || !c.status.ok();
    out.push_back(std::move(c));
  }
  done_.clear();
  if (failed) {
    // The submitter sees the failure now; what it submitted before this
    // fails as well, what it submits from now on is tried.
    std::lock_guard q(queue_mu_);
    poisoned_ = false;
    fail_through_ = next_batch_id_ - 1;
  }
  return n;
}

void CommitQueue::set_idle_work(bool pending) {
  {
    std::lock_guard l(queue_mu_);
    idle_pending_ = pending;
    if (pending) ++idle_calls_;
  }
  if (pending) queue_cv_.notify_one();
}

void CommitQueue::run() {
  std::vector<Pending> taken;
  std::vector<Completion> completions;
  for (;;) {
    size_t untried = 0;
    switch (take(taken, untried)) {
      case Turn::kStop:
        return;
      case Turn::kIdle:
        run_idle(idle_calls_taken_);
        continue;
      case Turn::kCommit:
        break;
    }
    completions.clear();
    commit(taken, untried, completions);
    publish(completions);
  }
}

CommitQueue::Turn CommitQueue::take(std::vector<Pending>& taken, size_t& untried) {
  taken.clear();
  untried = 0;
  std::unique_lock l(queue_mu_);
  queue_cv_.wait(l, [&] { return stopping_ || !queue_.empty() || idle_pending_; });
  if (queue_.empty()) {
    if (stopping_) return Turn::kStop;
    idle_calls_taken_ = idle_calls_;
    return Turn::kIdle;
  }
  if (linger_.count() > 0) {
    queue_cv_.wait_until(l, last_commit_ + linger_, [&] { return stopping_; });
    last_commit_ = std::chrono::steady_clock::now();
  }
  // Every waiting batch goes into the next transaction.
  while (!queue_.empty()) {
    Pending& p = queue_.front();
    if (poisoned_ || p.id <= fail_through_) ++untried;
    taken.push_back(std::move(p));
    queue_.pop_front();
  }
  committing_ = taken.size();
  return Turn::kCommit;
}

// Idle: one transaction of idle work (deleting compacted records). After a
// failure it waits for the next set_idle_work(true), which follows the next
// successful commit; a call made while the failed run was under way counts.
void CommitQueue::run_idle(uint64_t idle_calls) {
  if (!hooks_.idle().ok()) {
    std::lock_guard l(queue_mu_);
    if (idle_calls_ == idle_calls) idle_pending_ = false;
  }
}

void CommitQueue::commit(std::vector<Pending>& taken, size_t untried,
                         std::vector<Completion>& out) {
  auto complete = [&](const Pending& p, const absl::Status& s,
                      const std::vector<std::pair<Index, Term>>* end) {
    const auto& groups = p.batch.groups();
    for (size_t g = 0; g < groups.size(); ++g) {
      Completion c{p.id, groups[g].group, s};
      if (s.ok()) std::tie(c.last_index, c.last_term) = (*end)[g];
      out.push_back(std::move(c));
    }
  };
  const absl::Status aborted =
      absl::AbortedError(absl::StrCat("not written: an earlier write batch of ", name_, " failed"));
  for (size_t i = 0; i < untried; ++i) complete(taken[i], aborted, nullptr);
  if (untried == taken.size()) return;
  batches_.clear();
  for (size_t i = untried; i < taken.size(); ++i) batches_.push_back(&taken[i].batch);
  ends_.assign(batches_.size(), {});
  RAFT_TRACE_POINT("commit_begin");
  absl::Status s = hooks_.commit(batches_, ends_);
  RAFT_TRACE_POINT("commit_end");
  if (!s.ok()) {
    std::lock_guard l(queue_mu_);
    poisoned_ = true;
  }
  for (size_t i = untried; i < taken.size(); ++i) complete(taken[i], s, &ends_[i - untried]);
}

void CommitQueue::publish(std::vector<Completion>& completions) {
  {
    std::lock_guard l(done_mu_);
    for (auto& c : completions) done_.push_back(std::move(c));
  }
  {
    std::lock_guard l(queue_mu_);
    committing_ = 0;
  }
  uint64_t one = 1;
  ssize_t n = ::write(event_fd_, &one, sizeof(one));
  RAFT_CHECK_MSG(n == sizeof(one), "eventfd write failed");
}

}  // namespace raft::storage
