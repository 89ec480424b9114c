#include "net/reactor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/check.h"

namespace raft::net {

// --- Timer -------------------------------------------------------------------

Timer::Timer(Reactor& reactor, absl::AnyInvocable<void()> callback)
    : reactor_(reactor), callback_(std::move(callback)) {}

Timer::~Timer() { cancel(); }

void Timer::arm_at(Clock::time_point deadline) {
  if (armed()) reactor_.timer_remove(this);
  period_ = Clock::duration{0};
  deadline_ = deadline;
  reactor_.timer_insert(this);
}

void Timer::arm_after(Clock::duration delay) { arm_at(Clock::now() + delay); }

void Timer::arm_periodic(Clock::duration period) {
  RAFT_CHECK_MSG(period > Clock::duration{0}, "a periodic timer needs a positive period");
  arm_at(Clock::now() + period);
  period_ = period;
}

void Timer::cancel() {
  if (armed()) reactor_.timer_remove(this);
  period_ = Clock::duration{0};
}

// --- FdPoller ----------------------------------------------------------------

FdPoller::FdPoller(Reactor& reactor, int fd, absl::AnyInvocable<void()> on_readable)
    : reactor_(reactor), fd_(fd), on_readable_(std::move(on_readable)) {}

FdPoller::~FdPoller() {
  RAFT_CHECK_MSG(!op_.in_flight(), "FdPoller destroyed with its poll in flight: stop() and drain");
}

void FdPoller::start() {
  wanted_ = true;
  if (op_.in_flight()) return;
  io_uring_prep_poll_add(reactor_.prepare(op_), fd_, POLLIN);
}

void FdPoller::stop() {
  wanted_ = false;
  if (op_.in_flight()) reactor_.cancel(op_);
}

void FdPoller::on_poll(int32_t result, uint32_t /*flags*/) {
  if (!wanted_ || result == -ECANCELED) return;
  // An error (POLLERR, a closed fd) is reported as readable: the owner's read
  // sees the error itself.
  on_readable_();
  if (wanted_ && !op_.in_flight() && !reactor_.stop_requested()) {
    io_uring_prep_poll_add(reactor_.prepare(op_), fd_, POLLIN);
  }
}

// --- Reactor -----------------------------------------------------------------

Reactor::Reactor(ReactorOptions options) : now_(Clock::now()) {
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = options.ring_entries * 4;
  int rc = -EINVAL;
  if (options.single_issuer) {
    io_uring_params p = params;
    p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    rc = io_uring_queue_init_params(options.ring_entries, &ring_, &p);
    if (rc == 0) {
      features_.single_issuer = true;
      params = p;
    }
  }
  if (rc != 0) {
    io_uring_params p = params;
    p.flags |= IORING_SETUP_COOP_TASKRUN;
    rc = io_uring_queue_init_params(options.ring_entries, &ring_, &p);
    if (rc == 0) params = p;
  }
  if (rc != 0) rc = io_uring_queue_init_params(options.ring_entries, &ring_, &params);
  RAFT_CHECK_MSG(rc == 0, "io_uring_queue_init_params failed (kernel without io_uring?)");
  features_.ext_arg = (params.features & IORING_FEAT_EXT_ARG) != 0;

  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  RAFT_CHECK_MSG(wake_fd_ >= 0, "eventfd failed");
  arm_wakeup();
  timer_heap_.reserve(64);
  deferred_.reserve(64);
  running_.reserve(64);
}

Reactor::~Reactor() {
  if (in_flight_ > 0) shutdown_drain();
  // Timers that outlive the reactor must not reach back into it.
  for (Timer* t : timer_heap_) t->heap_index_ = Timer::kNotArmed;
  timer_heap_.clear();
  io_uring_queue_exit(&ring_);
  ::close(wake_fd_);
}

bool Reactor::on_loop_thread() const {
  std::thread::id id = loop_thread_.load(std::memory_order_acquire);
  return id == std::thread::id{} || id == std::this_thread::get_id();
}

void Reactor::run() {
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_release);
  while (!stop_requested()) run_once(true);
  shutdown_drain();
}

