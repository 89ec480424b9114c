// Leader balance on real nodes (in-process cluster, real sockets and LMDB):
// with every leader moved to node 1 and balance off nothing moves; turned
// on, the nodes spread the leaders until each leads within the margin of
// its share, and then stop moving them. The same with quiesced groups (a
// transfer wakes the quiesced leader), and with a node down (it is never a
// target and the share is over the live nodes).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/node/in_process_cluster.h"

namespace raft {
namespace {

using testing::Cluster;
using testing::eventually;
using testing::every_group_led;
using testing::metric;

constexpr int kGroups = 60;
constexpr uint32_t kMargin = 1;

void make_balance_cluster(Cluster& c, uint32_t quiesce_ticks, uint32_t shards = 1) {
  c.tweak = [quiesce_ticks, shards](NodeConfig& cfg) {
    cfg.shards = shards;
    cfg.groups.clear();
    for (uint64_t g = 1; g <= kGroups; ++g) cfg.groups.push_back(g);
    cfg.quiesce_ticks = quiesce_ticks;
    cfg.balance.leaders = false;  // Turned on by the test.
    cfg.balance.margin = kMargin;
    cfg.balance.period_ticks = 10;
    cfg.balance.max_transfers_per_period = 8;
  };
  c.start_all();
}

// Moves the leadership of every group to node `to` (balance is off).
void skew_to(Cluster& c, uint64_t to, const std::vector<uint64_t>& running) {
  for (GroupId g = 1; g <= kGroups; ++g) {
    ASSERT_TRUE(eventually([&] {
      auto l = c.node(to)->leader(g);
      if (l.ok() && l->leader_id == to) return true;
      (void)c.node(to)->transfer_leader(g, to);
      return false;
    })) << "group "
        << g;
  }
  ASSERT_TRUE(eventually(
      [&] { return c.node(to)->groups_led() == kGroups && every_group_led(c, kGroups, running); }));
}

std::string leaders_line(Cluster& c, const std::vector<uint64_t>& running) {
  std::string out;
  for (uint64_t id : running) absl::StrAppend(&out, " node ", id, ": ", c.node(id)->groups_led());
  return out;
}

// Every group led, each running node within the margin of its share.
bool balanced(Cluster& c, const std::vector<uint64_t>& running) {
  const uint64_t share = (kGroups + running.size() - 1) / running.size();
  uint64_t total = 0;
  for (uint64_t id : running) {
    const uint64_t led = c.node(id)->groups_led();
    if (led > share + kMargin) return false;
    total += led;
  }
  return total == kGroups && every_group_led(c, kGroups, running);
}

uint64_t transfers(Cluster& c, const std::vector<uint64_t>& running, const char* name) {
  uint64_t sum = 0;
  for (uint64_t id : running) sum += metric(*c.node(id), name);
  return sum;
}

void enable_balance(Cluster& c, const std::vector<uint64_t>& running, bool on) {
  for (uint64_t id : running) {
    c.node(id)->set_leader_balance(on);
    EXPECT_EQ(c.node(id)->leader_balance(), on);
  }
}

// Balances a skewed cluster and checks it then stays put.
void balance_and_settle(Cluster& c, const std::vector<uint64_t>& running) {
  const auto on_at = std::chrono::steady_clock::now();
  enable_balance(c, running, true);
  ASSERT_TRUE(eventually([&] { return balanced(c, running); }, std::chrono::seconds(60)))
      << leaders_line(c, running);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - on_at);
  std::printf("balanced in %lld ms:%s\n", static_cast<long long>(took.count()),
              leaders_line(c, running).c_str());
  // At least the excess of node 1 moved (60 -> its share + margin).
  const uint64_t share = (kGroups + running.size() - 1) / running.size();
  EXPECT_GE(metric(*c.node(1), "ringraft_balance_transfers_total"), kGroups - share - kMargin);
  // Settled: over 30 balance periods (300 ms at 10 ms ticks; a second of
  // wall time here) nothing more moves and the counts stay within the margin.
  const uint64_t before = transfers(c, running, "ringraft_balance_transfers_total");
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < until) {
    for (uint64_t id : running) {
      ASSERT_LE(c.node(id)->groups_led(), share + kMargin) << leaders_line(c, running);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(transfers(c, running, "ringraft_balance_transfers_total"), before);
}

TEST(NodeLeaderBalance, ASkewIsSpreadWithinTheMarginAndStaysSo) {
  Cluster c(3, "balance-skew");
  make_balance_cluster(c, /*quiesce_ticks=*/0);
  ASSERT_TRUE(eventually([&] { return every_group_led(c, kGroups, {1, 2, 3}); }));
  skew_to(c, 1, {1, 2, 3});
  // Off: the skew stays, and nothing was started by the balancer.
  EXPECT_EQ(transfers(c, {1, 2, 3}, "ringraft_balance_transfers_total"), 0u);
  EXPECT_EQ(metric(*c.node(1), "ringraft_leader_balance"), 0u);
  EXPECT_NE(c.node(1)->status_json().find("\"leader_balance\":false"), std::string::npos);
  EXPECT_EQ(c.node(1)->groups_led(), uint64_t{kGroups});

  balance_and_settle(c, {1, 2, 3});
  EXPECT_EQ(metric(*c.node(1), "ringraft_leader_balance"), 1u);
  const std::string status = c.node(2)->status_json();
  EXPECT_NE(status.find("\"leader_balance\":true"), std::string::npos) << status.substr(0, 200);
  EXPECT_NE(status.find(absl::StrCat("\"leaders\":", c.node(2)->groups_led())), std::string::npos)
      << status.substr(0, 200);
  EXPECT_EQ(metric(*c.node(2), "ringraft_groups_led"), c.node(2)->groups_led());
  std::printf(
      "transfers: %llu started, %llu failed\n",
      static_cast<unsigned long long>(transfers(c, {1, 2, 3}, "ringraft_balance_transfers_total")),
      static_cast<unsigned long long>(
          transfers(c, {1, 2, 3}, "ringraft_balance_transfers_failed_total")));

  // Off again: a new skew stays.
  enable_balance(c, {1, 2, 3}, false);
  const uint64_t before = transfers(c, {1, 2, 3}, "ringraft_balance_transfers_total");
  skew_to(c, 2, {1, 2, 3});
  EXPECT_EQ(transfers(c, {1, 2, 3}, "ringraft_balance_transfers_total"), before);
  EXPECT_EQ(c.node(2)->groups_led(), uint64_t{kGroups});
}

TEST(NodeLeaderBalance, QuiescedGroupsAreWokenAndBalanced) {
  Cluster c(3, "balance-quiesced");
  make_balance_cluster(c, /*quiesce_ticks=*/10);
  ASSERT_TRUE(eventually([&] { return every_group_led(c, kGroups, {1, 2, 3}); }));
  skew_to(c, 1, {1, 2, 3});
  auto all_quiesced = [&] {
    for (uint64_t id : {1, 2, 3}) {
      if (metric(*c.node(id), "ringraft_groups_quiesced") != kGroups) return false;
    }
    return true;
  };
  ASSERT_TRUE(eventually(all_quiesced)) << c.node(1)->metrics_text();

  balance_and_settle(c, {1, 2, 3});
  // Every transfer to a quiesced leader happened (none refused or timed out).
  EXPECT_EQ(transfers(c, {1, 2, 3}, "ringraft_balance_transfers_failed_total"), 0u);
  // The moved groups go quiet again and still take writes.
  EXPECT_TRUE(eventually(all_quiesced));
  for (GroupId g = 1; g <= kGroups; ++g) {
    auto r = c.node(3)->propose(g, absl::StrCat("k", g, "=after-balance"));
    ASSERT_TRUE(r.ok()) << "group " << g << ": " << r.status();
  }
}

// Groups spread over two shards per node: the balancer on shard 0 gathers
// both shards' views and starts transfers on the shard owning each group.
TEST(NodeLeaderBalance, GroupsOnSeveralShardsAreBalancedToo) {
  Cluster c(3, "balance-shards");
  make_balance_cluster(c, /*quiesce_ticks=*/10, /*shards=*/2);
  ASSERT_TRUE(eventually([&] { return every_group_led(c, kGroups, {1, 2, 3}); }));
  skew_to(c, 1, {1, 2, 3});
  balance_and_settle(c, {1, 2, 3});
}

TEST(NodeLeaderBalance, ANodeDownIsNeverATarget) {
  Cluster c(3, "balance-down");
  make_balance_cluster(c, /*quiesce_ticks=*/10);
  ASSERT_TRUE(eventually([&] { return every_group_led(c, kGroups, {1, 2, 3}); }));
  skew_to(c, 1, {1, 2, 3});
  c.stop(3);
  // Share over the two live nodes: 30 each (within the margin: 31).
  balance_and_settle(c, {1, 2});
  EXPECT_GE(c.node(2)->groups_led(), uint64_t{kGroups / 2 - kMargin});
}

}  // namespace
}  // namespace raft
