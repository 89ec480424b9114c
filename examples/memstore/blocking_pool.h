// BlockingPool: a few helper threads for work that must not run on a reactor
// thread: blocking calls into the Node (members()) and forwarding requests to
// the leader through a Client. The queue is bounded; a full queue refuses
// the task (the caller answers 503) instead of growing.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace raft::memstore {

class BlockingPool {
 public:
  using Task = absl::AnyInvocable<void()>;

  BlockingPool(size_t threads, size_t capacity) : capacity_(capacity) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~BlockingPool() { stop(); }
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // False when the queue is full or the pool stopped (then `task` is
  // destroyed without running).
  bool submit(Task task) {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= capacity_) return false;
    queue_.push_back(std::move(task));
    cv_.notify_one();
    return true;
  }

  // Lets running tasks finish, drops queued ones, joins the threads.
  void stop() {
    std::deque<Task> dropped;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      dropped.swap(queue_);
      cv_.notify_all();
    }
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void loop() {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;  // Guarded by mu_.
  bool stopping_ = false;   // Guarded by mu_.
  std::vector<std::thread> threads_;
};

}  // namespace raft::memstore
