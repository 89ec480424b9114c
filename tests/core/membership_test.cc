// Scenario tests: learners, single changes, joint consensus (automatic and
// explicit leave, replacing the leader, mixed add+remove, demotion), one
// pending change at a time, and a removed leader stepping down.
#include "tests/core/test_cluster.h"

namespace raft::test {
namespace {

ConfChange changes(std::vector<ConfChangeSingle> list,
                   ConfChangeTransition t = ConfChangeTransition::kAuto) {
  ConfChange cc;
  cc.transition = t;
  cc.changes = std::move(list);
  return cc;
}

std::vector<NodeId> sorted(std::vector<NodeId> v) {
  std::sort(v.begin(), v.end());
  return v;
}

int conf_entries_applied(TestCluster& c, NodeId id) {
  int n = 0;
  for (const Entry& e : c.test_node(id).applied_entries) n += e.type == EntryType::kConfChange;
  return n;
}

TEST(Learners, ReceiveEntriesButNeitherVoteNorCountForCommit) {
  TestCluster c({1, 2, 3}, nullptr, {4});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  EXPECT_EQ(c.test_node(4).applied, std::vector<std::string>{"a"});
  EXPECT_TRUE(c.node(4).is_learner());
  EXPECT_TRUE(absl::IsFailedPrecondition(c.node(4).campaign()));
  // With two voters down, the learner's ack does not make a quorum.
  c.test_node(2).down = true;
  c.test_node(3).down = true;
  const Index commit = c.node(1).commit_index();
  ASSERT_TRUE(c.propose(1, "b").ok());
  EXPECT_EQ(c.node(4).last_index(), c.node(1).last_index());
  EXPECT_EQ(c.node(1).commit_index(), commit);
}

TEST(Learners, LearnerNeverStartsAnElection) {
  TestCluster c({1, 2, 3}, nullptr, {4});
  c.elect(1);
  c.isolate(4);
  c.run_ticks(100);
  EXPECT_EQ(c.node(4).role(), Role::kFollower);
  EXPECT_EQ(c.node(4).term(), c.node(1).term());
}

TEST(Learners, PromoteToVoter) {
  TestCluster c({1, 2, 3}, nullptr, {4});
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose_conf_change(single_change(ConfChangeType::kAddVoter, 4)).ok());
  c.stabilize();
  for (NodeId id : c.ids()) {
    EXPECT_EQ(sorted(c.node(id).conf_state().voters), (std::vector<NodeId>{1, 2, 3, 4})) << id;
    EXPECT_TRUE(c.node(id).conf_state().learners.empty());
  }
  EXPECT_FALSE(c.node(4).is_learner());
  // Now a voter: leadership can be handed to it.
  ASSERT_TRUE(c.node(1).transfer_leader(4).ok());
  c.stabilize();
  EXPECT_EQ(c.leader(), 4u);
}

// A joiner that starts from the current peer list (as a join ticket gives
// it) replays the log from the start.
TEST(Membership, AddVoterThatJoinsWithThePeerList) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "before").ok());
  c.add_node(4, c.node(1).conf_state());
  ASSERT_TRUE(c.node(1).propose_conf_change(single_change(ConfChangeType::kAddVoter, 4)).ok());
  c.stabilize();
  c.run_ticks(3);
  EXPECT_EQ(c.test_node(4).applied, std::vector<std::string>{"before"});
  EXPECT_EQ(sorted(c.node(4).conf_state().voters), (std::vector<NodeId>{1, 2, 3, 4}));
  ASSERT_TRUE(c.propose(1, "after").ok());
  EXPECT_EQ(c.test_node(4).applied.back(), "after");
}

TEST(Membership, AddVoterAfterCompactionGetsSnapshot) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).ok());
  c.compact(1);
  c.add_node(4, ConfState{});
  ASSERT_TRUE(c.node(1).propose_conf_change(single_change(ConfChangeType::kAddVoter, 4)).ok());
  c.stabilize();
  c.run_ticks(3);
  EXPECT_GT(c.test_node(4).snapshot_index, 0u);
  EXPECT_EQ(c.test_node(4).applied, c.test_node(1).applied);
}

TEST(Membership, RemoveFollowerShrinksTheQuorum) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose_conf_change(single_change(ConfChangeType::kRemoveNode, 3)).ok());
  c.stabilize();
  EXPECT_EQ(sorted(c.node(1).conf_state().voters), (std::vector<NodeId>{1, 2}));
  c.test_node(3).down = true;
  ASSERT_TRUE(c.propose(1, "x").ok());
  EXPECT_EQ(c.test_node(2).applied, std::vector<std::string>{"x"});
}

