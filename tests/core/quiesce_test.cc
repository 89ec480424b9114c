// Scenario tests: quiescence (engine/core/quiesce.cc). An idle group stops
// its timers and sends nothing; anything that needs it wakes it; a follower
// behind the leader keeps the leader awake; the driver's node-level
// liveness wakes followers of a lost leader, who then elect a new one within
// the random part of an election timeout; a woken leader does not trust its
// lease until a quorum confirms it.
#include "tests/core/test_cluster.h"

namespace raft::test {
namespace {

bool all_live(NodeId) { return true; }

// Elects 1, commits "a" everywhere and quiesces the group.
void quiesce_idle_group(TestCluster& c) {
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  ASSERT_TRUE(c.node(1).can_quiesce(all_live));
  c.node(1).quiesce(all_live);
  c.stabilize();
  for (NodeId id : c.ids()) ASSERT_TRUE(c.node(id).quiesced()) << "node " << id;
}

TEST(Quiesce, AnIdleGroupStopsItsTimersAndSendsNothing) {
  TestCluster c({1, 2, 3});
  quiesce_idle_group(c);
  const Term term = c.node(1).term();
  c.reset_counters();
  c.run_ticks(100);  // Ten election timeouts.
  EXPECT_EQ(c.delivered(), 0);
  EXPECT_EQ(c.leader(), 1u);
  for (NodeId id : c.ids()) {
    EXPECT_TRUE(c.node(id).quiesced()) << "node " << id;
    EXPECT_EQ(c.node(id).term(), term) << "node " << id;
    EXPECT_EQ(c.node(id).commit_index(), c.node(1).last_index()) << "node " << id;
  }
}

TEST(Quiesce, NotWhileALiveFollowerIsBehindButWithoutADeadOne) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.isolate(3);
  ASSERT_TRUE(c.propose(1, "a").ok());
  EXPECT_FALSE(c.node(1).can_quiesce(all_live));
  // Node 3's node is down as the driver sees it: 1 and 2 are a caught-up quorum.
  auto live_but_3 = [](NodeId id) { return id != 3; };
  ASSERT_TRUE(c.node(1).can_quiesce(live_but_3));
  c.node(1).quiesce(live_but_3);
  c.stabilize();
  EXPECT_TRUE(c.node(1).quiesced());
  EXPECT_TRUE(c.node(2).quiesced());
  // Without a live quorum caught up, never.
  c.node(1).wake(false);
  auto only_self = [](NodeId id) { return id == 1; };
  EXPECT_FALSE(c.node(1).can_quiesce(only_self));
}

TEST(Quiesce, NotWithUncommittedOrUnappliedEntriesOrAPendingRead) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose(Slice::copy_of("x")).ok());
  EXPECT_FALSE(c.node(1).can_quiesce(all_live));  // Not even persisted.
  c.stabilize();
  EXPECT_TRUE(c.node(1).can_quiesce(all_live));
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("r")).ok());
  EXPECT_FALSE(c.node(1).can_quiesce(all_live));
  c.stabilize();
  EXPECT_TRUE(c.node(1).can_quiesce(all_live));
}

TEST(Quiesce, AProposalWakesTheGroupAndCommitsEverywhere) {
  TestCluster c({1, 2, 3});
  quiesce_idle_group(c);
  ASSERT_TRUE(c.propose(1, "b").ok());
  EXPECT_FALSE(c.node(1).quiesced());
  for (NodeId id : c.ids()) EXPECT_EQ(c.test_node(id).applied.back(), "b") << "node " << id;
  // The followers' timers need not run for their own leader's appends:
  // node-level liveness watches the leader.
  EXPECT_TRUE(c.node(2).quiesced());
  EXPECT_TRUE(c.node(3).quiesced());
  // A proposal at a quiesced follower is forwarded and wakes the leader too.
  c.run_ticks(1);
  ASSERT_TRUE(c.node(1).can_quiesce(all_live));
  c.node(1).quiesce(all_live);
  c.stabilize();
  ASSERT_TRUE(c.propose(3, "c").ok());
  EXPECT_EQ(c.test_node(1).applied.back(), "c");
  EXPECT_EQ(c.test_node(2).applied.back(), "c");
}

