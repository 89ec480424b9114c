// The leader balance planner (engine/node/leader_balance.h): which transfers
// it plans for a given view of the leaders, and which it does not.
#include "engine/node/leader_balance.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

namespace raft {
namespace {

const std::vector<NodeId> kNodes = {1, 2, 3};

// `n` groups on voters {1, 2, 3}, group g led by leaders[g - 1], every other
// voter eligible.
std::vector<BalanceGroup> groups_led_by(const std::vector<NodeId>& leaders) {
  std::vector<BalanceGroup> out;
  for (size_t i = 0; i < leaders.size(); ++i) {
    BalanceGroup g;
    g.group = i + 1;
    g.leader = leaders[i];
    g.voters = kNodes;
    for (NodeId v : kNodes) {
      if (v != leaders[i]) g.eligible.push_back(v);
    }
    out.push_back(g);
  }
  return out;
}

std::vector<BalanceGroup> all_led_by(NodeId leader, size_t n) {
  return groups_led_by(std::vector<NodeId>(n, leader));
}

// The view after `transfers` were carried out.
void apply_plan(std::vector<BalanceGroup>& groups, const std::vector<BalanceTransfer>& transfers) {
  for (const BalanceTransfer& t : transfers) {
    for (BalanceGroup& g : groups) {
      if (g.group != t.group) continue;
      ASSERT_EQ(g.leader, t.from) << "group " << g.group;
      g.leader = t.to;
      g.eligible.clear();
      for (NodeId v : g.voters) {
        if (v != t.to) g.eligible.push_back(v);
      }
    }
  }
}

TEST(LeaderBalance, CountsAndShare) {
  auto groups = groups_led_by({1, 1, 2, kNoNode, 9});
  EXPECT_EQ(leader_counts(groups, kNodes), (std::vector<uint64_t>{2, 1, 0}));
  // Three groups led by the nodes (the unknown one and node 9's are not
  // counted): ceil(3 / 3).
  EXPECT_EQ(leader_share(groups, kNodes), 1u);
  EXPECT_EQ(leader_share(all_led_by(1, 10), kNodes), 4u);
  EXPECT_EQ(leader_share(groups, {}), 0u);
}

TEST(LeaderBalance, AlreadyBalancedPlansNothing) {
  BalanceOptions opt;
  opt.margin = 0;
  EXPECT_TRUE(plan_leader_transfers(groups_led_by({1, 2, 3, 1, 2, 3}), kNodes, opt).empty());
  // 7 groups: share 3, so 3/2/2 is balanced even without a margin.
  EXPECT_TRUE(plan_leader_transfers(groups_led_by({1, 2, 3, 1, 2, 3, 1}), kNodes, opt).empty());
  EXPECT_TRUE(plan_leader_transfers({}, kNodes, opt).empty());
  EXPECT_TRUE(plan_leader_transfers(all_led_by(1, 5), {}, opt).empty());
}

TEST(LeaderBalance, OneNodeLeadingAllSpreadsEvenly) {
  auto groups = all_led_by(1, 60);
  BalanceOptions opt;
  opt.margin = 1;
  opt.max_transfers = 100;
  auto plan = plan_leader_transfers(groups, kNodes, opt);
  ASSERT_EQ(plan.size(), 40u);
  // Alternating between the two least-loaded targets, lower id first, over
  // the groups in id order.
  EXPECT_EQ(plan[0], (BalanceTransfer{1, 1, 2}));
  EXPECT_EQ(plan[1], (BalanceTransfer{2, 1, 3}));
  EXPECT_EQ(plan[2], (BalanceTransfer{3, 1, 2}));
  apply_plan(groups, plan);
  EXPECT_EQ(leader_counts(groups, kNodes), (std::vector<uint64_t>{20, 20, 20}));
  EXPECT_TRUE(plan_leader_transfers(groups, kNodes, opt).empty());
}

TEST(LeaderBalance, TheMarginIsHysteresis) {
  // 9 groups, share 3: node 1 leads 5 (share + 2).
  auto groups = groups_led_by({1, 1, 1, 1, 1, 2, 2, 3, 3});
  BalanceOptions opt;
  opt.margin = 2;
  EXPECT_TRUE(plan_leader_transfers(groups, kNodes, opt).empty());
  opt.margin = 1;
  auto plan = plan_leader_transfers(groups, kNodes, opt);
  // Down to its share, not just to share + margin: 5 -> 3.
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0], (BalanceTransfer{1, 1, 2}));
  EXPECT_EQ(plan[1], (BalanceTransfer{2, 1, 3}));
  apply_plan(groups, plan);
  EXPECT_EQ(leader_counts(groups, kNodes), (std::vector<uint64_t>{3, 3, 3}));
  opt.margin = 0;
  EXPECT_TRUE(plan_leader_transfers(groups, kNodes, opt).empty());
}

TEST(LeaderBalance, NoTransferLiftsATargetAboveItsShare) {
  // Share 2: node 1 leads 4, node 2 its share; only node 3 may take more.
  auto groups = groups_led_by({1, 1, 1, 1, 2, 2});
  BalanceOptions opt;
  opt.margin = 0;
  auto plan = plan_leader_transfers(groups, kNodes, opt);
  ASSERT_EQ(plan.size(), 2u);
  for (const BalanceTransfer& t : plan) EXPECT_EQ(t.to, 3u);
}

