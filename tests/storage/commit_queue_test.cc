// Tests of the parts LogEnv owns, on their own, without LMDB: CommitQueue
// (every waiting batch goes into one commit, the queue bound, a failure fails
// the batches behind it untried until the submitter drained it, idle work,
// stop commits what is queued) driven by fake hooks, and CompactedGarbage
// (which groups have garbage, how the per-commit budget is spent).
#include "storage/commit_queue.h"

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "storage/compacted_garbage.h"

namespace raft::storage {
namespace {

// Records every commit the queue asks for; can hold the writer inside a
// commit until released, and fail the next commits.
class FakeEnv {
 public:
  CommitQueue::Hooks hooks() {
    CommitQueue::Hooks h;
    h.commit = [this](const std::vector<const WriteBatch*>& batches, BatchEnds& ends) {
      std::unique_lock l(mu_);
      std::vector<GroupId> groups;
      for (size_t i = 0; i < batches.size(); ++i) {
        for (const GroupWrite& w : batches[i]->groups()) {
          groups.push_back(w.group);
          ends[i].emplace_back(w.group * 10, 1);  // A recognizable log end.
        }
      }
      commits_.push_back(groups);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(l, [&] { return !hold_; });
      if (fail_next_ > 0) {
        --fail_next_;
        return absl::UnavailableError("disk says no");
      }
      return absl::OkStatus();
    };
    h.idle = [this] {
      std::unique_lock l(mu_);
      ++idle_runs_;
      const bool fail = idle_fails_;  // Decided as the run begins.
      if (fail) ++idle_failures_;
      idle_entered_ = true;
      cv_.notify_all();
      cv_.wait(l, [&] { return !hold_idle_; });
      return fail ? absl::InternalError("idle failed") : absl::OkStatus();
    };
    return h;
  }

  void hold() {
    std::lock_guard l(mu_);
    hold_ = true;
    entered_ = false;
  }
  void wait_entered() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return entered_; });
  }
  void release() {
    std::lock_guard l(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  void hold_idle() {
    std::lock_guard l(mu_);
    hold_idle_ = true;
    idle_entered_ = false;
  }
  void wait_idle_entered() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return idle_entered_; });
  }
  void release_idle() {
    std::lock_guard l(mu_);
    hold_idle_ = false;
    cv_.notify_all();
  }
  void fail_next(int n) {
    std::lock_guard l(mu_);
    fail_next_ = n;
  }
  void set_idle_fails(bool fails) {
    std::lock_guard l(mu_);
    idle_fails_ = fails;
  }
  bool wait_idle_runs(int n) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10), [&] { return idle_runs_ >= n; });
  }
  bool wait_idle_failures(int n) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10), [&] { return idle_failures_ >= n; });
  }
  int idle_runs() {
    std::lock_guard l(mu_);
    return idle_runs_;
  }
  std::vector<std::vector<GroupId>> commits() {
    std::lock_guard l(mu_);
    return commits_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool entered_ = false;
  int fail_next_ = 0;
  bool idle_fails_ = false;
  int idle_runs_ = 0;
  int idle_failures_ = 0;
  bool hold_idle_ = false;
  bool idle_entered_ = false;
  std::vector<std::vector<GroupId>> commits_;
};

WriteBatch batch_of(std::initializer_list<GroupId> groups) {
  WriteBatch b;
  for (GroupId g : groups) b.set_hard_state(g, HardState{1, 0, 0});
  return b;
}

uint64_t submit(CommitQueue& q, std::initializer_list<GroupId> groups) {
  WriteBatch b = batch_of(groups);
  auto id = q.try_submit(b);
  EXPECT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(b.empty());
  return id.ok() ? *id : 0;
}

std::vector<Completion> wait_completions(CommitQueue& q, size_t n) {
  std::vector<Completion> out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    pollfd p{q.completion_fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) == 1) q.drain_completions(out);
  }
  return out;
}

TEST(CommitQueueTest, EveryWaitingBatchGoesIntoTheNextCommit) {
  FakeEnv fake;
  CommitQueue q("q", 8);
  ASSERT_TRUE(q.start(fake.hooks()).ok());
  fake.hold();
  uint64_t first = submit(q, {1});
  fake.wait_entered();  // The writer is inside the commit of batch 1.
  uint64_t second = submit(q, {2, 3});
  uint64_t third = submit(q, {4});
  EXPECT_EQ(q.queued(), 2u);
  EXPECT_EQ(q.in_flight(), 3u);
  fake.release();
  auto done = wait_completions(q, 4);
  ASSERT_EQ(done.size(), 4u);
  EXPECT_EQ(fake.commits(), (std::vector<std::vector<GroupId>>{{1}, {2, 3, 4}}));
  const std::vector<std::pair<uint64_t, GroupId>> expected = {
      {first, 1}, {second, 2}, {second, 3}, {third, 4}};
  for (size_t i = 0; i < done.size(); ++i) {
    EXPECT_EQ(done[i].batch, expected[i].first);
    EXPECT_EQ(done[i].group, expected[i].second);
    EXPECT_TRUE(done[i].status.ok()) << done[i].status;
    EXPECT_EQ(done[i].last_index, expected[i].second * 10);
  }
  EXPECT_EQ(q.in_flight(), 0u);
}

