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
#include <tuple>

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
    // A queue of 2, and the (at most 2) batches the writer took from it.
    EXPECT_LE(env->batches_in_flight(), 4u);
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
  // Batches that waited together share a transaction.
  EXPECT_LE(env->stats().commits, static_cast<uint64_t>(kBatches));
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

// Holds LMDB's write lock of the env in `dir` from a child process (LMDB
// forbids opening one env twice in a process; another process may), so that
// the writer thread's next transaction cannot begin until release().
class WriteLockHolder {
 public:
  explicit WriteLockHolder(const std::string& dir) {
    // `release` is a socket pair: telling a child that already gave up is an
    // EPIPE (MSG_NOSIGNAL), not a SIGPIPE that would kill the test.
    int ready[2], release[2];
    if (::pipe(ready) != 0 || ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, release) != 0) {
      return;
    }
    constexpr int kChildHoldMs = 30'000;  // Unless released earlier.
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      MDB_env* other = nullptr;
      MDB_txn* txn = nullptr;
      if (mdb_env_create(&other) != 0) ::_exit(2);
      mdb_env_set_maxdbs(other, 3);
      if (mdb_env_open(other, dir.c_str(), 0, 0644) != 0) ::_exit(3);
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
    release_fd_ = release[1];
    char c = 0;
    holding_ = pid_ > 0 && ::read(ready[0], &c, 1) == 1;
    ::close(ready[0]);
  }
  ~WriteLockHolder() { release(); }
  // Whether the child took the lock.
  bool holding() const { return holding_; }
  // Lets the child go and returns whether it held the lock until now.
  bool release() {
    if (pid_ <= 0) return false;
    char c = 0;
    (void)::send(release_fd_, &c, 1, MSG_NOSIGNAL);
    ::close(release_fd_);
    int wstatus = 0;
    bool ok =
        ::waitpid(pid_, &wstatus, 0) == pid_ && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    pid_ = -1;
    return ok;
  }

 private:
  pid_t pid_ = -1;
  int release_fd_ = -1;
  bool holding_ = false;
};

// Submits `b` and waits (10 s deadline) until the writer took it off the
// queue. With a WriteLockHolder the writer is then stuck on `b`, and what is
// submitted next waits in the queue.
uint64_t submit_and_wait_taken(LogEnv& env, WriteBatch b) {
  auto id = env.try_submit(b);
  EXPECT_TRUE(id.ok()) << id.status();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (env.queued_batches() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(env.queued_batches(), 0u) << "the writer never took the batch";
  return id.ok() ? *id : 0;
}

WriteBatch entries_batch(GroupId group, Index first, size_t n) {
  WriteBatch b;
  b.append(group, make_entries(group, first, n, 1));
  return b;
}

// Batches that wait while the writer commits go into its next transaction
// together, in order, and each still gets its own completion with the log
// end right after it.
TEST(GroupCommitTest, WaitingBatchesShareOneTransaction) {
  TempDir dir;
  auto env = open_env(dir.sub("s"), /*queue_capacity=*/4);
  ASSERT_NE(env, nullptr);
  WriteLockHolder lock(dir.sub("s"));
  ASSERT_TRUE(lock.holding()) << "child could not take LMDB's write lock";
  std::vector<uint64_t> ids;
  ids.push_back(submit_and_wait_taken(*env, entries_batch(1, 1, 10)));
  for (Index first : {11, 21, 31}) {
    WriteBatch b = entries_batch(1, first, 10);
    if (first == 21) b.append(2, make_entries(2, 1, 5, 1));
    auto id = env->try_submit(b);
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  EXPECT_EQ(env->queued_batches(), 3u);
  EXPECT_TRUE(lock.release()) << "the child gave up holding the lock";
  auto done = wait_completions(*env, 5);
  ASSERT_EQ(done.size(), 5u);
  const std::vector<std::tuple<uint64_t, GroupId, Index>> want = {
      {ids[0], 1, 10}, {ids[1], 1, 20}, {ids[2], 1, 30}, {ids[2], 2, 5}, {ids[3], 1, 40}};
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_TRUE(done[i].status.ok()) << done[i].status;
    EXPECT_EQ(std::tuple(done[i].batch, done[i].group, done[i].last_index), want[i]) << i;
  }
  // Batch 1 alone (the writer had it when the others came), then 2 to 4.
  EXPECT_EQ(env->stats().commits, 2u);
  EXPECT_EQ(env->last_index(1), 40u);
  EXPECT_TRUE(env->verify_group(1).ok());
}

// After a failed batch, a batch submitted before the submitter drained that
// failure was built on it and must not become durable alone: it fails
// untried (Aborted), whether it waited behind the failure or came after it.
// The first batch submitted after the drain is tried again.
TEST(GroupCommitTest, BatchesSubmittedBeforeAFailureIsSeenFailUntried) {
  TempDir dir;
  auto env = open_env(dir.sub("s"), /*queue_capacity=*/4);
  ASSERT_NE(env, nullptr);
  ASSERT_TRUE(env->append(1, make_entries(1, 1, 5, 1)).ok());
  WriteLockHolder lock(dir.sub("s"));
  ASSERT_TRUE(lock.holding()) << "child could not take LMDB's write lock";
  const uint64_t bad = submit_and_wait_taken(*env, entries_batch(3, 7, 1));  // Gap in group 3.
  WriteBatch behind = entries_batch(1, 6, 5);
  auto behind_id = env->try_submit(behind);
  ASSERT_TRUE(behind_id.ok()) << behind_id.status();
  EXPECT_TRUE(lock.release()) << "the child gave up holding the lock";
  auto done = wait_completions(*env, 2);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].batch, bad);
  EXPECT_EQ(done[0].status.code(), absl::StatusCode::kInvalidArgument) << done[0].status;
  EXPECT_EQ(done[1].batch, *behind_id);
  EXPECT_EQ(done[1].status.code(), absl::StatusCode::kAborted) << done[1].status;
  EXPECT_EQ(env->last_index(1), 5u);
  EXPECT_EQ(env->stats().failed_commits, 1u);  // The second one was never tried.

  // A failure not drained yet: what comes in meanwhile fails too.
  WriteBatch bad_again = entries_batch(3, 7, 1);
  ASSERT_TRUE(env->try_submit(bad_again).ok());
  pollfd p{env->completion_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1);
  WriteBatch meanwhile = entries_batch(1, 6, 5);
  auto meanwhile_id = env->try_submit(meanwhile);
  ASSERT_TRUE(meanwhile_id.ok());
  done = wait_completions(*env, 2);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].status.code(), absl::StatusCode::kInvalidArgument) << done[0].status;
  EXPECT_EQ(done[1].batch, *meanwhile_id);
  EXPECT_EQ(done[1].status.code(), absl::StatusCode::kAborted) << done[1].status;
  EXPECT_EQ(env->last_index(1), 5u);

  // Both failures are drained: the retry is tried and works.
  WriteBatch retry = entries_batch(1, 6, 5);
  ASSERT_TRUE(env->try_submit(retry).ok());
  done = wait_completions(*env, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].status.ok()) << done[0].status;
  EXPECT_EQ(done[0].last_index, 10u);
  EXPECT_EQ(env->last_index(1), 10u);
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
  WriteLockHolder lock(dir.sub("s"));
  ASSERT_TRUE(lock.holding()) << "child could not take LMDB's write lock";

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

  EXPECT_TRUE(lock.release()) << "the child gave up holding the lock";
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
