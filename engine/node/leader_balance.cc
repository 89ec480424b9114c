#include "engine/node/leader_balance.h"

#include <algorithm>
#include <map>

namespace raft {
namespace {

// Leaders per node, keyed by node id, every node of `nodes` present.
std::map<NodeId, uint64_t> balance_load_by_node(const std::vector<BalanceGroup>& groups,
                                                const std::vector<NodeId>& nodes) {
  std::map<NodeId, uint64_t> load;
  for (NodeId n : nodes) load[n] = 0;
  for (const BalanceGroup& g : groups) {
    auto it = load.find(g.transfer_target != kNoNode ? g.transfer_target : g.leader);
    if (it != load.end()) ++it->second;
  }
  return load;
}

uint64_t balance_share_of(const std::map<NodeId, uint64_t>& load) {
  if (load.empty()) return 0;
  uint64_t led = 0;
  for (const auto& [n, c] : load) led += c;
  return (led + load.size() - 1) / load.size();
}

}  // namespace

std::vector<uint64_t> leader_counts(const std::vector<BalanceGroup>& groups,
                                    const std::vector<NodeId>& nodes) {
  const std::map<NodeId, uint64_t> load = balance_load_by_node(groups, nodes);
  std::vector<uint64_t> out;
  out.reserve(nodes.size());
  for (NodeId n : nodes) out.push_back(load.at(n));
  return out;
}

uint64_t leader_share(const std::vector<BalanceGroup>& groups, const std::vector<NodeId>& nodes) {
  return balance_share_of(balance_load_by_node(groups, nodes));
}

std::vector<BalanceTransfer> plan_leader_transfers(const std::vector<BalanceGroup>& groups,
                                                   const std::vector<NodeId>& nodes,
                                                   const BalanceOptions& options) {
  std::vector<BalanceTransfer> out;
  std::map<NodeId, uint64_t> load = balance_load_by_node(groups, nodes);
  const uint64_t share = balance_share_of(load);
  if (share == 0 || options.max_transfers == 0) return out;

  // Over their share by more than the margin, most loaded first.
  std::vector<NodeId> over;
  for (const auto& [n, c] : load) {
    if (c > share + options.margin) over.push_back(n);
  }
  std::stable_sort(over.begin(), over.end(), [&](NodeId a, NodeId b) { return load[a] > load[b]; });

  // Each node's movable groups, by group id.
  std::vector<const BalanceGroup*> sorted;
  sorted.reserve(groups.size());
  for (const BalanceGroup& g : groups) sorted.push_back(&g);
  std::stable_sort(sorted.begin(), sorted.end(), [](const BalanceGroup* a, const BalanceGroup* b) {
    return a->group < b->group;
  });

  for (NodeId from : over) {
    if (options.only_from != kNoNode && from != options.only_from) continue;
    for (const BalanceGroup* g : sorted) {
      if (out.size() >= options.max_transfers) return out;
      if (load[from] <= share) break;
      if (g->leader != from || g->busy) continue;
      NodeId best = kNoNode;
      for (NodeId candidate : g->eligible) {
        if (candidate == from) continue;
        // A voter of the group that may lead (live) and is below its share.
        if (std::find(g->voters.begin(), g->voters.end(), candidate) == g->voters.end()) continue;
        auto it = load.find(candidate);
        if (it == load.end() || it->second >= share) continue;
        if (best == kNoNode || it->second < load[best] ||
            (it->second == load[best] && candidate < best)) {
          best = candidate;
        }
      }
      if (best == kNoNode) continue;
      out.push_back(BalanceTransfer{g->group, from, best});
      --load[from];
      ++load[best];
    }
  }
  return out;
}

}  // namespace raft
