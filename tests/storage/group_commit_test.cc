// Tests of the group-commit path: try_submit hands batches to the writer
// thread and never waits for it (batch N + 1 is taken while batch N cannot
// commit), completions come back per group through drain_completions after the
// eventfd fires, the queue bound gives backpressure, a failing batch reports
// its error to every group in it and persists nothing, and readers on other
// threads see consistent data while the writer commits and grows the map.
#include <lmdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

// Waits (10 s deadline) until `n` completions arrived, draining only when
// the eventfd is readable, as the reactor does: a completion that never
// signals the eventfd is never seen.
std::vector<Completion> wait_completions(LogEnv& env, size_t n) {
  std::vector<Completion> out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    pollfd p{env.completion_fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) == 1 && (p.revents & POLLIN) != 0) env.drain_completions(out);
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

// The reactor never waits for the writer: while the writer is stuck on batch
// N (a child process holds LMDB's write lock, so the writer's transaction
// cannot begin), try_submit takes batch N + 1 at once, refuses the next one
// with ResourceExhausted (queue of 1), and nothing completes until the lock
// is released; then N and N + 1 complete in order.
TEST(GroupCommitTest, SubmitNeverWaitsForTheWriter) {
  TempDir dir;
  auto env = open_env(dir.sub("s"), /*queue_capacity=*/1);
  ASSERT_NE(env, nullptr);
  // `release` is a socket pair: telling a child that already gave up is an
  // EPIPE (MSG_NOSIGNAL), not a SIGPIPE that would kill the test.
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, release), 0);
  constexpr int kChildHoldMs = 30'000;  // Unless released earlier.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // LMDB forbids opening one env twice in a process; another process may.
    ::close(ready[0]);
    ::close(release[1]);
    MDB_env* other = nullptr;
    MDB_txn* txn = nullptr;
    if (mdb_env_create(&other) != 0) ::_exit(2);
    mdb_env_set_maxdbs(other, 3);
    if (mdb_env_open(other, dir.sub("s").c_str(), 0, 0644) != 0) ::_exit(3);
    if (mdb_txn_begin(other, nullptr, 0, &txn) != 0) ::_exit(4);
    char c = 1;
    if (::write(ready[1], &c, 1) != 1) ::_exit(5);
    pollfd p{release[0], POLLIN, 0};
    ::poll(&p, 1, kChildHoldMs);
    mdb_txn_abort(txn);
    mdb_env_close(other);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "child could not take LMDB's write lock";
  ::close(ready[0]);

  const auto start = std::chrono::steady_clock::now();
  auto batch = [](Index first) {
    WriteBatch b;
    b.append(1, make_entries(1, first, 10, 1));
    b.set_hard_state(1, HardState{1, 1, first + 9});
    return b;
  };
  WriteBatch first = batch(1), second = batch(11), third = batch(21);
  auto id1 = env->try_submit(first);
  ASSERT_TRUE(id1.ok()) << id1.status();
  // Once the writer took batch 1 off the queue, batch 2 fits.
  absl::StatusOr<uint64_t> id2 = absl::UnknownError("not submitted");
  const auto deadline = start + std::chrono::seconds(10);
  while (!id2.ok() && std::chrono::steady_clock::now() < deadline) {
    id2 = env->try_submit(second);
    if (!id2.ok()) {
      ASSERT_EQ(id2.status().code(), absl::StatusCode::kResourceExhausted) << id2.status();
      std::this_thread::yield();
    }
  }
  ASSERT_TRUE(id2.ok()) << "the writer never took batch 1: " << id2.status();
  auto id3 = env->try_submit(third);
  EXPECT_EQ(id3.status().code(), absl::StatusCode::kResourceExhausted) << id3.status();
  EXPECT_FALSE(third.empty());
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(waited, std::chrono::seconds(15)) << "try_submit waited for the writer";
  EXPECT_EQ(env->batches_in_flight(), 2u);
  pollfd p{env->completion_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "a completion came back while batch 1 could not commit";
  std::vector<Completion> none;
  EXPECT_EQ(env->drain_completions(none), 0u);
  EXPECT_EQ(env->last_index(1), 0u);

  // Fails only if the child gave up holding the lock: reported above.
  (void)::send(release[1], &c, 1, MSG_NOSIGNAL);
  ::close(release[1]);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "child status " << wstatus;
  auto done = wait_completions(*env, 2);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].batch, *id1);
  EXPECT_EQ(done[1].batch, *id2);
  for (const auto& d : done) ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(done[0].last_index, 10u);
  EXPECT_EQ(done[1].last_index, 20u);
  ASSERT_TRUE(env->try_submit(third).ok());
  done = wait_completions(*env, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].status.ok()) << done[0].status;
  EXPECT_EQ(done[0].last_index, 30u);
  EXPECT_EQ(env->stats().commits, 3u);
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
