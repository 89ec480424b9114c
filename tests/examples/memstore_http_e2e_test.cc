// memstore's HTTP API end to end: 3 memstore processes on 127.0.0.1, every
// route and every error status, forwarding from followers, dynamic join and
// leave, no-leader 503, and graceful shutdown on SIGTERM.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/examples/memstore_cluster.h"

namespace raft::examples_test {
namespace {

using namespace std::chrono_literals;

// A number field of a JSON answer, or -1.
int64_t json_int(const std::string& body, const std::string& key) {
  size_t at = body.find("\"" + key + "\":");
  int64_t v = -1;
  if (at == std::string::npos) return -1;
  std::string rest = body.substr(at + key.size() + 3);
  return absl::SimpleAtoi(rest.substr(0, rest.find_first_not_of("0123456789")), &v) ? v : -1;
}

class MemstoreHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    cluster_ = std::make_unique<MemstoreCluster>(3, info->name());
    cluster_->start_all();
    leader_ = cluster_->wait_leader();
    ASSERT_NE(leader_, 0) << logs();
    follower_ = leader_ == 1 ? 2 : 1;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << logs();
    // Graceful shutdown: every node still running exits 0 on SIGTERM.
    for (int i = 1; i <= cluster_->size(); ++i) {
      Process* p = cluster_->process(i);
      if (p == nullptr || !p->running()) continue;
      p->kill(SIGTERM);
      EXPECT_EQ(p->wait_exit(15s), std::optional<int>(0)) << "node " << i;
    }
  }
  std::string logs() {
    std::string out;
    for (int i = 1; i <= cluster_->size(); ++i) {
      if (Process* p = cluster_->process(i)) absl::StrAppend(&out, "--- node ", i, "\n", p->log());
    }
    return out;
  }
  const std::string& h(int id) { return cluster_->http_address(id); }

  std::unique_ptr<MemstoreCluster> cluster_;
  int leader_ = 0;
  int follower_ = 0;
};

TEST_F(MemstoreHttpTest, PutGetDeleteOnEveryNode) {
  HttpResult r = http(h(leader_), "PUT", "/store/color", "blue");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_NE(r.body.find("\"result\":\"created\""), std::string::npos) << r.body;
  r = http(h(leader_), "PUT", "/store/color", "green");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"result\":\"updated\""), std::string::npos) << r.body;
  r = http(h(leader_), "PUT", "/store/shape/round");  // Value in the path.
  EXPECT_EQ(r.status, 201) << r.body;
  // Percent-encoded key and a binary-ish value in the body.
  r = http(h(leader_), "PUT", "/store/a%20b", std::string("x\0y", 3));
  EXPECT_EQ(r.status, 201) << r.body;

  for (int i = 1; i <= 3; ++i) {
    r = http(h(i), "GET", "/store/color");  // Linearizable, also on followers.
    EXPECT_EQ(r.status, 200) << "node " << i;
    EXPECT_EQ(r.body, "green") << "node " << i;
    EXPECT_EQ(http(h(i), "GET", "/store/shape").body, "round");
    EXPECT_EQ(http(h(i), "GET", "/store/a%20b").body, std::string("x\0y", 3));
    EXPECT_TRUE(
        eventually([&] { return http(h(i), "GET", "/store/color?stale=true").body == "green"; }));
  }
  r = http(h(follower_), "GET", "/store/missing");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("not found"), std::string::npos);

  r = http(h(leader_), "DELETE", "/store/color");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"result\":\"deleted\""), std::string::npos);
  EXPECT_EQ(http(h(leader_), "DELETE", "/store/color").status, 404);  // Already gone.
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(http(h(i), "GET", "/store/color").status, 404);
}

TEST_F(MemstoreHttpTest, FollowerForwardsWritesOrAnswers421) {
  HttpResult r = http(h(follower_), "PUT", "/store/k", "v");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_NE(r.body.find("\"index\":"), std::string::npos) << r.body;  // Forwarded, committed.
  EXPECT_EQ(http(h(leader_), "GET", "/store/k").body, "v");
  r = http(h(follower_), "DELETE", "/store/k");
  EXPECT_EQ(r.status, 200) << r.body;

  r = http(h(follower_), "PUT", "/store/k?forward=false", "v2");
  EXPECT_EQ(r.status, 421) << r.body;
  EXPECT_NE(r.body.find("\"error\":\"not leader\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(absl::StrCat("\"leader_id\":", leader_)), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(cluster_->raft_address(leader_)), std::string::npos) << r.body;
  EXPECT_EQ(http(h(leader_), "GET", "/store/k").status, 404);  // Not written.
}

