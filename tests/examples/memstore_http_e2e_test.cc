// memstore's HTTP API end to end: 3 memstore processes on 127.0.0.1, every
// route and every error status, forwarding from followers, dynamic join and
// leave, no-leader 503, and graceful shutdown on SIGTERM.
#include <gtest/gtest.h>

#include "tests/examples/memstore_cluster.h"

namespace raft::examples_test {
namespace {

using namespace std::chrono_literals;

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
  ASSERT_EQ(http(h(leader_), "PUT", "/store/m", "1").status, 201);
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
        "ringraft_proposals_total", "ringraft_fsync_commits_total",
        "ringraft_entries_per_batch_bucket", "ringraft_bad_frames_total"}) {
    EXPECT_NE(m.body.find(name), std::string::npos) << name;
  }
  EXPECT_NE(http(h(follower_), "GET", "/metrics").body.find("ringraft_is_leader{group=\"1\"} 0"),
            std::string::npos);

  HttpResult s = http(h(follower_), "POST", "/snapshot");
  EXPECT_EQ(s.status, 200) << s.body;
  EXPECT_NE(s.body.find("\"snapshot_index\":"), std::string::npos) << s.body;
  EXPECT_EQ(s.body.find("\"snapshot_index\":0"), std::string::npos) << s.body;
}

TEST_F(MemstoreHttpTest, TransferLeaderFromAFollower) {
  const int target = 6 - leader_ - follower_;  // The third node.
  HttpResult r = http(h(follower_), "POST", absl::StrCat("/transfer_leader/", target));
  ASSERT_EQ(r.status, 200) << r.body;
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
  // Stop two nodes: the last one cannot elect a leader.
  const int survivor = follower_;
  for (int i = 1; i <= 3; ++i) {
    if (i == survivor) continue;
    cluster_->process(i)->kill(SIGTERM);
    EXPECT_EQ(cluster_->process(i)->wait_exit(15s), std::optional<int>(0));
  }
  EXPECT_TRUE(eventually([&] { return http(h(survivor), "GET", "/leader").status == 503; }));
  HttpResult r = http(h(survivor), "PUT", "/store/x", "2");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(http(h(survivor), "POST", "/transfer_leader/1").status, 503);
  // A stale read still answers from local state.
  r = http(h(survivor), "GET", "/store/x?stale=true");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "1");
}

}  // namespace
}  // namespace raft::examples_test
