// Reactor: one event loop over one io_uring, driven by one thread.
//
// Every IO operation is an `Operation` embedded in the object that issued it
// (a connection, a listener, a poller); the SQE's user_data is its address, so
// the steady state allocates nothing per operation. Completions are delivered
// only from the loop (`run`, `run_once`), never from inside a call that
// prepares or submits work, so a callback can always issue new operations.
//
// A loop turn:
//   1. run due timers (in deadline order, ties in arming order);
//   2. run deferred tasks (`defer`), including work posted from other threads;
//   3. submit the SQEs prepared so far and wait for completions, no longer than
//      the next timer deadline (not at all when tasks are pending);
//   4. deliver every available completion to its Operation.
// Sends queued during a turn are flushed by one deferred task per connection,
// which is how writes are coalesced per loop turn.
//
// Threading: everything but `post`, `wake` and `stop` must be called on the
// loop thread (the thread running `run`, or any thread when the loop is not
// running). `post` is safe from any thread and wakes the loop through an
// eventfd read by the ring.
//
// Lifetime: an object that owns an Operation must not be destroyed while the
// operation is in flight. FrameConnection and Listener manage this themselves
// (they cancel, then free once drained). Timers may be destroyed at any time
// on the loop thread. `run` returns after `stop`, once every in-flight
// operation was cancelled and its completion delivered (callbacks see
// -ECANCELED); tasks posted after that are destroyed without running.
#pragma once

#include <liburing.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "net/stats.h"

namespace raft::net {

class Reactor;

// One io_uring operation. `Callback` receives the CQE result (bytes, a file
// descriptor, or -errno) and flags. For a multishot operation the callback
// runs once per CQE; `in_flight()` stays true while IORING_CQE_F_MORE is set.
class Operation {
 public:
  using Callback = void (*)(Operation* op, int32_t result, uint32_t cqe_flags);
  explicit Operation(Callback callback) : callback_(callback) {}
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  bool in_flight() const { return in_flight_; }

 private:
  friend class Reactor;
  Callback callback_;
  bool in_flight_ = false;
};

// An Operation that remembers its owner and calls `(owner->*Method)(res, flags)`.
template <typename Owner, void (Owner::*Method)(int32_t, uint32_t)>
class MemberOperation : public Operation {
 public:
  explicit MemberOperation(Owner* owner) : Operation(&MemberOperation::dispatch), owner_(owner) {}

 private:
  static void dispatch(Operation* op, int32_t result, uint32_t flags) {
    auto* self = static_cast<MemberOperation*>(op);
    (self->owner_->*Method)(result, flags);
  }
  Owner* owner_;
};

using Task = absl::AnyInvocable<void()>;
using Clock = std::chrono::steady_clock;

// A one-shot or periodic timer on one reactor. Arming an armed timer moves
// its deadline. Timers live in the reactor's heap (no syscall, no SQE each);
// the loop sleeps in io_uring until the earliest deadline.
class Timer {
 public:
  Timer(Reactor& reactor, absl::AnyInvocable<void()> callback);
  ~Timer();  // Cancels.
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Fires once at `deadline` (or on the next turn if it already passed).
  void arm_at(Clock::time_point deadline);
  void arm_after(Clock::duration delay);
  // Fires every `period`, first after one period; deadlines do not drift.
  void arm_periodic(Clock::duration period);
  // Idempotent; a cancelled timer never fires, even when already due.
  void cancel();
  bool armed() const { return heap_index_ != kNotArmed; }
  Clock::time_point deadline() const { return deadline_; }

 private:
  friend class Reactor;
  static constexpr size_t kNotArmed = ~size_t{0};
  Reactor& reactor_;
  absl::AnyInvocable<void()> callback_;
  Clock::time_point deadline_{};
  Clock::duration period_{0};
  uint64_t sequence_ = 0;  // Tie-breaker: equal deadlines fire in arming order.
  size_t heap_index_ = kNotArmed;
};

// Calls `on_readable` on the loop whenever `fd` is readable (level-triggered:
// a one-shot poll re-armed after each callback). The storage writer's
// completion eventfd is watched this way. The fd stays owned by the caller
// and must stay open until `stop()` returns or the poller is destroyed.
class FdPoller {
 public:
  FdPoller(Reactor& reactor, int fd, absl::AnyInvocable<void()> on_readable);
  ~FdPoller();  // Stops; see Reactor lifetime note (must not be in flight).
  FdPoller(const FdPoller&) = delete;
  FdPoller& operator=(const FdPoller&) = delete;

