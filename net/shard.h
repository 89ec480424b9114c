// Shards: N reactor threads, one per core, sharing nothing. Each Shard owns a
// Reactor created on its own thread (so the ring can be single-issuer) and a
// bounded inbox; the only way to reach another shard is `ShardSet::send`,
// which fails rather than grows when the target's inbox is full.
//
// Typical use (engine/node):
//   ShardSet shards({.shard_count = 2});
//   shards.start([&](Shard& s) { /* on s's thread: listener, transport... */ });
//   shards.send(1, [] { /* runs on shard 1 */ });
//   ...
//   shards.stop();  // stops every loop (in-flight IO drained) and joins.
#pragma once

#include <cstdint>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "net/mpsc_queue.h"
#include "net/reactor.h"

namespace raft::net {

struct ShardOptions {
  uint32_t shard_count = 1;
  bool pin_to_cores = true;  // Shard i on core (first_core + i) % ncpu.
  uint32_t first_core = 0;
  size_t inbox_capacity = 4096;  // Tasks per shard inbox.
  size_t tasks_per_turn = 1024;  // Inbox tasks run per loop turn (fairness with IO).
  ReactorOptions reactor;        // single_issuer is set: rings are made on their thread.
};

class Shard {
 public:
  uint32_t id() const { return id_; }
  // Valid from the init callback until stop() returns.
  Reactor& reactor() { return *reactor_; }
  NetStats& stats() { return reactor_->stats(); }
  // Tasks that could not be delivered to this shard (its inbox was full).
  uint64_t rejected_tasks() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  friend class ShardSet;
  explicit Shard(uint32_t id, size_t inbox_capacity) : id_(id), inbox_(inbox_capacity) {}
  uint32_t id_;
  std::unique_ptr<Reactor> reactor_;
  BoundedMpscQueue<Task> inbox_;
  std::atomic<uint64_t> rejected_{0};
  std::thread thread_;
  std::atomic<Reactor*> live_reactor_{nullptr};
  // Held by other threads while they wake or stop the live reactor, and by
  // the shard thread while it retires it: the reactor (and its wake fd) is
  // never destroyed under a wake in progress (ThreadSanitizer found the
  // shard closing the eventfd while ShardSet::stop wrote to it).
  std::mutex wake_mu_;
};

class ShardSet {
 public:
  explicit ShardSet(ShardOptions options = {});
  ~ShardSet();  // stop()
  ShardSet(const ShardSet&) = delete;
  ShardSet& operator=(const ShardSet&) = delete;

  // Starts the threads; `init` runs first on each shard's thread, with its
  // reactor ready, before the loop (concurrently on all shards: it must be
  // thread-safe). Returns once every init has returned. `send` is valid from
  // then until stop().
  void start(absl::AnyInvocable<void(Shard&)> init);
  // Any thread: runs `task` on shard `to`. False (task dropped, counted) when
  // the inbox is full; the caller applies backpressure.
  bool send(uint32_t to, Task task);
  // Stops every loop and joins. `fini` runs on each shard's thread after its
  // loop drained, before its reactor is destroyed (free loop-bound objects).
  void stop(absl::AnyInvocable<void(Shard&)> fini = nullptr);

  uint32_t size() const { return static_cast<uint32_t>(shards_.size()); }
  Shard& shard(uint32_t i) { return *shards_[i]; }
  // The shard running the calling thread, or nullptr.
  static Shard* current();

 private:
  void thread_main(Shard& s, absl::AnyInvocable<void(Shard&)>& init, std::latch& ready);
  ShardOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  absl::AnyInvocable<void(Shard&)> fini_;
  bool started_ = false;
};

}  // namespace raft::net
