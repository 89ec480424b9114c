// Multi-process membership tests: add one, add several at once, remove one,
// remove several, mixed add+remove (joint consensus), and replacing the
// leader. Each checks the new configuration on the leader, that data reaches
// the new members, and that the new quorum really is the one in force.
#include <gtest/gtest.h>

#include "tests/node/process_fixture.h"

namespace raft::testing {
namespace {

class NodeProcessMembership : public ProcessTest {
 protected:
  // The voters every node in `ids` reports, once they agree with `want`.
  void expect_voters(const std::vector<uint64_t>& ids, const std::set<uint64_t>& want) {
    for (uint64_t id : ids) {
      std::string st;
      EXPECT_TRUE(eventually([&] {
        st = cluster_->status(id);
        return json_ids(st, "voters") == want && json_ids(st, "voters_outgoing").empty();
      })) << "node "
          << id << ": " << st;
    }
  }
  static MemberChange add(uint64_t id, const std::string& address) {
    return MemberChange{MemberChangeKind::kAddVoter, id, address};
  }
  static MemberChange remove(uint64_t id) {
    return MemberChange{MemberChangeKind::kRemove, id, ""};
  }
  // A static cluster of n with some data written.
  ProcessCluster& start_static(int n, const std::string& name) {
    ProcessCluster& c = make_cluster(name);
    c.define_static(n);
    EXPECT_RAFT_OK(c.start_all());
    EXPECT_NE(c.wait_leader(), 0u);
    auto client = c.client();
    data_ = make_kvs("base", 50);
    EXPECT_RAFT_OK(kv_put_many(*client, 1, data_));
    return c;
  }
  uint64_t follower_other_than(ProcessCluster& c, std::set<uint64_t> not_these) {
    std::vector<uint64_t> members;  // Spares in not_these are no members yet.
    for (uint64_t id : c.running_ids()) {
      if (!not_these.contains(id)) members.push_back(id);
    }
    not_these.insert(c.wait_leader(1, members));
    for (uint64_t id : c.running_ids()) {
      if (!not_these.contains(id)) return id;
    }
    return 0;
  }

  std::vector<std::pair<std::string, std::string>> data_;
};

TEST_F(NodeProcessMembership, AddOne) {
  ProcessCluster& c = start_static(3, "proc-add1");
  c.define_spare(4, c.address(1));
  ASSERT_RAFT_OK(c.start(4));
  auto client = c.client();
  auto cs = client->change_config(1, {add(4, c.address(4))});
  ASSERT_TRUE(cs.ok()) << cs.status();
  expect_voters({1, 2, 3, 4}, {1, 2, 3, 4});
  expect_replicated({4}, data_);
  auto more = make_kvs("more", 20);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, more));
  expect_replicated({4}, more);
}

TEST_F(NodeProcessMembership, AddSeveralAtOnce) {
  ProcessCluster& c = start_static(3, "proc-addn");
  c.define_spare(4, c.address(1));
  c.define_spare(5, c.address(1));
  ASSERT_RAFT_OK(c.start(4));
  ASSERT_RAFT_OK(c.start(5));
  auto client = c.client();
  auto cs = client->change_config(1, {add(4, c.address(4)), add(5, c.address(5))});
  ASSERT_TRUE(cs.ok()) << cs.status();
  expect_voters({1, 2, 3, 4, 5}, {1, 2, 3, 4, 5});
  expect_replicated({4, 5}, data_);
  // Two of the original three die: the three left (including both new
  // members) are a quorum of five only if the new members vote.
  const uint64_t leader = c.wait_leader();
  uint64_t a = follower_other_than(c, {4, 5});
  ASSERT_NE(a, 0u);
  c.kill9(a);
  uint64_t b = follower_other_than(c, {4, 5, a});
  if (b == 0) b = leader;  // The leader is the only original one left.
  c.kill9(b);
  ASSERT_NE(c.wait_leader(), 0u);
  auto survivors = c.client(2);
  auto more = make_kvs("after", 20);
  ASSERT_RAFT_OK(kv_put_many(*survivors, 1, more));
  for (uint64_t id : c.running_ids()) expect_linearizable(id, more);
}

TEST_F(NodeProcessMembership, RemoveOne) {
  ProcessCluster& c = start_static(3, "proc-rm1");
  uint64_t victim = follower_other_than(c, {});
  ASSERT_NE(victim, 0u);
  auto client = c.client();
  auto cs = client->change_config(1, {remove(victim)});
  ASSERT_TRUE(cs.ok()) << cs.status();
  std::vector<uint64_t> rest;
  for (uint64_t id : {1, 2, 3}) {
    if (id != victim) rest.push_back(id);
  }
  expect_voters(rest, std::set<uint64_t>(rest.begin(), rest.end()));
  ASSERT_RAFT_OK(c.terminate(victim));
  auto more = make_kvs("more", 20);
  auto survivors = c.client(2);
  ASSERT_RAFT_OK(kv_put_many(*survivors, 1, more));
  expect_replicated(rest, more);
}

