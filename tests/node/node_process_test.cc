// Multi-process cluster tests: every node is a ringraft_test_node process with
// real sockets on 127.0.0.1 and a real LMDB data dir. Bootstrap (static and
// dynamic join), replication, a leader that leaves, restart from disk, and
// two groups hosted by the same processes.
#include <gtest/gtest.h>

#include "tests/node/process_fixture.h"

namespace raft::testing {
namespace {

class NodeProcess : public ProcessTest {
 protected:
  void static_bootstrap(int n, const std::string& name) {
    ProcessCluster& c = make_cluster(name);
    c.define_static(n);
    ASSERT_RAFT_OK(c.start_all());
    uint64_t leader = c.wait_leader();
    ASSERT_NE(leader, 0u) << "no leader agreed by all " << n << " nodes";
    std::string st = c.status(leader);
    EXPECT_EQ(json_string(st, "role"), "leader") << st;
    EXPECT_EQ(json_ids(st, "voters").size(), static_cast<size_t>(n)) << st;
    auto client = c.client();
    auto kvs = make_kvs("s", 50);
    ASSERT_RAFT_OK(kv_put_many(*client, 1, kvs));
    std::vector<uint64_t> all = c.running_ids();
    expect_replicated(all, kvs);
    // The state machine's result reaches the proposer.
    auto again = client->propose(1, memstore::encode_put("s0", "new"));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->result, "updated");
  }
};

TEST_F(NodeProcess, StaticBootstrapOfThree) { static_bootstrap(3, "proc-static3"); }

TEST_F(NodeProcess, StaticBootstrapOfFive) { static_bootstrap(5, "proc-static5"); }

TEST_F(NodeProcess, ReplicationToEveryNode) {
  ProcessCluster& c = make_cluster("proc-repl");
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  ASSERT_NE(c.wait_leader(), 0u);
  auto client = c.client();
  auto kvs = make_kvs("r", 300);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, kvs));
  // Stale reads converge on every node; linearizable reads through any node
  // see every acknowledged write at once.
  expect_replicated({1, 2, 3}, kvs);
  for (uint64_t id : {1, 2, 3}) expect_linearizable(id, kvs);
  // Commit and applied indexes agree once idle.
  std::string leader_status = c.status(c.leader());
  uint64_t commit = json_uint(leader_status, "commit").value_or(0);
  EXPECT_GE(commit, 300u);
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_TRUE(eventually([&] { return json_uint(c.status(id), "applied") >= commit; }))
        << c.status(id);
  }
}

TEST_F(NodeProcess, DynamicJoinOfTwoToOne) {
  ProcessCluster& c = make_cluster("proc-join");
  c.define_static(1);
  ASSERT_RAFT_OK(c.start_all());
  ASSERT_EQ(c.wait_leader(), 1u);
  auto client = c.client();
  auto before = make_kvs("j", 40);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, before));

  // Two joiners at once: each asks node 1 for an id; ids are reserved
  // through the log, so they differ.
  auto j1 = c.spawn_joiner(c.address(1));
  auto j2 = c.spawn_joiner(c.address(1));
  ASSERT_TRUE(j1.ok() && j2.ok());
  auto id1 = c.finish_join(*j1);
  ASSERT_TRUE(id1.ok()) << id1.status();
  auto id2 = c.finish_join(*j2);
  ASSERT_TRUE(id2.ok()) << id2.status();
  EXPECT_NE(*id1, *id2);
  EXPECT_NE(*id1, 1u);
  EXPECT_NE(*id2, 1u);

  // Reserved as learners; join() promotes them to voters.
  for (uint64_t id : {*id1, *id2}) {
    auto cs = client->join(1, id, c.address(id), /*as_learner=*/false);
    ASSERT_TRUE(cs.ok()) << "join of " << id << ": " << cs.status();
  }
  std::string st;
  ASSERT_TRUE(eventually([&] {
    st = c.status(1);
    return json_ids(st, "voters") == std::set<uint64_t>{1, *id1, *id2} &&
           json_ids(st, "learners").empty();
  })) << st;
  auto after = make_kvs("k", 40);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, after));
  expect_replicated({*id1, *id2}, before);
  expect_replicated({*id1, *id2}, after);

  // They really vote: without node 1 the two joiners elect a leader and
  // keep serving writes.
  c.kill9(1);
  uint64_t leader = c.wait_leader(1, {*id1, *id2});
  ASSERT_NE(leader, 0u);
  auto survivor = c.client(3);
  ASSERT_RAFT_OK(kv_put(*survivor, 1, "post", "kill"));
  expect_linearizable(leader, after);
}