TEST(Membership, RemovedLeaderStepsDown) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose_conf_change(single_change(ConfChangeType::kRemoveNode, 1)).ok());
  c.stabilize();
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  EXPECT_TRUE(absl::IsUnavailable(c.node(1).propose(Slice::copy_of("no"))) ||
              c.node(1).leader() != kNoNode);
  c.test_node(1).down = true;
  c.run_ticks(40);
  NodeId leader = c.leader();
  ASSERT_TRUE(leader == 2 || leader == 3) << leader;
  EXPECT_EQ(sorted(c.node(leader).conf_state().voters), (std::vector<NodeId>{2, 3}));
  ASSERT_TRUE(c.propose(leader, "x").ok());
  EXPECT_EQ(c.test_node(2).applied, std::vector<std::string>{"x"});
}

TEST(Membership, OnlyOnePendingChangeAtATime) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4, c.node(1).conf_state());
  c.add_node(5, c.node(1).conf_state());
  ASSERT_TRUE(c.node(1).propose_conf_change(single_change(ConfChangeType::kAddVoter, 4)).ok());
  absl::Status second = c.node(1).propose_conf_change(single_change(ConfChangeType::kAddVoter, 5));
  EXPECT_TRUE(absl::IsFailedPrecondition(second)) << second;
  c.stabilize();
  EXPECT_TRUE(c.node(1).propose_conf_change(single_change(ConfChangeType::kAddVoter, 5)).ok());
  c.stabilize();
  EXPECT_EQ(sorted(c.node(1).conf_state().voters), (std::vector<NodeId>{1, 2, 3, 4, 5}));
}

TEST(Membership, InvalidChangesAreRefused) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  EXPECT_TRUE(absl::IsFailedPrecondition(c.node(1).propose_conf_change(leave_joint_change())));
  ConfChange all = changes({{ConfChangeType::kRemoveNode, 1},
                            {ConfChangeType::kRemoveNode, 2},
                            {ConfChangeType::kRemoveNode, 3}});
  EXPECT_FALSE(c.node(1).propose_conf_change(all).ok());
  // Applying an invalid change (as a stale entry might) leaves the config alone.
  ConfState before = c.node(2).conf_state();
  EXPECT_EQ(c.node(2).apply_conf_change(leave_joint_change()), before);
}

TEST(JointConsensus, MixedAddAndRemoveWithAutoLeave) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4, c.node(1).conf_state());
  ASSERT_TRUE(c.node(1)
                  .propose_conf_change(
                      changes({{ConfChangeType::kAddVoter, 4}, {ConfChangeType::kRemoveNode, 3}}))
                  .ok());
  c.stabilize();
  c.run_ticks(3);
  for (NodeId id : {1, 2, 4}) {
    ConfState cs = c.node(id).conf_state();
    EXPECT_EQ(sorted(cs.voters), (std::vector<NodeId>{1, 2, 4})) << id;
    EXPECT_TRUE(cs.voters_outgoing.empty()) << id;
    EXPECT_FALSE(cs.auto_leave);
    // Enter-joint and the automatic leave-joint entries.
    EXPECT_EQ(conf_entries_applied(c, id), 2) << id;
  }
  c.test_node(3).down = true;
  ASSERT_TRUE(c.propose(1, "x").ok());
  EXPECT_EQ(c.test_node(4).applied, std::vector<std::string>{"x"});
}

TEST(JointConsensus, ExplicitLeaveAndBothMajoritiesNeeded) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4, c.node(1).conf_state());
  c.add_node(5, c.node(1).conf_state());
  ASSERT_TRUE(c.node(1)
                  .propose_conf_change(changes({{ConfChangeType::kAddVoter, 4},
                                                {ConfChangeType::kAddVoter, 5},
                                                {ConfChangeType::kRemoveNode, 2},
                                                {ConfChangeType::kRemoveNode, 3}},
                                               ConfChangeTransition::kJointExplicit))
                  .ok());
  c.stabilize();
  ConfState joint = c.node(1).conf_state();
  EXPECT_EQ(sorted(joint.voters), (std::vector<NodeId>{1, 4, 5}));
  EXPECT_EQ(sorted(joint.voters_outgoing), (std::vector<NodeId>{1, 2, 3}));
  // The incoming majority alone (1, 4, 5) cannot commit: the outgoing one is
  // needed too.
  c.test_node(2).down = true;
  c.test_node(3).down = true;
  const Index commit = c.node(1).commit_index();
  ASSERT_TRUE(c.propose(1, "needs-both").ok());
  EXPECT_EQ(c.node(1).commit_index(), commit);
  c.test_node(2).down = false;
  c.run_ticks(3);
  EXPECT_GT(c.node(1).commit_index(), commit);
  // Still joint until the user leaves explicitly.
  EXPECT_FALSE(c.node(1).conf_state().voters_outgoing.empty());
  ASSERT_TRUE(c.node(1).propose_conf_change(leave_joint_change()).ok());
  c.stabilize();
  EXPECT_TRUE(c.node(1).conf_state().voters_outgoing.empty());
  EXPECT_EQ(sorted(c.node(1).conf_state().voters), (std::vector<NodeId>{1, 4, 5}));
}