TEST(Quiesce, AFollowerBehindStaysAwakeAndKeepsTheLeaderAwake) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  ASSERT_TRUE(c.node(1).can_quiesce(all_live));
  c.node(1).quiesce(all_live);
  c.handle_ready(1);
  // The kQuiesce to 3 names an entry 3 does not hold.
  std::vector<Message> out = c.take_queue();
  c.reset_counters();
  ASSERT_EQ(out.size(), 2u);
  for (Message& m : out) {
    ASSERT_EQ(m.type, MessageType::kQuiesce);
    if (m.to == 3) {
      ++m.index;
      m.commit = m.index;
    }
    c.deliver(std::move(m));
  }
  EXPECT_TRUE(c.node(2).quiesced());
  EXPECT_FALSE(c.node(3).quiesced());
  EXPECT_EQ(c.node(3).commit_index(), c.node(1).commit_index());  // Took no commit it cannot hold.
  c.stabilize();                                                  // 3's answer wakes the leader.
  EXPECT_FALSE(c.node(1).quiesced());
  EXPECT_EQ(c.sent_of_type(MessageType::kHeartbeatResponse), 1);
}

TEST(Quiesce, AnswersToTheLastHeartbeatsDoNotWakeTheLeader) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  c.tick(1);  // Heartbeats out...
  c.handle_ready(1);
  ASSERT_TRUE(c.node(1).can_quiesce(all_live));
  c.node(1).quiesce(all_live);  // ...and the quiesce right behind them.
  c.stabilize();
  for (NodeId id : c.ids()) EXPECT_TRUE(c.node(id).quiesced()) << "node " << id;
}

TEST(Quiesce, FollowersOfALostLeaderElectAnotherWithinOneElectionTimeout) {
  TestCluster c({1, 2, 3});
  quiesce_idle_group(c);
  const Term term = c.node(1).term();
  c.test_node(1).down = true;
  // The drivers stopped hearing from node 1's node.
  c.node(2).wake(/*leader_lost=*/true);
  c.node(3).wake(/*leader_lost=*/true);
  int ticks = 0;
  while (c.leader() == kNoNode || c.leader() == 1) {
    ASSERT_LT(ticks, 12) << "no new leader";
    c.run_ticks(1);
    ++ticks;
  }
  EXPECT_GT(c.node(c.leader()).term(), term);
}

TEST(Quiesce, AWokenFollowerCannotDeposeALiveQuiescedLeader) {
  TestCluster c({1, 2, 3});
  quiesce_idle_group(c);
  const Term term = c.node(1).term();
  // Node 3 alone believes the leader lost (its view of node 1 failed) and
  // campaigns; 2 still hears node 1, wakes on the pre-vote, wakes the
  // leader, and refuses: the leader's heartbeats resume.
  c.node(3).wake(/*leader_lost=*/true);
  c.run_ticks(60);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.node(1).term(), term);
  EXPECT_EQ(c.node(3).leader(), 1u);
}

// Found by the simulator (seed 100146): the leader's proposal path does not
// go through step(); a quiesced leader cut off from its followers' answers
// must still wake for a proposal (and tick: check-quorum, heartbeats,
// retries), or the group stalls for good once the network heals.
TEST(Quiesce, AProposalWakesTheLeaderEvenWhenNoAnswerComesBack) {
  TestCluster c({1, 2, 3});
  quiesce_idle_group(c);
  c.cut_one_way(2, 1);
  c.cut_one_way(3, 1);
  ASSERT_TRUE(c.node(1).propose(Slice::copy_of("b")).ok());
  EXPECT_FALSE(c.node(1).quiesced());
  c.stabilize();
  EXPECT_FALSE(c.node(1).quiesced());
  c.heal();
  c.run_ticks(20);
  for (NodeId id : c.ids()) EXPECT_EQ(c.test_node(id).applied.back(), "b") << "node " << id;
}

