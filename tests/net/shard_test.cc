// Shards: tasks cross between shard threads only through bounded inboxes;
// a full inbox refuses instead of growing; a connection for another shard is
// handed over by the listener with the bytes it already received.
#include "net/shard.h"

#include <gtest/gtest.h>

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "net/listener.h"
#include "tests/net/net_test_util.h"

namespace raft::net {
namespace {

using namespace std::chrono_literals;

template <typename F>
bool wait_for(F done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(ShardSet, TasksRunOnTheTargetShardThread) {
  ShardSet shards({.shard_count = 2, .pin_to_cores = true});
  std::atomic<int> started{0};
  shards.start([&](Shard& s) {
    EXPECT_EQ(ShardSet::current(), &s);
    started.fetch_add(1);
  });
  EXPECT_EQ(started.load(), 2);
  std::atomic<int> on_right_shard{0};
  constexpr int kTasks = 1000;
  for (int i = 0; i < kTasks; ++i) {
    uint32_t to = static_cast<uint32_t>(i % 2);
    while (!shards.send(to, [&on_right_shard, to] {
      if (ShardSet::current() && ShardSet::current()->id() == to) on_right_shard.fetch_add(1);
    })) {
      std::this_thread::yield();  // Inbox full: back off and retry.
    }
  }
  EXPECT_TRUE(wait_for([&] { return on_right_shard.load() == kTasks; }));
  // Shard 0 forwards to shard 1, which answers back: a round trip.
  std::atomic<bool> answered{false};
  shards.send(0, [&] {
    shards.send(1, [&] { shards.send(0, [&] { answered = ShardSet::current()->id() == 0; }); });
  });
  EXPECT_TRUE(wait_for([&] { return answered.load(); }));
  shards.stop();
}

TEST(ShardSet, OneShardByDefault) {
  EXPECT_EQ(ShardOptions{}.shard_count, 1u);
  ShardSet shards;
  EXPECT_EQ(shards.size(), 1u);
}

// Shard i runs on core (first_core + i) % ncpu, and only there.
TEST(ShardSet, EachShardThreadIsPinnedToItsCore) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  if (cpus < 1 || CPU_COUNT(&allowed) < cpus) GTEST_SKIP() << "process restricted to some cores";
  const uint32_t count = 2;
  const uint32_t first_core = 1;
  ShardSet shards({.shard_count = count, .pin_to_cores = true, .first_core = first_core});
  std::mutex mu;
  std::vector<std::vector<int>> cores(count);
  shards.start([&](Shard& s) {
    cpu_set_t set;
    ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);  // This thread's.
    std::lock_guard<std::mutex> lock(mu);
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cores[s.id()].push_back(c);
    }
  });
  for (uint32_t i = 0; i < count; ++i) {
    int want = static_cast<int>((first_core + i) % static_cast<uint32_t>(cpus));
    EXPECT_EQ(cores[i], std::vector<int>{want}) << "shard " << i;
  }
  shards.stop();
}

TEST(ShardSet, FullInboxRefusesInsteadOfGrowing) {
  ShardSet shards({.shard_count = 1, .pin_to_cores = false, .inbox_capacity = 4});
  shards.start(nullptr);
  std::atomic<bool> release{false};
  std::atomic<bool> blocked{false};
  ASSERT_TRUE(shards.send(0, [&] {
    blocked = true;
    wait_for([&] { return release.load(); });
  }));
  ASSERT_TRUE(wait_for([&] { return blocked.load(); }));
  std::atomic<int> ran{0};
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += shards.send(0, [&] { ran.fetch_add(1); }) ? 1 : 0;
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(shards.shard(0).rejected_tasks(), 6u);
  release = true;
  EXPECT_TRUE(wait_for([&] { return ran.load() == 4; }));
  shards.stop();
}

TEST(ShardSet, ListenerHandsAConnectionToItsTargetShard) {
  ShardSet shards({.shard_count = 2, .pin_to_cores = false});
  std::unique_ptr<Listener> listener;                     // Shard 0's.
  std::vector<std::shared_ptr<FrameConnection>> adopted;  // Shard 1's.
  std::atomic<uint16_t> port{0};
  std::atomic<int> frames_on_shard1{0};
  std::atomic<uint64_t> first_index{0};
  HandshakeInfo local;
  local.cluster_id = 42;
  local.node_id = 1;
  local.shard_count = 2;
  shards.start([&](Shard& s) {
    if (s.id() != 0) return;
    ListenerOptions o;
    o.local = local;
    o.shard_count = 2;
    Listener::Callbacks cb;
    cb.on_peer = [](std::shared_ptr<FrameConnection>, const HandshakeInfo&) {
      ADD_FAILURE() << "stayed on shard 0";
    };
    cb.route = [&](DetachedConnection d) {
      uint32_t target = d.handshake.target_shard;
      auto moved = std::make_shared<DetachedConnection>(std::move(d));
      ASSERT_TRUE(shards.send(target, [&, moved] {
        Shard& here = *ShardSet::current();
        FrameConnection::Callbacks fc;
        fc.on_frame = [&](FrameConnection& c, const ReceivedFrame& f) {
          EXPECT_EQ(c.remote_handshake().node_id, 2u);
          // Stored before the count the test waits on, so it is visible then.
          first_index = testing::first_index_of(f);
          if (ShardSet::current()->id() == 1) frames_on_shard1.fetch_add(1);
        };
        adopted.push_back(
            adopt_connection(here.reactor(), std::move(*moved), local, {}, std::move(fc)));
      }));
    };
    listener = std::make_unique<Listener>(s.reactor(), o, std::move(cb));
    ASSERT_TRUE(listener->start().ok());
    port = listener->port();
  });
  int fd = testing::connect_blocking(port.load());
  ASSERT_GE(fd, 0);
  HandshakeInfo hs;
  hs.cluster_id = 42;
  hs.node_id = 2;
  hs.shard = 1;
  hs.target_shard = 1;
  // The handshake and a frame in one write: the frame is buffered on shard 0
  // and must reach shard 1 with the socket.
  ASSERT_TRUE(testing::write_all(
      fd, frame_to_string(encode_handshake(hs)) + frame_to_string(testing::raft_frame(1, 16, 33))));
  EXPECT_TRUE(wait_for([&] { return frames_on_shard1.load() == 1; }));
  EXPECT_EQ(first_index.load(), 33u);
  // The reply comes from shard 1.
  std::string got;
  FrameDecoder d;
  HandshakeInfo reply;
  bool have_reply = false;
  ASSERT_TRUE(wait_for([&] {
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      d.feed(std::string_view(buf, static_cast<size_t>(n)), [&](const ReceivedFrame& f) {
        if (f.frame->body_type() == fbs::FrameBody::Handshake) {
          reply = decode_handshake(*f.frame->body_as_Handshake());
          have_reply = true;
        }
        return true;
      });
    }
    return have_reply;
  }));
  EXPECT_EQ(reply.node_id, 1u);
  EXPECT_EQ(reply.shard, 1u);
  EXPECT_EQ(reply.target_shard, 1u);
  EXPECT_EQ(reply.shard_count, 2u);  // What a client routes by.
  ::close(fd);
  shards.stop([&](Shard& s) {
    // After each loop drained: loop-bound objects go on their own thread.
    if (s.id() == 0) listener.reset();
    if (s.id() == 1) adopted.clear();
  });
}

}  // namespace
}  // namespace raft::net
