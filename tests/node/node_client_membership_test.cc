// Client::join / Client::leave answer with the configuration that resulted,
// on an in-process cluster of three real Nodes (127.0.0.1, LMDB data dirs):
// through the leader, and through a follower that forwards to the leader.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "engine/node/client.h"
#include "engine/node/node.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

using testing::eventually;

std::vector<NodeId> sorted(std::vector<NodeId> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class ClientMembershipTest : public ::testing::Test {
 protected:
  static constexpr int kNodes = 3;

  void SetUp() override {
    dir_ = testing::temp_dir("client-members");
    for (int i = 1; i <= kNodes; ++i) {
      peers_.push_back(PeerConfig{static_cast<uint64_t>(i),
                                  absl::StrCat("127.0.0.1:", testing::free_port()),
                                  PeerRole::kVoter});
    }
    for (int i = 1; i <= kNodes; ++i) {
      NodeConfig c;
      c.node_id = i;
      c.address = peers_[i - 1].address;
      c.data_dir = absl::StrCat(dir_, "/n", i);
      c.peers = peers_;
      c.tick_interval_ms = 10;
      c.election_ticks = 20;  // 200-400 ms: a loaded machine keeps its leader.
      c.request_timeout_ms = 5000;
      c.forward_to_leader = true;
      auto node =
          Node::start(c, [](GroupId) { return std::make_unique<testing::MapStateMachine>(); });
      ASSERT_TRUE(node.ok()) << node.status();
      nodes_.push_back(std::move(*node));
    }
  }

  void TearDown() override {
    nodes_.clear();
    std::filesystem::remove_all(dir_);
  }

  // The leader every node agrees on, or 0.
  NodeId leader() {
    NodeId seen = 0;
    for (auto& n : nodes_) {
      auto l = n->leader(1);
      if (!l.ok() || l->leader_id == 0) return 0;
      if (seen != 0 && seen != l->leader_id) return 0;
      seen = l->leader_id;
    }
    return seen;
  }

  std::string dir_;
  std::vector<PeerConfig> peers_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(ClientMembershipTest, JoinAndLeaveReturnTheResultingConfState) {
  NodeId lead = 0;
  ASSERT_TRUE(eventually([&] { return (lead = leader()) != 0; })) << "no leader elected";
  const NodeId follower = lead % kNodes + 1;
  const NodeId newcomer = 4;  // Never started: a learner (then voter) that stays silent.
  const std::string newcomer_address = absl::StrCat("127.0.0.1:", testing::free_port());

  Client client({peers_[lead - 1].address});
  auto joined = client.join(1, newcomer, newcomer_address, /*as_learner=*/true);
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(sorted(joined->voters), (std::vector<NodeId>{1, 2, 3}));
  EXPECT_EQ(joined->learners, (std::vector<NodeId>{newcomer}));
  EXPECT_TRUE(joined->voters_outgoing.empty());

  // Joining again as a voter promotes the learner.
  auto promoted = client.join(1, newcomer, newcomer_address, /*as_learner=*/false);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(sorted(promoted->voters), (std::vector<NodeId>{1, 2, 3, newcomer}));
  EXPECT_TRUE(promoted->learners.empty());

  // Leave through a follower only: the leader answers over the peer link and
  // the follower relays that answer, configuration included.
  Client via_follower({peers_[follower - 1].address});
  auto left = via_follower.leave(1, newcomer);
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_EQ(sorted(left->voters), (std::vector<NodeId>{1, 2, 3}));
  EXPECT_TRUE(left->learners.empty());
  EXPECT_TRUE(left->voters_outgoing.empty());

  // What the answers said is what the members see.
  auto members = nodes_[lead - 1]->members(1);
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(members->size(), 3u);
}

}  // namespace
}  // namespace raft