void Reactor::run_once(bool may_block) {
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_release);
  now_ = Clock::now();
  reap();
  fire_due_timers();
  drain_posted();
  if (turn_hook_) turn_hook_();
  run_deferred();
  bool block = may_block && deferred_.empty() && !stop_requested() &&
               !wake_pending_.load(std::memory_order_acquire);
  submit_and_wait(block);
}

void Reactor::stop() {
  stop_requested_.store(true, std::memory_order_release);
  wake();
}

void Reactor::post(Task task) {
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    posted_.push_back(std::move(task));
  }
  wake();
}

void Reactor::wake() {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  (void)n;  // EAGAIN only if the counter is saturated: the loop is awake anyway.
}

void Reactor::defer(Task task) { deferred_.push_back(std::move(task)); }

io_uring_sqe* Reactor::prepare(Operation& op) {
  RAFT_CHECK_MSG(!op.in_flight_, "operation already in flight");
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // The SQ is full: hand what we have to the kernel (no completions run).
    int rc = io_uring_submit(&ring_);
    RAFT_CHECK_MSG(rc >= 0, "io_uring_submit failed");
    unsubmitted_ = 0;
    sqe = io_uring_get_sqe(&ring_);
    RAFT_CHECK_MSG(sqe != nullptr, "no SQE after submit");
  }
  io_uring_sqe_set_data(sqe, &op);
  op.in_flight_ = true;
  ++in_flight_;
  ++unsubmitted_;
  return sqe;
}

void Reactor::submit() {
  if (unsubmitted_ == 0) return;
  int rc = io_uring_submit(&ring_);
  RAFT_CHECK_MSG(rc >= 0 || rc == -EAGAIN || rc == -EBUSY || rc == -EINTR,
                 "io_uring_submit failed");
  if (rc >= 0) unsubmitted_ = 0;
}

void Reactor::cancel(Operation& op) {
  if (!op.in_flight_) return;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    int rc = io_uring_submit(&ring_);
    RAFT_CHECK_MSG(rc >= 0, "io_uring_submit failed");
    sqe = io_uring_get_sqe(&ring_);
    RAFT_CHECK(sqe != nullptr);
  }
  io_uring_prep_cancel(sqe, &op, 0);
  io_uring_sqe_set_data(sqe, nullptr);  // The cancel's own CQE is ignored.
  ++unsubmitted_;
}

void Reactor::arm_wakeup() {
  io_uring_prep_read(prepare(wake_op_), wake_fd_, &wake_buffer_, sizeof(wake_buffer_), 0);
}

void Reactor::on_wakeup(int32_t result, uint32_t /*flags*/) {
  // Clear before draining so that a post racing with the drain writes again.
  wake_pending_.store(false, std::memory_order_release);
  if (result == -ECANCELED || draining_) return;
  arm_wakeup();
}

void Reactor::drain_posted() {
  std::vector<Task> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    if (posted_.empty()) return;
    batch.swap(posted_);
  }
  for (Task& t : batch) t();
}

void Reactor::run_deferred() {
  // Tasks deferred by these tasks run in the next turn (without blocking), so
  // a task that re-defers itself cannot starve IO.
  running_.swap(deferred_);
  for (Task& t : running_) t();
  running_.clear();
}

void Reactor::submit_and_wait(bool block) {
  int rc;
  if (!block) {
    rc = io_uring_submit_and_get_events(&ring_);
  } else if (timer_heap_.empty()) {
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
  } else {
    auto wait = timer_heap_.front()->deadline_ - Clock::now();
    if (wait <= Clock::duration{0}) {
      rc = io_uring_submit_and_get_events(&ring_);
    } else {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
      __kernel_timespec ts{};
      ts.tv_sec = ns / 1000000000;
      ts.tv_nsec = ns % 1000000000;
      io_uring_cqe* cqe = nullptr;
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
  }
  RAFT_CHECK_MSG(rc >= 0 || rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY,
                 "io_uring submit/wait failed");
  unsubmitted_ = 0;
}

void Reactor::reap() {
  constexpr unsigned kBatch = 256;
  io_uring_cqe* cqes[kBatch];
  for (;;) {
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kBatch);
    if (n == 0) return;
    // Copy out and release the CQ slots before running callbacks, so that a
    // callback may submit (and the kernel post) without CQ pressure.
    struct Done {
      Operation* op;
      int32_t res;
      uint32_t flags;
    } done[kBatch];
    for (unsigned i = 0; i < n; ++i) {
      done[i] = {static_cast<Operation*>(io_uring_cqe_get_data(cqes[i])), cqes[i]->res,
                 cqes[i]->flags};
    }
    io_uring_cq_advance(&ring_, n);
    for (unsigned i = 0; i < n; ++i) {
      Operation* op = done[i].op;
      if (op == nullptr) continue;  // A cancel request's own completion.
      if (!(done[i].flags & IORING_CQE_F_MORE)) {
        op->in_flight_ = false;
        --in_flight_;
      }
      op->callback_(op, done[i].res, done[i].flags);
    }
    if (n < kBatch) return;
  }
}

