// raft::AsyncClient against in-process clusters of real Nodes (sockets on
// 127.0.0.1, LMDB data dirs): many threads pipelining through a leader
// change, every request completing exactly once; deadlines with no leader.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/node/async_client.h"
#include "engine/node/node.h"
#include "tests/node/in_process_cluster.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

using testing::eventually;
using testing::MapStateMachine;

// The shared in-process cluster (MapStateMachine in every group).
using AsyncCluster = testing::Cluster;

ClientOptions patient_options() {
  ClientOptions o;
  o.request_timeout = std::chrono::seconds(30);
  o.connect_timeout = std::chrono::milliseconds(500);
  o.max_attempts = 1000;
  o.backoff_initial = std::chrono::milliseconds(5);
  o.backoff_max = std::chrono::milliseconds(100);
  return o;
}

enum class Change { kTransfer, kStopLeader };

// 8 threads pipeline 10,000 proposes of fresh keys; half way, with requests
// in flight, the leader changes. Every request completes exactly once; every
// success has its own index, found the key fresh ("<none>") and is applied.
void run_through_leader_change(Change change) {
  AsyncCluster c(3, change == Change::kTransfer ? "async-transfer" : "async-stop");
  c.start_all();
  const uint64_t old_leader = c.wait_leader();
  ASSERT_NE(old_leader, 0u);

  constexpr int kThreads = 8;
  constexpr int kEach = 1250;
  constexpr int kTotal = kThreads * kEach;
  struct Slot {
    std::atomic<int> calls{0};
    absl::Status status;
    ProposeResult result;
  };
  std::vector<Slot> slots(kTotal);
  std::atomic<int> completed{0};
  std::atomic<bool> changed{false};
  auto key = [](int k) { return absl::StrCat("k", k); };
  {
    AsyncClient client(c.addresses(), patient_options());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          if (i == kEach / 2) {
            // The second half goes out while the leader changes.
            while (!changed.load(std::memory_order_acquire)) {
              std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
          }
          const int k = t * kEach + i;
          client.propose(1, absl::StrCat(key(k), "=v"),
                         [&slots, &completed, k](absl::StatusOr<ProposeResult> r) {
                           Slot& s = slots[k];
                           if (r.ok()) {
                             s.result = std::move(*r);
                           } else {
                             s.status = r.status();
                           }
                           s.calls.fetch_add(1, std::memory_order_acq_rel);
                           completed.fetch_add(1, std::memory_order_acq_rel);
                         });
        }
      });
    }
    // Wait until some of the first half completed (the rest in flight).
    EXPECT_TRUE(eventually([&] { return completed.load() >= kTotal / 8; })) << completed.load();
    const uint64_t target = old_leader % 3 + 1;
    if (change == Change::kTransfer) {
      std::future<absl::Status> f = client.transfer_leader(1, target);
      changed.store(true, std::memory_order_release);
      // Under a slow build (TSan) the transfer can outlast its own timeout
      // and still happen; the leader must change either way (checked below).
      absl::Status s = f.get();
      if (!s.ok()) std::printf("transfer_leader: %s\n", s.ToString().c_str());
      // The change, seen while the second half is in flight (a slow build
      // may see another election later).
      EXPECT_TRUE(eventually([&] {
        const uint64_t l = c.leader();
        return l != 0 && l != old_leader;
      })) << "the leader did not change";
    } else {
      c.stop(old_leader);
      changed.store(true, std::memory_order_release);
    }
    for (auto& th : threads) th.join();
    ASSERT_TRUE(eventually([&] { return completed.load(std::memory_order_acquire) == kTotal; },
                           std::chrono::seconds(90)))
        << completed.load() << " of " << kTotal << " completed";
    EXPECT_EQ(client.in_flight(), 0u);
  }
  const uint64_t new_leader = c.wait_leader();
  ASSERT_NE(new_leader, 0u);
  if (change == Change::kStopLeader) {
    EXPECT_NE(new_leader, old_leader);
  }

  std::set<Index> indexes;
  int ok = 0, unknown_outcome = 0;
  std::vector<int> acked;
  std::vector<int> not_applied;
  for (int k = 0; k < kTotal; ++k) {
    Slot& s = slots[k];
    ASSERT_EQ(s.calls.load(std::memory_order_acquire), 1) << "request " << k;
    if (s.status.ok()) {
      ++ok;
      EXPECT_TRUE(indexes.insert(s.result.index).second) << "index " << s.result.index << " twice";
      EXPECT_EQ(s.result.result, "<none>") << "request " << k << " applied twice?";
      acked.push_back(k);
    } else {
      // A refusal is retried until the deadline, which is far: what ends
      // without success either may have been applied (unknown) or was not
      // and will not be (failed: its entry replaced by a newer leader's).
      const Outcome o = outcome_of(s.status);
      EXPECT_TRUE(o == Outcome::kUnknown || o == Outcome::kFailed)
          << "request " << k << ": " << s.status;
      if (o == Outcome::kFailed) not_applied.push_back(k);
      ++unknown_outcome;
    }
  }
  // Through a transfer many succeed. A stopped leader leaves unknown what
  // went out on its connection before the client saw it close (up to the
  // whole second half, sent in one burst).
  EXPECT_GE(ok, change == Change::kTransfer ? kTotal / 4 : kTotal / 8)
      << unknown_outcome << " unknown";
  // Every acknowledged write is applied on the leader now.
  MapStateMachine* fsm = c.fsm(new_leader);
  ASSERT_NE(fsm, nullptr);
  ASSERT_TRUE(eventually([&] {
    auto m = fsm->contents();
    for (int k : acked) {
      if (m.find(key(k)) == m.end()) return false;
    }
    return true;
  })) << "an acknowledged write is missing on the new leader";
  {
    auto m = fsm->contents();
    for (int k : not_applied)
      EXPECT_EQ(m.count(key(k)), 0u) << "failed request " << k << " applied";
  }
  std::printf("%d ok, %d unknown or failed (%zu failed); leader %llu -> %llu\n", ok,
              unknown_outcome, not_applied.size(), static_cast<unsigned long long>(old_leader),
              static_cast<unsigned long long>(new_leader));
}

TEST(AsyncClientCluster, TenThousandFromEightThreadsThroughATransfer) {
  run_through_leader_change(Change::kTransfer);
}

TEST(AsyncClientCluster, TenThousandFromEightThreadsThroughALeaderStop) {
  run_through_leader_change(Change::kStopLeader);
}

TEST(AsyncClientCluster, NoLeaderMeansDeadlineExceeded) {
  AsyncCluster c(3, "async-noleader");
  c.start(1);  // One of three: no quorum, no leader.
  ClientOptions o = patient_options();
  AsyncClient client(c.addresses(), o);
  const auto start = std::chrono::steady_clock::now();
  CallOptions call;
  call.deadline = start + std::chrono::milliseconds(500);
  std::vector<std::future<absl::StatusOr<ProposeResult>>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(client.propose(1, absl::StrCat("x", i, "=1"), call));
  for (auto& f : fs) {
    absl::StatusOr<ProposeResult> r = f.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(500));
  EXPECT_LT(took, std::chrono::milliseconds(500 + 2000));
}

}  // namespace
}  // namespace raft
