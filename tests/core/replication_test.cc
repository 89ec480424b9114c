// Scenario tests: replication (fast backtracking, inflight window, bytes per
// message, pipelining, forwarding), limits and errors, and snapshots
// (slow follower after compaction, install while writes continue).
#include "tests/core/test_cluster.h"

namespace raft::test {
namespace {

std::vector<Entry> entries_of_terms(Index from, const std::vector<std::pair<Term, int>>& runs) {
  std::vector<Entry> out;
  Index i = from;
  for (const auto& [term, count] : runs) {
    for (int k = 0; k < count; ++k, ++i) {
      out.push_back(Entry{term, i, EntryType::kNormal, Slice::copy_of("t" + std::to_string(term))});
    }
  }
  return out;
}

std::unique_ptr<MemoryLogStorage> storage_with(const std::vector<Entry>& ents, Term term,
                                               const ConfState& cs) {
  auto s = std::make_unique<MemoryLogStorage>();
  EXPECT_TRUE(s->append(ents).ok());
  s->set_hard_state(HardState{term, kNoNode, 0});
  s->set_conf_state(cs);
  return s;
}

std::vector<Term> log_terms(MemoryLogStorage& s) {
  std::vector<Term> out;
  for (Index i = s.first_index(); i <= s.last_index(); ++i) out.push_back(*s.term(i));
  return out;
}

// A follower that diverged over a few terms but thousands of entries is
// repaired in round trips that grow with the number of terms.
TEST(FastBacktracking, ConvergesInRoundTripsPerTermNotPerEntry) {
  ConfState cs;
  cs.voters = {1, 2, 3};
  // Common prefix of 10 entries at term 1; the leader then has term 5;
  // followers 2 and 3 hold 3000 entries over terms 2, 3 and 4 that never
  // committed.
  std::vector<Entry> common = entries_of_terms(1, {{1, 10}});
  std::vector<Entry> leader_log = common;
  auto leader_tail = entries_of_terms(11, {{5, 10}});
  leader_log.insert(leader_log.end(), leader_tail.begin(), leader_tail.end());
  std::vector<Entry> follower_log = common;
  auto diverged = entries_of_terms(11, {{2, 1000}, {3, 1000}, {4, 1000}});
  follower_log.insert(follower_log.end(), diverged.begin(), diverged.end());

  TestCluster c({}, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
  });
  c.add_node_with_storage(1, storage_with(leader_log, 5, cs));
  c.add_node_with_storage(2, storage_with(follower_log, 4, cs));
  c.add_node_with_storage(3, storage_with(follower_log, 4, cs));
  c.elect(1);
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.storage(2).last_index(), c.storage(1).last_index());
  EXPECT_EQ(log_terms(c.storage(2)), log_terms(c.storage(1)));
  EXPECT_EQ(log_terms(c.storage(3)), log_terms(c.storage(1)));
  // Three diverging terms: a handful of rejections per follower, not 3000.
  const int rejects = c.rejected_of_type(MessageType::kAppendResponse);
  EXPECT_GE(rejects, 2);
  EXPECT_LE(rejects, 2 * 4) << "rejections must grow with terms, not entries";
}

TEST(FastBacktracking, LeaderWithLongerDivergentLogConverges) {
  ConfState cs;
  cs.voters = {1, 2};
  std::vector<Entry> leader_log = entries_of_terms(1, {{1, 5}, {3, 500}, {6, 500}});
  std::vector<Entry> follower_log = entries_of_terms(1, {{1, 5}, {2, 200}, {4, 200}, {5, 300}});
  TestCluster c({}, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
  });
  c.add_node_with_storage(1, storage_with(leader_log, 6, cs));
  c.add_node_with_storage(2, storage_with(follower_log, 5, cs));
  c.elect(1);
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(log_terms(c.storage(2)), log_terms(c.storage(1)));
  EXPECT_LE(c.rejected_of_type(MessageType::kAppendResponse), 6);
  EXPECT_EQ(c.node(2).commit_index(), c.node(1).commit_index());
}

