// An in-process cluster of real Nodes for tests: real sockets on
// 127.0.0.1, real data dirs under a temporary directory, MapStateMachine in
// every group; `tweak` adjusts each node's config before it starts.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/node/node.h"
#include "tests/node/test_cluster.h"

namespace raft::testing {

class Cluster {
 public:
  Cluster(int n, std::string name, bool forward = true)
      : dir_(testing::temp_dir(name)), forward_(forward) {
    for (int i = 1; i <= n; ++i) {
      peers_.push_back(PeerConfig{static_cast<uint64_t>(i),
                                  absl::StrCat("127.0.0.1:", testing::free_port()),
                                  PeerRole::kVoter});
    }
    fsms_.resize(n + 1, nullptr);
    nodes_.resize(n + 1);
  }
  ~Cluster() {
    for (auto& n : nodes_) n.reset();
    std::filesystem::remove_all(dir_);
  }

  std::function<void(NodeConfig&)> tweak;

  NodeConfig config_for(uint64_t id) const {
    NodeConfig c;
    c.node_id = id;
    c.address = peers_[id - 1].address;
    c.data_dir = data_dir(id);
    c.peers = peers_;
    c.tick_interval_ms = 10;
    // 200-400 ms: long enough that a loaded CI machine (ctest -j, other
    // clusters running) does not stall a leader out of office mid-test.
    c.election_ticks = 20;
    c.request_timeout_ms = 5000;
    c.forward_to_leader = forward_;
    if (tweak) tweak(c);
    return c;
  }

  void start(uint64_t id) {
    auto node = Node::start(config_for(id), [this, id](GroupId) {
      auto fsm = std::make_unique<MapStateMachine>();
      fsms_[id] = fsm.get();
      return fsm;
    });
    ASSERT_TRUE(node.ok()) << node.status();
    nodes_[id] = std::move(*node);
  }
  void start_all() {
    for (uint64_t id = 1; id < nodes_.size(); ++id) start(id);
  }
  void stop(uint64_t id) {
    nodes_[id].reset();
    fsms_[id] = nullptr;
  }

  // The id every running node agrees is leader, or 0.
  uint64_t leader() {
    uint64_t seen = 0;
    for (uint64_t id = 1; id < nodes_.size(); ++id) {
      if (!nodes_[id]) continue;
      auto l = nodes_[id]->leader(1);
      if (!l.ok() || l->leader_id == 0) return 0;
      if (seen != 0 && seen != l->leader_id) return 0;
      seen = l->leader_id;
    }
    return seen != 0 && nodes_[seen] ? seen : 0;
  }
  uint64_t wait_leader() {
    uint64_t l = 0;
    EXPECT_TRUE(eventually([&] { return (l = leader()) != 0; })) << "no leader elected";
    return l;
  }

  Node* node(uint64_t id) { return nodes_[id].get(); }
  MapStateMachine* fsm(uint64_t id) { return fsms_[id]; }
  std::vector<std::string> addresses() const {
    std::vector<std::string> out;
    for (const PeerConfig& p : peers_) out.push_back(p.address);
    return out;
  }
  size_t size() const { return nodes_.size() - 1; }
  std::string data_dir(uint64_t id) const { return absl::StrCat(dir_, "/n", id); }

 private:
  std::string dir_;
  bool forward_;
  std::vector<PeerConfig> peers_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<MapStateMachine*> fsms_;
};

// A counter or gauge of `node`'s metrics; a missing one fails the test.
inline uint64_t metric(Node& node, const std::string& name) {
  const std::string text = node.metrics_text();
  std::optional<uint64_t> v = metric_value(text, name);
  EXPECT_TRUE(v.has_value()) << name << " missing from\n" << text;
  return v.value_or(0);
}

// Groups 1..groups each have a leader among `running` that all of them
// agree on.
inline bool every_group_led(Cluster& c, uint64_t groups, const std::vector<uint64_t>& running) {
  for (GroupId g = 1; g <= groups; ++g) {
    uint64_t seen = 0;
    for (uint64_t id : running) {
      auto l = c.node(id)->leader(g);
      if (!l.ok() || l->leader_id == 0) return false;
      if (seen != 0 && seen != l->leader_id) return false;
      seen = l->leader_id;
    }
    if (std::find(running.begin(), running.end(), seen) == running.end()) return false;
  }
  return true;
}

}  // namespace raft::testing
