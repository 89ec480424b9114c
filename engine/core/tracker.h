// The membership a node currently follows (voters, possibly joint, learners)
// and, on the leader, the progress of every member; vote counting.
#pragma once

#include <map>
#include <set>

#include "absl/status/statusor.h"
#include "engine/core/progress.h"
#include "engine/core/quorum.h"
#include "engine/core/types.h"

namespace raft {

struct TrackerConfig {
  JointConfig voters;
  // Learners never overlap with voters (incoming or outgoing).
  std::set<NodeId> learners;
  // Outgoing voters that become learners when the joint config is left.
  std::set<NodeId> learners_next;
  bool auto_leave = false;

  ConfState to_conf_state() const;
};

using ProgressMap = std::map<NodeId, Progress>;

class ProgressTracker {
 public:
  explicit ProgressTracker(size_t max_inflight) : max_inflight_(max_inflight) {}

  const TrackerConfig& config() const { return config_; }
  const ProgressMap& progress() const { return progress_; }
  ProgressMap& mutable_progress() { return progress_; }
  Progress* find(NodeId id) {
    auto it = progress_.find(id);
    return it == progress_.end() ? nullptr : &it->second;
  }
  const Progress* find(NodeId id) const {
    auto it = progress_.find(id);
    return it == progress_.end() ? nullptr : &it->second;
  }
  size_t max_inflight() const { return max_inflight_; }

  void set(TrackerConfig config, ProgressMap progress) {
    config_ = std::move(config);
    progress_ = std::move(progress);
  }

  // True if the only voter is `id` (no one else needs to agree).
  bool is_singleton() const {
    return !config_.voters.is_joint() && config_.voters.incoming.size() == 1;
  }
  bool is_voter(NodeId id) const { return config_.voters.contains(id); }

  // The highest index replicated on a quorum (by match).
  Index committed() const;

  // Records id's vote (first vote wins) and returns the tally.
  void record_vote(NodeId id, bool granted) { votes_.emplace(id, granted); }
  VoteResult tally() const { return config_.voters.vote_result(votes_); }
  void reset_votes() { votes_.clear(); }
  size_t granted_votes() const;

  // True if a quorum of voters was recently active (self counts as active).
  bool quorum_active(NodeId self) const;

 private:
  size_t max_inflight_;
  TrackerConfig config_;
  ProgressMap progress_;
  std::map<NodeId, bool> votes_;
};

}  // namespace raft