TEST(Quiesce, ATransferRequestWakesTheLeader) {
  TestCluster c({1, 2, 3});
  quiesce_idle_group(c);
  ASSERT_TRUE(c.node(1).transfer_leader(2).ok());
  EXPECT_FALSE(c.node(1).quiesced());
  c.stabilize();
  c.run_ticks(5);
  EXPECT_EQ(c.leader(), 2u);
}

// Found by the simulator (seed 208251): a quiesced follower's lease is
// stale (its election timer stopped). A member's vote request inside that
// lease must wake it and its leader, or, once the leader has stepped down
// with its node still live, the quiesced followers ignore every candidate
// forever.
TEST(Quiesce, AVoteRequestInsideAStaleLeaseWakesAQuiescedFollower) {
  TestCluster c({1, 2, 3, 4, 5}, [](Config& cfg) { cfg.pre_vote = false; });
  quiesce_idle_group(c);
  const Term term = c.node(1).term();
  // The leader steps down without telling anyone (as after a higher term
  // seen from a third node); its node stays live, so no follower is woken
  // by node-level liveness, and its own campaigns do not reach 2, 3, 4.
  Message higher;
  higher.type = MessageType::kAppendResponse;
  higher.group = 7;  // TestCluster's group.
  higher.from = 5;
  higher.to = 1;
  higher.term = term + 1;
  ASSERT_TRUE(c.node(1).step(higher).ok());
  ASSERT_NE(c.node(1).role(), Role::kLeader);
  for (NodeId to : {2, 3, 4}) c.cut_one_way(1, to);
  // Node 5 campaigns; 2, 3 and 4 are quiesced inside their (frozen) lease
  // of node 1, and 5 needs one of them.
  c.node(5).wake(/*leader_lost=*/true);
  int ticks = 0;
  while (c.leader() == kNoNode) {
    ASSERT_LT(ticks, 100) << "no leader: the quiesced followers ignore the candidate";
    c.run_ticks(1);
    ++ticks;
  }
  EXPECT_GT(c.node(c.leader()).term(), term);
}

// Found by the simulator (seed 208251): a follower woken by a message from
// its own leader that leaves the leader quiesced (the leader's answer to a
// stale append of ours) must tell the leader; ticking alone it would time
// out and disrupt a live group.
TEST(Quiesce, AFollowerWokenByItsLeadersAnswerWakesTheLeader) {
  TestCluster c({1, 2, 3});
  quiesce_idle_group(c);
  const Term term = c.node(1).term();
  Message answer;
  answer.type = MessageType::kAppendResponse;
  answer.group = 7;
  answer.from = 1;
  answer.to = 3;
  answer.term = term;
  ASSERT_TRUE(c.node(3).step(answer).ok());
  EXPECT_FALSE(c.node(3).quiesced());
  c.stabilize();
  EXPECT_FALSE(c.node(1).quiesced());  // Woken by node 3's ping.
  c.run_ticks(60);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.node(1).term(), term);
}

TEST(Quiesce, AWokenLeaderDoesNotServeLeaseReadsBeforeAQuorumConfirmsIt) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.read_only = ReadOnlyOption::kLeaseBased; });
  quiesce_idle_group(c);
  // Node 1 is cut off while quiesced; 2 and 3 stop hearing its node and
  // elect 2 or 3, which commits a write that 1 cannot see.
  c.isolate(1);
  c.node(2).wake(true);
  c.node(3).wake(true);
  int ticks = 0;
  while (c.node(2).role() != Role::kLeader && c.node(3).role() != Role::kLeader) {
    ASSERT_LT(ticks, 30) << "no new leader";
    c.tick(2);
    c.tick(3);
    c.stabilize();
    ++ticks;
  }
  const NodeId new_leader = c.node(2).role() == Role::kLeader ? 2 : 3;
  ASSERT_TRUE(c.propose(new_leader, "new").ok());
  // The old leader still believes it leads; a lease read there would miss "new".
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("stale?")).ok());
  c.stabilize();
  EXPECT_TRUE(c.test_node(1).read_states.empty());
  c.run_ticks(30);  // Check-quorum deposes it; the read is never confirmed.
  EXPECT_NE(c.node(1).role(), Role::kLeader);
  for (const ReadState& r : c.test_node(1).read_states) EXPECT_TRUE(r.rejected);
}