TEST(LeaderBalance, RateLimitedPerCall) {
  auto groups = all_led_by(1, 60);
  BalanceOptions opt;
  opt.max_transfers = 8;
  int calls = 0;
  for (;;) {
    auto plan = plan_leader_transfers(groups, kNodes, opt);
    if (plan.empty()) break;
    EXPECT_LE(plan.size(), 8u);
    apply_plan(groups, plan);
    ASSERT_LT(++calls, 100);
  }
  EXPECT_EQ(calls, 5);  // 40 transfers, 8 per call.
  EXPECT_EQ(leader_counts(groups, kNodes), (std::vector<uint64_t>{20, 20, 20}));
  opt.max_transfers = 0;
  EXPECT_TRUE(plan_leader_transfers(all_led_by(1, 60), kNodes, opt).empty());
}

TEST(LeaderBalance, GroupsWithATransferOrChangeInFlightAreSkipped) {
  auto groups = all_led_by(1, 6);
  for (BalanceGroup& g : groups) g.busy = g.group <= 3;
  BalanceOptions opt;
  opt.margin = 0;
  auto plan = plan_leader_transfers(groups, kNodes, opt);
  ASSERT_EQ(plan.size(), 3u);
  for (const BalanceTransfer& t : plan) EXPECT_GT(t.group, 3u);
  // Every group busy: nothing.
  for (BalanceGroup& g : groups) g.busy = true;
  EXPECT_TRUE(plan_leader_transfers(groups, kNodes, opt).empty());
}

TEST(LeaderBalance, ATransferUnderWayCountsAtItsTarget) {
  // Node 1 leads 9 of 9 groups, 4 of them already on their way to 2 and 3:
  // it counts 5 and sheds only 2 more (share 3, margin 0).
  auto groups = all_led_by(1, 9);
  for (GroupId g = 1; g <= 4; ++g) {
    groups[g - 1].busy = true;
    groups[g - 1].transfer_target = g % 2 == 0 ? 2 : 3;
  }
  EXPECT_EQ(leader_counts(groups, kNodes), (std::vector<uint64_t>{5, 2, 2}));
  BalanceOptions opt;
  opt.margin = 0;
  auto plan = plan_leader_transfers(groups, kNodes, opt);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0], (BalanceTransfer{5, 1, 2}));
  EXPECT_EQ(plan[1], (BalanceTransfer{6, 1, 3}));
}

TEST(LeaderBalance, DeadOrLaggingTargetsAreSkipped) {
  BalanceOptions opt;
  opt.margin = 0;
  // Node 3 is not live (not among the nodes): the share is over {1, 2}.
  auto plan = plan_leader_transfers(all_led_by(1, 6), {1, 2}, opt);
  ASSERT_EQ(plan.size(), 3u);
  for (const BalanceTransfer& t : plan) EXPECT_EQ(t.to, 2u);
  // Node 2 is live but not eligible (behind, or not live as the leader's
  // shard sees it) in the even groups: those go to node 3 only.
  auto groups = all_led_by(1, 6);
  for (BalanceGroup& g : groups) {
    if (g.group % 2 == 0) g.eligible = {3};
  }
  plan = plan_leader_transfers(groups, kNodes, opt);
  std::map<NodeId, int> to;
  for (const BalanceTransfer& t : plan) {
    if (t.group % 2 == 0) {
      EXPECT_EQ(t.to, 3u) << "group " << t.group;
    }
    ++to[t.to];
  }
  EXPECT_EQ(to[2], 2);
  EXPECT_EQ(to[3], 2);
  // No eligible target at all: the group stays.
  groups = all_led_by(1, 3);
  for (BalanceGroup& g : groups) g.eligible.clear();
  EXPECT_TRUE(plan_leader_transfers(groups, kNodes, opt).empty());
  // An eligible node that is not a voter of the group is not a target.
  groups = all_led_by(1, 3);
  for (BalanceGroup& g : groups) {
    g.voters = {1, 2};
    g.eligible = {2, 3};
  }
  plan = plan_leader_transfers(groups, kNodes, opt);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].to, 2u);
}

TEST(LeaderBalance, EachNodeShedsOnlyItsOwnExcess) {
  // Nodes 1 and 2 both over (share 2 of 6, margin 0): with only_from each
  // plans its own transfers, and the two plans are the global one split.
  auto groups = groups_led_by({1, 1, 1, 2, 2, 2});
  BalanceOptions opt;
  opt.margin = 0;
  auto global = plan_leader_transfers(groups, kNodes, opt);
  opt.only_from = 1;
  auto from1 = plan_leader_transfers(groups, kNodes, opt);
  opt.only_from = 2;
  auto from2 = plan_leader_transfers(groups, kNodes, opt);
  opt.only_from = 3;
  EXPECT_TRUE(plan_leader_transfers(groups, kNodes, opt).empty());
  ASSERT_EQ(from1.size(), 1u);
  ASSERT_EQ(from2.size(), 1u);
  EXPECT_EQ(from1[0], (BalanceTransfer{1, 1, 3}));
  EXPECT_EQ(from2[0], (BalanceTransfer{4, 2, 3}));
  EXPECT_EQ(global, (std::vector<BalanceTransfer>{from1[0], from2[0]}));
}

TEST(LeaderBalance, DeterministicWhateverTheInputOrder) {
  auto groups = all_led_by(1, 12);
  auto reversed = groups;
  std::reverse(reversed.begin(), reversed.end());
  BalanceOptions opt;
  EXPECT_EQ(plan_leader_transfers(groups, kNodes, opt),
            plan_leader_transfers(reversed, kNodes, opt));
  EXPECT_EQ(plan_leader_transfers(groups, {3, 2, 1}, opt),
            plan_leader_transfers(groups, kNodes, opt));
}

}  // namespace
}  // namespace raft
