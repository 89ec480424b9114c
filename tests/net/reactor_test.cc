// Reactor: timer order and cancel, periodic timers, deferred tasks, posts
// from other threads, fd polling, and shutdown with operations in flight.
#include "net/reactor.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

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
  int ran = 0;
  r->defer([&] { ++ran; });
  std::thread loop([&] { r->run(); });
  auto deadline = Clock::now() + 10s;
  while (ran == 0 && Clock::now() < deadline) std::this_thread::yield();
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

TEST(Reactor, StopBeforeRunReturnsImmediately) {
  Reactor r;
  r.stop();
  r.run();
  EXPECT_TRUE(r.stop_requested());
}

}  // namespace
}  // namespace raft::net
