// Groups created and removed on a running cluster (in-process nodes, real
// sockets and data dirs): a group created on three running nodes elects a
// leader and serves writes and reads while another group keeps taking
// writes; the created group survives a restart of every node with its data;
// after its removal its requests fail with NotFound, it stays removed after
// a restart even when [node] groups lists it, and its storage holds nothing
// but the tombstone (no entries, no snapshot files).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/log_env.h"
#include "storage/snapshot_file.h"
#include "tests/node/in_process_cluster.h"

namespace raft {
namespace {

using testing::Cluster;
using testing::eventually;

constexpr GroupId kStatic = 1;
constexpr GroupId kCreated = 5;  // On shard 1 of 2.

std::vector<PeerConfig> members_of(const Cluster& c) {
  std::vector<PeerConfig> out;
  std::vector<std::string> addresses = c.addresses();
  for (size_t i = 0; i < addresses.size(); ++i) {
    out.push_back(PeerConfig{i + 1, addresses[i], PeerRole::kVoter, ""});
  }
  return out;
}

bool group_led(Cluster& c, GroupId g) {
  uint64_t seen = 0;
  for (uint64_t id = 1; id <= c.size(); ++id) {
    auto l = c.node(id)->leader(g);
    if (!l.ok() || l->leader_id == 0) return false;
    if (seen != 0 && seen != l->leader_id) return false;
    seen = l->leader_id;
  }
  return true;
}

bool reads_everywhere(Cluster& c, GroupId g, const std::string& key, const std::string& want) {
  for (uint64_t id = 1; id <= c.size(); ++id) {
    auto r = c.node(id)->read(g, key);
    if (!r.ok() || *r != want) return false;
  }
  return true;
}

// Writes to the static group from its own thread until stopped; every write
// must succeed (through node 1, forwarded to the leader). A refusal (nothing
// proposed: an election on a loaded machine) is retried, as a client would,
// and counted; any other error fails the test.
class Load {
 public:
  explicit Load(Node* node) {
    thread_ = std::thread([this, node] {
      for (int i = 0; !stop_.load(); ++i) {
        auto r = node->propose(kStatic, absl::StrCat("load=", i));
        if (!r.ok() && outcome_of(r.status()) == Outcome::kRefused) {
          refused_.fetch_add(1);
          std::this_thread::sleep_for(std::chrono::milliseconds(2));  // A client's backoff.
          continue;
        }
        (r.ok() ? ok_ : failed_).fetch_add(1);
        if (!r.ok() && first_error_.empty()) first_error_ = r.status().ToString();
      }
    });
  }
  ~Load() { finish(); }
  void finish() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  uint64_t ok() const { return ok_.load(); }
  uint64_t failed() const { return failed_.load(); }
  uint64_t refused() const { return refused_.load(); }
  const std::string& first_error() const { return first_error_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ok_{0}, failed_{0}, refused_{0};
  std::string first_error_;
  std::thread thread_;
};

size_t snapshot_files(const std::string& snapshot_dir, GroupId g) {
  size_t n = 0;
  for (const auto& f : storage::list_snapshot_files(snapshot_dir)) n += f.group == g ? 1 : 0;
  return n;
}

std::string shard_dir(const Cluster& c, uint64_t id, GroupId g) {
  return absl::StrCat(c.data_dir(id), "/shard-", g % 2);
}

TEST(NodeGroupLifecycle, CreateUnderLoadRestartRemoveRestart) {
  Cluster c(3, "group-lifecycle");
  std::vector<GroupId> configured = {kStatic};
  c.tweak = [&](NodeConfig& cfg) {
    cfg.shards = 2;
    cfg.groups = configured;
  };
  c.start_all();
  ASSERT_TRUE(eventually([&] { return group_led(c, kStatic); }));
  ASSERT_TRUE(c.node(1)->propose(kStatic, "before=1").ok());
  const std::vector<PeerConfig> members = members_of(c);

  {
    Load load(c.node(1));
    ASSERT_TRUE(eventually([&] { return load.ok() > 5; }));
    for (uint64_t id = 1; id <= 3; ++id) {
      ASSERT_TRUE(c.node(id)->create_group(kCreated, members).ok()) << "node " << id;
    }
    ASSERT_TRUE(eventually([&] { return group_led(c, kCreated); }));
    ASSERT_TRUE(c.node(2)->propose(kCreated, "a=1").ok());
    EXPECT_TRUE(eventually([&] { return reads_everywhere(c, kCreated, "a", "1"); }));
    const uint64_t before = load.ok();
    EXPECT_TRUE(eventually([&] { return load.ok() > before + 5; }));
    load.finish();
    EXPECT_EQ(load.failed(), 0u) << load.first_error();
    EXPECT_LT(load.refused(), load.ok()) << "the static group was mostly without a leader";
  }

  // The answers of create_group.
  EXPECT_TRUE(c.node(1)->create_group(kCreated, members).ok());  // Same members: idempotent.
  EXPECT_EQ(c.node(1)->create_group(kCreated, {members[0], members[1]}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(c.node(1)->create_group(0, members).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.node(1)->create_group(9, {members[1], members[2]}).code(),
            absl::StatusCode::kInvalidArgument);  // Node 1 is not a member.
  EXPECT_EQ(c.node(1)->create_group(9, {members[0], members[0]}).code(),
            absl::StatusCode::kInvalidArgument);
  PeerConfig bad = members[0];
  bad.address = "no port";
  EXPECT_EQ(c.node(1)->create_group(9, {bad}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.node(1)->remove_group(9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.node(1)->groups(), (std::vector<GroupId>{kStatic, kCreated}));

  // A snapshot, so that the removal has a file to delete.
  auto snap = c.node(1)->make_snapshot(kCreated);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snapshot_files(shard_dir(c, 1, kCreated) + "/snapshots", kCreated), 1u);

  // Restart every node: the created group is back, with its data.
  for (uint64_t id = 1; id <= 3; ++id) c.stop(id);
  c.start_all();
  ASSERT_TRUE(eventually([&] { return group_led(c, kCreated); }));
  EXPECT_TRUE(eventually([&] { return reads_everywhere(c, kCreated, "a", "1"); }));
  ASSERT_TRUE(c.node(3)->propose(kCreated, "b=2").ok());
  EXPECT_TRUE(eventually([&] { return reads_everywhere(c, kCreated, "b", "2"); }));

  // Remove it from every member, under load on the static group.
  ASSERT_TRUE(eventually([&] { return group_led(c, kStatic); }));
  {
    Load load(c.node(1));
    ASSERT_TRUE(eventually([&] { return group_led(c, kStatic) && load.ok() > 5; }));
    for (uint64_t id = 1; id <= 3; ++id) {
      ASSERT_TRUE(c.node(id)->remove_group(kCreated).ok()) << "node " << id;
    }
    const uint64_t before = load.ok();
    EXPECT_TRUE(eventually([&] { return load.ok() > before + 5; }));
    load.finish();
    EXPECT_EQ(load.failed(), 0u) << load.first_error();
    EXPECT_LT(load.refused(), load.ok()) << "the static group was mostly without a leader";
  }
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(c.node(id)->propose(kCreated, "c=3").status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(c.node(id)->read(kCreated, "a").status().code(), absl::StatusCode::kNotFound);
    EXPECT_TRUE(c.node(id)->remove_group(kCreated).ok());  // Again: already removed.
    EXPECT_EQ(c.node(id)->create_group(kCreated, members).code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(c.node(id)->groups(), std::vector<GroupId>{kStatic});
  }
  EXPECT_TRUE(eventually(
      [&] { return snapshot_files(shard_dir(c, 1, kCreated) + "/snapshots", kCreated) == 0; }));

  // Restart, with the removed group now listed in [node] groups: it stays
  // removed, and the static group still serves.
  for (uint64_t id = 1; id <= 3; ++id) c.stop(id);
  configured = {kStatic, kCreated};
  c.start_all();
  ASSERT_TRUE(eventually([&] { return group_led(c, kStatic); }));
  EXPECT_TRUE(eventually([&] { return reads_everywhere(c, kStatic, "before", "1"); }));
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(c.node(id)->groups(), std::vector<GroupId>{kStatic});
    EXPECT_EQ(c.node(id)->propose(kCreated, "d=4").status().code(), absl::StatusCode::kNotFound);
  }
  for (uint64_t id = 1; id <= 3; ++id) c.stop(id);

  // Storage holds the tombstone and nothing else of it.
  for (uint64_t id = 1; id <= 3; ++id) {
    storage::EnvOptions eo;
    eo.dir = shard_dir(c, id, kCreated);
    eo.shard = 1;
    eo.shard_count = 2;
    eo.read_only = true;
    auto env = storage::LogEnv::open(eo);
    ASSERT_TRUE(env.ok()) << env.status();
    const storage::GroupState s = (*env)->group_state(kCreated);
    EXPECT_TRUE(s.removed()) << "node " << id;
    EXPECT_EQ(s.last_index, 0u);
    EXPECT_EQ(s.hard_state, HardState{});
    EXPECT_FALSE(s.snapshot.has_value());
    EXPECT_EQ((*env)->removed_groups(), std::vector<GroupId>{kCreated});
    EXPECT_TRUE((*env)->hosted_groups().empty());
    EXPECT_EQ(snapshot_files((*env)->snapshot_dir(), kCreated), 0u);
  }
}

// Requests waiting in a group when it is removed are answered, and a
// proposal racing the removal never hangs.
TEST(NodeGroupLifecycle, RemovalAnswersWaitingRequests) {
  Cluster c(1, "group-lifecycle-pending");
  c.tweak = [](NodeConfig& cfg) { cfg.groups = {kStatic}; };
  c.start_all();
  const std::vector<PeerConfig> members = members_of(c);
  ASSERT_TRUE(c.node(1)->create_group(kCreated, members).ok());
  ASSERT_TRUE(eventually([&] { return group_led(c, kCreated); }));
  std::atomic<int> answered{0};
  for (int i = 0; i < 50; ++i) {
    c.node(1)->propose(kCreated, absl::StrCat("k", i, "=v"),
                       [&](absl::StatusOr<ProposeResult>) { answered.fetch_add(1); });
  }
  ASSERT_TRUE(c.node(1)->remove_group(kCreated).ok());
  EXPECT_TRUE(eventually([&] { return answered.load() == 50; }))
      << answered.load() << " of 50 answered";
  EXPECT_EQ(c.node(1)->propose(kCreated, "x=1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(c.node(1)->propose(kStatic, "x=1").ok());
}

// A node outside a created group's initial members gets an empty replica
// (create_group with no members) and is added by the leader; it catches up,
// and its replica is reopened after a restart.
TEST(NodeGroupLifecycle, AnEmptyReplicaJoinsACreatedGroup) {
  Cluster c(3, "group-lifecycle-join");
  c.tweak = [](NodeConfig& cfg) {
    cfg.shards = 2;
    cfg.groups = {kStatic};
  };
  c.start_all();
  ASSERT_TRUE(eventually([&] { return group_led(c, kStatic); }));
  const std::vector<PeerConfig> all = members_of(c);
  const std::vector<PeerConfig> two = {all[0], all[1]};
  ASSERT_TRUE(c.node(1)->create_group(kCreated, two).ok());
  ASSERT_TRUE(c.node(2)->create_group(kCreated, two).ok());
  ASSERT_TRUE(c.node(3)->create_group(kCreated, {}).ok());
  ASSERT_TRUE(c.node(3)->create_group(kCreated, {}).ok());  // Idempotent.
  ASSERT_TRUE(eventually([&] {
    auto l1 = c.node(1)->leader(kCreated);
    auto l2 = c.node(2)->leader(kCreated);
    return l1.ok() && l2.ok() && l1->leader_id != 0 && l1->leader_id == l2->leader_id;
  }));
  ASSERT_TRUE(c.node(1)->propose(kCreated, "a=1").ok());
  auto added = c.node(1)->add_learner(kCreated, 3, all[2].address);
  ASSERT_TRUE(added.ok()) << added.status();
  auto stale_read = [&](const char* key, const char* want) {
    auto r = c.node(3)->read(kCreated, key, ReadConsistency::kStale);
    return r.ok() && *r == want;
  };
  EXPECT_TRUE(eventually([&] { return stale_read("a", "1"); }));
  c.stop(3);
  c.start(3);
  ASSERT_TRUE(c.node(1)->propose(kCreated, "b=2").ok());
  EXPECT_TRUE(eventually([&] { return stale_read("a", "1") && stale_read("b", "2"); }));
}

}  // namespace
}  // namespace raft
