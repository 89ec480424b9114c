// Scenario tests: elections, pre-vote, check-quorum, dueling candidates,
// messages from earlier terms, and the leader's own durable ack.
#include "tests/core/test_cluster.h"

namespace raft::test {
namespace {

void no_pre_vote(Config& c) { c.pre_vote = false; }
void no_pre_vote_no_check_quorum(Config& c) {
  c.pre_vote = false;
  c.check_quorum = false;
}

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
    // The leader's no-op, then the two entries.
    EXPECT_EQ(c.node(id).commit_index(), 3u);
  }
}

TEST(Election, TimeoutElectsExactlyOneLeader) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    TestCluster c({1, 2, 3, 4, 5}, [seed](Config& cfg) { cfg.seed = seed; });
    c.run_ticks(60);
    NodeId leader = c.leader();
    ASSERT_NE(leader, kNoNode) << "seed " << seed;
    for (NodeId id : c.ids()) EXPECT_EQ(c.node(id).leader(), leader) << "seed " << seed;
  }
}

TEST(Election, RandomizedTimeoutStaysInRange) {
  TestCluster c({1, 2, 3});
  std::set<int> seen;
  for (int round = 0; round < 50; ++round) {
    for (NodeId id : c.ids()) {
      int t = c.node(id).status().randomized_election_timeout;
      EXPECT_GE(t, 10);
      EXPECT_LT(t, 20);
      seen.insert(t);
    }
    c.run_ticks(25);
  }
  EXPECT_GT(seen.size(), 3u);  // Drawn at random, not constant.
}

TEST(Election, RestartRecoversTermVoteAndLog) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  const Term term = c.node(2).term();
  const Index commit = c.node(2).commit_index();
  c.restart(2);
  EXPECT_EQ(c.node(2).term(), term);
  EXPECT_EQ(c.node(2).commit_index(), commit);
  EXPECT_EQ(c.node(2).last_index(), c.node(1).last_index());
  ASSERT_TRUE(c.propose(1, "b").ok());
  EXPECT_EQ(c.test_node(2).applied, (std::vector<std::string>{"a", "b"}));
}

// Pre-vote: a partitioned node does not raise its term, so it does not
// disrupt the leader when it comes back.
TEST(PreVote, PartitionedNodeDoesNotDisruptOnRejoin) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  const Term term = c.node(1).term();
  c.isolate(3);
  c.run_ticks(100);
  EXPECT_EQ(c.node(3).term(), term);
  EXPECT_NE(c.node(3).role(), Role::kLeader);
  EXPECT_NE(c.node(3).role(), Role::kCandidate);
  c.heal();
  c.run_ticks(30);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.node(1).term(), term);
  EXPECT_EQ(c.node(3).leader(), 1u);
}

TEST(PreVote, WithoutPreVoteAPartitionedNodeRaisesItsTerm) {
  TestCluster c({1, 2, 3}, no_pre_vote_no_check_quorum);
  c.elect(1);
  const Term term = c.node(1).term();
  c.isolate(3);
  c.run_ticks(100);
  EXPECT_GT(c.node(3).term(), term + 2);
  c.heal();
  c.run_ticks(60);
  // The returning node forced a new election at a higher term.
  EXPECT_GT(c.node(1).term(), term);
  ASSERT_NE(c.leader(), kNoNode);
}

TEST(PreVote, PreCandidateWithStaleLogCannotWin) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.isolate(3);
  ASSERT_TRUE(c.propose(1, "a").ok());
  c.heal();
  // Node 3 misses "a" and asks for pre-votes right away: refused (older log).
  c.cut(1, 3);
  ASSERT_TRUE(c.node(3).campaign().ok());
  c.stabilize();
  EXPECT_NE(c.node(3).role(), Role::kLeader);
  EXPECT_EQ(c.node(2).leader(), 1u);
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
}

TEST(CheckQuorum, IsolatedLeaderStepsDown) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.isolate(1);
  c.run_ticks(21);
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  // The majority side elected a new leader meanwhile.
  c.run_ticks(40);
  NodeId leader = c.leader();
  EXPECT_TRUE(leader == 2 || leader == 3);
}

TEST(CheckQuorum, WithoutCheckQuorumIsolatedLeaderStays) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.check_quorum = false; });
  c.elect(1);
  c.isolate(1);
  c.run_ticks(21);
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
}

TEST(CheckQuorum, FollowersInLeaseIgnoreVotes) {
  TestCluster c({1, 2, 3}, no_pre_vote);
  c.elect(1);
  const Term term = c.node(1).term();
  // Node 3 campaigns at a higher term while 1 and 2 heard from leader 1.
  ASSERT_TRUE(c.node(3).campaign().ok());
  c.handle_ready(3);
  c.deliver_all();  // Only the vote requests.
  EXPECT_EQ(c.node(1).term(), term);
  EXPECT_EQ(c.node(2).term(), term);
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(3).role(), Role::kCandidate);
}

TEST(DuelingCandidates, OnlyTheUpToDateCandidateWins) {
  TestCluster c({1, 2, 3}, no_pre_vote_no_check_quorum);
  c.cut(1, 3);
  c.elect(1);
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  // Node 2 has 1's no-op; node 3 does not, so 2 refuses and 3 (cut from 1)
  // stays a candidate without a majority.
  c.elect(3);
  EXPECT_EQ(c.node(3).role(), Role::kCandidate);
  EXPECT_EQ(c.node(2).term(), c.node(3).term());
  c.heal();
  c.run_ticks(60);
  NodeId leader = c.leader();
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.propose(leader, "x").ok());
  for (NodeId id : c.ids()) {
    EXPECT_EQ(c.test_node(id).applied, std::vector<std::string>{"x"}) << id;
    EXPECT_EQ(c.node(id).commit_index(), c.node(leader).commit_index());
  }
}