void Reactor::shutdown_drain() {
  draining_ = true;
  auto give_up = Clock::now() + std::chrono::seconds(10);
  while (in_flight_ > 0) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
      RAFT_CHECK(sqe != nullptr);
    }
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data(sqe, nullptr);
    __kernel_timespec ts{};
    ts.tv_nsec = 50 * 1000 * 1000;
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    now_ = Clock::now();
    reap();
    run_deferred();
    RAFT_CHECK_MSG(now_ < give_up, "reactor shutdown: operations did not drain in 10 s");
  }
  // Leftover deferred work (closing connections) may still need to run.
  for (int i = 0; i < 4 && !deferred_.empty(); ++i) run_deferred();
  std::lock_guard<std::mutex> lock(posted_mu_);
  posted_.clear();
}

// --- Timer heap --------------------------------------------------------------

bool Reactor::timer_less(size_t a, size_t b) const {
  const Timer* x = timer_heap_[a];
  const Timer* y = timer_heap_[b];
  if (x->deadline_ != y->deadline_) return x->deadline_ < y->deadline_;
  return x->sequence_ < y->sequence_;
}

void Reactor::heap_swap(size_t a, size_t b) {
  std::swap(timer_heap_[a], timer_heap_[b]);
  timer_heap_[a]->heap_index_ = a;
  timer_heap_[b]->heap_index_ = b;
}

void Reactor::heap_up(size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!timer_less(i, parent)) return;
    heap_swap(i, parent);
    i = parent;
  }
}

void Reactor::heap_down(size_t i) {
  for (;;) {
    size_t left = 2 * i + 1;
    size_t right = left + 1;
    size_t best = i;
    if (left < timer_heap_.size() && timer_less(left, best)) best = left;
    if (right < timer_heap_.size() && timer_less(right, best)) best = right;
    if (best == i) return;
    heap_swap(i, best);
    i = best;
  }
}

void Reactor::timer_insert(Timer* t) {
  t->sequence_ = ++timer_sequence_;
  t->heap_index_ = timer_heap_.size();
  timer_heap_.push_back(t);
  heap_up(t->heap_index_);
}

void Reactor::timer_remove(Timer* t) {
  size_t i = t->heap_index_;
  RAFT_CHECK(i < timer_heap_.size() && timer_heap_[i] == t);
  size_t last = timer_heap_.size() - 1;
  if (i != last) heap_swap(i, last);
  timer_heap_.pop_back();
  t->heap_index_ = Timer::kNotArmed;
  if (i < timer_heap_.size()) {
    heap_up(i);
    heap_down(i);
  }
}

void Reactor::fire_due_timers() {
  // Only timers armed before this point may fire in this turn: a callback that
  // re-arms "now" waits for the next turn instead of looping here.
  const uint64_t last_sequence = timer_sequence_;
  while (!timer_heap_.empty()) {
    Timer* t = timer_heap_.front();
    if (t->deadline_ > now_ || t->sequence_ > last_sequence) return;
    timer_remove(t);
    if (t->period_ > Clock::duration{0}) {
      Clock::duration period = t->period_;
      t->deadline_ += period;
      if (t->deadline_ <= now_) t->deadline_ = now_ + period;  // Skip missed beats.
      timer_insert(t);
    }
    t->callback_();  // May cancel, re-arm or destroy `t`.
  }
}

}  // namespace raft::net
