// Quorum arithmetic for majority and joint configurations.
#include "engine/core/quorum.h"

namespace raft {

VoteResult MajorityConfig::vote_result(const std::map<NodeId, bool>& votes) const {
  if (ids_.empty()) return VoteResult::kWon;
  size_t granted = 0;
  size_t missing = 0;
  for (NodeId id : ids_) {
    auto it = votes.find(id);
    if (it == votes.end()) {
      ++missing;
    } else if (it->second) {
      ++granted;
    }
  }
  const size_t quorum = ids_.size() / 2 + 1;
  if (granted >= quorum) return VoteResult::kWon;
  if (granted + missing >= quorum) return VoteResult::kPending;
  return VoteResult::kLost;
}

std::set<NodeId> JointConfig::all_ids() const {
  std::set<NodeId> ids = incoming.ids();
  ids.insert(outgoing.ids().begin(), outgoing.ids().end());
  return ids;
}

VoteResult JointConfig::vote_result(const std::map<NodeId, bool>& votes) const {
  VoteResult a = incoming.vote_result(votes);
  VoteResult b = outgoing.vote_result(votes);
  if (a == b) return a;
  // Any loss loses; otherwise one half is still pending.
  if (a == VoteResult::kLost || b == VoteResult::kLost) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace raft
