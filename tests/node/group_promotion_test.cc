// Group::promote_learner (join_as = voter) on one leader Group driven
// directly (fake_ports.h): the test plays learner 2, answering the leader's
// appends with the match it chooses. The promotion is refused while the
// learner is more than promote_max_lag behind, while it has been caught up
// for less than an election timeout, and after it went silent; it goes
// through once the learner has stayed caught up for an election timeout.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/node/errors.h"
#include "engine/node/group.h"
#include "examples/memstore/kv_state_machine.h"
#include "storage/log_env.h"
#include "tests/node/fake_ports.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

class GroupPromotionTest : public ::testing::Test, protected SingleVoterGroup {
 protected:
  void SetUp() override {
    config_.snapshot_every_entries = 0;
    config_.promote_max_lag = 5;
    config_.election_ticks = 10;
    open_leader("grouppromo", 1, std::make_unique<memstore::KvStateMachine>());
    ASSERT_FALSE(HasFatalFailure());
    // Node 2 joins as a learner.
    absl::StatusOr<ConfState> added = absl::UnknownError("no answer");
    group_->change_membership({MemberChange{MemberChangeKind::kAddLearner, 2, "127.0.0.1:2"}},
                              [&](absl::StatusOr<ConfState> r) { added = std::move(r); });
    for (int i = 0; i < 3; ++i) flush();
    ASSERT_TRUE(added.ok()) << added.status();
    ASSERT_EQ(group_->conf_state().learners, std::vector<NodeId>{2});
  }
  void flush() {
    group_->process();
    ports_->flush(*group_);
  }
  void write(int n) {
    for (int i = 0; i < n; ++i) {
      group_->propose(Slice(memstore::encode_put("k" + std::to_string(i), "v")),
                      [](absl::StatusOr<ProposeResult>) {});
    }
    flush();
    flush();
  }
  Index last_index() const { return group_->core().last_index(); }
  // Learner 2 says it holds the log up to `match`.
  void learner_answers(Index match) {
    Message m;
    m.type = MessageType::kAppendResponse;
    m.group = 1;
    m.from = 2;
    m.to = 1;
    m.term = group_->term();
    m.index = match;
    group_->step(m);
    flush();
  }
  // `n` ticks; the learner answers each with `match` (or stays silent).
  void ticks(int n, std::optional<Index> match) {
    for (int i = 0; i < n; ++i) {
      group_->tick();
      flush();
      if (match) learner_answers(*match);
    }
  }
  absl::StatusOr<ConfState> promote() {
    absl::StatusOr<ConfState> out = absl::UnknownError("no answer");
    group_->promote_learner(2, [&](absl::StatusOr<ConfState> r) { out = std::move(r); });
    for (int i = 0; i < 3; ++i) flush();
    return out;
  }
  static void expect_refused(const absl::StatusOr<ConfState>& r, const std::string& says) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(outcome_of(r.status()), Outcome::kRefused) << r.status();
    EXPECT_NE(r.status().message().find(says), absl::string_view::npos) << r.status();
  }
};

TEST_F(GroupPromotionTest, OnlyAfterCatchingUpForAnElectionTimeout) {
  write(30);
  // Never heard from: behind.
  expect_refused(promote(), "behind");
  // Answers, but 10 entries behind (the lag allows 5), for a long time.
  const Index behind = last_index() - 10;
  learner_answers(behind);
  ticks(25, behind);
  expect_refused(promote(), "matched " + std::to_string(behind));
  EXPECT_EQ(group_->conf_state().learners, std::vector<NodeId>{2});

  // Within the lag now, but not for long enough.
  const Index close = last_index() - 3;
  ticks(5, close);
  expect_refused(promote(), "caught up for");
  // A whole election timeout within the lag (counted from the first tick
  // that saw the answer, the second above): promoted.
  ticks(7, close);
  auto promoted = promote();
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_TRUE(group_->conf_state().learners.empty());
  EXPECT_EQ(group_->conf_state().voters, (std::vector<NodeId>{1, 2}));
  // Asking again answers at once.
  auto again = promote();
  ASSERT_TRUE(again.ok()) << again.status();
}

TEST_F(GroupPromotionTest, FallingBehindOrSilentStartsTheWaitOver) {
  write(10);
  learner_answers(last_index());
  ticks(8, last_index());
  // New writes it does not take: beyond the lag, so the clock restarts.
  write(20);
  ticks(1, std::nullopt);
  expect_refused(promote(), "behind");
  learner_answers(last_index());
  ticks(3, last_index());
  expect_refused(promote(), "caught up for");

  // Caught up, then silent for more than an election timeout (with the log
  // idle, its match still equals the last index): not promoted.
  ticks(12, last_index());
  ticks(25, std::nullopt);
  expect_refused(promote(), "behind");
  EXPECT_EQ(group_->conf_state().learners, std::vector<NodeId>{2});
  // Not a learner at all: failed, not refused.
  absl::StatusOr<ConfState> stranger = absl::UnknownError("no answer");
  group_->promote_learner(9, [&](absl::StatusOr<ConfState> r) { stranger = std::move(r); });
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(outcome_of(stranger.status()), Outcome::kFailed) << stranger.status();
}

}  // namespace
}  // namespace raft
