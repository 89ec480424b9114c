// Multi-process tests of addresses and of joining as configured:
//   - a 3-node cluster on [::1] (IPv6 literals everywhere: peers, listener,
//     clients) writes, reads, and survives the loss of its leader; skipped
//     when the host has no IPv6 loopback;
//   - a cluster whose nodes are known by the name "localhost" (resolved by
//     the peers' transports, the clients, and a joiner dialling by name);
//   - [node] join_as = "voter": the runtime promotes the joiner only once
//     the leader sees it caught up (a lagging learner's promotion request is
//     refused, naming the lag), and join_as = "learner" stays a learner.
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "tests/node/process_fixture.h"

namespace raft::testing {
namespace {

bool have_ipv6_loopback() {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

// Runs raftctl with `args`; its exit status and stdout.
std::pair<int, std::string> raftctl(const std::string& args) {
  std::string out;
  FILE* p = ::popen((std::string(RAFTCTL_BIN) + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, ""};
  char buf[4096];
  size_t n = 0;
  while ((n = ::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class NodeProcessAddress : public ProcessTest {
 protected:
  // raftctl reaches the cluster through these addresses and lists 1..3.
  void raftctl_lists_members(ProcessCluster& c) {
    auto [status, out] =
        raftctl(absl::StrCat("members list --json --cluster ", c.address(1), ",", c.address(2)));
    EXPECT_EQ(status, 0) << out;
    for (uint64_t id : {1, 2, 3}) {
      EXPECT_NE(out.find(absl::StrCat("\"id\":", id)), std::string::npos) << out;
      EXPECT_NE(out.find(c.address(id)), std::string::npos) << out;
    }
  }

  // Writes, reads back on every node, kills the leader, and writes and reads
  // again through the two survivors.
  void write_read_and_survive_leader_loss(ProcessCluster& c,
                                          std::vector<uint64_t> ids = {1, 2, 3}) {
    const uint64_t leader = c.wait_leader();
    ASSERT_NE(leader, 0u);
    auto client = c.client();
    auto before = make_kvs("a", 60);
    ASSERT_RAFT_OK(kv_put_many(*client, 1, before));
    expect_replicated(ids, before);
    expect_linearizable(leader, before);

    c.kill9(leader);
    std::vector<uint64_t> rest;
    for (uint64_t id : ids) {
      if (id != leader) rest.push_back(id);
    }
    const uint64_t next = c.wait_leader(1, rest);
    ASSERT_NE(next, 0u);
    ASSERT_NE(next, leader);
    auto survivors = c.client(2);
    auto after = make_kvs("b", 60);
    ASSERT_RAFT_OK(kv_put_many(*survivors, 1, after));
    expect_replicated(rest, before);
    expect_replicated(rest, after);
    expect_linearizable(next, after);
  }

  // The members of group 1 as node `id` reports them.
  std::pair<std::set<uint64_t>, std::set<uint64_t>> members(uint64_t id) {
    const std::string st = cluster_->status(id);
    return {json_ids(st, "voters"), json_ids(st, "learners")};
  }
};

TEST_F(NodeProcessAddress, Ipv6Cluster) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback (::1) on this host";
  ProcessOptions o;
  o.host = "[::1]";
  ProcessCluster& c = make_cluster("proc-ipv6", o);
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  // Node::address() reports the bracketed form (the ready file has it).
  for (uint64_t id : {1, 2, 3}) {
    const std::string ready = read_file(c.dir(id) + "/ready");
    EXPECT_EQ(ready, absl::StrCat(id, " ", c.address(id), "\n"));
    EXPECT_EQ(c.address(id).rfind("[::1]:", 0), 0u) << c.address(id);
  }
  // The leader hint a client gets is an IPv6 address too.
  auto hint = probe_client(c.address(1))->leader(1);
  ASSERT_TRUE(eventually([&] {
    hint = probe_client(c.address(1))->leader(1);
    return hint.ok() && hint->leader_id != 0;
  }));
  EXPECT_EQ(hint->address.rfind("[::1]:", 0), 0u) << hint->address;
  raftctl_lists_members(c);
  write_read_and_survive_leader_loss(c);
}

TEST_F(NodeProcessAddress, LocalhostNamedCluster) {
  ProcessOptions o;
  o.host = "localhost";
  ProcessCluster& c = make_cluster("proc-localhost", o);
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  EXPECT_EQ(c.address(1).rfind("localhost:", 0), 0u);
  raftctl_lists_members(c);
  // A joiner dials its member by name, and is dialled back by name.
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  auto j = c.spawn_joiner(c.address(leader));
  ASSERT_TRUE(j.ok()) << j.status();
  auto id = c.finish_join(*j);
  ASSERT_TRUE(id.ok()) << id.status();
  auto kvs = make_kvs("n", 30);
  auto client = c.client();
  ASSERT_RAFT_OK(kv_put_many(*client, 1, kvs));
  expect_replicated({*id}, kvs);
  // Promoted by the runtime (join_as = voter by default) once caught up.
  ASSERT_TRUE(
      eventually([&] { return members(leader).first.contains(*id); }, std::chrono::seconds(20)))
      << c.status(leader);
  write_read_and_survive_leader_loss(c, {1, 2, 3, *id});
}

// A learner that is far behind is not promoted; once it runs and catches
// up, the runtime promotes it without anyone asking.
TEST_F(NodeProcessAddress, JoinAsVoterIsPromotedOnlyOnceCaughtUp) {
  ProcessOptions o;
  o.node_extra = "promote_max_lag = 100";
  ProcessCluster& c = make_cluster("proc-joinas-voter", o);
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  auto client = c.client();
  // Node 4 is a learner that is not running yet, so it falls behind.
  c.define_spare(4, c.address(leader));
  auto added = client->join(1, 4, c.address(4), /*as_learner=*/true);
  ASSERT_TRUE(added.ok()) << added.status();
  auto kvs = make_kvs("p", 1500);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, kvs));

  // What node 4's runtime will send: refused while it is behind.
  protocol::ClientRequest ask;
  ask.kind = protocol::RequestKind::kJoin;
  ask.group = 1;
  ask.node_id = 4;
  ask.address = c.address(4);
  ask.as_learner = false;
  ask.when_caught_up = true;
  auto refused = probe_client(c.address(leader), 1)->call(ask);
  ASSERT_FALSE(refused.ok());
  absl::Status s = refused.status();
  EXPECT_EQ(outcome_of(s), Outcome::kRefused) << s;
  EXPECT_NE(s.message().find("not caught up"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("promote_max_lag 100"), absl::string_view::npos) << s;
  EXPECT_EQ(members(leader).second, std::set<uint64_t>{4});

  // Node 4 starts (join_as = voter, the default) and catches up; the
  // runtime, not the test, promotes it.
  ASSERT_RAFT_OK(c.start(4));
  ASSERT_TRUE(
      eventually([&] { return members(leader).first.contains(4); }, std::chrono::seconds(30)))
      << c.status(leader);
  EXPECT_TRUE(members(leader).second.empty());
  EXPECT_NE(c.log(4).find("promoted to voter (join_as = voter)"), std::string::npos);
  expect_replicated({4}, kvs);
  // Asking again is harmless: already a voter.
  auto again = probe_client(c.address(leader), 3)->call(ask);
  EXPECT_TRUE(again.ok()) << again.status();
}

// Two joiners at once: join_as = "voter" is promoted once caught up,
// join_as = "learner" stays a learner.
TEST_F(NodeProcessAddress, JoinAsLearnerStaysALearner) {
  ProcessOptions o;
  o.node_extra = "promote_max_lag = 50";
  ProcessCluster& c = make_cluster("proc-joinas", o);
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  auto jl = c.spawn_joiner(c.address(leader), "join_as = \"learner\"");
  ASSERT_TRUE(jl.ok()) << jl.status();
  auto learner = c.finish_join(*jl);
  ASSERT_TRUE(learner.ok()) << learner.status();
  auto jv = c.spawn_joiner(c.address(leader));
  ASSERT_TRUE(jv.ok()) << jv.status();
  auto voter = c.finish_join(*jv);
  ASSERT_TRUE(voter.ok()) << voter.status();
  ASSERT_TRUE(
      eventually([&] { return members(leader).first.contains(*voter); }, std::chrono::seconds(20)))
      << c.status(leader);

  // Both joined and caught up; only the voter was promoted. The learner
  // stays one across several more election timeouts of writes.
  auto client = c.client();
  for (int round = 0; round < 5; ++round) {
    ASSERT_RAFT_OK(kv_put_many(*client, 1, make_kvs(absl::StrCat("l", round), 20)));
    auto [voters, learners] = members(leader);
    EXPECT_TRUE(learners.contains(*learner)) << c.status(leader);
    EXPECT_FALSE(voters.contains(*learner)) << c.status(leader);
  }
  EXPECT_EQ(c.log(*learner).find("promoted to voter"), std::string::npos);
  expect_replicated({*learner}, make_kvs("l4", 20));
}

}  // namespace
}  // namespace raft::testing
