// Reactor: timer order and cancel, periodic timers, deferred tasks, posts
// from other threads, fd polling, and shutdown with operations in flight.
#include "net/reactor.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "tests/net/allocation_counter.h"
#include "tests/net/net_test_util.h"

namespace raft::net {
namespace {

using namespace std::chrono_literals;
using testing::run_until;

TEST(Reactor, TimersFireInDeadlineOrderTiesInArmingOrder) {
  Reactor r;
  std::vector<int> fired;
  Timer a(r, [&] { fired.push_back(1); });
  Timer b(r, [&] { fired.push_back(2); });
  Timer c(r, [&] { fired.push_back(3); });
  Timer d(r, [&] { fired.push_back(4); });
  auto base = Clock::now() + 20ms;
  c.arm_at(base + 10ms);
  a.arm_at(base);
  d.arm_at(base + 10ms);  // Same deadline as c, armed later: fires after c.
  b.arm_at(base + 5ms);
  ASSERT_TRUE(run_until(r, [&] { return fired.size() == 4; }));
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_FALSE(a.armed());
}

TEST(Reactor, CancelledTimerNeverFires) {
  Reactor r;
  int fired = 0;
  int other = 0;
  Timer t(r, [&] { ++fired; });
  Timer later(r, [&] { ++other; });
  t.arm_after(5ms);
  later.arm_after(30ms);
  t.cancel();
  t.cancel();  // Idempotent.
  ASSERT_TRUE(run_until(r, [&] { return other == 1; }));
  EXPECT_EQ(fired, 0);
}

TEST(Reactor, TimerCancelledByEarlierCallbackInSameTurn) {
  Reactor r;
  int second_fired = 0;
  Timer second(r, [&] { ++second_fired; });
  Timer first(r, [&] { second.cancel(); });
  auto when = Clock::now() + 5ms;
  first.arm_at(when);
  second.arm_at(when);  // Due in the same turn, after `first`.
  Timer end(r, [] {});
  end.arm_after(30ms);
  ASSERT_TRUE(run_until(r, [&] { return !end.armed(); }));
  EXPECT_EQ(second_fired, 0);
}

TEST(Reactor, PeriodicTimerRepeatsUntilCancelled) {
  Reactor r;
  int ticks = 0;
  Timer periodic(r, [&] { ++ticks; });
  periodic.arm_periodic(2ms);
  ASSERT_TRUE(run_until(r, [&] { return ticks >= 5; }));
  periodic.cancel();
  int seen = ticks;
  testing::run_turns(r, 10);
  EXPECT_EQ(ticks, seen);
}

TEST(Reactor, DeferredTasksRunInOrderAndMayDeferMore) {
  Reactor r;
  std::vector<int> order;
  r.defer([&] {
    order.push_back(1);
    r.defer([&] { order.push_back(3); });
  });
  r.defer([&] { order.push_back(2); });
  ASSERT_TRUE(run_until(r, [&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(Reactor, PostFromAnotherThreadWakesTheLoop) {
  Reactor r;
  std::atomic<int> ran{0};
  std::thread loop([&] { r.run(); });
  constexpr int kPosts = 1000;
  std::thread producer([&] {
    for (int i = 0; i < kPosts; ++i) r.post([&] { ran.fetch_add(1); });
  });
  producer.join();
  // No timer is armed: only the eventfd wake-up can unblock the loop.
  auto deadline = Clock::now() + 10s;
  while (ran.load() < kPosts && Clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(ran.load(), kPosts);
  r.stop();
  loop.join();
}

TEST(Reactor, PolledFdReportsReadability) {
  Reactor r;
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  int wakeups = 0;
  uint64_t total = 0;
  FdPoller poller(r, efd, [&] {
    uint64_t v = 0;
    if (::read(efd, &v, sizeof(v)) == sizeof(v)) total += v;
    ++wakeups;
  });
  poller.start();
  testing::run_turns(r, 3);
  EXPECT_EQ(wakeups, 0);  // Nothing to read yet.
  uint64_t three = 3;
  ASSERT_EQ(::write(efd, &three, sizeof(three)), 8);
  ASSERT_TRUE(run_until(r, [&] { return total == 3; }));
  uint64_t four = 4;
  ASSERT_EQ(::write(efd, &four, sizeof(four)), 8);
  ASSERT_TRUE(run_until(r, [&] { return total == 7; }));
  poller.stop();
  ASSERT_TRUE(run_until(r, [&] { return !poller.active(); }));
  ASSERT_EQ(::write(efd, &four, sizeof(four)), 8);
  testing::run_turns(r, 5);
  EXPECT_EQ(total, 7u);  // Stopped: not called again.
  ::close(efd);
}

// Reads that never complete (nobody writes the socket) are in flight when
// the loop stops: run() must cancel them, deliver -ECANCELED and return.
TEST(Reactor, ShutdownCancelsAndDrainsInFlightOperations) {
  struct PendingRead {
    explicit PendingRead(Reactor& r, int fd) : reactor(r) {
      io_uring_prep_recv(reactor.prepare(op), fd, buf, sizeof(buf), 0);
    }
    void done(int32_t res, uint32_t) { result = res; }
    Reactor& reactor;
    char buf[16];
    int32_t result = 1;
    MemberOperation<PendingRead, &PendingRead::done> op{this};
  };
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  auto r = std::make_unique<Reactor>();
  std::vector<std::unique_ptr<PendingRead>> reads;
  for (int i = 0; i < 8; ++i) reads.push_back(std::make_unique<PendingRead>(*r, fds[0]));
  Timer never(*r, [] {});
  never.arm_after(1h);
  std::atomic<int> ran{0};
  r->defer([&] { ran.fetch_add(1); });
  std::thread loop([&] { r->run(); });
  auto deadline = Clock::now() + 10s;
  while (ran.load() == 0 && Clock::now() < deadline) std::this_thread::yield();
  r->stop();
  loop.join();
  EXPECT_EQ(r->in_flight(), 0u);
  for (auto& p : reads) {
    EXPECT_FALSE(p->op.in_flight());
    EXPECT_EQ(p->result, -ECANCELED);
  }
  r.reset();  // The still-armed timer must not touch the dead reactor.
  never.cancel();
  ::close(fds[0]);
  ::close(fds[1]);
}

// A nop whose completion records whether it ran nested inside another
// callback or inside prepare(), and may prepare more nops from its callback.
struct Nop {
  struct Shared {
    Reactor* reactor = nullptr;
    int depth = 0;  // Callbacks running right now.
    int max_depth = 0;
    bool preparing = false;
    int ran_while_preparing = 0;
    int done = 0;
    int to_issue = 0;  // Nops still to prepare from callbacks.
    std::vector<std::unique_ptr<Nop>> nops;
  };
  explicit Nop(Shared& s) : shared(s) { io_uring_prep_nop(shared.reactor->prepare(op)); }
  void done(int32_t, uint32_t);
  Shared& shared;
  MemberOperation<Nop, &Nop::done> op{this};
};

void Nop::done(int32_t, uint32_t) {
  Shared& s = shared;
  if (s.preparing) ++s.ran_while_preparing;
  s.max_depth = std::max(s.max_depth, ++s.depth);
  ++s.done;
  // Two more per completion: with a 4-entry SQ, prepare() must submit the
  // full queue itself, from inside this callback.
  for (int i = 0; i < 2 && s.to_issue > 0; ++i, --s.to_issue) {
    s.preparing = true;
    s.nops.push_back(std::make_unique<Nop>(s));
    s.preparing = false;
  }
  --s.depth;
}

// Completions run only from the loop's reap, never from inside prepare(),
// even when the SQ is full and prepare() has to submit it to the kernel.
TEST(Reactor, CompletionsNeverRunInsidePrepareEvenWhenTheQueueIsFull) {
  Reactor r(ReactorOptions{.ring_entries = 4});
  Nop::Shared s;
  s.reactor = &r;
  s.nops.reserve(256);
  s.preparing = true;
  for (int i = 0; i < 12; ++i) s.nops.push_back(std::make_unique<Nop>(s));
  s.preparing = false;
  EXPECT_EQ(s.done, 0) << "a completion ran inside prepare()";
  s.to_issue = 100;
  ASSERT_TRUE(run_until(r, [&] { return s.done == 112; })) << s.done;
  EXPECT_EQ(s.ran_while_preparing, 0);
  EXPECT_EQ(s.max_depth, 1) << "a completion ran nested inside another callback";
  EXPECT_EQ(r.in_flight(), 1u);  // Only the wake-up read.
}

// Every operation owns its completion object: a steady stream of recv/send
// operations, timer re-arms and deferred tasks allocates nothing.
TEST(Reactor, SteadyStateOperationsAllocateNothing) {
  struct PingPong {
    PingPong(Reactor& r, int out_fd, int in_fd) : reactor(r), out(out_fd), in(in_fd) {}
    void start() {
      io_uring_prep_recv(reactor.prepare(recv_op), in, &got, sizeof(got), 0);
      io_uring_prep_send(reactor.prepare(send_op), out, &sent, sizeof(sent), MSG_NOSIGNAL);
    }
    void on_send(int32_t res, uint32_t) { ASSERT_EQ(res, 8); }
    void on_recv(int32_t res, uint32_t) {
      ASSERT_EQ(res, 8);
      ASSERT_EQ(got, sent);
      ++rounds;
      ++sent;
      reactor.defer([this] { ++deferred; });
      timer.arm_after(std::chrono::hours(1));
      if (!stop) start();
    }
    Reactor& reactor;
    int out;
    int in;
    uint64_t sent = 1;
    uint64_t got = 0;
    uint64_t rounds = 0;
    uint64_t deferred = 0;
    bool stop = false;
    Timer timer{reactor, [] {}};
    MemberOperation<PingPong, &PingPong::on_send> send_op{this};
    MemberOperation<PingPong, &PingPong::on_recv> recv_op{this};
  };
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Reactor r;
  PingPong p(r, fds[0], fds[1]);
  Timer tick(r, [] {});  // Bounds every wait, should the ping-pong stall.
  tick.arm_periodic(5ms);
  p.start();
  auto run_rounds = [&](uint64_t target) {
    auto deadline = Clock::now() + 10s;
    while (p.rounds < target && Clock::now() < deadline) r.run_once(true);
    return p.rounds >= target;
  };
  ASSERT_TRUE(run_rounds(100));  // Warm-up: vectors reach their working size.
  testing::AllocationCounter allocations;
  bool ok = run_rounds(2100);
  uint64_t allocated = allocations.count();
  ASSERT_TRUE(ok) << p.rounds;
  EXPECT_EQ(allocated, 0u) << "heap allocations in 2000 steady-state round trips";
  EXPECT_GE(p.deferred, 2000u);
  p.stop = true;
  ASSERT_TRUE(run_until(r, [&] { return !p.recv_op.in_flight() && !p.send_op.in_flight(); }));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(Reactor, StopBeforeRunReturnsImmediately) {
  Reactor r;
  r.stop();
  r.run();
  EXPECT_TRUE(r.stop_requested());
}

}  // namespace
}  // namespace raft::net
