// Scenario tests: ReadIndex (leader, forwarded from a follower, new leader),
// lease reads, and leader transfer.
#include "tests/core/test_cluster.h"

namespace raft::test {
namespace {

TEST(ReadIndex, LeaderConfirmsWithAHeartbeatRound) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  c.reset_counters();
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("r1")).ok());
  // Not released before the heartbeat round.
  c.handle_ready(1);
  EXPECT_TRUE(c.test_node(1).read_states.empty());
  c.stabilize();
  ASSERT_EQ(c.test_node(1).read_states.size(), 1u);
  EXPECT_EQ(c.test_node(1).read_states[0].context.view(), "r1");
  EXPECT_EQ(c.test_node(1).read_states[0].index, c.node(1).commit_index());
  EXPECT_GE(c.sent_of_type(MessageType::kHeartbeat), 2);
}

TEST(ReadIndex, PartitionedLeaderCannotServeReads) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.check_quorum = false; });
  c.elect(1);
  c.isolate(1);
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("r")).ok());
  c.run_ticks(5);
  EXPECT_TRUE(c.test_node(1).read_states.empty());
}

TEST(ReadIndex, SeveralPendingReadsAreReleasedInOrder) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("a")).ok());
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("b")).ok());
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("c")).ok());
  c.stabilize();
  ASSERT_EQ(c.test_node(1).read_states.size(), 3u);
  EXPECT_EQ(c.test_node(1).read_states[0].context.view(), "a");
  EXPECT_EQ(c.test_node(1).read_states[2].context.view(), "c");
}

TEST(ReadIndex, ForwardedFromFollower) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  ASSERT_TRUE(c.node(3).read_index(Slice::copy_of("from-3")).ok());
  c.stabilize();
  ASSERT_EQ(c.test_node(3).read_states.size(), 1u);
  EXPECT_EQ(c.test_node(3).read_states[0].context.view(), "from-3");
  EXPECT_EQ(c.test_node(3).read_states[0].index, c.node(1).commit_index());
  EXPECT_TRUE(c.test_node(1).read_states.empty());
}

// Two nodes' reads with the same context: the second cannot share the
// first's heartbeat round (its index must not predate the request), so it is
// refused at once instead of being left to time out.
TEST(ReadIndex, SameContextFromAnotherNodeIsRejectedAtOnce) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  // Hold the leader's round open: no heartbeat response arrives.
  c.set_drop([](const Message& m) { return m.type == MessageType::kHeartbeatResponse; });
  ASSERT_TRUE(c.node(2).read_index(Slice::copy_of("same")).ok());
  ASSERT_TRUE(c.node(3).read_index(Slice::copy_of("same")).ok());
  c.stabilize();
  EXPECT_TRUE(c.test_node(2).read_states.empty());
  ASSERT_EQ(c.test_node(3).read_states.size(), 1u);
  EXPECT_TRUE(c.test_node(3).read_states[0].rejected);
  EXPECT_EQ(c.test_node(3).read_states[0].index, 0u);
  EXPECT_EQ(c.test_node(3).read_states[0].context.view(), "same");
  c.heal();
  c.run_ticks(2);
  ASSERT_EQ(c.test_node(2).read_states.size(), 1u);
  EXPECT_FALSE(c.test_node(2).read_states[0].rejected);
  EXPECT_EQ(c.test_node(2).read_states[0].index, c.node(1).commit_index());
}

// A node asking again with its own pending context (its retry after a lost
// message) is answered by the round in flight, once, and not refused.
TEST(ReadIndex, SameNodeAskingAgainIsAnsweredOnce) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  c.set_drop([](const Message& m) { return m.type == MessageType::kHeartbeatResponse; });
  ASSERT_TRUE(c.node(2).read_index(Slice::copy_of("mine")).ok());
  c.stabilize();
  ASSERT_TRUE(c.node(2).read_index(Slice::copy_of("mine")).ok());
  c.stabilize();
  EXPECT_TRUE(c.test_node(2).read_states.empty());
  c.heal();
  c.run_ticks(2);
  ASSERT_EQ(c.test_node(2).read_states.size(), 1u);
  EXPECT_FALSE(c.test_node(2).read_states[0].rejected);
}

