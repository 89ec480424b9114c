// Client sessions on a real 3-node cluster (exactly-once proposals, Raft
// thesis §6.3): a retried proposal is applied once and answered with the
// first result, across a leader's death; expiry by log time lands at the
// same index on every replica and survives a restart from a snapshot; bad
// session input is refused and applies nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/node/node.h"
#include "tests/node/in_process_cluster.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

using testing::Cluster;
using testing::eventually;

// A number field of a group's status JSON ("key":123).
uint64_t status_number(Node& node, const std::string& key) {
  auto json = node.group_status_json(1);
  if (!json.ok()) return UINT64_MAX;
  const std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = json->find(needle);
  if (at == std::string::npos) return UINT64_MAX;
  return std::stoull(json->substr(at + needle.size()));
}

TEST(NodeSession, ARetriedProposalIsAppliedOnceAndGetsTheFirstResult) {
  Cluster c(3, "session_retry");
  c.start_all();
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  Node& lead = *c.node(leader);
  absl::StatusOr<uint64_t> session = lead.open_session(1);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_GT(*session, 0u);

  auto first = lead.propose(1, SessionRef{*session, 1, 1}, "k=v1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->result, "<none>");
  // The same (session, sequence) again, with the same command: applying it
  // again would answer "v1" (the previous value); the table answers with
  // the first result and the state machine is not called.
  const uint64_t applies = c.fsm(leader)->applies();
  auto again = lead.propose(1, SessionRef{*session, 1, 1}, "k=v1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->result, "<none>");
  // Proposed through a follower, which forwards it: the same.
  const uint64_t follower = leader % 3 + 1;
  auto via_follower = c.node(follower)->propose(1, SessionRef{*session, 1, 1}, "k=v1");
  ASSERT_TRUE(via_follower.ok()) << via_follower.status();
  EXPECT_EQ(via_follower->result, "<none>");
  auto next = lead.propose(1, SessionRef{*session, 2, 1}, "k=v2");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->result, "v1");
  EXPECT_EQ(c.fsm(leader)->applies(), applies + 1);
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(eventually([&] { return c.fsm(id)->applies() == applies + 1; }))
        << "node " << id << " applied " << c.fsm(id)->applies();
  }
  EXPECT_TRUE(lead.close_session(1, *session).ok());
  auto closed = lead.propose(1, SessionRef{*session, 3, 3}, "k=v3");
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.status().code(), absl::StatusCode::kNotFound) << closed.status();
}

// The leader dies with session proposals in flight whose answers are lost;
// the client retries each (same session, same sequence) on the new leader
// until it is answered. Every key is then written exactly once.
TEST(NodeSession, RetriesAcrossALeaderKillApplyEachProposalOnce) {
  Cluster c(3, "session_kill");
  c.start_all();
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  absl::StatusOr<uint64_t> session = c.node(leader)->open_session(1);
  ASSERT_TRUE(session.ok()) << session.status();
  constexpr int kInFlight = 200;
  std::atomic<int> answered{0};
  for (int i = 1; i <= kInFlight; ++i) {
    c.node(leader)->propose(1, SessionRef{*session, static_cast<uint64_t>(i), 1},
                            absl::StrCat("key", i, "=", i),
                            [&](absl::StatusOr<ProposeResult>) { answered.fetch_add(1); });
  }
  // Once a follower applied some of them (so some retries below are
  // duplicates the new leader must recognise), the leader goes, and the
  // answers still on their way with it.
  const uint64_t follower = leader % 3 + 1;
  ASSERT_TRUE(eventually([&] { return c.fsm(follower)->contents().size() >= 50; }));
  c.stop(leader);
  ASSERT_TRUE(eventually([&] { return c.leader() != 0; })) << "no new leader";
  const uint64_t new_leader = c.leader();
  for (int i = 1; i <= kInFlight; ++i) {
    absl::StatusOr<ProposeResult> r;
    ASSERT_TRUE(eventually([&] {
      r = c.node(new_leader)
              ->propose(1, SessionRef{*session, static_cast<uint64_t>(i), 1},
                        absl::StrCat("key", i, "=", i));
      return r.ok();
    })) << "sequence "
        << i << ": " << r.status();
    // Whether the first try was applied or not, this is the one answer:
    // the key had no value before its one application.
    EXPECT_EQ(r->result, "<none>") << "sequence " << i << " was applied twice";
  }
  // Each of the two survivors applied each proposal once.
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id == leader) continue;
    EXPECT_TRUE(eventually([&] { return c.fsm(id)->contents().size() == kInFlight; }));
  }
}