TEST(DuelingCandidates, SimultaneousCandidatesResolve) {
  TestCluster c({1, 2, 3}, no_pre_vote);
  // Both campaign before seeing each other's requests: split vote possible.
  ASSERT_TRUE(c.node(1).campaign().ok());
  ASSERT_TRUE(c.node(3).campaign().ok());
  c.stabilize();
  c.run_ticks(60);
  NodeId leader = c.leader();
  ASSERT_NE(leader, kNoNode);
  for (NodeId id : c.ids()) EXPECT_EQ(c.node(id).leader(), leader);
}

TEST(OldMessages, AppendFromAnEarlierTermIsIgnored) {
  TestCluster c({1, 2, 3}, no_pre_vote_no_check_quorum);
  c.elect(1);
  c.elect(2);
  c.elect(1);
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  const Term term = c.node(1).term();
  const Index last = c.node(1).last_index();
  // A delayed append from node 2's reign (term 2) reaches node 1 and 3.
  Message old;
  old.type = MessageType::kAppend;
  old.group = 7;
  old.from = 2;
  old.term = term - 1;
  old.index = last;
  old.log_term = term - 1;
  old.entries = {Entry{term - 1, last + 1, EntryType::kNormal, Slice::copy_of("stale")}};
  for (NodeId to : {1, 3}) {
    Message m = old;
    m.to = to;
    ASSERT_TRUE(c.node(to).step(m).ok());
  }
  c.stabilize();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).term(), term);
  ASSERT_TRUE(c.propose(1, "fresh").ok());
  for (NodeId id : c.ids()) {
    EXPECT_EQ(c.test_node(id).applied, std::vector<std::string>{"fresh"}) << id;
  }
}

TEST(OldMessages, StaleVoteResponsesDoNotElect) {
  TestCluster c({1, 2, 3}, no_pre_vote_no_check_quorum);
  c.elect(1);
  const Term term = c.node(1).term();
  c.elect(2);
  ASSERT_EQ(c.node(2).role(), Role::kLeader);
  // Node 1 gets vote grants from its old term again: ignored.
  for (NodeId from : {2, 3}) {
    Message m;
    m.type = MessageType::kVoteResponse;
    m.group = 7;
    m.from = from;
    m.to = 1;
    m.term = term;
    ASSERT_TRUE(c.node(1).step(m).ok());
  }
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  EXPECT_EQ(c.node(1).leader(), 2u);
}

// Thesis §10.2.1: the leader writes in parallel with sending, but counts
// itself only once its own write is durable.
TEST(LeaderSelfAck, CommitWaitsForOwnPersistenceWithoutSpareQuorum) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.test_node(3).down = true;
  c.test_node(1).auto_persist = false;
  const Index commit = c.node(1).commit_index();
  ASSERT_TRUE(c.node(1).propose(Slice::copy_of("x")).ok());
  c.stabilize();
  // Node 2 acked; the leader's own write is not yet durable: 1 of 3.
  EXPECT_EQ(c.node(1).commit_index(), commit);
  EXPECT_EQ(c.node(2).last_index(), c.node(1).last_index());
  c.release_held(1);
  c.stabilize();
  EXPECT_EQ(c.node(1).commit_index(), commit + 1);
  EXPECT_EQ(c.test_node(2).applied, std::vector<std::string>{"x"});
}

TEST(LeaderSelfAck, FollowersAloneCanCommitWhileLeaderDiskIsSlow) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.test_node(1).auto_persist = false;
  ASSERT_TRUE(c.node(1).propose(Slice::copy_of("x")).ok());
  c.stabilize();
  // Two followers are a quorum of three: committed, though not yet applied
  // on the leader (its copy is not durable).
  EXPECT_EQ(c.node(1).commit_index(), c.node(1).last_index());
  EXPECT_TRUE(c.test_node(1).applied.empty());
  c.release_held(1);
  c.stabilize();
  EXPECT_EQ(c.test_node(1).applied, std::vector<std::string>{"x"});
}

TEST(Durability, VotesAndAppendAcksWaitForPersistence) {
  TestCluster c({1, 2, 3}, no_pre_vote);
  ASSERT_TRUE(c.node(1).campaign().ok());
  Ready rd = c.node(1).ready();
  // Vote requests carry the new term: they must wait for the hard state.
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote, 1u);
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.persisted_messages.size(), 2u);
  for (const Message& m : rd.persisted_messages) {
    EXPECT_EQ(m.type, MessageType::kVote);
    ASSERT_TRUE(c.node(m.to).step(m).ok());
  }
  c.node(1).advance(rd);
  Ready voter = c.node(2).ready();
  ASSERT_TRUE(voter.hard_state.has_value());
  EXPECT_EQ(voter.hard_state->vote, 1u);
  EXPECT_TRUE(voter.messages.empty());
  ASSERT_EQ(voter.persisted_messages.size(), 1u);
  EXPECT_EQ(voter.persisted_messages[0].type, MessageType::kVoteResponse);
}

}  // namespace
}  // namespace raft::test
