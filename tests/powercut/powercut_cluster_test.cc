// The power cut on a whole 3-node memstore cluster at once: every node runs
// under the shim (powercut_shim.c), which sees LMDB's libc writes and the
// shard's io_uring journal writes. Clients write unique keys to the leader;
// then all three nodes are SIGKILLed together, each node's disk is rewound
// to what a power cut could leave (cut(), seeded per node), and the cluster
// restarts without the shim: every write acknowledged before the cut must
// read back. Three rounds on the same data dirs. The seed is printed;
// RAFT_POWERCUT_SEED=<n> replays the cuts (the load's timing is not seeded).
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "tests/examples/memstore_cluster.h"
#include "tests/powercut/powercut.h"

namespace raft::examples_test {
namespace {

constexpr int kRounds = 3;
constexpr int kWriters = 3;

TEST(PowerCutCluster, NoAcknowledgedWriteIsLostWhenAllNodesLosePowerAtOnce) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("RAFT_POWERCUT_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::cout << "power-cut cluster test seed " << seed << " (RAFT_POWERCUT_SEED to replay)"
            << std::endl;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  MemstoreCluster c(3, "powercut_cluster");
  std::map<std::string, std::string> acked;  // Every acknowledged write so far.
  storage::powercut::CutSummary sum;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    auto log_of = [&](int id) { return absl::StrCat(c.dir(), "/writes-", id, ".log"); };
    for (int id = 1; id <= 3; ++id) {
      std::filesystem::create_directories(c.data_dir(id));
      c.start(
          id, {},
          {std::string("LD_PRELOAD=") + POWERCUT_SHIM, "POWERCUT_DIR=" + c.data_dir(id),
           "POWERCUT_LOG=" + log_of(id), "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0"});
    }
    int leader = c.wait_leader();
    ASSERT_NE(leader, 0) << "no leader under the shim";

    std::atomic<bool> stop{false};
    std::atomic<int> target{leader};
    std::mutex mu;
    std::map<std::string, std::string> round_acked;
    std::vector<std::thread> writers;
    for (int t = 0; t < kWriters; ++t) {
      writers.emplace_back([&, t] {
        for (uint64_t n = 0; !stop.load(); ++n) {
          const std::string key = absl::StrCat("r", round, "-w", t, "-", n);
          const std::string value = absl::StrCat("v", n * 7 + t);
          HttpResult r = http(c.http_address(target.load()), "PUT", "/store/" + key, value);
          if (r.status == 200 || r.status == 201) {
            std::lock_guard l(mu);
            round_acked[key] = value;
          }
        }
      });
    }
    // Load for a while (bounded), then the cut: all three at once.
    const auto load_for = std::chrono::milliseconds(800 + rng() % 1200);
    const auto until = std::chrono::steady_clock::now() + load_for;
    eventually([&] { return std::chrono::steady_clock::now() >= until; }, load_for * 2);
    for (int id = 1; id <= 3; ++id) ::kill(c.process(id)->pid(), SIGKILL);
    for (int id = 1; id <= 3; ++id) c.process(id)->kill(SIGKILL);  // Reaps.
    stop = true;
    for (auto& w : writers) w.join();
    ASSERT_GT(round_acked.size(), 0u) << "no write was acknowledged under the shim";
    acked.insert(round_acked.begin(), round_acked.end());

    for (int id = 1; id <= 3; ++id) {
      auto s = storage::powercut::cut(log_of(id), rng());
      ASSERT_TRUE(s.ok()) << s.status();
      sum.writes += s->writes;
      sum.uring_writes += s->uring_writes;
      sum.volatile_writes += s->volatile_writes;
      sum.lost += s->lost;
      sum.torn += s->torn;
    }

    // Restart without the shim; every acknowledged write reads back.
    for (int id = 1; id <= 3; ++id) c.start(id);
    leader = c.wait_leader();
    ASSERT_NE(leader, 0) << "no leader after the cut:\n" << c.process(1)->log();
    size_t checked = 0;
    for (const auto& [key, value] : acked) {
      HttpResult r;
      ASSERT_TRUE(eventually([&] {
        r = http(c.http_address(leader), "GET", "/store/" + key);
        return r.status != 503 && r.status != 0;
      })) << key;
      ASSERT_EQ(r.status, 200) << "acknowledged write of " << key << " lost (" << r.body << ")";
      ASSERT_EQ(r.body, value) << key;
      ++checked;
    }
    EXPECT_EQ(checked, acked.size());
    for (int id = 1; id <= 3; ++id) c.process(id)->kill(SIGKILL);
  }
  std::cout << "power-cut cluster test: " << kRounds << " cuts of 3 nodes, " << acked.size()
            << " acknowledged writes checked; " << sum.to_string() << std::endl;
  EXPECT_GT(sum.uring_writes, 0u);  // The journal's writes were under the shim.
  EXPECT_GT(sum.volatile_writes, 0u);
}

}  // namespace
}  // namespace raft::examples_test
