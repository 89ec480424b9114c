#include "net/resolver.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace raft::net {

struct AsyncResolver::Shared {
  struct Job {
    uint64_t token = 0;
    HostPort hp;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;            // Guarded by mu.
  Reactor* reactor = nullptr;      // Guarded by mu; null once the resolver is gone.
  bool worker_started = false;     // Guarded by mu.
  AsyncResolver* owner = nullptr;  // Loop thread only.
};

AsyncResolver::AsyncResolver(Reactor& reactor)
    : reactor_(reactor), shared_(std::make_shared<Shared>()) {
  shared_->reactor = &reactor_;
  shared_->owner = this;
}

AsyncResolver::~AsyncResolver() {
  shared_->owner = nullptr;
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->reactor = nullptr;
  shared_->jobs.clear();
  shared_->cv.notify_all();
}

void AsyncResolver::resolve(HostPort hp, Done done) {
  const uint64_t token = next_token_++;
  waiting_[token] = std::move(done);
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->jobs.push_back(Shared::Job{token, std::move(hp)});
  if (!shared_->worker_started) {
    shared_->worker_started = true;
    // Detached: it holds the shared state only, so the resolver (and the
    // transport owning it) may go away during a slow lookup.
    std::thread([shared = shared_] {
      std::unique_lock<std::mutex> lk(shared->mu);
      for (;;) {
        shared->cv.wait(lk, [&] { return shared->reactor == nullptr || !shared->jobs.empty(); });
        if (shared->reactor == nullptr) return;
        Shared::Job job = std::move(shared->jobs.front());
        shared->jobs.pop_front();
        lk.unlock();
        auto result = resolve_blocking(job.hp);
        lk.lock();
        if (shared->reactor == nullptr) return;
        // Posted under the lock: the resolver cannot be destroyed (and the
        // reactor with it) in between.
        shared->reactor->post([weak = std::weak_ptr<Shared>(shared), token = job.token,
                               result = std::move(result)]() mutable {
          auto s = weak.lock();
          if (s && s->owner != nullptr) s->owner->deliver(token, std::move(result));
        });
      }
    }).detach();
  } else {
    shared_->cv.notify_one();
  }
}

void AsyncResolver::deliver(uint64_t token, absl::StatusOr<std::vector<SocketAddress>> result) {
  auto it = waiting_.find(token);
  if (it == waiting_.end()) return;
  Done done = std::move(it->second);
  waiting_.erase(it);
  done(std::move(result));
}

}  // namespace raft::net