// A write with "Request-Id: <session>.<sequence>" (session from POST
// /sessions) is applied once however often it is sent, to whichever node:
// a repeat answers with the first result ("created"), not a second apply's.
TEST_F(MemstoreHttpTest, RequestIdMakesARetriedWriteExactlyOnce) {
  auto write = [&](int node, const std::string& path, const std::string& request_id,
                   const std::string& body) {
    std::string bytes =
        absl::StrCat("PUT ", path, " HTTP/1.1\r\nHost: test\r\nRequest-Id: ", request_id,
                     "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
    auto responses = parse_responses(exchange_raw(h(node), bytes));
    return responses.empty() ? HttpResult{} : responses[0];
  };
  HttpResult opened = http(h(follower_), "POST", "/sessions");
  ASSERT_EQ(opened.status, 200) << opened.body;
  const int64_t session = json_int(opened.body, "session");
  ASSERT_GT(session, 0) << opened.body;
  const std::string id1 = absl::StrCat(session, ".1");
  HttpResult first = write(leader_, "/store/once", id1, "v1");
  ASSERT_EQ(first.status, 201) << first.body;
  // The answer was "lost": the same request again, here and on a follower.
  for (int node : {leader_, follower_}) {
    HttpResult again = write(node, "/store/once", id1, "v1");
    EXPECT_EQ(again.status, 201) << again.body;
    EXPECT_NE(again.body.find("\"result\":\"created\""), std::string::npos) << again.body;
  }
  HttpResult next = write(leader_, "/store/once", absl::StrCat(session, ".2.2"), "v2");
  EXPECT_EQ(next.status, 200) << next.body;  // Updated: the first write was applied once.
  EXPECT_EQ(http(h(leader_), "GET", "/store/once").body, "v2");
  // Below the floor the client acknowledged (2): refused, nothing applied.
  HttpResult below = write(leader_, "/store/once", absl::StrCat(session, ".1.2"), "v1");
  EXPECT_EQ(below.status / 100, 4) << below.body;
  EXPECT_NE(below.body.find("\"outcome\":\"failed\""), std::string::npos) << below.body;
  EXPECT_EQ(write(leader_, "/store/once", "not-an-id", "x").status, 400);
  HttpResult unknown_session = write(leader_, "/store/once", "999999.1", "x");
  EXPECT_EQ(unknown_session.status, 404) << unknown_session.body;
  EXPECT_EQ(http(h(leader_), "DELETE", absl::StrCat("/sessions/", session)).status, 200);
  EXPECT_EQ(write(leader_, "/store/once", absl::StrCat(session, ".3"), "v3").status, 404);
  EXPECT_EQ(http(h(leader_), "GET", "/store/once").body, "v2");
}

TEST_F(MemstoreHttpTest, BadRequestsAre4xx) {
  EXPECT_EQ(http(h(leader_), "PUT", "/store").status, 400);
  EXPECT_EQ(http(h(leader_), "PUT", "/store/a/b/c").status, 400);
  EXPECT_EQ(http(h(leader_), "GET", "/store/a/b").status, 400);
  EXPECT_EQ(http(h(leader_), "GET", "/store/a?stale=maybe").status, 400);
  EXPECT_EQ(http(h(leader_), "PUT", "/store/a?forward=perhaps", "x").status, 400);
  EXPECT_EQ(http(h(leader_), "GET", "/nowhere").status, 404);
  EXPECT_EQ(http(h(leader_), "GET", "/").status, 404);
  HttpResult r = http(h(leader_), "POST", "/leader");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET");
  EXPECT_EQ(http(h(leader_), "GET", "/snapshot").status, 405);
  EXPECT_EQ(http(h(leader_), "PATCH", "/store/a").status, 405);
  EXPECT_EQ(http(h(leader_), "POST", "/transfer_leader/abc").status, 400);
  EXPECT_EQ(http(h(leader_), "POST", "/transfer_leader/0").status, 400);
  EXPECT_EQ(http(h(leader_), "GET", "/transfer_leader/2").status, 405);
  // Not HTTP at all: 400 and the connection is closed.
  auto responses = parse_responses(exchange_raw(h(leader_), "HELLO\r\n\r\n"));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 400);
  EXPECT_EQ(responses[0].headers["connection"], "close");
  // Oversized body (announced) and oversized headers.
  responses = parse_responses(exchange_raw(
      h(leader_), "PUT /store/big HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n"));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 413);
  responses = parse_responses(exchange_raw(
      h(leader_), "GET /leader HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n"));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 431);
  // The node still serves after bad requests.
  EXPECT_EQ(http(h(leader_), "GET", "/leader").status, 200);
}

