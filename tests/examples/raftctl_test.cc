// raftctl against a live 3-node memstore cluster (describe node, members,
// transfer-leader, snapshot) and against the data dirs it leaves behind
// (describe logs / metadata), plus its errors for missing or damaged dirs.
#include <gtest/gtest.h>

#include "tests/examples/memstore_cluster.h"

namespace raft::examples_test {
namespace {

using namespace std::chrono_literals;

class RaftctlTest : public ::testing::Test {
 protected:
  void SetUp() override { scratch_ = temp_dir("raftctl-scratch"); }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  CommandResult raftctl(const std::string& args) {
    return run_command(std::string(RAFTCTL_BIN) + " " + args, scratch_);
  }
  std::string scratch_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST_F(RaftctlTest, MissingOrDamagedDataDirIsAClearError) {
  CommandResult r = raftctl("describe metadata " + scratch_ + "/nothing-here");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "no such data dir")) << r.err;

  std::filesystem::create_directories(scratch_ + "/empty");
  r = raftctl("describe logs " + scratch_ + "/empty");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "not a ringraft data dir")) << r.err;

  std::filesystem::create_directories(scratch_ + "/bad/shard-0");
  std::ofstream(scratch_ + "/bad/shard-0/data.mdb") << std::string(8192, 'x');
  r = raftctl("describe metadata " + scratch_ + "/bad");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "cannot open " + scratch_ + "/bad/shard-0")) << r.err;

  std::filesystem::create_directories(scratch_ + "/badid/shard-0");
  std::ofstream(scratch_ + "/badid/shard-0/data.mdb") << "";
  std::ofstream(scratch_ + "/badid/node_id") << "banana";
  r = raftctl("describe metadata " + scratch_ + "/badid");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "not a node id")) << r.err;

  r = raftctl("describe");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "usage")) << r.err;
  r = raftctl("snapshot");  // No --cluster.
  EXPECT_EQ(r.status, 2);
  r = raftctl("describe node 127.0.0.1:1 --group");
  EXPECT_EQ(r.status, 2);
}

TEST_F(RaftctlTest, LiveClusterThenItsDataDirs) {
  MemstoreCluster cluster(3, "raftctl-live");
  cluster.start_all();
  const int leader = cluster.wait_leader();
  ASSERT_NE(leader, 0);
  const std::string all = absl::StrCat("--cluster ", cluster.raft_address(1), ",",
                                       cluster.raft_address(2), ",", cluster.raft_address(3));
  ASSERT_EQ(http(cluster.http_address(leader), "PUT", "/store/raftctl-key", "raftctl-value").status,
            201);

  // describe node: a table by default, the runtime's JSON with --json.
  CommandResult r = raftctl("describe node " + cluster.raft_address(leader));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "role")) << r.out;
  EXPECT_TRUE(contains(r.out, "leader")) << r.out;
  EXPECT_TRUE(contains(r.out, "TERM") || contains(r.out, "term")) << r.out;
  r = raftctl("describe node " + cluster.raft_address(leader) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"role\":\"leader\"")) << r.out;
  r = raftctl("describe node 127.0.0.1:1");  // Nobody there.
  EXPECT_EQ(r.status, 1);

  // members list / add / remove.
  r = raftctl("members list " + all);
  ASSERT_EQ(r.status, 0) << r.err;
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(contains(r.out, cluster.raft_address(i))) << r.out;
  r = raftctl("members add 9 127.0.0.1:9 --learner --json " + all);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"learners\":[9]")) << r.out;
  r = raftctl("members remove 9 " + all);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(contains(r.out, "9")) << r.out;
  r = raftctl("members remove 0 " + all);
  EXPECT_EQ(r.status, 2);

  // snapshot and transfer-leader.
  r = raftctl("snapshot --json " + all);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"snapshot_index\":")) << r.out;
  const int target = leader == 3 ? 1 : leader + 1;
  r = raftctl(absl::StrCat("transfer-leader ", target, " ", all));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(eventually([&] { return cluster.wait_leader() == target; }));
  r = raftctl(absl::StrCat("transfer-leader 42 ", all));
  EXPECT_EQ(r.status, 1);

  // A live node holds its data dir: raftctl says so instead of reading it.
  r = raftctl("describe metadata " + cluster.data_dir(1));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(contains(r.err, "is a node running on it?")) << r.err;

  for (int i = 1; i <= 3; ++i) {
    cluster.process(i)->kill(SIGTERM);
    ASSERT_EQ(cluster.process(i)->wait_exit(15s), std::optional<int>(0));
  }

  // The stopped nodes' data dirs.
  r = raftctl("describe metadata " + cluster.data_dir(2));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "node 2")) << r.out;
  EXPECT_TRUE(contains(r.out, "1,2,3")) << r.out;  // Voters.
  r = raftctl("describe metadata --json " + cluster.data_dir(2));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"node_id\":2")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"voters\":[1,2,3]")) << r.out;

  r = raftctl("describe logs " + cluster.data_dir(2));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "raftctl-key")) << r.out;    // Printable preview.
  EXPECT_TRUE(contains(r.out, "add_learner 9")) << r.out;  // Decoded conf change.
  r = raftctl("describe logs --raw " + cluster.data_dir(2));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "7261667463746c2d6b6579")) << r.out;  // "raftctl-key" in hex.
  r = raftctl("describe logs --json --limit 2 " + cluster.data_dir(2));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"entries\":[{\"index\":")) << r.out;
  EXPECT_EQ(count(r.out, "{\"index\":"), 2u) << r.out;
  r = raftctl("describe logs --json --from 3 --limit 1 --group 1 " + cluster.data_dir(2));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"entries\":[{\"index\":3,")) << r.out;
  EXPECT_EQ(count(r.out, "{\"index\":"), 1u) << r.out;
  r = raftctl("describe logs --group 7 " + cluster.data_dir(2));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "group 7 has no log")) << r.err;
}

