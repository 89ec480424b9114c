// Unit tests: ConfChange encoding round trip and rejection of bad payloads;
// Config validation.
#include "engine/core/conf_change.h"
#include "engine/core/config.h"
#include "gtest/gtest.h"

namespace raft {
namespace {

TEST(ConfChangeCodec, RoundTrip) {
  ConfChange cc;
  cc.transition = ConfChangeTransition::kJointExplicit;
  cc.changes = {{ConfChangeType::kAddVoter, 4},
                {ConfChangeType::kRemoveNode, 1},
                {ConfChangeType::kAddLearner, 0xffffffffffffULL}};
  cc.context = std::string("addr\0x", 6);
  auto decoded = decode_conf_change(encode_conf_change(cc));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, cc);

  auto leave = decode_conf_change(encode_conf_change(leave_joint_change()));
  ASSERT_TRUE(leave.ok());
  EXPECT_TRUE(leave->is_leave_joint());
}

TEST(ConfChangeCodec, RejectsEveryTruncation) {
  ConfChange cc = single_change(ConfChangeType::kAddVoter, 9);
  cc.context = "ctx";
  const std::string bytes = encode_conf_change(cc);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_conf_change(std::string_view(bytes).substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(decode_conf_change(bytes + "x").ok());
}

TEST(ConfChangeCodec, RejectsBadFields) {
  std::string bytes = encode_conf_change(single_change(ConfChangeType::kAddVoter, 9));
  std::string bad_version = bytes;
  bad_version[0] = 7;
  EXPECT_FALSE(decode_conf_change(bad_version).ok());
  std::string bad_transition = bytes;
  bad_transition[1] = 3;
  EXPECT_FALSE(decode_conf_change(bad_transition).ok());
  std::string bad_type = bytes;
  bad_type[6] = 5;
  EXPECT_FALSE(decode_conf_change(bad_type).ok());
  std::string huge_count = bytes;
  huge_count[5] = 0x7f;
  EXPECT_FALSE(decode_conf_change(huge_count).ok());
}

TEST(ConfChange, EntersJoint) {
  EXPECT_FALSE(single_change(ConfChangeType::kAddVoter, 2).enters_joint());
  ConfChange two;
  two.changes = {{ConfChangeType::kAddVoter, 2}, {ConfChangeType::kRemoveNode, 3}};
  EXPECT_TRUE(two.enters_joint());
  ConfChange explicit_one = single_change(ConfChangeType::kAddVoter, 2);
  explicit_one.transition = ConfChangeTransition::kJointExplicit;
  EXPECT_TRUE(explicit_one.enters_joint());
  EXPECT_FALSE(leave_joint_change().enters_joint());
}

TEST(Config, Validate) {
  Config c;
  c.id = 1;
  EXPECT_TRUE(c.validate().ok());
  Config no_id = c;
  no_id.id = 0;
  EXPECT_FALSE(no_id.validate().ok());
  Config bad_ticks = c;
  bad_ticks.election_ticks = 1;
  EXPECT_FALSE(bad_ticks.validate().ok());
  Config no_window = c;
  no_window.max_inflight_msgs = 0;
  EXPECT_FALSE(no_window.validate().ok());
  Config lease = c;
  lease.read_only = ReadOnlyOption::kLeaseBased;
  lease.check_quorum = false;
  EXPECT_FALSE(lease.validate().ok());
  lease.check_quorum = true;
  EXPECT_TRUE(lease.validate().ok());
}

}  // namespace
}  // namespace raft
