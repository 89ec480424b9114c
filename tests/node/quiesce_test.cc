// Quiescence on real nodes (in-process cluster, real sockets): idle groups
// stop ticking and send no Raft messages (only the node-level beats), a
// proposal to a quiesced group commits, a leader killed while its groups
// are quiesced is replaced in every group, and a node restarted under
// quiesced groups catches up and lets them quiesce again.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/node/in_process_cluster.h"

namespace raft {
namespace {

using testing::Cluster;
using testing::eventually;
using testing::every_group_led;
using testing::metric;

constexpr int kGroups = 24;

void make_cluster(Cluster& c, uint32_t quiesce_ticks = 10) {
  c.tweak = [quiesce_ticks](NodeConfig& cfg) {
    cfg.groups.clear();
    for (uint64_t g = 1; g <= kGroups; ++g) cfg.groups.push_back(g);
    cfg.quiesce_ticks = quiesce_ticks;
  };
  c.start_all();
}

bool all_quiesced(Cluster& c, const std::vector<uint64_t>& running) {
  for (uint64_t id : running) {
    if (metric(*c.node(id), "ringraft_groups_quiesced") != kGroups) return false;
  }
  return true;
}

// Proposes one write to every group through `at` (forwarded to the leaders).
void write_all(Cluster& c, uint64_t at, const std::string& tag) {
  for (GroupId g = 1; g <= kGroups; ++g) {
    auto r = c.node(at)->propose(g, absl::StrCat("k", g, "=", tag));
    ASSERT_TRUE(r.ok()) << "group " << g << ": " << r.status();
  }
}

TEST(NodeQuiesce, IdleGroupsStopSendingAndWakeForAProposal) {
  Cluster c(3, "quiesce-idle");
  make_cluster(c);
  ASSERT_TRUE(eventually([&] { return every_group_led(c, kGroups, {1, 2, 3}); }));
  write_all(c, 1, "a");
  ASSERT_TRUE(eventually([&] { return all_quiesced(c, {1, 2, 3}); })) << c.node(1)->metrics_text();
  // Quiesced: over 50 ticks (500 ms) no Raft message at all, only beats.
  // (A wake-up in between would show as messages; allow none.)
  const uint64_t sent = metric(*c.node(1), "ringraft_raft_messages_sent_total") +
                        metric(*c.node(2), "ringraft_raft_messages_sent_total") +
                        metric(*c.node(3), "ringraft_raft_messages_sent_total");
  const uint64_t beats = metric(*c.node(1), "ringraft_liveness_beats_total");
  ASSERT_TRUE(eventually(
      [&] { return metric(*c.node(1), "ringraft_liveness_beats_total") >= beats + 100; }));
  const uint64_t sent_after = metric(*c.node(1), "ringraft_raft_messages_sent_total") +
                              metric(*c.node(2), "ringraft_raft_messages_sent_total") +
                              metric(*c.node(3), "ringraft_raft_messages_sent_total");
  EXPECT_EQ(sent_after, sent);
  EXPECT_TRUE(all_quiesced(c, {1, 2, 3}));

  // A proposal to each quiesced group commits and reaches every replica.
  write_all(c, 2, "b");
  for (uint64_t id : {1, 2, 3}) {
    ASSERT_TRUE(eventually([&] {
      for (GroupId g = 1; g <= kGroups; ++g) {
        auto v = c.node(id)->read(g, absl::StrCat("k", g), ReadConsistency::kStale);
        if (!v.ok() || *v != "b") return false;
      }
      return true;
    })) << "node "
        << id;
  }
  // And the groups go quiet again.
  EXPECT_TRUE(eventually([&] { return all_quiesced(c, {1, 2, 3}); }));
}

// Groups that do not quiesce (quiescence off here) heartbeat every tick;
// between two nodes those heartbeats and their answers travel as compact
// records coalesced into the peer batches, several groups per frame.
TEST(NodeQuiesce, HeartbeatsOfActiveGroupsTravelCoalesced) {
  Cluster c(3, "quiesce-off-coalesced");
  make_cluster(c, /*quiesce_ticks=*/0);
  ASSERT_TRUE(eventually([&] { return every_group_led(c, kGroups, {1, 2, 3}); }));
  write_all(c, 1, "a");
  Node& n = *c.node(1);
  const uint64_t messages = metric(n, "ringraft_raft_messages_sent_total");
  const uint64_t coalesced = metric(n, "ringraft_heartbeats_coalesced_total");
  const uint64_t frames = metric(n, "ringraft_raft_frames_sent_total");
  ASSERT_TRUE(
      eventually([&] { return metric(n, "ringraft_raft_frames_sent_total") >= frames + 100; }));
  const uint64_t d_messages = metric(n, "ringraft_raft_messages_sent_total") - messages;
  const uint64_t d_coalesced = metric(n, "ringraft_heartbeats_coalesced_total") - coalesced;
  const uint64_t d_frames = metric(n, "ringraft_raft_frames_sent_total") - frames;
  std::printf("node 1: %llu messages (%llu coalesced) in %llu frames\n",
              static_cast<unsigned long long>(d_messages),
              static_cast<unsigned long long>(d_coalesced),
              static_cast<unsigned long long>(d_frames));
  EXPECT_EQ(metric(n, "ringraft_groups_quiesced"), 0u);
  // Idle: (nearly) everything sent is a heartbeat or its answer.
  EXPECT_GE(d_coalesced * 10, d_messages * 9);
  EXPECT_GE(d_messages, d_frames * 3);
}

TEST(NodeQuiesce, ALeaderKilledWhileQuiescedIsReplacedInEveryGroup) {
  Cluster c(3, "quiesce-kill");
  make_cluster(c);
  ASSERT_TRUE(eventually([&] { return every_group_led(c, kGroups, {1, 2, 3}); }));
  write_all(c, 1, "a");
  ASSERT_TRUE(eventually([&] { return all_quiesced(c, {1, 2, 3}); }));
  // Node 1 leads some groups (leadership spreads by election timing); put
  // all of them there so its death leaves every group without a leader.
  for (GroupId g = 1; g <= kGroups; ++g) {
    auto l = c.node(1)->leader(g);
    ASSERT_TRUE(l.ok());
    if (l->leader_id != 1) {
      ASSERT_TRUE(c.node(1)->transfer_leader(g, 1).ok()) << "group " << g;
    }
  }
  ASSERT_TRUE(eventually([&] { return all_quiesced(c, {1, 2, 3}); }));
  const auto killed_at = std::chrono::steady_clock::now();
  c.stop(1);
  // Followers stop hearing node 1 within an election timeout (20 ticks,
  // 200 ms) and elect within the random part of the next: well inside 5 s
  // even on a loaded machine.
  ASSERT_TRUE(eventually(
      [&] {
        return every_group_led(c, kGroups, {2, 3});
      },
      std::chrono::seconds(5)));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed_at);
  std::printf("all %d groups re-led %lld ms after the kill\n", kGroups,
              static_cast<long long>(took.count()));
  write_all(c, 2, "after-kill");

  // Node 1 comes back: it learns the new leaders, catches up, and the
  // groups quiesce again on all three nodes.
  c.start(1);
  ASSERT_TRUE(eventually([&] { return every_group_led(c, kGroups, {1, 2, 3}); }));
  ASSERT_TRUE(eventually([&] {
    for (GroupId g = 1; g <= kGroups; ++g) {
      auto v = c.node(1)->read(g, absl::StrCat("k", g), ReadConsistency::kStale);
      if (!v.ok() || *v != "after-kill") return false;
    }
    return true;
  }));
  EXPECT_TRUE(eventually([&] { return all_quiesced(c, {1, 2, 3}); }));
}

}  // namespace
}  // namespace raft
