#include "engine/node/leader_balancer.h"

#include <algorithm>
#include <chrono>

#include "engine/node/node_impl.h"
#include "engine/node/shard_runtime.h"
#include "spdlog/spdlog.h"

namespace raft {

LeaderBalancer::LeaderBalancer(NodeImpl& node, const NodeConfig& config)
    : node_(node), config_(config), enabled_(config.balance.leaders) {}

LeaderBalancer::~LeaderBalancer() = default;

void LeaderBalancer::start(net::Reactor& shard0) {
  if (stopped_ || timer_) return;
  timer_ = std::make_unique<net::Timer>(shard0, [this] { on_period(); });
  timer_->arm_periodic(
      std::chrono::milliseconds(uint64_t{config_.tick_interval_ms} * config_.balance.period_ticks));
}

void LeaderBalancer::stop() {
  stopped_ = true;
  round_ = 0;
  timer_.reset();
}

LeaderBalancer::ShardView LeaderBalancer::collect(ShardRuntime& rt, NodeId self, uint64_t max_lag) {
  ShardView view;
  // On the shard's own thread: groups are created and removed here only.
  const std::vector<GroupId> ids = rt.group_ids();
  view.groups.reserve(ids.size());
  for (GroupId id : ids) {
    const Group* g = rt.group(id);
    if (g == nullptr || g->removed()) continue;
    BalanceGroup b;
    b.group = id;
    b.leader = g->leader();
    b.voters = g->conf_state().voters;
    // A halted group or one whose writes fail hands leadership off by
    // itself (Group::maybe_hand_off_leadership).
    b.busy = g->change_in_flight() || g->transfer_in_flight() || !g->halted().ok() ||
             !g->write_error().ok();
    if (g->is_leader()) b.transfer_target = g->transfer_target();
    for (NodeId v : b.voters) {
      if (v != self && rt.peer_live(v)) view.live.insert(v);
    }
    if (g->is_leader() && !b.busy) {
      const NodeStatus st = g->core().status();
      for (const PeerStatus& p : st.progress) {
        if (p.id == self || p.learner || !rt.peer_live(p.id)) continue;
        if (std::find(b.voters.begin(), b.voters.end(), p.id) == b.voters.end()) continue;
        // Caught up: replicating, and close enough that the core's catch-up
        // before TimeoutNow fits in the transfer's election timeout.
        if (p.state != ProgressState::kReplicate || p.match + max_lag < st.last_index) continue;
        b.eligible.push_back(p.id);
      }
    }
    view.groups.push_back(std::move(b));
  }
  return view;
}

void LeaderBalancer::on_period() {
  if (stopped_ || !enabled()) return;
  // A round whose views did not all come back (a shard refused the task,
  // or is slow) is given up: its late views are dropped by round number.
  const uint64_t round = next_round_++;
  round_ = round;
  gathered_ = ShardView{};
  const uint32_t shards = node_.shard_count();
  views_pending_ = shards;
  const NodeId self = node_.node_id();
  const uint64_t max_lag = config_.promote_max_lag;
  for (uint32_t s = 0; s < shards; ++s) {
    const bool sent = node_.on_shard(s, [this, s, round, self, max_lag] {
      ShardRuntime* rt = node_.runtime(s);
      if (rt == nullptr) return;
      ShardView view = collect(*rt, self, max_lag);
      auto held = std::make_shared<ShardView>(std::move(view));
      (void)node_.on_shard(0, [this, round, held] { add_view(round, std::move(*held)); });
    });
    if (!sent) {
      round_ = 0;
      return;
    }
  }
}

void LeaderBalancer::add_view(uint64_t round, ShardView view) {
  if (stopped_ || round != round_) return;
  for (BalanceGroup& g : view.groups) gathered_.groups.push_back(std::move(g));
  gathered_.live.insert(view.live.begin(), view.live.end());
  if (--views_pending_ == 0) finish_round();
}

void LeaderBalancer::finish_round() {
  round_ = 0;
  if (!enabled()) return;
  const NodeId self = node_.node_id();
  // The nodes that may lead: this one and the live peers, each a voter of
  // some group here (a node that is a learner everywhere leads nothing and
  // must not lower everyone's share).
  std::set<NodeId> voters;
  for (const BalanceGroup& g : gathered_.groups) voters.insert(g.voters.begin(), g.voters.end());
  std::vector<NodeId> nodes;
  for (NodeId n : voters) {
    if (n == self || gathered_.live.contains(n)) nodes.push_back(n);
  }
  BalanceOptions opt;
  opt.margin = config_.balance.margin;
  opt.max_transfers = config_.balance.max_transfers_per_period;
  opt.only_from = self;
  const std::vector<BalanceTransfer> plan = plan_leader_transfers(gathered_.groups, nodes, opt);
  if (!plan.empty()) {
    SPDLOG_DEBUG("leader balance: node {} leads {} of {} groups (share {}); {} transfer(s)", self,
                 leader_counts(gathered_.groups, {self})[0], gathered_.groups.size(),
                 leader_share(gathered_.groups, nodes), plan.size());
  }
  for (const BalanceTransfer& t : plan) start_transfer(t);
  gathered_ = ShardView{};
}

void LeaderBalancer::start_transfer(const BalanceTransfer& t) {
  node_.with_group(t.group, [this, t](ShardRuntime* rt, Group* g) {
    // The view is a moment old: the group may have moved meanwhile.
    if (rt == nullptr || g == nullptr || !g->is_leader() || g->transfer_in_flight() ||
        g->change_in_flight()) {
      return;
    }
    transfers_.fetch_add(1, std::memory_order_relaxed);
    g->transfer_leader(t.to, [this, t](absl::Status s) {
      if (s.ok() || absl::IsCancelled(s)) return;  // Cancelled: shutting down.
      transfers_failed_.fetch_add(1, std::memory_order_relaxed);
      SPDLOG_DEBUG("leader balance: group {} to node {}: {}", t.group, t.to, s.ToString());
    });
    rt->mark_dirty(g);
  });
}

}  // namespace raft
