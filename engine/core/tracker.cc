// ProgressTracker: quorum questions over the current membership.
#include "engine/core/tracker.h"

namespace raft {

ConfState TrackerConfig::to_conf_state() const {
  ConfState cs;
  cs.voters = voters.incoming.sorted();
  cs.voters_outgoing = voters.outgoing.sorted();
  cs.learners.assign(learners.begin(), learners.end());
  cs.learners_next.assign(learners_next.begin(), learners_next.end());
  cs.auto_leave = auto_leave;
  return cs;
}

Index ProgressTracker::committed() const {
  return config_.voters.committed_index([this](NodeId id) -> Index {
    auto it = progress_.find(id);
    return it == progress_.end() ? 0 : it->second.match;
  });
}

size_t ProgressTracker::granted_votes() const {
  size_t n = 0;
  for (const auto& [id, granted] : votes_) n += granted ? 1 : 0;
  return n;
}

bool ProgressTracker::quorum_active(NodeId self) const {
  std::map<NodeId, bool> active;
  for (const auto& [id, pr] : progress_) {
    if (pr.is_learner) continue;
    active[id] = id == self || pr.recent_active;
  }
  return config_.voters.vote_result(active) == VoteResult::kWon;
}

}  // namespace raft
