// Batched bootstrap of many groups (issue 19, start-up): a shard writes the
// static peer lists of all its fresh groups in a few synced LMDB
// transactions (WritePipeline::bootstrap_groups), not one commit per group.
//   * 5,000 groups (two transactions) in one call: each recovers after a
//     reopen with its three conf changes and hard state, and is no longer
//     fresh;
//   * a crash between two transactions leaves some groups bootstrapped and
//     the others untouched: the next open bootstraps exactly the missing
//     ones, and every group ends with the same log;
//   * real nodes: 3 in-process nodes with 300 groups each bootstrap, elect,
//     stop and restart; every group again has a leader and its three voters.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/conf_change.h"
#include "engine/node/group.h"
#include "engine/node/write_pipeline.h"
#include "net/reactor.h"
#include "storage/log_env.h"
#include "tests/node/in_process_cluster.h"
#include "tests/storage/test_util.h"

namespace raft {
namespace {

using storage::testing::TempDir;

// A snapshot store that holds none (what a fresh shard has).
class NoSnapshots final : public SnapshotStore {
 public:
  std::optional<StoredSnapshot> held(GroupId) const override { return std::nullopt; }
  absl::StatusOr<std::unique_ptr<SnapshotReader>> open(GroupId, const StoredSnapshot&) override {
    return absl::UnimplementedError("no snapshots");
  }
  void write(GroupId, Index, Term, std::string, std::unique_ptr<SnapshotView>,
             absl::AnyInvocable<void(absl::StatusOr<SnapshotFileSummary>)> done) override {
    done(absl::UnimplementedError("no snapshots"));
  }
  void discard(GroupId, const StoredSnapshot&) override {}
};

class NoOutbox final : public Outbox {
 public:
  void send(const Message&) override {}
  void send_snapshot(const Message&, const StoredSnapshot&) override {}
  void peer_address(NodeId, const std::string&) override {}
};

std::vector<PeerConfig> three_peers() {
  std::vector<PeerConfig> peers;
  for (NodeId id = 1; id <= 3; ++id) {
    PeerConfig p;
    p.id = id;
    p.address = "127.0.0.1:" + std::to_string(7000 + id);
    peers.push_back(p);
  }
  return peers;
}

// One shard's env and write pipeline (not started: the bootstrap is
// synchronous and runs before the shard starts).
struct Shard {
  explicit Shard(const std::string& dir) {
    storage::EnvOptions options;
    options.dir = dir;
    options.journal = true;
    options.initial_map_bytes = 256 << 20;
    auto e = storage::LogEnv::open(options);
    EXPECT_TRUE(e.ok()) << e.status();
    env = std::move(*e);
    pipeline = std::make_unique<WritePipeline>(*env, 0, metrics, WritePipeline::Callbacks{});
  }
  GroupPorts ports() { return GroupPorts{pipeline.get(), &outbox, &snapshots}; }

  // The bootstrap writes of the fresh groups among 1..n.
  std::vector<GroupBootstrap> fresh_writes(GroupId n) {
    std::vector<GroupBootstrap> writes;
    for (GroupId g = 1; g <= n; ++g) {
      auto w = Group::bootstrap_write(g, ports(), three_peers());
      EXPECT_TRUE(w.ok()) << w.status();
      if (w.ok() && w->has_value()) writes.push_back(std::move(**w));
    }
    return writes;
  }

  std::unique_ptr<storage::LogEnv> env;
  ShardMetrics metrics;
  std::unique_ptr<WritePipeline> pipeline;
  NoOutbox outbox;
  NoSnapshots snapshots;
};

// Group g's durable log is the bootstrap of three voters 1..3, committed.
void expect_bootstrapped(Shard& s, GroupId g) {
  SCOPED_TRACE(::testing::Message() << "group " << g);
  std::unique_ptr<GroupLog> log = s.pipeline->open_log(g, ConfState{});
  auto st = log->initial_state();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->hard_state, (HardState{1, kNoNode, 3}));
  ASSERT_EQ(log->last_index(), 3u);
  auto entries = log->entries(1, 4, UINT64_MAX);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const Entry& e = (*entries)[i];
    EXPECT_EQ(e.term, 1u);
    EXPECT_EQ(e.index, i + 1);
    ASSERT_EQ(e.type, EntryType::kConfChange);
    auto cc = decode_conf_change(e.data.view());
    ASSERT_TRUE(cc.ok()) << cc.status();
    ASSERT_EQ(cc->changes.size(), 1u);
    EXPECT_EQ(cc->changes[0].type, ConfChangeType::kAddVoter);
    EXPECT_EQ(cc->changes[0].node, i + 1);
  }
}