TEST_F(NodeProcessMembership, RemoveSeveralAtOnce) {
  ProcessCluster& c = start_static(5, "proc-rmn");
  uint64_t v1 = follower_other_than(c, {});
  uint64_t v2 = follower_other_than(c, {v1});
  ASSERT_TRUE(v1 != 0 && v2 != 0);
  auto client = c.client();
  auto cs = client->change_config(1, {remove(v1), remove(v2)});
  ASSERT_TRUE(cs.ok()) << cs.status();
  std::vector<uint64_t> rest;
  for (uint64_t id : {1, 2, 3, 4, 5}) {
    if (id != v1 && id != v2) rest.push_back(id);
  }
  expect_voters(rest, std::set<uint64_t>(rest.begin(), rest.end()));
  ASSERT_RAFT_OK(c.terminate(v1));
  ASSERT_RAFT_OK(c.terminate(v2));
  // Three voters left; one more follower down still leaves a quorum of the
  // new configuration (it would not be one of the old five).
  uint64_t v3 = follower_other_than(c, {});
  ASSERT_NE(v3, 0u);
  c.kill9(v3);
  auto survivors = c.client(2);
  auto more = make_kvs("more", 20);
  ASSERT_RAFT_OK(kv_put_many(*survivors, 1, more));
  for (uint64_t id : c.running_ids()) expect_linearizable(id, more);
}

TEST_F(NodeProcessMembership, MixedAddAndRemove) {
  ProcessCluster& c = start_static(3, "proc-mixed");
  c.define_spare(4, c.address(1));
  c.define_spare(5, c.address(1));
  ASSERT_RAFT_OK(c.start(4));
  ASSERT_RAFT_OK(c.start(5));
  uint64_t victim = follower_other_than(c, {4, 5});
  ASSERT_NE(victim, 0u);
  auto client = c.client();
  // Two adds and a remove in one change: joint consensus.
  auto cs = client->change_config(1, {add(4, c.address(4)), add(5, c.address(5)), remove(victim)});
  ASSERT_TRUE(cs.ok()) << cs.status();
  std::set<uint64_t> want = {1, 2, 3, 4, 5};
  want.erase(victim);
  std::vector<uint64_t> members(want.begin(), want.end());
  expect_voters(members, want);
  ASSERT_RAFT_OK(c.terminate(victim));
  expect_replicated({4, 5}, data_);
  auto more = make_kvs("more", 20);
  auto survivors = c.client(2);
  ASSERT_RAFT_OK(kv_put_many(*survivors, 1, more));
  expect_replicated(members, more);
}

TEST_F(NodeProcessMembership, ReplaceTheLeader) {
  ProcessCluster& c = start_static(3, "proc-replace");
  c.define_spare(4, c.address(1));
  ASSERT_RAFT_OK(c.start(4));
  const uint64_t old_leader = c.wait_leader(1, {1, 2, 3});
  ASSERT_NE(old_leader, 0u);
  const uint64_t old_term = json_uint(c.status(old_leader), "term").value_or(0);
  auto client = c.client();
  auto added = client->change_config(1, {add(4, c.address(4))});
  ASSERT_TRUE(added.ok()) << added.status();
  expect_voters({1, 2, 3, 4}, {1, 2, 3, 4});
  expect_replicated({4}, data_);
  auto removed = client->change_config(1, {remove(old_leader)});
  ASSERT_TRUE(removed.ok()) << removed.status();
  std::vector<uint64_t> rest;
  for (uint64_t id : {1, 2, 3, 4}) {
    if (id != old_leader) rest.push_back(id);
  }
  uint64_t new_leader = c.wait_leader(1, rest);
  ASSERT_NE(new_leader, 0u);
  EXPECT_NE(new_leader, old_leader);
  EXPECT_GT(json_uint(c.status(new_leader), "term").value_or(0), old_term);
  expect_voters(rest, std::set<uint64_t>(rest.begin(), rest.end()));
  ASSERT_RAFT_OK(c.terminate(old_leader));
  auto survivors = c.client(2);
  auto more = make_kvs("more", 20);
  ASSERT_RAFT_OK(kv_put_many(*survivors, 1, more));
  expect_replicated(rest, data_);
  expect_replicated(rest, more);
}

}  // namespace
}  // namespace raft::testing