TEST(Replication, FollowerForwardsProposals) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  ASSERT_TRUE(c.propose(3, "via-follower").ok());
  for (NodeId id : c.ids()) {
    EXPECT_EQ(c.test_node(id).applied, std::vector<std::string>{"via-follower"}) << id;
  }
}

TEST(Replication, ClearErrorsWithoutLeader) {
  TestCluster c({1, 2, 3});
  absl::Status s = c.node(2).propose(Slice::copy_of("x"));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("no leader"), std::string::npos) << s;
  EXPECT_TRUE(absl::IsUnavailable(c.node(2).read_index(Slice::copy_of("r"))));
}

TEST(Replication, FollowerWithoutForwardingNamesTheLeader) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.disable_proposal_forwarding = true; });
  c.elect(1);
  absl::Status s = c.node(2).propose(Slice::copy_of("x"));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("leader is 1"), std::string::npos) << s;
}

TEST(Replication, InflightWindowBoundsUnackedAppends) {
  TestCluster c({1, 2, 3}, [](Config& cfg) {
    cfg.max_inflight_msgs = 4;
    cfg.max_size_per_msg = 0;  // One entry per message.
  });
  c.elect(1);
  c.cut_one_way(3, 1);  // The leader never hears back from 3.
  int appends_to_3 = 0;
  c.set_observer([&](const Message& m) {
    if (m.type == MessageType::kAppend && m.to == 3 && !m.entries.empty()) ++appends_to_3;
  });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.propose(1, "e" + std::to_string(i)).ok());
  EXPECT_EQ(appends_to_3, 4);
  NodeStatus st = c.node(1).status();
  for (const PeerStatus& p : st.progress) {
    if (p.id == 3) {
      EXPECT_EQ(p.inflight, 4u);
      EXPECT_EQ(p.state, ProgressState::kReplicate);
    }
  }
  c.heal();
  c.run_ticks(5);
  EXPECT_EQ(c.test_node(3).applied.size(), 20u);
  EXPECT_EQ(c.test_node(3).applied, c.test_node(1).applied);
}

TEST(Replication, BytesPerMessageCap) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.max_size_per_msg = 100; });
  c.elect(1);
  size_t max_seen = 0;
  int appends = 0;
  c.set_observer([&](const Message& m) {
    if (m.type != MessageType::kAppend || m.entries.empty()) return;
    ++appends;
    size_t bytes = 0;
    for (const Entry& e : m.entries) bytes += e.data.size();
    if (m.entries.size() > 1) max_seen = std::max(max_seen, bytes);
  });
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(c.node(1).propose(Slice(std::string(40, 'a' + i))).ok());
  }
  c.stabilize();
  EXPECT_LE(max_seen, 100u);
  EXPECT_GE(appends, 2 * 5);  // 10 x 40 bytes, at most 2 per message, 2 followers.
  EXPECT_EQ(c.test_node(2).applied.size(), 10u);
}

TEST(Replication, OptimisticPipelining) {
  TestCluster c({1, 2});
  c.elect(1);
  ASSERT_TRUE(c.node(1).propose(Slice::copy_of("a")).ok());
  c.handle_ready(1);
  ASSERT_TRUE(c.node(1).propose(Slice::copy_of("b")).ok());
  c.handle_ready(1);
  // Two appends in flight to node 2 before any ack.
  std::vector<Message> q = c.take_queue();
  int appends = 0;
  for (const Message& m : q) appends += m.type == MessageType::kAppend ? 1 : 0;
  EXPECT_EQ(appends, 2);
  for (Message& m : q) c.deliver(std::move(m));
  c.stabilize();
  EXPECT_EQ(c.test_node(2).applied, (std::vector<std::string>{"a", "b"}));
}

TEST(Replication, BurstOfProposalsBecomesOneMessagePerFollower) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.reset_counters();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c.node(1).propose(Slice::copy_of("x")).ok());
  c.handle_ready(1);
  std::vector<Message> q = c.take_queue();
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].entries.size(), 100u);
  for (Message& m : q) c.deliver(std::move(m));
  c.stabilize();
  EXPECT_EQ(c.test_node(3).applied.size(), 100u);
}

