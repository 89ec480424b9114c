#include "engine/node/node_liveness.h"

#include <algorithm>

namespace raft {

NodeLiveness::Heard NodeLiveness::heard(NodeId node, uint64_t incarnation) {
  Peer& p = peers_[node];
  Heard h;
  h.restarted = incarnation != 0 && p.incarnation != 0 && incarnation != p.incarnation;
  h.returned = !p.live || h.restarted;
  if (incarnation != 0) p.incarnation = incarnation;
  p.last_heard = now_;
  p.live = true;
  return h;
}

std::vector<NodeId> NodeLiveness::tick() {
  ++now_;
  std::vector<NodeId> silent;
  for (auto& [node, p] : peers_) {
    if (p.live && now_ - p.last_heard >= silence_ticks_) {
      p.live = false;
      silent.push_back(node);
    }
  }
  std::sort(silent.begin(), silent.end());  // Deterministic order for the simulator.
  return silent;
}

bool NodeLiveness::live(NodeId node) const {
  auto it = peers_.find(node);
  return it != peers_.end() && it->second.live;
}

}  // namespace raft
