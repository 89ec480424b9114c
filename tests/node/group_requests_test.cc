// The group driver's request table: requests waiting for their answer are
// capped per group (NodeConfig::max_pending_requests); over the cap a new
// one is refused with ResourceExhausted (outcome refused), and room comes
// back as requests complete. Drives one single-voter Group directly over a
// real LogEnv (fake_ports.h).
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

class GroupRequestsTest : public ::testing::Test, protected SingleVoterGroup {
 protected:
  void SetUp() override {
    config_.max_pending_requests = 3;
    config_.snapshot_every_entries = 0;
    open_leader("groupreq", 1, std::make_unique<memstore::KvStateMachine>());
  }
};

TEST_F(GroupRequestsTest, RequestsOverTheCapAreRefusedUntilSomeComplete) {
  std::vector<absl::StatusOr<ProposeResult>> answers;
  auto propose = [&](const std::string& data) {
    group_->propose(Slice(data),
                    [&](absl::StatusOr<ProposeResult> r) { answers.push_back(std::move(r)); });
  };
  // Three proposals wait for their entries to be durable (nothing is
  // flushed yet): the fourth is refused at once, and so is a read.
  propose(memstore::encode_put("a", "1"));
  propose(memstore::encode_put("b", "2"));
  propose(memstore::encode_put("c", "3"));
  EXPECT_TRUE(answers.empty());
  propose(memstore::encode_put("d", "4"));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(absl::IsResourceExhausted(answers[0].status())) << answers[0].status();
  EXPECT_EQ(outcome_of(answers[0].status()), Outcome::kRefused);
  absl::Status read_status;
  group_->read("a", ReadConsistency::kLinearizable,
               [&](absl::StatusOr<std::string> r) { read_status = r.status(); });
  EXPECT_TRUE(absl::IsResourceExhausted(read_status)) << read_status;

  // Durable and applied: the three complete, and there is room again.
  group_->process();
  ports_->flush(*group_);
  ASSERT_EQ(answers.size(), 4u);
  for (size_t i = 1; i < 4; ++i) EXPECT_TRUE(answers[i].ok()) << i << ": " << answers[i].status();
  propose(memstore::encode_put("d", "4"));
  group_->process();
  ports_->flush(*group_);
  ASSERT_EQ(answers.size(), 5u);
  EXPECT_TRUE(answers[4].ok()) << answers[4].status();
}

}  // namespace
}  // namespace raft