// Groups at runtime: raftctl group create/remove and memstore's /groups ask
// every member and report each one's answer; a member that is down is
// reported, and running the command again once it is back finishes the job.
TEST_F(RaftctlTest, GroupCreateAndRemoveFanOutToEveryMember) {
  MemstoreCluster cluster(3, "raftctl-groups");
  cluster.start_all();
  ASSERT_NE(cluster.wait_leader(), 0);
  std::string members;
  for (int i = 1; i <= 3; ++i) {
    absl::StrAppend(&members, i > 1 ? "," : "", i, "=", cluster.raft_address(i));
  }
  const std::string all = absl::StrCat("--cluster ", cluster.raft_address(1), ",",
                                       cluster.raft_address(2), ",", cluster.raft_address(3));

  CommandResult r = raftctl("group create 7 --json --members " + members);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "\"ok\":3,\"failed\":0")) << r.out;
  // The new group elects a leader and answers as any group does.
  EXPECT_TRUE(eventually([&] {
    for (int i = 1; i <= 3; ++i) {
      CommandResult d = raftctl("describe node " + cluster.raft_address(i) + " --group 7 --json");
      if (d.status == 0 && contains(d.out, "\"role\":\"leader\"")) return true;
    }
    return false;
  }));
  r = raftctl("members list --group 7 " + all);
  ASSERT_EQ(r.status, 0) << r.err;
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(contains(r.out, cluster.raft_address(i))) << r.out;
  r = raftctl("group create 7 --members " + members);  // Again: nothing to do.
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  r = raftctl("group create 0 --members " + members);
  EXPECT_EQ(r.status, 2);
  r = raftctl("group create 7 --members 1=" + cluster.raft_address(1));  // Other members.
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.out, "AlreadyExists") || contains(r.out, "ALREADY_EXISTS")) << r.out;

  // memstore's HTTP API does the same.
  HttpResult h = http(cluster.http_address(1), "POST", "/groups?id=8&members=" + members);
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_TRUE(contains(h.body, "\"ok\":3,\"failed\":0")) << h.body;
  h = http(cluster.http_address(2), "POST", "/groups",
           absl::StrCat("{\"id\":8,\"members\":\"", members, "\"}"));
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(http(cluster.http_address(1), "POST", "/groups?id=9&members=banana").status, 400);
  EXPECT_EQ(http(cluster.http_address(1), "POST", "/groups?members=" + members).status, 400);
  EXPECT_EQ(http(cluster.http_address(1), "DELETE", "/groups/0").status, 400);

  // Remove group 7 while node 3 is down: two of three, then the rest.
  cluster.process(3)->kill(SIGTERM);
  ASSERT_EQ(cluster.process(3)->wait_exit(15s), std::optional<int>(0));
  r = raftctl("group remove 7 --members " + members);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "removed from 2 of 3")) << r.out;
  EXPECT_TRUE(contains(r.out, "no answer")) << r.out;
  cluster.start(3);
  EXPECT_TRUE(eventually([&] {
    return raftctl("describe node " + cluster.raft_address(3) + " --group 7").status == 0;
  })) << "node 3 did not reopen group 7";
  r = raftctl("group remove 7 --members " + members);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "removed from 3 of 3")) << r.out;
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(raftctl("describe node " + cluster.raft_address(i) + " --group 7").status, 1);
  }
  r = raftctl("group create 7 --members " + members);  // A removed id is never reused.
  EXPECT_EQ(r.status, 1);

  h = http(cluster.http_address(1), "DELETE", "/groups/8?members=" + members);
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_TRUE(contains(h.body, "\"ok\":3,\"failed\":0")) << h.body;
  h = http(cluster.http_address(2), "DELETE", "/groups/8");  // This node only: already removed.
  EXPECT_EQ(h.status, 200) << h.body;
  h = http(cluster.http_address(2), "DELETE", "/groups/12");  // Never hosted.
  EXPECT_EQ(h.status, 404) << h.body;
}

}  // namespace
}  // namespace raft::examples_test
