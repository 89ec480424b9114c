// Leader balance, the plan: given who leads which group, which leader
// transfers would spread leadership evenly over the nodes. A pure function
// (no runtime, no clock), so it is unit tested on its own
// (tests/node/leader_balance_test.cc); the runtime that gathers the view and
// starts the transfers is LeaderBalancer (leader_balancer.h).
//
// The rule: with L groups led by the `nodes` and N nodes, a node's share is
// ceil(L / N). A node leading more than share + margin is over; it hands
// groups over, one at a time, to the eligible voter of each group that leads
// the fewest groups and is below its share, until it is down to its share or
// the per-call budget (max_transfers) is spent. The margin is hysteresis: a
// node within it is left alone, and no transfer ever lifts a target above
// its share, so balanced leaders stay put. Groups with a transfer or a
// membership change in flight, or without a known leader, are not moved.
// Deterministic: nodes over their share in decreasing load (then id), their
// groups by id, ties between targets to the lower id.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/types.h"

namespace raft {

struct BalanceGroup {
  GroupId group = 0;
  NodeId leader = kNoNode;     // As known here; kNoNode: none known.
  std::vector<NodeId> voters;  // The group's voters.
  // A leader transfer or a membership change is under way.
  bool busy = false;
  // The target of a leader transfer under way here (kNoNode: none). The
  // group counts as the target's already, so transfers slower than a
  // period do not make their leader shed more than its excess.
  NodeId transfer_target = kNoNode;
  // The voters that may take leadership now: live and caught up, as the
  // leader sees them. Only the leader knows; empty elsewhere (the group
  // then counts towards its leader's load but is never moved).
  std::vector<NodeId> eligible;
};

struct BalanceOptions {
  uint32_t margin = 1;
  uint32_t max_transfers = 8;
  // Only plan transfers of groups this node leads (each node sheds its own
  // excess); kNoNode: every group.
  NodeId only_from = kNoNode;
};

struct BalanceTransfer {
  GroupId group = 0;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  bool operator==(const BalanceTransfer&) const = default;
};

// Leaders per node among `nodes` (a group with a transfer under way counted
// at its target), the groups led by a node outside `nodes` (or by none) not
// counted. In the order of `nodes`.
std::vector<uint64_t> leader_counts(const std::vector<BalanceGroup>& groups,
                                    const std::vector<NodeId>& nodes);

// ceil(groups led by `nodes` / nodes.size()); 0 without nodes.
uint64_t leader_share(const std::vector<BalanceGroup>& groups, const std::vector<NodeId>& nodes);

// The transfers to start now. `nodes` are the nodes that may lead (the live
// ones); a voter not among them is never a target.
std::vector<BalanceTransfer> plan_leader_transfers(const std::vector<BalanceGroup>& groups,
                                                   const std::vector<NodeId>& nodes,
                                                   const BalanceOptions& options);

}  // namespace raft