// Expiry follows log time: the open of a second session, proposed more
// than expiry_ms after the first session's last command, expires the first
// at that index on every replica; a node restarted from a snapshot holds
// the same table.
TEST(NodeSession, SessionsExpireAtTheSameIndexOnEveryReplicaAndAfterARestart) {
  Cluster c(3, "session_expiry");
  // 1 s: long enough that the second session outlives the few commands the
  // test sends right after opening it, even under TSan.
  c.tweak = [](NodeConfig& cfg) { cfg.session_expiry_ms = 1000; };
  c.start_all();
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  Node& lead = *c.node(leader);
  absl::StatusOr<uint64_t> old_session = lead.open_session(1);
  ASSERT_TRUE(old_session.ok()) << old_session.status();
  ASSERT_TRUE(lead.propose(1, SessionRef{*old_session, 1, 1}, "a=1").ok());
  // Log time advances only with session commands: the first session is
  // still there however long nothing is proposed.
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually(
      [&] { return std::chrono::steady_clock::now() - start > std::chrono::milliseconds(1200); }));
  EXPECT_EQ(status_number(lead, "sessions"), 1u);
  absl::StatusOr<uint64_t> new_session = lead.open_session(1);
  ASSERT_TRUE(new_session.ok()) << new_session.status();
  const uint64_t expiry_index = *new_session;
  auto gone = lead.propose(1, SessionRef{*old_session, 2, 1}, "a=2");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound) << gone.status();
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(eventually([&] {
      return status_number(*c.node(id), "applied") >= expiry_index &&
             status_number(*c.node(id), "sessions") == 1;
    })) << "node "
        << id;
  }
  const uint64_t log_time = status_number(lead, "session_log_time_ms");
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(eventually([&] {
      return status_number(*c.node(id), "session_log_time_ms") == log_time;
    })) << "node "
        << id;
  }
  // A snapshot holds the table; a follower restarted from it agrees.
  const uint64_t follower = leader % 3 + 1;
  ASSERT_TRUE(c.node(follower)->make_snapshot(1).ok());
  c.stop(follower);
  c.start(follower);
  EXPECT_TRUE(eventually([&] {
    return status_number(*c.node(follower), "sessions") == 1 &&
           status_number(*c.node(follower), "session_log_time_ms") == log_time;
  }));
  // (No command after this: one sent more than expiry_ms after the open
  // would rightly find the second session expired too.)
}

TEST(NodeSession, BadSessionInputIsRefusedAndAppliesNothing) {
  Cluster c(3, "session_bad");
  c.tweak = [](NodeConfig& cfg) {
    cfg.max_sessions = 2;
    cfg.max_session_result_bytes = 8;
  };
  c.start_all();
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  Node& lead = *c.node(leader);
  auto s1 = lead.open_session(1);
  ASSERT_TRUE(s1.ok()) << s1.status();
  ASSERT_TRUE(lead.open_session(1).ok());
  auto third = lead.open_session(1);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();
  const uint64_t applies = c.fsm(leader)->applies();

  auto unknown_session = lead.propose(1, SessionRef{999999, 1, 1}, "x=1");
  ASSERT_FALSE(unknown_session.ok());
  EXPECT_EQ(unknown_session.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(outcome_of(unknown_session.status()), Outcome::kFailed);
  auto no_sequence = lead.propose(1, SessionRef{*s1, 0, 0}, "x=1");
  ASSERT_FALSE(no_sequence.ok());
  EXPECT_EQ(no_sequence.status().code(), absl::StatusCode::kInvalidArgument);

  // The results kept ("<none>", then "12345678") pass the 8-byte cap.
  ASSERT_TRUE(lead.propose(1, SessionRef{*s1, 1, 1}, "k=12345678").ok());
  ASSERT_TRUE(lead.propose(1, SessionRef{*s1, 2, 1}, "k=abc").ok());
  auto capped = lead.propose(1, SessionRef{*s1, 3, 1}, "k=def");
  ASSERT_FALSE(capped.ok());
  EXPECT_EQ(capped.status().code(), absl::StatusCode::kResourceExhausted) << capped.status();
  // Acknowledging 1 and 2 (floor 3) frees the results: 3 goes through.
  ASSERT_TRUE(lead.propose(1, SessionRef{*s1, 3, 3}, "k=def").ok());
  auto below = lead.propose(1, SessionRef{*s1, 2, 3}, "k=abc");
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.status().code(), absl::StatusCode::kOutOfRange) << below.status();
  EXPECT_EQ(c.fsm(leader)->applies(), applies + 3);  // 1, 2 and 3, each once.
  auto v = lead.read(1, "k");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "def");
}

}  // namespace
}  // namespace raft
