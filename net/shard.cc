#include "net/shard.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "common/check.h"
#include "net/log.h"

namespace raft::net {

namespace {
thread_local Shard* current_shard = nullptr;
}

Shard* ShardSet::current() { return current_shard; }

ShardSet::ShardSet(ShardOptions options) : options_(options) {
  RAFT_CHECK_MSG(options_.shard_count >= 1, "at least one shard");
  for (uint32_t i = 0; i < options_.shard_count; ++i) {
    shards_.push_back(std::unique_ptr<Shard>(new Shard(i, options_.inbox_capacity)));
  }
}

ShardSet::~ShardSet() { stop(); }

void ShardSet::start(absl::AnyInvocable<void(Shard&)> init) {
  RAFT_CHECK_MSG(!started_, "ShardSet started twice");
  started_ = true;
  std::latch ready(static_cast<std::ptrdiff_t>(shards_.size()));
  for (auto& s : shards_) {
    Shard* shard = s.get();
    s->thread_ = std::thread([this, shard, &init, &ready] { thread_main(*shard, init, ready); });
  }
  ready.wait();
}

void ShardSet::thread_main(Shard& s, absl::AnyInvocable<void(Shard&)>& init, std::latch& ready) {
  if (options_.pin_to_cores) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((options_.first_core + s.id_) % static_cast<uint32_t>(cpus > 0 ? cpus : 1), &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
      net_logger()->warn("shard {}: could not pin to a core; running unpinned", s.id_);
    }
  }
  ReactorOptions reactor_options = options_.reactor;
  reactor_options.single_issuer = true;
  s.reactor_ = std::make_unique<Reactor>(reactor_options);
  current_shard = &s;
  Reactor& reactor = *s.reactor_;
  size_t per_turn = options_.tasks_per_turn;
  reactor.set_turn_hook([&s, &reactor, per_turn] {
    for (size_t i = 0; i < per_turn; ++i) {
      std::optional<Task> task = s.inbox_.try_pop();
      if (!task) return;
      (*task)();
    }
    reactor.wake();  // More waiting: do not block in the next wait.
  });
  s.live_reactor_.store(&reactor, std::memory_order_release);
  if (init) init(s);
  ready.count_down();
  reactor.run();
  if (fini_) fini_(s);
  {
    std::lock_guard<std::mutex> lock(s.wake_mu_);
    s.live_reactor_.store(nullptr, std::memory_order_release);
  }
  while (s.inbox_.try_pop()) {
  }
  s.reactor_.reset();
  current_shard = nullptr;
}

bool ShardSet::send(uint32_t to, Task task) {
  RAFT_CHECK_MSG(to < shards_.size(), "no such shard");
  Shard& s = *shards_[to];
  if (!s.inbox_.try_push(task)) {
    s.rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  std::lock_guard<std::mutex> lock(s.wake_mu_);
  if (Reactor* r = s.live_reactor_.load(std::memory_order_acquire)) r->wake();
  return true;
}

void ShardSet::stop(absl::AnyInvocable<void(Shard&)> fini) {
  if (!started_) return;
  started_ = false;
  fini_ = std::move(fini);
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s->wake_mu_);
    if (Reactor* r = s->live_reactor_.load(std::memory_order_acquire)) r->stop();
  }
  for (auto& s : shards_) {
    if (s->thread_.joinable()) s->thread_.join();
  }
}

}  // namespace raft::net