TEST_F(MemstoreHttpTest, PipelinedRequestsAnsweredInOrder) {
  std::string bytes =
      request_bytes("PUT", "/store/p", "1", false) + request_bytes("GET", "/store/p", "", false) +
      request_bytes("PUT", "/store/p", "2", false) + request_bytes("GET", "/store/p", "", true);
  auto responses = parse_responses(exchange_raw(h(leader_), bytes));
  ASSERT_EQ(responses.size(), 4u);
  EXPECT_EQ(responses[0].status, 201);
  EXPECT_EQ(responses[1].body, "1");
  EXPECT_EQ(responses[2].status, 200);
  EXPECT_EQ(responses[3].body, "2");
}

TEST_F(MemstoreHttpTest, InspectionRoutes) {
  HttpResult put = http(h(leader_), "PUT", "/store/m", "1");
  ASSERT_EQ(put.status, 201);
  const int64_t put_index = json_int(put.body, "index");
  const int64_t put_term = json_int(put.body, "term");
  ASSERT_GT(put_index, 0) << put.body;
  ASSERT_GT(put_term, 0) << put.body;
  for (int i = 1; i <= 3; ++i) {
    HttpResult r = http(h(i), "GET", "/leader");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find(absl::StrCat("\"leader_id\":", leader_)), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(cluster_->raft_address(leader_)), std::string::npos) << r.body;

    r = http(h(i), "GET", "/peers");
    EXPECT_EQ(r.status, 200);
    for (int p = 1; p <= 3; ++p) {
      EXPECT_NE(r.body.find(absl::StrCat("{\"id\":", p, ",\"address\":\"",
                                         cluster_->raft_address(p), "\",\"role\":\"voter\"}")),
                std::string::npos)
          << r.body;
    }

    r = http(h(i), "GET", "/status");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"], "application/json");
    EXPECT_NE(r.body.find(absl::StrCat("\"node\":", i)), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"term\":"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(h(i)), std::string::npos) << r.body;
  }
  HttpResult m = http(h(leader_), "GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  for (const char* name :
       {"ringraft_term{group=\"1\"}", "ringraft_commit_index{group=\"1\"}",
        "ringraft_applied_index{group=\"1\"}", "ringraft_is_leader{group=\"1\"} 1",
        "ringraft_proposals_total", "ringraft_lmdb_commits_total",
        "ringraft_entries_per_batch_bucket", "ringraft_bad_frames_total"}) {
    EXPECT_NE(m.body.find(name), std::string::npos) << name;
  }
  EXPECT_NE(http(h(follower_), "GET", "/metrics").body.find("ringraft_is_leader{group=\"1\"} 0"),
            std::string::npos);
  // The values, not only the names: the write above is counted.
  EXPECT_GE(metric(m.body, "ringraft_term{group=\"1\"}"), put_term) << m.body;
  EXPECT_GE(metric(m.body, "ringraft_commit_index{group=\"1\"}"), put_index) << m.body;
  EXPECT_GE(metric(m.body, "ringraft_applied_index{group=\"1\"}"), put_index) << m.body;
  EXPECT_GE(metric(m.body, "ringraft_proposals_total"), 1) << m.body;
  EXPECT_GE(metric(m.body, "ringraft_lmdb_commits_total"), 1) << m.body;
  EXPECT_GE(metric(m.body, "ringraft_entries_per_batch_count"), 1) << m.body;
  EXPECT_GE(metric(m.body, "ringraft_entries_per_batch_bucket{le=\"+Inf\"}"), 1) << m.body;
  EXPECT_GE(metric(m.body, "ringraft_bad_frames_total"), 0) << m.body;
  // Garbage on the Raft port is a bad frame, and counted.
  exchange_raw(cluster_->raft_address(leader_), std::string(64, 'Z'));
  EXPECT_TRUE(eventually([&] {
    return metric(http(h(leader_), "GET", "/metrics").body, "ringraft_bad_frames_total") >= 1;
  }));

  HttpResult s = http(h(follower_), "POST", "/snapshot");
  EXPECT_EQ(s.status, 200) << s.body;
  EXPECT_NE(s.body.find("\"snapshot_index\":"), std::string::npos) << s.body;
  EXPECT_EQ(s.body.find("\"snapshot_index\":0"), std::string::npos) << s.body;
}