TEST(Quiesce, ALeaseReadAfterWakingIsServedOnceAQuorumAnswered) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.read_only = ReadOnlyOption::kLeaseBased; });
  quiesce_idle_group(c);
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("r")).ok());
  c.stabilize();  // Through the heartbeat round, not the lease.
  ASSERT_EQ(c.test_node(1).read_states.size(), 1u);
  EXPECT_EQ(c.test_node(1).read_states[0].index, c.node(1).commit_index());
}

// Found by the simulator with quiescence on: a read pending on the leader
// when the voters shrank to the leader alone was never released (its
// quorum was counted only on heartbeat answers), so the group could never
// go idle. A membership change now releases what the new quorum acked.
TEST(ReadIndex, PendingReadsAreReleasedWhenTheVotersShrinkToTheLeader) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(1, "a").ok());
  c.set_drop([](const Message& m) { return m.type == MessageType::kHeartbeatResponse; });
  ASSERT_TRUE(c.node(1).read_index(Slice::copy_of("r")).ok());
  c.stabilize();
  ASSERT_TRUE(c.test_node(1).read_states.empty());
  for (NodeId gone : {3, 2}) {
    ASSERT_TRUE(
        c.node(1).propose_conf_change(single_change(ConfChangeType::kRemoveNode, gone)).ok());
    c.stabilize();
  }
  ASSERT_EQ(c.node(1).conf_state().voters, std::vector<NodeId>{1});
  ASSERT_EQ(c.test_node(1).read_states.size(), 1u);
  EXPECT_EQ(c.test_node(1).read_states[0].context.view(), "r");
  EXPECT_TRUE(c.node(1).can_quiesce(all_live));
}

// Leader balance (engine/node/leader_balancer.*) asks quiesced leaders to
// hand over: the transfer succeeds, and one whose target cannot be reached
// is given up after an election timeout (which a leader left asleep would
// never count: it refused proposals for good).
TEST(Quiesce, ATransferAtAQuiescedLeaderWakesItAndSucceeds) {
  TestCluster c({1, 2, 3});
  quiesce_idle_group(c);
  const Term term = c.node(1).term();
  ASSERT_TRUE(c.node(1).transfer_leader(2).ok());
  EXPECT_FALSE(c.node(1).quiesced());
  c.stabilize();
  EXPECT_EQ(c.leader(), 2u);
  EXPECT_EQ(c.node(2).term(), term + 1);
  ASSERT_TRUE(c.propose(2, "b").ok());
  for (NodeId id : c.ids()) EXPECT_EQ(c.test_node(id).applied.back(), "b") << "node " << id;
}

TEST(Quiesce, ATransferAtAQuiescedLeaderToAnUnreachableTargetIsGivenUp) {
  TestCluster c({1, 2, 3});
  quiesce_idle_group(c);
  c.isolate(3);
  ASSERT_TRUE(c.node(1).transfer_leader(3).ok());
  EXPECT_FALSE(c.node(1).quiesced());
  EXPECT_EQ(c.node(1).lead_transferee(), 3u);
  c.stabilize();
  c.run_ticks(30);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.node(1).lead_transferee(), kNoNode);
  EXPECT_TRUE(c.node(1).propose(Slice::copy_of("y")).ok());
}

}  // namespace
}  // namespace raft::test