  void start();
  // Cancels the poll. The callback is not called after this returns, but the
  // cancelled poll stays in flight until the loop reaps it: keep the poller
  // alive until `active()` is false (or until the reactor stopped).
  void stop();
  bool active() const { return op_.in_flight(); }

 private:
  void on_poll(int32_t result, uint32_t flags);
  Reactor& reactor_;
  int fd_;
  absl::AnyInvocable<void()> on_readable_;
  bool wanted_ = false;
  MemberOperation<FdPoller, &FdPoller::on_poll> op_{this};
};

struct ReactorOptions {
  uint32_t ring_entries = 1024;  // SQ size; the CQ gets 4x.
  // IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN: faster, but the reactor must
  // then be created on the thread that runs it (Shard does this).
  bool single_issuer = false;
};

// What the kernel offered when the ring was created.
struct ReactorFeatures {
  bool multishot_accept = true;  // Cleared at the first -EINVAL (Listener).
  bool single_issuer = false;
  bool ext_arg = false;
};

class Reactor {
 public:
  explicit Reactor(ReactorOptions options = {});
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Runs turns until `stop()`, then cancels and drains in-flight operations.
  void run();
  // One turn; waits for IO only if `may_block` and nothing else is pending.
  // For tests and for embedding the loop in another driver.
  void run_once(bool may_block = true);
  // Thread-safe. `run` returns soon after.
  void stop();
  bool stop_requested() const { return stop_requested_.load(std::memory_order_acquire); }

  // Thread-safe: runs `task` on the loop thread in a later turn.
  void post(Task task);
  // Thread-safe: makes a blocked loop return to run its tasks and hooks.
  void wake();
  // Loop thread: runs `task` in this turn, after the current callbacks.
  void defer(Task task);
  // Loop thread: `hook` runs once per turn, before the loop waits (used by
  // ShardSet to drain its bounded inbound queues after a wake).
  void set_turn_hook(absl::AnyInvocable<void()> hook) { turn_hook_ = std::move(hook); }

  // Loop thread: an SQE whose completion goes to `op`. Never runs callbacks;
  // when the SQ is full it submits what it holds first.
  io_uring_sqe* prepare(Operation& op);
  // Loop thread: hands the SQEs prepared so far to the kernel now instead of
  // at the end of the turn. Runs no callback.
  void submit();
  // Loop thread: asks the kernel to cancel `op` (if in flight); its callback
  // then runs with -ECANCELED (or its real result if it had completed).
  void cancel(Operation& op);

  // Time as of the start of the current turn (steady, CLOCK_MONOTONIC).
  Clock::time_point now() const { return now_; }
  bool on_loop_thread() const;
  const ReactorFeatures& features() const { return features_; }
  ReactorFeatures& mutable_features() { return features_; }
  size_t in_flight() const { return in_flight_; }
  // Counters for every connection on this reactor (bad frames, drops, ...).
  NetStats& stats() { return stats_; }

 private:
  friend class Timer;
  void timer_insert(Timer* t);
  void timer_remove(Timer* t);
  void heap_swap(size_t a, size_t b);
  void heap_up(size_t i);
  void heap_down(size_t i);
  bool timer_less(size_t a, size_t b) const;

  void fire_due_timers();
  void run_deferred();
  void drain_posted();
  void submit_and_wait(bool may_block);
  void reap();
  void arm_wakeup();
  void on_wakeup(int32_t result, uint32_t flags);
  void shutdown_drain();

  io_uring ring_{};
  ReactorFeatures features_;
  Clock::time_point now_;
  size_t in_flight_ = 0;
  size_t unsubmitted_ = 0;

  std::vector<Timer*> timer_heap_;
  uint64_t timer_sequence_ = 0;

  std::vector<Task> deferred_;
  std::vector<Task> running_;
  absl::AnyInvocable<void()> turn_hook_;

  std::mutex posted_mu_;
  std::vector<Task> posted_;  // Guarded by posted_mu_.
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stop_requested_{false};
  int wake_fd_ = -1;
  uint64_t wake_buffer_ = 0;
  MemberOperation<Reactor, &Reactor::on_wakeup> wake_op_{this};
  bool draining_ = false;

  std::atomic<std::thread::id> loop_thread_{};
  NetStats stats_;
};

}  // namespace raft::net