TEST_F(MemstoreHttpTest, TransferLeaderFromAFollower) {
  const int target = 6 - leader_ - follower_;  // The third node.
  HttpResult r = http(h(follower_), "POST", absl::StrCat("/transfer_leader/", target));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_int(r.body, "leader_id"), target) << r.body;
  // Forwarded by memstore through the client: the answer names the leader.
  EXPECT_EQ(r.headers["x-forwarded-to"], cluster_->raft_address(leader_)) << r.body;
  EXPECT_NE(r.body.find("\"forwarded_to\":\"" + cluster_->raft_address(leader_) + "\""),
            std::string::npos)
      << r.body;
  EXPECT_TRUE(eventually([&] { return cluster_->wait_leader() == target; }));
  // Leadership cannot go to a node that is not a member.
  r = http(h(target), "POST", "/transfer_leader/9");
  EXPECT_GE(r.status, 400) << r.body;
  EXPECT_LT(r.status, 500) << r.body;
}

TEST_F(MemstoreHttpTest, JoinPromoteAndLeave) {
  const std::string raft4 = absl::StrCat("127.0.0.1:", free_port());
  const std::string http4 = absl::StrCat("127.0.0.1:", free_port());
  Process joiner({MEMSTORE_BIN, "--address", raft4, "--data-dir", cluster_->dir() + "/data-4",
                  "--join", cluster_->raft_address(follower_), "--http", http4, "--tick-ms", "20",
                  "--log-level", "warn"},
                 cluster_->dir() + "/n4.log");
  // The joiner gets id 4 (one above every id seen) and becomes a voter.
  ASSERT_TRUE(eventually([&] {
    return http(h(leader_), "GET", "/peers")
               .body.find("{\"id\":4,\"address\":\"" + raft4 + "\",\"role\":\"voter\"}") !=
           std::string::npos;
  })) << joiner.log();
  ASSERT_EQ(http(h(leader_), "PUT", "/store/j", "1").status, 201);
  EXPECT_TRUE(eventually([&] { return http(http4, "GET", "/store/j").body == "1"; }));

  HttpResult r = http(http4, "POST", "/leave");  // From a follower: forwarded.
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(eventually([&] {
    return http(h(leader_), "GET", "/peers").body.find("\"id\":4") == std::string::npos;
  }));
  joiner.kill(SIGTERM);
  EXPECT_EQ(joiner.wait_exit(15s), std::optional<int>(0));
}

TEST_F(MemstoreHttpTest, NoLeaderIs503) {
  ASSERT_EQ(http(h(leader_), "PUT", "/store/x", "1").status, 201);
  // Stop two nodes: the last one cannot elect a leader. It has applied the
  // write first (the write was acknowledged with the other two).
  const int survivor = follower_;
  ASSERT_TRUE(
      eventually([&] { return http(h(survivor), "GET", "/store/x?stale=true").body == "1"; }));
  for (int i = 1; i <= 3; ++i) {
    if (i == survivor) continue;
    cluster_->process(i)->kill(SIGTERM);
    EXPECT_EQ(cluster_->process(i)->wait_exit(15s), std::optional<int>(0));
  }
  EXPECT_TRUE(eventually([&] { return http(h(survivor), "GET", "/leader").status == 503; }));
  // Every 503 says when to retry.
  EXPECT_EQ(http(h(survivor), "GET", "/leader").headers["retry-after"], "1");
  HttpResult r = http(h(survivor), "PUT", "/store/x", "2");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  r = http(h(survivor), "POST", "/transfer_leader/1");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  r = http(h(survivor), "PUT", "/store/x?forward=false", "2");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(http(h(survivor), "DELETE", "/store/x").status, 503);
  EXPECT_EQ(http(h(survivor), "POST", "/leave").status, 503);
  // A plain GET is linearizable: without a leader it cannot be served.
  r = http(h(survivor), "GET", "/store/x");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  // A stale read still answers from local state.
  r = http(h(survivor), "GET", "/store/x?stale=true");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "1");
}