TEST(CommitQueueTest, FullQueueRefusesAndLeavesTheBatchAlone) {
  FakeEnv fake;
  CommitQueue q("q", 1);
  ASSERT_TRUE(q.start(fake.hooks()).ok());
  fake.hold();
  submit(q, {1});
  fake.wait_entered();
  submit(q, {2});
  WriteBatch refused = batch_of({3});
  auto id = q.try_submit(refused);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(refused.empty());
  fake.release();
  EXPECT_EQ(wait_completions(q, 2).size(), 2u);
}

TEST(CommitQueueTest, FailureFailsLaterBatchesUntriedUntilDrained) {
  FakeEnv fake;
  CommitQueue q("q", 8);
  ASSERT_TRUE(q.start(fake.hooks()).ok());
  fake.fail_next(1);
  fake.hold();
  submit(q, {1});
  fake.wait_entered();
  submit(q, {2});  // Built on batch 1: must not be tried after it failed.
  fake.release();
  auto done = wait_completions(q, 2);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(done[1].status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(fake.commits().size(), 1u);
  // Drained: the next batch is tried again.
  submit(q, {3});
  done = wait_completions(q, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].status.ok()) << done[0].status;
  EXPECT_EQ(fake.commits(), (std::vector<std::vector<GroupId>>{{1}, {3}}));
}

TEST(CommitQueueTest, IdleWorkRunsWhilePendingAndStopsAfterAFailure) {
  FakeEnv fake;
  CommitQueue q("q", 8);
  ASSERT_TRUE(q.start(fake.hooks()).ok());
  q.set_idle_work(true);
  ASSERT_TRUE(fake.wait_idle_runs(3));  // Runs again and again while pending.
  // The next run fails and turns idle work off: no run follows it. (The
  // writer runs one hook at a time, so the count is final once the failing
  // run has returned; the sleep only gives a wrong extra run time to show.)
  fake.set_idle_fails(true);
  ASSERT_TRUE(fake.wait_idle_failures(1));
  int settled = fake.idle_runs();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(fake.idle_runs(), settled);
  // A commit still works, and set_idle_work(true) turns it back on.
  submit(q, {1});
  EXPECT_EQ(wait_completions(q, 1).size(), 1u);
  fake.set_idle_fails(false);
  q.set_idle_work(true);
  EXPECT_TRUE(fake.wait_idle_runs(settled + 1));
}

TEST(CommitQueueTest, IdleWorkAskedForDuringAFailingRunStaysOn) {
  FakeEnv fake;
  CommitQueue q("q", 8);
  ASSERT_TRUE(q.start(fake.hooks()).ok());
  fake.hold_idle();
  fake.set_idle_fails(true);
  q.set_idle_work(true);
  fake.wait_idle_entered();
  q.set_idle_work(true);  // Asked for while the run that fails is under way.
  fake.set_idle_fails(false);
  fake.release_idle();
  EXPECT_TRUE(fake.wait_idle_runs(2));  // The failed run, then another.
}

TEST(CommitQueueTest, StopCommitsWhatIsQueued) {
  FakeEnv fake;
  CommitQueue q("q", 8);
  ASSERT_TRUE(q.start(fake.hooks()).ok());
  fake.hold();
  submit(q, {1});
  fake.wait_entered();
  submit(q, {2});
  submit(q, {3});
  std::thread stopper([&] { q.stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  fake.release();
  stopper.join();
  EXPECT_EQ(fake.commits(), (std::vector<std::vector<GroupId>>{{1}, {2, 3}}));
  EXPECT_EQ(q.in_flight(), 0u);
}

TEST(CompactedGarbageTest, TracksGroupsAndSpendsTheBudgetOldestFirst) {
  CompactedGarbage garbage(10);
  CompactedGarbage::States all;
  all[5].garbage_first = 1;
  all[7].garbage_first = 0;
  all[9].garbage_first = 4;
  garbage.reset(all);
  EXPECT_TRUE(garbage.pending());

  // Groups with garbage first (ascending), then the batch's groups.
  WriteBatch b = batch_of({7, 5});
  std::vector<std::pair<GroupId, size_t>> calls;
  auto st = garbage.collect({&b}, [&](GroupId g, size_t budget) -> absl::StatusOr<size_t> {
    calls.emplace_back(g, budget);
    return std::min<size_t>(4, budget);  // As many as it may, up to 4.
  });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(calls, (std::vector<std::pair<GroupId, size_t>>{{5, 10}, {9, 6}, {7, 2}}));

  CompactedGarbage::States changed;
  changed[5].garbage_first = 0;
  changed[9].garbage_first = 0;
  garbage.update(changed);
  EXPECT_FALSE(garbage.pending());

  // A budget of 0 never deletes, so there is no idle work either.
  CompactedGarbage none(0);
  none.reset(all);
  EXPECT_FALSE(none.pending());
}

}  // namespace
}  // namespace raft::storage