TEST(ReadIndex, NewLeaderWaitsForACommitInItsTerm) {
  TestCluster c({1, 2, 3});
  ASSERT_TRUE(c.node(1).campaign().ok());
  // Walk the election by hand until node 1 is leader, before its no-op commits.
  for (int i = 0; i < 10 && c.node(1).role() != Role::kLeader; ++i) {
    for (NodeId id : c.ids()) {
      if (c.node(id).has_ready()) c.handle_ready(id);
    }
    c.deliver_all();
  }
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  const Index noop = c.node(1).last_index();
  ASSERT_LT(c.node(1).commit_index(), noop);
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("early")).ok());
  c.handle_ready(1);
  EXPECT_TRUE(c.test_node(1).read_states.empty());
  c.stabilize();
  ASSERT_EQ(c.test_node(1).read_states.size(), 1u);
  EXPECT_GE(c.test_node(1).read_states[0].index, noop);
}

TEST(LeaseRead, ServedWithoutAHeartbeatRound) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.read_only = ReadOnlyOption::kLeaseBased; });
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  c.reset_counters();
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("lease")).ok());
  c.handle_ready(1);
  ASSERT_EQ(c.test_node(1).read_states.size(), 1u);
  EXPECT_EQ(c.test_node(1).read_states[0].index, c.node(1).commit_index());
  c.stabilize();
  EXPECT_EQ(c.sent_of_type(MessageType::kHeartbeat), 0);
}

TEST(LeaseRead, RequiresCheckQuorum) {
  Config cfg;
  cfg.id = 1;
  cfg.read_only = ReadOnlyOption::kLeaseBased;
  cfg.check_quorum = false;
  MemoryLogStorage storage;
  EXPECT_FALSE(RawNode::create(cfg, &storage).ok());
}

TEST(LeaderTransfer, ToUpToDateFollower) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  const Term term = c.node(1).term();
  ASSERT_TRUE(c.node(1).transfer_leader(2).ok());
  c.stabilize();
  EXPECT_EQ(c.leader(), 2u);
  EXPECT_EQ(c.node(2).term(), term + 1);
  EXPECT_EQ(c.node(1).leader(), 2u);
  ASSERT_TRUE(c.propose(2, "x").ok());
  EXPECT_EQ(c.test_node(1).applied, std::vector<std::string>{"x"});
}

TEST(LeaderTransfer, CatchesUpALaggingTargetFirst) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.test_node(3).down = true;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).ok());
  c.test_node(3).down = false;
  ASSERT_LT(c.node(3).last_index(), c.node(1).last_index());
  ASSERT_TRUE(c.node(1).transfer_leader(3).ok());
  c.stabilize();
  EXPECT_EQ(c.leader(), 3u);
  EXPECT_EQ(c.test_node(3).applied.size(), 5u);
}

TEST(LeaderTransfer, ForwardedFromFollower) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.node(2).transfer_leader(3).ok());
  c.stabilize();
  EXPECT_EQ(c.leader(), 3u);
}

TEST(LeaderTransfer, ProposalsRefusedThenAbortedAfterElectionTimeout) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.isolate(3);
  ASSERT_TRUE(c.node(1).transfer_leader(3).ok());
  c.stabilize();
  EXPECT_EQ(c.node(1).status().lead_transferee, 3u);
  absl::Status s = c.node(1).propose(Slice::copy_of("x"));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("transfer"), std::string::npos) << s;
  c.run_ticks(10);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.node(1).status().lead_transferee, kNoNode);
  EXPECT_TRUE(c.node(1).propose(Slice::copy_of("y")).ok());
}

TEST(LeaderTransfer, RejectsLearnersAndStrangers) {
  TestCluster c({1, 2, 3}, nullptr, {4});
  c.elect(1);
  EXPECT_TRUE(absl::IsInvalidArgument(c.node(1).transfer_leader(4)));
  EXPECT_TRUE(absl::IsInvalidArgument(c.node(1).transfer_leader(9)));
  EXPECT_EQ(c.leader(), 1u);
}

}  // namespace
}  // namespace raft::test

namespace raft::test {
namespace {

TEST(ReadIndex, EmptyContextIsRefused) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  EXPECT_TRUE(absl::IsInvalidArgument(c.node(1).read_index(Slice())));
}

TEST(Unreachable, ReplicatingPeerFallsBackToProbe) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  auto state_of = [&](NodeId id) {
    for (const PeerStatus& p : c.node(1).status().progress) {
      if (p.id == id) return p.state;
    }
    return ProgressState::kSnapshot;
  };
  ASSERT_EQ(state_of(2), ProgressState::kReplicate);
  c.node(1).report_unreachable(2);
  EXPECT_EQ(state_of(2), ProgressState::kProbe);
  ASSERT_TRUE(c.propose(1, "b").ok());
  c.run_ticks(2);
  EXPECT_EQ(state_of(2), ProgressState::kReplicate);
  EXPECT_EQ(c.test_node(2).applied, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace raft::test