TEST_F(MemstoreHttpTest, NoForwardFollowerAnswers421NamingTheLeader) {
  // The follower restarts with --no-forward (same data dir, same config).
  cluster_->process(follower_)->kill(SIGTERM);
  ASSERT_EQ(cluster_->process(follower_)->wait_exit(15s), std::optional<int>(0));
  cluster_->start(follower_, {"--no-forward"});
  ASSERT_EQ(cluster_->wait_leader(), leader_) << logs();
  const std::string leader_json = absl::StrCat("\"leader_id\":", leader_, ",\"leader_address\":\"",
                                               cluster_->raft_address(leader_), "\"");
  const int other = 6 - leader_ - follower_;
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"PUT", "/store/nf"},
           {"PUT", "/store/nf/v"},
           {"DELETE", "/store/nf"},
           {"POST", "/leave"},
           {"POST", absl::StrCat("/transfer_leader/", other)}}) {
    HttpResult r = http(h(follower_), method, path, "v");
    EXPECT_EQ(r.status, 421) << method << " " << path << ": " << r.body;
    EXPECT_NE(r.body.find("\"error\":\"not leader\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(leader_json), std::string::npos)
        << method << " " << path << ": " << r.body;
  }
  EXPECT_EQ(http(h(leader_), "GET", "/store/nf").status, 404);  // Nothing was written.
  EXPECT_EQ(cluster_->wait_leader(), leader_);                  // Nor transferred.
  EXPECT_NE(http(h(leader_), "GET", "/peers").body.find(absl::StrCat("\"id\":", follower_)),
            std::string::npos);  // Nor left.
  // Reads are served on the follower all the same.
  ASSERT_EQ(http(h(leader_), "PUT", "/store/nf", "v").status, 201);
  EXPECT_EQ(http(h(follower_), "GET", "/store/nf").body, "v");

  // ?forward=true overrides the flag: the runtime does not forward (its
  // forwarding is off), so memstore forwards through the client and says so.
  HttpResult r = http(h(follower_), "PUT", "/store/nf?forward=true", "w");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-forwarded-to"], cluster_->raft_address(leader_)) << r.body;
  EXPECT_EQ(http(h(leader_), "GET", "/store/nf").body, "w");
}

// Static members from one cluster.toml listing the peers and their roles;
// each node takes its own id, address and data dir as flags.
TEST(MemstoreStaticConfigTest, SharedClusterFileWithOwnIdAndAddress) {
  MemstoreCluster cluster(3, "shared-cluster-file");
  const std::string path = cluster.write_cluster_file(/*learners=*/{3});
  // The file alone does not say which node this is.
  Process lost({MEMSTORE_BIN, "--config", path, "--log-level", "warn"},
               cluster.dir() + "/lost.log");
  EXPECT_EQ(lost.wait_exit(15s), std::optional<int>(2));
  EXPECT_NE(lost.log().find("node.address: required"), std::string::npos) << lost.log();

  for (int i = 1; i <= 3; ++i) cluster.start_with_cluster_file(i, path);
  const int leader = cluster.wait_leader();
  ASSERT_TRUE(leader == 1 || leader == 2) << leader;  // Node 3 is a learner.
  for (int i = 1; i <= 3; ++i) {
    HttpResult r = http(cluster.http_address(i), "GET", "/status");
    EXPECT_NE(
        r.body.find(absl::StrCat("\"node\":", i, ",\"address\":\"", cluster.raft_address(i), "\"")),
        std::string::npos)
        << r.body;
  }
  HttpResult r = http(cluster.http_address(leader), "GET", "/peers");
  for (int p = 1; p <= 3; ++p) {
    EXPECT_NE(r.body.find(absl::StrCat("{\"id\":", p, ",\"address\":\"", cluster.raft_address(p),
                                       "\",\"role\":\"", p == 3 ? "learner" : "voter", "\"}")),
              std::string::npos)
        << r.body;
  }
  ASSERT_EQ(http(cluster.http_address(leader), "PUT", "/store/k", "v").status, 201);
  EXPECT_EQ(http(cluster.http_address(3), "GET", "/store/k").body, "v");
  // SIGINT stops a node as gracefully as SIGTERM.
  for (int i = 1; i <= 3; ++i) {
    cluster.process(i)->kill(i == 3 ? SIGINT : SIGTERM);
    EXPECT_EQ(cluster.process(i)->wait_exit(15s), std::optional<int>(0)) << "node " << i;
  }
}

}  // namespace
}  // namespace raft::examples_test