TEST(JointConsensus, ReplaceTheLeader) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4, c.node(1).conf_state());
  ASSERT_TRUE(c.node(1)
                  .propose_conf_change(
                      changes({{ConfChangeType::kRemoveNode, 1}, {ConfChangeType::kAddVoter, 4}}))
                  .ok());
  c.stabilize();
  // The leader stays through the joint phase (it is an outgoing voter) and
  // steps down once the config without it applies.
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  EXPECT_EQ(sorted(c.node(2).conf_state().voters), (std::vector<NodeId>{2, 3, 4}));
  EXPECT_TRUE(c.node(2).conf_state().voters_outgoing.empty());
  c.test_node(1).down = true;
  c.run_ticks(40);
  NodeId leader = c.leader();
  ASSERT_TRUE(leader == 2 || leader == 3 || leader == 4) << leader;
  ASSERT_TRUE(c.propose(leader, "new-era").ok());
  for (NodeId id : {2, 3, 4}) {
    EXPECT_EQ(c.test_node(id).applied, std::vector<std::string>{"new-era"}) << id;
  }
}

TEST(JointConsensus, DemoteVoterToLearner) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ConfChange demote = single_change(ConfChangeType::kAddLearner, 3);
  demote.transition = ConfChangeTransition::kJointImplicit;
  ASSERT_TRUE(c.node(1).propose_conf_change(demote).ok());
  c.stabilize();
  ConfState cs = c.node(1).conf_state();
  EXPECT_EQ(sorted(cs.voters), (std::vector<NodeId>{1, 2}));
  EXPECT_EQ(cs.learners, std::vector<NodeId>{3});
  EXPECT_TRUE(cs.learners_next.empty());
  EXPECT_TRUE(c.node(3).is_learner());
  ASSERT_TRUE(c.propose(1, "x").ok());
  EXPECT_EQ(c.test_node(3).applied, std::vector<std::string>{"x"});
}

TEST(JointConsensus, RestartInJointConfigKeepsIt) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4, c.node(1).conf_state());
  ASSERT_TRUE(c.node(1)
                  .propose_conf_change(changes({{ConfChangeType::kAddVoter, 4}},
                                               ConfChangeTransition::kJointExplicit))
                  .ok());
  c.stabilize();
  ASSERT_FALSE(c.storage(2).conf_state().voters_outgoing.empty());
  c.restart(2);
  EXPECT_EQ(c.node(2).conf_state(), c.storage(2).conf_state());
  EXPECT_FALSE(c.node(2).conf_state().voters_outgoing.empty());
}

}  // namespace
}  // namespace raft::test

namespace raft::test {
namespace {

// The recommended bootstrap: initial members start from a snapshot at index
// 1 holding the membership; a joiner starts empty and gets that snapshot.
TEST(Bootstrap, FromSnapshotThenEmptyJoiner) {
  Snapshot boot;
  boot.meta.index = 1;
  boot.meta.term = 1;
  boot.meta.conf_state.voters = {1, 2, 3};
  TestCluster c({});
  for (NodeId id : {1, 2, 3}) {
    auto s = std::make_unique<MemoryLogStorage>();
    ASSERT_TRUE(s->apply_snapshot(boot).ok());
    c.add_node_with_storage(id, std::move(s));
  }
  c.elect(1);
  ASSERT_EQ(c.leader(), 1u);
  ASSERT_TRUE(c.propose(1, "a").ok());
  c.add_node(4, ConfState{});
  ASSERT_TRUE(c.node(1).propose_conf_change(single_change(ConfChangeType::kAddVoter, 4)).ok());
  c.stabilize();
  c.run_ticks(3);
  EXPECT_EQ(c.test_node(4).snapshot_index, 1u);
  EXPECT_EQ(c.test_node(4).applied, std::vector<std::string>{"a"});
  EXPECT_EQ(sorted(c.node(4).conf_state().voters), (std::vector<NodeId>{1, 2, 3, 4}));
  EXPECT_FALSE(c.node(4).is_learner());
  ASSERT_TRUE(c.propose(1, "b").ok());
  EXPECT_EQ(c.test_node(4).applied, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace raft::test