TEST_F(NodeProcess, LeaderLeaves) {
  ProcessCluster& c = make_cluster("proc-leave");
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  uint64_t old_leader = c.wait_leader();
  ASSERT_NE(old_leader, 0u);
  const uint64_t old_term = json_uint(c.status(old_leader), "term").value_or(0);
  auto client = c.client();
  auto kvs = make_kvs("l", 30);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, kvs));

  auto cs = client->leave(1, old_leader);
  // (The wire's LeaveResponse carries no ConfState: the voters are checked
  // through the new leader's status below.)
  ASSERT_TRUE(cs.ok()) << cs.status();
  std::vector<uint64_t> rest;
  for (uint64_t id : {1, 2, 3}) {
    if (id != old_leader) rest.push_back(id);
  }
  uint64_t new_leader = c.wait_leader(1, rest);
  ASSERT_NE(new_leader, 0u);
  ASSERT_NE(new_leader, old_leader);
  std::string st = c.status(new_leader);
  EXPECT_GT(json_uint(st, "term").value_or(0), old_term) << st;
  EXPECT_EQ(json_ids(st, "voters"), std::set<uint64_t>(rest.begin(), rest.end())) << st;
  ASSERT_RAFT_OK(c.terminate(old_leader));

  auto survivors = c.client(2);
  auto more = make_kvs("m", 30);
  ASSERT_RAFT_OK(kv_put_many(*survivors, 1, more));
  expect_replicated(rest, kvs);
  expect_replicated(rest, more);
}

TEST_F(NodeProcess, RestartEveryNodeFromDisk) {
  ProcessCluster& c = make_cluster("proc-restart");
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  ASSERT_NE(c.wait_leader(), 0u);
  auto a = make_kvs("a", 100);
  auto b = make_kvs("b", 100);
  auto d = make_kvs("d", 50);
  {
    auto client = c.client();
    ASSERT_RAFT_OK(kv_put_many(*client, 1, a));
    // Every node applied `a` (the snapshot may be taken on any of them), then
    // a snapshot, then more log after it: restart restores the snapshot and
    // re-applies the log.
    expect_replicated({1, 2, 3}, a);
    auto snap = client->snapshot(1);
    ASSERT_TRUE(snap.ok()) << snap.status();
    EXPECT_GE(*snap, 100u);
    ASSERT_RAFT_OK(kv_put_many(*client, 1, b));
  }
  // Clean stop of every node, then start again from the data dirs.
  for (uint64_t id : {1, 2, 3}) ASSERT_RAFT_OK(c.terminate(id));
  ASSERT_RAFT_OK(c.start_all());
  ASSERT_NE(c.wait_leader(), 0u);
  expect_replicated({1, 2, 3}, a);
  expect_replicated({1, 2, 3}, b);

  // Crash every node (SIGKILL) right after acknowledged writes.
  {
    auto client = c.client();
    ASSERT_RAFT_OK(kv_put_many(*client, 1, d));
  }
  for (uint64_t id : {1, 2, 3}) c.kill9(id);
  ASSERT_RAFT_OK(c.start_all());
  ASSERT_NE(c.wait_leader(), 0u);
  for (uint64_t id : {1, 2, 3}) {
    expect_linearizable(id, a);
    expect_linearizable(id, b);
    expect_linearizable(id, d);
  }
  expect_replicated({1, 2, 3}, d);
}

TEST_F(NodeProcess, TwoGroupsStayIndependent) {
  ProcessOptions o;
  o.groups = {1, 2};
  ProcessCluster& c = make_cluster("proc-groups", o);
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  uint64_t l1 = c.wait_leader(1);
  uint64_t l2 = c.wait_leader(2);
  ASSERT_NE(l1, 0u);
  ASSERT_NE(l2, 0u);
  auto client = c.client();
  // The same key in both groups, different values; keys only in one group.
  ASSERT_RAFT_OK(kv_put(*client, 1, "shared", "one"));
  ASSERT_RAFT_OK(kv_put(*client, 2, "shared", "two"));
  auto g1 = make_kvs("g1-", 50);
  auto g2 = make_kvs("g2-", 50);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, g1));
  ASSERT_RAFT_OK(kv_put_many(*client, 2, g2));
  expect_replicated({1, 2, 3}, g1, 1);
  expect_replicated({1, 2, 3}, g2, 2);
  for (uint64_t id : {1, 2, 3}) {
    auto probe = probe_client(c.address(id), 5);
    auto v1 = probe->read(1, "shared");
    auto v2 = probe->read(2, "shared");
    ASSERT_TRUE(v1.ok() && v2.ok()) << v1.status() << " " << v2.status();
    EXPECT_EQ(*v1, "one");
    EXPECT_EQ(*v2, "two");
    EXPECT_TRUE(absl::IsNotFound(probe->read(2, "g1-0").status()));
    EXPECT_TRUE(absl::IsNotFound(probe->read(1, "g2-0").status()));
  }
  // Leadership is per group: move group 2's leader; group 1's stays.
  uint64_t target = l2 % 3 + 1;
  if (target == l1) target = target % 3 + 1;
  ASSERT_NE(target, l2);
  auto t = client->transfer_leader(2, target);
  ASSERT_TRUE(t.ok()) << t;
  EXPECT_TRUE(eventually([&] { return c.leader(2) == target; }));
  EXPECT_EQ(c.leader(1), l1);
  // Logs are independent too: group 1's commit index did not move with
  // group 2's writes.
  const uint64_t commit1 = json_uint(c.status(l1, 1), "commit").value_or(0);
  auto g2b = make_kvs("g2b-", 100);
  ASSERT_RAFT_OK(kv_put_many(*client, 2, g2b));
  EXPECT_EQ(json_uint(c.status(l1, 1), "commit").value_or(0), commit1);
  expect_replicated({1, 2, 3}, g2b, 2);
}

}  // namespace
}  // namespace raft::testing
