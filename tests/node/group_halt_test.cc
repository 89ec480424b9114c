// A state machine that cannot apply an entry (StateMachine::apply_batch_checked
// returns an error) halts its group on this node: the entries before it are
// applied and answered, the proposal at it and every waiting request fail
// naming the group and the index, new requests are refused, the status JSON
// says why, and nothing after it is applied. Drives one single-voter Group
// directly over a real LogEnv (fake_ports.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/node/errors.h"
#include "engine/node/group.h"
#include "engine/node/node.h"
#include "storage/log_env.h"
#include "tests/node/fake_ports.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

// MapStateMachine that refuses any entry starting with "poison".
class RefusingStateMachine : public testing::MapStateMachine {
 public:
  absl::Status apply_batch_checked(std::span<const ApplyItem> items,
                                   std::vector<std::string>* results) override {
    for (const ApplyItem& item : items) {
      if (item.data.starts_with("poison")) {
        return absl::InvalidArgumentError("poisoned entry");
      }
      results->push_back(apply(item.index, item.data));
    }
    return absl::OkStatus();
  }
};

class GroupHaltTest : public ::testing::Test, protected SingleVoterGroup {
 protected:
  void SetUp() override {
    config_.snapshot_every_entries = 0;
    auto fsm = std::make_unique<RefusingStateMachine>();
    fsm_ = fsm.get();
    open_leader("grouphalt", 7, std::move(fsm));
  }

  RefusingStateMachine* fsm_ = nullptr;
};

TEST_F(GroupHaltTest, RefusedEntryHaltsTheGroupNamingTheIndex) {
  std::vector<absl::StatusOr<ProposeResult>> answers;
  auto propose = [&](const std::string& data) {
    group_->propose(Slice(data),
                    [&](absl::StatusOr<ProposeResult> r) { answers.push_back(std::move(r)); });
  };
  propose("a=1");
  propose("poison");
  propose("b=2");  // After the refused entry, in the same batch: never applied.
  group_->process();
  ports_->flush(*group_);
  ASSERT_EQ(answers.size(), 3u);
  ASSERT_TRUE(answers[0].ok()) << answers[0].status();
  const Index poison_index = answers[0]->index + 1;
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_TRUE(absl::IsFailedPrecondition(answers[i].status())) << answers[i].status();
    EXPECT_EQ(outcome_of(answers[i].status()), Outcome::kUnknown);
    EXPECT_TRUE(absl::StrContains(answers[i].status().message(), absl::StrCat("group 7 is halted")))
        << answers[i].status();
    EXPECT_TRUE(absl::StrContains(answers[i].status().message(),
                                  absl::StrCat("index ", poison_index, ": poisoned entry")))
        << answers[i].status();
  }
  EXPECT_EQ(fsm_->contents(), (std::map<std::string, std::string>{{"a", "1"}}));
  EXPECT_EQ(group_->applied(), poison_index - 1);
  EXPECT_TRUE(group_->gauges().halted.load());
  EXPECT_TRUE(absl::StrContains(group_->status_json(), "\"halted\":\"group 7 is halted"))
      << group_->status_json();

  // New requests are refused, reads and snapshots fail; nothing is applied.
  propose("c=3");
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(outcome_of(answers[3].status()), Outcome::kRefused);
  EXPECT_TRUE(absl::StrContains(answers[3].status().message(), "halted")) << answers[3].status();
  absl::Status read_status;
  group_->read("a", ReadConsistency::kLinearizable,
               [&](absl::StatusOr<std::string> r) { read_status = r.status(); });
  EXPECT_TRUE(absl::StrContains(read_status.message(), "halted")) << read_status;
  absl::Status snapshot_status;
  group_->make_snapshot([&](absl::StatusOr<Index> r) { snapshot_status = r.status(); });
  EXPECT_TRUE(absl::StrContains(snapshot_status.message(), "halted")) << snapshot_status;
  group_->process();
  ports_->flush(*group_);
  EXPECT_EQ(fsm_->applies(), 1u);
  EXPECT_EQ(group_->applied(), poison_index - 1);
}

// Through a Node: the refused proposal's error, the status JSON and the
// metric; the node goes on serving (status, metrics, stop).
TEST(NodeHaltTest, HaltedGroupShowsInStatusAndMetrics) {
  const std::string dir = testing::temp_dir("nodehalt");
  NodeConfig c;
  c.node_id = 1;
  c.address = absl::StrCat("127.0.0.1:", testing::free_port());
  c.data_dir = dir + "/n1";
  c.peers = {{1, c.address, PeerRole::kVoter}};
  c.tick_interval_ms = 10;
  c.snapshot_every_entries = 0;
  auto node = Node::start(c, [](GroupId) { return std::make_unique<RefusingStateMachine>(); });
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_TRUE(testing::eventually([&] {
    auto l = (*node)->leader(1);
    return l.ok() && l->leader_id == 1;
  }));
  ASSERT_TRUE((*node)->propose(1, "a=1").ok());
  absl::StatusOr<ProposeResult> r = (*node)->propose(1, "poison");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "could not apply index")) << r.status();
  EXPECT_TRUE(absl::StrContains((*node)->status_json(), "\"halted\":\"group 1 is halted"))
      << (*node)->status_json();
  EXPECT_TRUE(absl::StrContains((*node)->metrics_text(), "\nringraft_fsm_halted_groups 1\n"));
  r = (*node)->propose(1, "b=2");
  EXPECT_EQ(outcome_of(r.status()), Outcome::kRefused) << r.status();
  node->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace raft
