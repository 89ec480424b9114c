// CommitQueue: the group-commit queue of one env and its writer thread. It
// owns the waiting batches, the batch ids, the rule for what goes into one
// transaction, the failure rule, the completions and the completion eventfd.
// It commits nothing itself: it calls Hooks::commit with every batch it takes
// (LogEnv runs them in one LMDB transaction) and, when the queue is empty and
// idle work is pending, Hooks::idle (LogEnv deletes compacted records).
//
// Rules (the contract of LogEnv::try_submit):
// - The writer takes every waiting batch into its next commit, in
//   submission order. Each batch gets one Completion per group, all with the
//   commit's outcome.
// - After a failed commit, every batch is failed untried (Aborted) until the
//   submitter drained the failure, and then so are those it submitted before
//   that drain: each was built on the failed ones.
// - stop() commits what is still queued, then joins the writer.
//
// Threading: try_submit and drain_completions are for one submitting thread
// and never wait for a commit. set_idle_work may be called from any thread
// (LogEnv calls it after every commit, from the writer or a synchronous
// write). The hooks run on the writer thread with no lock of the queue held.
// queue_mu_ guards the queue, the ids, the failure state and the idle flag;
// done_mu_ the completions.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"
#include "storage/write_batch.h"

namespace raft::storage {

// Per batch of a commit, per group of the batch (in its order): the group's
// log end right after that batch.
using BatchEnds = std::vector<std::vector<std::pair<Index, Term>>>;

class CommitQueue {
 public:
  struct Hooks {
    // Makes `batches` durable in one transaction, applied in order; on
    // success fills `ends` (given with one slot per batch).
    std::function<absl::Status(const std::vector<const WriteBatch*>& batches, BatchEnds& ends)>
        commit;
    // One transaction of idle work. A failure turns idle work off until the
    // next set_idle_work(true) made after the failed run began.
    std::function<absl::Status()> idle;
  };

  // `name` (the shard dir) goes into error messages; `capacity` bounds the
  // batches waiting besides those being committed.
  // `linger`: the writer starts a commit no sooner than this after the
  // previous one began (the batches arriving meanwhile join it).
  CommitQueue(std::string name, size_t capacity,
              std::chrono::microseconds linger = std::chrono::microseconds(0));
  ~CommitQueue();  // stop()
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  // Creates the completion eventfd and starts the writer thread.
  absl::Status start(Hooks hooks);
  // Commits the batches still queued and joins the writer (if started).
  void stop();

  // Queues `batch` and returns its id, leaving `batch` empty; or
  // ResourceExhausted, `batch` untouched, when `capacity` batches wait.
  absl::StatusOr<uint64_t> try_submit(WriteBatch& batch);
  int completion_fd() const { return event_fd_; }  // -1 before start().
  // Appends the waiting completions to `out` in batch order, clears the
  // eventfd and returns how many it appended.
  size_t drain_completions(std::vector<Completion>& out);
  size_t in_flight() const;  // Submitted, not yet completed.
  size_t queued() const;     // Of those, not yet taken by the writer.

  // Whether the idle hook has work; wakes the writer when it has.
  void set_idle_work(bool pending);

 private:
  struct Pending {
    uint64_t id = 0;
    WriteBatch batch;
  };
  enum class Turn { kStop, kIdle, kCommit };

  void run();  // The writer thread.
  // Waits for work. On kCommit, `taken` holds every waiting batch, of which
  // the first `untried` are to fail without a try.
  Turn take(std::vector<Pending>& taken, size_t& untried);
  void run_idle(uint64_t idle_calls);
  // Commits the tried batches of `taken` and appends the completions of all.
  void commit(std::vector<Pending>& taken, size_t untried, std::vector<Completion>& out);
  // Hands `completions` to the submitter and signals the eventfd.
  void publish(std::vector<Completion>& completions);

  const std::string name_;
  const size_t capacity_;
  const std::chrono::microseconds linger_;
  Hooks hooks_;
  std::chrono::steady_clock::time_point last_commit_{};  // Writer thread only.

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  size_t committing_ = 0;  // Batches taken by the writer, not yet completed.
  bool stopping_ = false;
  bool idle_pending_ = false;
  // set_idle_work(true) calls so far: a failed run turns idle work off only
  // when none came while it ran.
  uint64_t idle_calls_ = 0;
  uint64_t idle_calls_taken_ = 0;  // idle_calls_ when the writer took an idle turn

  uint64_t next_batch_id_ = 1;
  // After a failed commit: every batch is failed untried until the submitter
  // drained the failure (poisoned_), and then those submitted before that
  // drain (ids up to fail_through_).
  bool poisoned_ = false;
  uint64_t fail_through_ = 0;

  std::mutex done_mu_;
  std::vector<Completion> done_;
  int event_fd_ = -1;

  // The writer's scratch space, reused from commit to commit.
  std::vector<const WriteBatch*> batches_;
  BatchEnds ends_;

  std::thread writer_;
};

}  // namespace raft::storage
