// LeaderBalancer: leader balance at run time ([balance], BalanceConfig).
// Owned by NodeImpl, it runs on shard 0: every period_ticks ticks it asks
// every shard for the view of its groups (who leads each, its voters,
// whether a transfer or membership change is in flight and, for the groups
// this node leads, which voters are live by node-level liveness and caught
// up), plans with plan_leader_transfers (leader_balance.h) and asks the
// groups this node leads, on their shards, to transfer leadership.
//
// No coordination between nodes: each node sheds only its own excess. A
// node knows the leaders of the groups it follows (the core's known leader,
// also while quiesced), so it counts every node's leaders from its own
// view. Liveness is the shard's NodeLiveness, not the core's recent_active
// (a woken quiesced leader resets that to itself); a transfer wakes a
// quiesced leader (engine/core/transfer.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "engine/node/config.h"
#include "engine/node/leader_balance.h"
#include "net/reactor.h"

namespace raft {

class NodeImpl;
class ShardRuntime;

class LeaderBalancer {
 public:
  LeaderBalancer(NodeImpl& node, const NodeConfig& config);
  ~LeaderBalancer();
  LeaderBalancer(const LeaderBalancer&) = delete;
  LeaderBalancer& operator=(const LeaderBalancer&) = delete;

  // Shard 0's thread, once every shard runs: arms the period timer.
  void start(net::Reactor& shard0);
  // Shard 0's thread: stops the timer; views still on their way are dropped.
  void stop();

  // Any thread.
  void set_enabled(bool on) { enabled_.store(on, std::memory_order_relaxed); }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  // Transfers started by the balancer, and those that did not happen
  // (refused, or not done within the transfer's deadline).
  uint64_t transfers() const { return transfers_.load(std::memory_order_relaxed); }
  uint64_t transfers_failed() const { return transfers_failed_.load(std::memory_order_relaxed); }

  // What one shard's groups look like (on that shard's thread).
  struct ShardView {
    std::vector<BalanceGroup> groups;
    std::set<NodeId> live;  // Voters of its groups that its NodeLiveness hears.
  };
  static ShardView collect(ShardRuntime& rt, NodeId self, uint64_t max_lag);

 private:
  void on_period();
  void add_view(uint64_t round, ShardView view);
  void finish_round();
  void start_transfer(const BalanceTransfer& t);

  NodeImpl& node_;
  const NodeConfig& config_;
  std::atomic<bool> enabled_;
  std::atomic<uint64_t> transfers_{0};
  std::atomic<uint64_t> transfers_failed_{0};

  // Shard 0's thread only.
  std::unique_ptr<net::Timer> timer_;
  bool stopped_ = false;
  uint64_t round_ = 0;  // The round being gathered (0: none).
  uint64_t next_round_ = 1;
  uint32_t views_pending_ = 0;  // Shards that have not answered the round yet.
  ShardView gathered_;
};

}  // namespace raft