TEST(Limits, UncommittedBytesCapGivesBackpressure) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.max_uncommitted_entries_bytes = 100; });
  c.elect(1);
  c.test_node(2).down = true;
  c.test_node(3).down = true;
  int accepted = 0;
  absl::Status last;
  for (int i = 0; i < 30; ++i) {
    last = c.node(1).propose(Slice(std::string(10, 'x')));
    if (!last.ok()) break;
    ++accepted;
  }
  EXPECT_EQ(accepted, 10);
  EXPECT_TRUE(absl::IsResourceExhausted(last)) << last;
  c.stabilize();
  c.test_node(2).down = false;
  c.test_node(3).down = false;
  c.run_ticks(3);
  EXPECT_EQ(c.test_node(2).applied.size(), 10u);
  // Committed entries free their budget.
  EXPECT_TRUE(c.node(1).propose(Slice(std::string(10, 'y'))).ok());
}

TEST(Snapshot, SlowFollowerAfterCompactionGetsSnapshot) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.test_node(3).down = true;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).ok());
  c.compact(1);
  c.compact(2);
  ASSERT_GT(c.storage(1).first_index(), 2u);
  c.test_node(3).down = false;
  c.run_ticks(5);
  EXPECT_GT(c.test_node(3).snapshot_index, 0u);
  EXPECT_EQ(c.test_node(3).applied, c.test_node(1).applied);
  EXPECT_EQ(c.node(3).commit_index(), c.node(1).commit_index());
  ASSERT_TRUE(c.propose(1, "after").ok());
  EXPECT_EQ(c.test_node(3).applied.back(), "after");
  EXPECT_EQ(c.test_node(3).applied.size(), 51u);
}

TEST(Snapshot, InstalledWhileWritesContinue) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.test_node(3).down = true;
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(c.propose(1, "a" + std::to_string(i)).ok());
  c.compact(1);
  c.test_node(3).down = false;
  // Keep writing while the snapshot travels and is installed: one delivery
  // round per proposal.
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(c.node(1).propose(Slice::copy_of("b" + std::to_string(i))).ok());
    c.tick_all();
    for (NodeId id : c.ids()) {
      if (c.node(id).has_ready()) c.handle_ready(id);
    }
    c.deliver_all();
  }
  c.stabilize();
  c.run_ticks(3);
  EXPECT_GT(c.test_node(3).snapshot_index, 0u);
  ASSERT_EQ(c.test_node(1).applied.size(), 70u);
  EXPECT_EQ(c.test_node(3).applied, c.test_node(1).applied);
  EXPECT_EQ(c.test_node(2).applied, c.test_node(1).applied);
}

TEST(Snapshot, FailedSnapshotReportIsRetried) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  c.test_node(3).down = true;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).ok());
  c.compact(1);
  c.compact(2);
  c.test_node(3).down = false;
  // The first snapshot is lost in transit; the runtime reports failure.
  bool dropped = false;
  c.set_drop([&](const Message& m) {
    if (m.type == MessageType::kSnapshot && !dropped) {
      dropped = true;
      return true;
    }
    return false;
  });
  c.run_ticks(2);
  ASSERT_TRUE(dropped);
  bool in_snapshot_state = false;
  for (const PeerStatus& p : c.node(1).status().progress) {
    if (p.id == 3) in_snapshot_state = p.state == ProgressState::kSnapshot;
  }
  EXPECT_TRUE(in_snapshot_state);
  c.node(1).report_snapshot(3, false);
  c.run_ticks(3);
  EXPECT_EQ(c.test_node(3).applied, c.test_node(1).applied);
  EXPECT_EQ(c.test_node(3).applied.size(), 10u);
}

TEST(Snapshot, RestartFromCompactedStorage) {
  TestCluster c({1, 2, 3});
  c.elect(1);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).ok());
  c.compact(2);
  c.restart(2);
  EXPECT_EQ(c.node(2).commit_index(), c.node(1).commit_index());
  ASSERT_TRUE(c.propose(1, "w").ok());
  EXPECT_EQ(c.test_node(2).applied.back(), "w");
}

}  // namespace
}  // namespace raft::test