TEST(BatchedBootstrap, ManyGroupsInAFewCommitsRecoverAfterReopen) {
  constexpr GroupId kGroups = 5000;  // Two transactions of at most 4,096 groups.
  TempDir dir;
  {
    Shard s(dir.sub("shard-0"));
    std::vector<GroupBootstrap> writes = s.fresh_writes(kGroups);
    ASSERT_EQ(writes.size(), kGroups);
    const uint64_t commits0 = s.env->stats().commits;
    ASSERT_TRUE(s.pipeline->bootstrap_groups(writes).ok());
    const uint64_t commits = s.env->stats().commits - commits0;
    EXPECT_EQ(commits, (kGroups + WritePipeline::kBootstrapGroupsPerCommit - 1) /
                           WritePipeline::kBootstrapGroupsPerCommit);
    EXPECT_TRUE(s.fresh_writes(kGroups).empty()) << "bootstrapped groups are not fresh";
  }
  Shard again(dir.sub("shard-0"));
  EXPECT_TRUE(again.fresh_writes(kGroups).empty()) << "a reopened group is not fresh";
  for (GroupId g = 1; g <= kGroups; ++g) expect_bootstrapped(again, g);
  EXPECT_EQ(again.env->groups().size(), kGroups);
}

TEST(BatchedBootstrap, ACrashBetweenTransactionsIsCompletedAtTheNextOpen) {
  constexpr GroupId kGroups = 3000;
  TempDir dir;
  {
    // The first transaction of a batched bootstrap commits, then the node
    // dies: groups 1..1000 are bootstrapped, the others have nothing.
    Shard s(dir.sub("shard-0"));
    std::vector<GroupBootstrap> writes = s.fresh_writes(kGroups);
    ASSERT_EQ(writes.size(), kGroups);
    writes.resize(1000);
    ASSERT_TRUE(s.pipeline->bootstrap_groups(writes).ok());
  }
  {
    Shard s(dir.sub("shard-0"));
    std::vector<GroupBootstrap> missing = s.fresh_writes(kGroups);
    ASSERT_EQ(missing.size(), kGroups - 1000);
    EXPECT_EQ(missing.front().group, 1001u);
    EXPECT_EQ(missing.back().group, kGroups);
    ASSERT_TRUE(s.pipeline->bootstrap_groups(missing).ok());
  }
  Shard again(dir.sub("shard-0"));
  EXPECT_TRUE(again.fresh_writes(kGroups).empty());
  for (GroupId g = 1; g <= kGroups; ++g) expect_bootstrapped(again, g);
}

// Real nodes: every group of a batched bootstrap elects, and again after a
// restart of the whole cluster, with its three voters.
TEST(BatchedBootstrap, NodesWithManyGroupsElectAndRecoverEveryGroup) {
  constexpr GroupId kGroups = 300;
  raft::testing::Cluster c(3, "batched-bootstrap");
  c.tweak = [](NodeConfig& cfg) {
    cfg.groups.clear();
    for (GroupId g = 1; g <= kGroups; ++g) cfg.groups.push_back(g);
  };
  auto all_led = [&] {
    for (GroupId g = 1; g <= kGroups; ++g) {
      auto l = c.node(1)->leader(g);
      if (!l.ok() || l->leader_id == 0) return false;
    }
    return true;
  };
  auto three_voters = [&](uint64_t at) {
    for (GroupId g = 1; g <= kGroups; ++g) {
      auto m = c.node(at)->members(g);
      if (!m.ok() || m->size() != 3) return false;
    }
    return true;
  };
  c.start_all();
  ASSERT_TRUE(raft::testing::eventually(all_led, std::chrono::seconds(60)));
  ASSERT_TRUE(c.node(1)->propose(7, "k=v").ok());
  for (uint64_t id = 1; id <= 3; ++id) c.stop(id);
  c.start_all();
  ASSERT_TRUE(raft::testing::eventually(all_led, std::chrono::seconds(60)));
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_TRUE(three_voters(id)) << "node " << id;
  EXPECT_TRUE(c.node(1)->propose(7, "k=w").ok());
}

}  // namespace
}  // namespace raft
