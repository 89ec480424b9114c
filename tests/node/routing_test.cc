// Routing (issue 19): on nodes with `[node] shards = 2`, a client sends each
// request on a connection to the shard that owns its group (group % shards,
// learned from the node's handshake reply), so no request needs a hop
// between shard threads. ringraft_client_cross_shard_total counts the
// requests that did; it stays 0 with routing and counts every request for a
// group of shard 1 without it (all connections to shard 0, as clients did
// before routing), so these tests fail if routing breaks.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/node/async_client.h"
#include "engine/node/client.h"
#include "engine/node/node.h"
#include "tests/node/in_process_cluster.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

using testing::Cluster;
using testing::eventually;

// Groups 2 and 4 live on shard 0, 1 and 3 on shard 1.
const std::vector<uint64_t> kGroups = {1, 2, 3, 4};
constexpr uint32_t kShards = 2;

std::optional<uint64_t> routed_metric(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stoull(text.substr(at + name.size() + 2));
}

// A metric summed over the cluster's nodes (a failure when one lacks it).
uint64_t cluster_total(Cluster& c, const std::string& name) {
  uint64_t sum = 0;
  for (uint64_t id = 1; id <= c.size(); ++id) {
    const std::string text = c.node(id)->metrics_text();
    std::optional<uint64_t> v = routed_metric(text, name);
    EXPECT_TRUE(v.has_value()) << name << " missing on node " << id;
    sum += v.value_or(0);
  }
  return sum;
}

uint64_t cross_shard(Cluster& c) { return cluster_total(c, "ringraft_client_cross_shard_total"); }

ClientOptions routing_options(bool route) {
  ClientOptions o;
  o.request_timeout = std::chrono::seconds(20);
  o.connect_timeout = std::chrono::milliseconds(500);
  o.max_attempts = 1000;
  o.backoff_initial = std::chrono::milliseconds(5);
  o.backoff_max = std::chrono::milliseconds(100);
  o.route_by_shard = route;
  return o;
}

class RoutingTest : public ::testing::Test {
 protected:
  void start(const std::string& name) {
    cluster_ = std::make_unique<Cluster>(3, name);
    cluster_->tweak = [](NodeConfig& n) {
      n.shards = kShards;
      n.groups = kGroups;
    };
    cluster_->start_all();
    // Every group has a leader the nodes agree on (requests then go
    // straight to it after at most one hint).
    for (uint64_t g : kGroups) {
      ASSERT_TRUE(eventually([&] {
        uint64_t seen = 0;
        for (uint64_t id = 1; id <= cluster_->size(); ++id) {
          auto l = cluster_->node(id)->leader(g);
          if (!l.ok() || l->leader_id == 0 || (seen != 0 && seen != l->leader_id)) return false;
          seen = l->leader_id;
        }
        return true;
      })) << "no leader for group "
          << g;
    }
  }

  // Through the blocking Client: per group, proposals, a linearizable read
  // and the leader. Returns how many requests went to shard 1's groups.
  uint64_t run_blocking(bool route, const std::string& tag, int per_group) {
    Client client(cluster_->addresses(), routing_options(route));
    uint64_t shard1 = 0;
    for (int i = 0; i < per_group; ++i) {
      for (uint64_t g : kGroups) {
        auto r = client.propose(g, absl::StrCat(tag, "b", i, "=", g));
        EXPECT_TRUE(r.ok()) << "group " << g << ": " << r.status();
        if (g % kShards == 1) ++shard1;
      }
    }
    for (uint64_t g : kGroups) {
      auto v = client.read(g, absl::StrCat(tag, "b0"));
      EXPECT_TRUE(v.ok()) << v.status();
      if (v.ok()) {
        EXPECT_EQ(*v, absl::StrCat(g));
      }
      auto l = client.leader(g);
      EXPECT_TRUE(l.ok()) << l.status();
      if (g % kShards == 1) shard1 += 2;
    }
    return shard1;
  }

  // Through an AsyncClient: every proposal in flight at once, over all
  // groups, four connections per node (two per shard when routing).
  uint64_t run_async(bool route, const std::string& tag, int per_group) {
    ClientOptions o = routing_options(route);
    o.connections_per_node = 4;
    AsyncClient client(cluster_->addresses(), o);
    std::vector<std::future<absl::StatusOr<ProposeResult>>> fs;
    uint64_t shard1 = 0;
    for (int i = 0; i < per_group; ++i) {
      for (uint64_t g : kGroups) {
        fs.push_back(client.propose(g, absl::StrCat(tag, "a", i, "=", g)));
        if (g % kShards == 1) ++shard1;
      }
    }
    for (auto& f : fs) {
      absl::StatusOr<ProposeResult> r = f.get();
      EXPECT_TRUE(r.ok()) << r.status();
    }
    std::vector<std::future<absl::StatusOr<std::string>>> reads;
    for (uint64_t g : kGroups) {
      reads.push_back(client.read(g, absl::StrCat(tag, "a0")));
      if (g % kShards == 1) ++shard1;
    }
    for (size_t i = 0; i < reads.size(); ++i) {
      absl::StatusOr<std::string> v = reads[i].get();
      EXPECT_TRUE(v.ok()) << v.status();
      if (v.ok()) {
        EXPECT_EQ(*v, absl::StrCat(kGroups[i]));
      }
    }
    return shard1;
  }

  std::unique_ptr<Cluster> cluster_;
};

TEST_F(RoutingTest, ClientsSendEachRequestToItsGroupsShard) {
  start("routing-on");
  const uint64_t requests0 = cluster_total(*cluster_, "ringraft_client_requests_total");
  run_blocking(/*route=*/true, "r", 25);
  run_async(/*route=*/true, "r", 100);
  // The requests came over client connections (not the Node API)...
  EXPECT_GE(cluster_total(*cluster_, "ringraft_client_requests_total"),
            requests0 + 4 * 25 + 4 * 100);
  // ... and none of them needed a hop to another shard.
  EXPECT_EQ(cross_shard(*cluster_), 0u);
}

// The same load with routing off (every connection to shard 0, what a client
// that predates routing does): every request for a group of shard 1 crosses.
TEST_F(RoutingTest, WithoutRoutingShardOnesGroupsCostAHop) {
  start("routing-off");
  const uint64_t blocking = run_blocking(/*route=*/false, "n", 10);
  EXPECT_GE(cross_shard(*cluster_), blocking);
  const uint64_t async = run_async(/*route=*/false, "n", 50);
  EXPECT_GE(cross_shard(*cluster_), blocking + async);
  // A routing client afterwards adds none.
  const uint64_t before = cross_shard(*cluster_);
  run_blocking(/*route=*/true, "m", 5);
  run_async(/*route=*/true, "m", 20);
  EXPECT_EQ(cross_shard(*cluster_), before);
}

}  // namespace
}  // namespace raft
