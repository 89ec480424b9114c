// Scenario tests: elections, pre-vote, check-quorum, dueling candidates and
// messages from earlier terms.
#include "tests/core/test_cluster.h"

namespace raft::test {
namespace {

TEST(Election, ThreeNodesElectAndReplicate) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.node(2).leader(), 1u);
  EXPECT_EQ(c.node(3).leader(), 1u);
  ASSERT_TRUE(c.propose(1, "a").ok());
  ASSERT_TRUE(c.propose(1, "b").ok());
  for (NodeId id : c.ids()) {
    EXPECT_EQ(c.test_node(id).applied, (std::vector<std::string>{"a", "b"})) << "node " << id;
    // no-op + 2 entries.
    EXPECT_EQ(c.node(id).commit_index(), 3u);
  }
}

TEST(Election, TimeoutElectsSomeLeader) {
  TestCluster c({1, 2, 3, 4, 5});
  c.run_ticks(40);
  NodeId leader = c.leader();
  ASSERT_NE(leader, kNoNode);
  for (NodeId id : c.ids()) EXPECT_EQ(c.node(id).leader(), leader);
}

TEST(Election, SingleNodeLeaderCommitsOnlyAfterPersisted) {
  TestCluster c({1});
  c.test_node(1).auto_persist = false;
  ASSERT_TRUE(c.node(1).campaign().ok());
  c.stabilize();
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  // The no-op is appended but not yet durable: nothing commits.
  EXPECT_EQ(c.node(1).commit_index(), 0u);
  c.release_held(1);
  c.stabilize();
  EXPECT_EQ(c.node(1).commit_index(), 1u);
}

}  // namespace
}  // namespace raft::test
