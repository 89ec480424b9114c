// Tests of the group-commit path: try_submit hands batches to the writer
// thread, completions come back per group through drain_completions after the
// eventfd fires, the queue bound gives backpressure, a failing batch reports
// its error to every group in it and persists nothing, and readers on other
// threads see consistent data while the writer commits and grows the map.
#include <poll.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "storage/log_env.h"
#include "tests/storage/test_util.h"

namespace raft::storage {
namespace {

using testing::make_entries;
using testing::payload_for;
using testing::TempDir;

std::unique_ptr<LogEnv> open_env(const std::string& dir, size_t queue_capacity = 2,
                                 uint64_t map_bytes = 8 << 20) {
  EnvOptions options;
  options.dir = dir;
  options.queue_capacity = queue_capacity;
  options.initial_map_bytes = map_bytes;
  auto env = LogEnv::open(options);
  EXPECT_TRUE(env.ok()) << env.status();
  return env.ok() ? std::move(*env) : nullptr;
}

// Waits (poll on the eventfd, 10 s deadline) until `n` completions arrived.
std::vector<Completion> wait_completions(LogEnv& env, size_t n) {
  std::vector<Completion> out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    pollfd p{env.completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    env.drain_completions(out);
  }
  return out;
}

TEST(GroupCommitTest, CompletionsReportPersistedIndexPerGroup) {
  TempDir dir;
  auto env = open_env(dir.sub("s"));
  ASSERT_NE(env, nullptr);
  WriteBatch b;
  b.append(1, make_entries(1, 1, 10, 1));
  b.append(2, make_entries(2, 1, 3, 2));
  b.set_hard_state(2, HardState{2, 2, 1});
  b.set_hard_state(3, HardState{1, 0, 0});
  auto id = env->try_submit(b);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(b.empty());
  auto done = wait_completions(*env, 3);
  ASSERT_EQ(done.size(), 3u);
  for (const auto& c : done) {
    EXPECT_EQ(c.batch, *id);
    EXPECT_TRUE(c.status.ok()) << c.status;
  }
  EXPECT_EQ(done[0].group, 1u);
  EXPECT_EQ(done[0].last_index, 10u);
  EXPECT_EQ(done[0].last_term, 1u);
  EXPECT_EQ(done[1].group, 2u);
  EXPECT_EQ(done[1].last_index, 3u);
  EXPECT_EQ(done[1].last_term, 2u);
  EXPECT_EQ(done[2].last_index, 0u);
  EXPECT_EQ(env->hard_state(2), (HardState{2, 2, 1}));
  EXPECT_EQ(env->last_index(1), 10u);
  EXPECT_EQ(env->batches_in_flight(), 0u);
  EXPECT_EQ(env->stats().commits, 1u);
  // Nothing more is pending: the eventfd was cleared.
  pollfd p{env->completion_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TEST(GroupCommitTest, QueueBoundGivesBackpressureAndEveryBatchCommitsOnce) {
  TempDir dir;
  auto env = open_env(dir.sub("s"), /*queue_capacity=*/2);
  ASSERT_NE(env, nullptr);
  constexpr int kBatches = 60;
  constexpr int kPerBatch = 20;
  WriteBatch filling;
  Index next = 1;
  int submitted = 0;
  int rejected = 0;
  std::vector<Completion> done;
  uint64_t last_id = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (done.size() < kBatches && std::chrono::steady_clock::now() < deadline) {
    if (submitted < kBatches && filling.empty()) {
      filling.append(1, make_entries(1, next, kPerBatch, 1));
      next += kPerBatch;
    }
    if (!filling.empty()) {
      auto id = env->try_submit(filling);
      if (id.ok()) {
        EXPECT_GT(*id, last_id);
        last_id = *id;
        ++submitted;
      } else {
        EXPECT_EQ(id.status().code(), absl::StatusCode::kResourceExhausted);
        EXPECT_FALSE(filling.empty());  // A refused batch stays with the caller.
        ++rejected;
      }
    }
    EXPECT_LE(env->batches_in_flight(), 3u);  // Queue of 2 + the one committing.
    if (!filling.empty() || submitted == kBatches) {
      pollfd p{env->completion_fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
    }
    env->drain_completions(done);
  }
  ASSERT_EQ(done.size(), static_cast<size_t>(kBatches));
  EXPECT_GT(rejected, 0);  // The producer outran the disk at least once.
  for (size_t i = 0; i < done.size(); ++i) {
    ASSERT_TRUE(done[i].status.ok()) << done[i].status;
    EXPECT_EQ(done[i].last_index, (i + 1) * kPerBatch);  // In order.
  }
  EXPECT_EQ(env->stats().commits, static_cast<uint64_t>(kBatches));
  EXPECT_EQ(env->last_index(1), static_cast<Index>(kBatches * kPerBatch));
  EXPECT_TRUE(env->verify_group(1).ok());
}

TEST(GroupCommitTest, FailedBatchReportsEveryGroupAndPersistsNothing) {
  TempDir dir;
  auto env = open_env(dir.sub("s"));
  ASSERT_NE(env, nullptr);
  ASSERT_TRUE(env->append(1, make_entries(1, 1, 5, 1)).ok());
  WriteBatch bad;
  bad.append(1, make_entries(1, 6, 5, 1));
  bad.set_hard_state(2, HardState{9, 9, 0});
  bad.append(3, make_entries(3, 7, 1, 1));  // Gap: group 3 has no entries.
  ASSERT_TRUE(env->try_submit(bad).ok());
  auto done = wait_completions(*env, 3);
  ASSERT_EQ(done.size(), 3u);
  for (const auto& c : done) EXPECT_EQ(c.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(env->last_index(1), 5u);
  EXPECT_EQ(env->hard_state(2), HardState{});
  EXPECT_EQ(env->stats().failed_commits, 1u);
  WriteBatch good;
  good.append(1, make_entries(1, 6, 5, 1));
  ASSERT_TRUE(env->try_submit(good).ok());
  done = wait_completions(*env, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].status.ok());
  EXPECT_EQ(done[0].last_index, 10u);
}

TEST(GroupCommitTest, EmptyBatchIsRefused) {
  TempDir dir;
  auto env = open_env(dir.sub("s"));
  ASSERT_NE(env, nullptr);
  WriteBatch empty;
  EXPECT_EQ(env->try_submit(empty).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GroupCommitTest, ClosingCommitsQueuedBatches) {
  TempDir dir;
  {
    auto env = open_env(dir.sub("s"), 8);
    ASSERT_NE(env, nullptr);
    for (Index i = 1; i <= 40; i += 10) {
      WriteBatch b;
      b.append(1, make_entries(1, i, 10, 1));
      ASSERT_TRUE(env->try_submit(b).ok());
    }
  }
  auto env = open_env(dir.sub("s"));
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->last_index(1), 40u);
}

// Readers on another thread (term, bounds, entries) while the writer thread
// appends, compacts and grows the map: every read is consistent.
TEST(GroupCommitTest, ConcurrentReadersSeeConsistentLog) {
  TempDir dir;
  auto env = open_env(dir.sub("s"), 2, /*map_bytes=*/256 << 10);
  ASSERT_NE(env, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      Index first = env->first_index(1);
      Index last = env->last_index(1);
      if (last < first) continue;
      Index lo = std::max(first, last > 20 ? last - 20 : first);
      auto got = env->entries(1, lo, last + 1, UINT64_MAX);
      if (!got.ok()) {
        // Only a compaction racing the read is allowed.
        ASSERT_EQ(got.status().code(), absl::StatusCode::kOutOfRange) << got.status();
        continue;
      }
      for (const Entry& e : *got) ASSERT_EQ(e.data.view(), payload_for(1, e.index, 1, 200));
      reads.fetch_add(1);
    }
  });
  Index next = 1;
  std::vector<Completion> done;
  for (int round = 0; round < 80; ++round) {
    WriteBatch b;
    b.append(1, make_entries(1, next, 100, 1, 200));
    next += 100;
    if (round % 10 == 9) b.compact(1, next - 150);
    while (!env->try_submit(b).ok()) {
      pollfd p{env->completion_fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
      env->drain_completions(done);
    }
  }
  done = wait_completions(*env, 80 - done.size());
  stop.store(true);
  reader.join();
  EXPECT_GT(env->stats().map_resizes, 0u);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(env->last_index(1), next - 1);
}

}  // namespace
}  // namespace raft::storage
