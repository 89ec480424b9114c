// Membership changes: computing a new configuration from a ConfChange
// (simple change, entering and leaving joint consensus), checking its
// invariants, and switching the node over to it.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

namespace {

using Change = std::pair<TrackerConfig, ProgressMap>;

// Computes configurations; never touches the node itself.
class Changer {
 public:
  Changer(const TrackerConfig& config, const ProgressMap& progress, Index last_index,
          size_t max_inflight)
      : config_(config),
        progress_(progress),
        last_index_(last_index),
        max_inflight_(max_inflight) {}

  absl::StatusOr<Change> enter_joint(bool auto_leave,
                                     const std::vector<ConfChangeSingle>& changes) const {
    if (config_.voters.is_joint()) return absl::FailedPreconditionError("config is already joint");
    if (config_.voters.incoming.empty()) {
      return absl::FailedPreconditionError("cannot make a zero-voter config joint");
    }
    Change c{config_, progress_};
    // The outgoing half is the config we are leaving.
    c.first.voters.outgoing = c.first.voters.incoming;
    absl::Status s = apply(c, changes);
    if (!s.ok()) return s;
    c.first.auto_leave = auto_leave;
    s = check(c);
    if (!s.ok()) return s;
    return c;
  }

  absl::StatusOr<Change> leave_joint() const {
    if (!config_.voters.is_joint()) {
      return absl::FailedPreconditionError("cannot leave a non-joint config");
    }
    Change c{config_, progress_};
    TrackerConfig& cfg = c.first;
    for (NodeId id : cfg.learners_next) {
      cfg.learners.insert(id);
      c.second.at(id).is_learner = true;
    }
    cfg.learners_next.clear();
    for (NodeId id : cfg.voters.outgoing.ids()) {
      if (!cfg.voters.incoming.contains(id) && cfg.learners.count(id) == 0) c.second.erase(id);
    }
    cfg.voters.outgoing = MajorityConfig();
    cfg.auto_leave = false;
    absl::Status s = check(c);
    if (!s.ok()) return s;
    return c;
  }

  absl::StatusOr<Change> simple(const std::vector<ConfChangeSingle>& changes) const {
    if (config_.voters.is_joint()) {
      return absl::FailedPreconditionError("cannot apply a simple change in a joint config");
    }
    Change c{config_, progress_};
    absl::Status s = apply(c, changes);
    if (!s.ok()) return s;
    // One voter in or out at a time keeps old and new majorities overlapping;
    // anything more needs joint consensus.
    const auto& before = config_.voters.incoming.ids();
    const auto& after = c.first.voters.incoming.ids();
    size_t differ = 0;
    for (NodeId id : before) differ += after.count(id) == 0 ? 1 : 0;
    for (NodeId id : after) differ += before.count(id) == 0 ? 1 : 0;
    if (differ > 1) {
      return absl::FailedPreconditionError(
          "more than one voter changed without entering a joint config");
    }
    s = check(c);
    if (!s.ok()) return s;
    return c;
  }

 private:
  Progress new_progress(bool learner) const {
    Progress pr(max_inflight_);
    pr.next = last_index_ + 1;
    pr.is_learner = learner;
    // A new member counts as active so that it is sent a snapshot at once
    // and does not make a check-quorum round fail.
    pr.recent_active = true;
    return pr;
  }

  absl::Status apply(Change& c, const std::vector<ConfChangeSingle>& changes) const {
    TrackerConfig& cfg = c.first;
    ProgressMap& prs = c.second;
    for (const ConfChangeSingle& cc : changes) {
      if (cc.node == kNoNode) return absl::InvalidArgumentError("conf change for node 0");
      switch (cc.type) {
        case ConfChangeType::kAddVoter: {
          auto it = prs.find(cc.node);
          if (it == prs.end()) {
            prs.emplace(cc.node, new_progress(false));
          } else {
            it->second.is_learner = false;
          }
          cfg.learners.erase(cc.node);
          cfg.learners_next.erase(cc.node);
          cfg.voters.incoming.mutable_ids().insert(cc.node);
          break;
        }
        case ConfChangeType::kAddLearner: {
          auto it = prs.find(cc.node);
          if (it == prs.end()) it = prs.emplace(cc.node, new_progress(true)).first;
          cfg.voters.incoming.mutable_ids().erase(cc.node);
          cfg.learners.erase(cc.node);
          cfg.learners_next.erase(cc.node);
          if (cfg.voters.outgoing.contains(cc.node)) {
            // Still a voter of the outgoing half: becomes a learner on leave.
            cfg.learners_next.insert(cc.node);
          } else {
            it->second.is_learner = true;
            cfg.learners.insert(cc.node);
          }
          break;
        }
        case ConfChangeType::kRemoveNode:
          cfg.voters.incoming.mutable_ids().erase(cc.node);
          cfg.learners.erase(cc.node);
          cfg.learners_next.erase(cc.node);
          if (!cfg.voters.outgoing.contains(cc.node)) prs.erase(cc.node);
          break;
        default:
          return absl::InvalidArgumentError("unknown conf change type");
      }
    }
    if (cfg.voters.incoming.empty()) return absl::FailedPreconditionError("removed all voters");
    return absl::OkStatus();
  }

 public:
  // Invariants of a configuration with its progress map.
  static absl::Status check(const Change& c) {
    const TrackerConfig& cfg = c.first;
    const ProgressMap& prs = c.second;
    for (NodeId id : cfg.voters.all_ids()) {
      if (prs.count(id) == 0) return absl::InternalError(absl::StrCat("no progress for ", id));
    }
    for (NodeId id : cfg.learners) {
      auto it = prs.find(id);
      if (it == prs.end() || !it->second.is_learner) {
        return absl::InternalError(absl::StrCat("learner ", id, " not tracked as learner"));
      }
      if (cfg.voters.contains(id)) {
        return absl::InternalError(absl::StrCat("node ", id, " is both voter and learner"));
      }
    }
    for (NodeId id : cfg.learners_next) {
      auto it = prs.find(id);
      if (it == prs.end() || it->second.is_learner) {
        return absl::InternalError(absl::StrCat("next learner ", id, " tracked wrongly"));
      }
      if (!cfg.voters.outgoing.contains(id)) {
        return absl::InternalError(absl::StrCat("next learner ", id, " is not outgoing"));
      }
    }
    for (NodeId id : cfg.voters.all_ids()) {
      if (prs.at(id).is_learner) return absl::InternalError("a voter is tracked as learner");
    }
    if (!cfg.voters.is_joint() && (!cfg.learners_next.empty() || cfg.auto_leave)) {
      return absl::InternalError("joint-only state outside a joint config");
    }
    for (const auto& [id, pr] : prs) {
      if (!cfg.voters.contains(id) && cfg.learners.count(id) == 0) {
        return absl::InternalError(absl::StrCat("progress for non-member ", id));
      }
    }
    return absl::OkStatus();
  }

 private:
  const TrackerConfig& config_;
  const ProgressMap& progress_;
  Index last_index_;
  size_t max_inflight_;
};

absl::StatusOr<Change> compute_change(const TrackerConfig& config, const ProgressMap& progress,
                                      Index last_index, size_t max_inflight, const ConfChange& cc) {
  Changer changer(config, progress, last_index, max_inflight);
  if (cc.is_leave_joint()) return changer.leave_joint();
  if (cc.enters_joint()) {
    return changer.enter_joint(cc.transition != ConfChangeTransition::kJointExplicit, cc.changes);
  }
  return changer.simple(cc.changes);
}

}  // namespace

absl::Status Raft::check_conf_change_proposal(const ConfChange& change) const {
  if (pending_conf_index_ > log_.applied()) {
    return absl::FailedPreconditionError(absl::StrCat("a conf change is already pending (index ",
                                                      pending_conf_index_, ", applied ",
                                                      log_.applied(), ")"));
  }
  const bool joint = tracker_.config().voters.is_joint();
  if (change.is_leave_joint()) {
    if (!joint) return absl::FailedPreconditionError("not in a joint configuration");
    return absl::OkStatus();
  }
  if (joint) return absl::FailedPreconditionError("leave the joint configuration first");
  // Dry run against the current configuration.
  return compute_change(tracker_.config(), tracker_.progress(), log_.last_index(),
                        tracker_.max_inflight(), change)
      .status();
}

ConfState Raft::apply_conf_change(const ConfChange& change) {
  absl::StatusOr<Change> next = compute_change(tracker_.config(), tracker_.progress(),
                                               log_.last_index(), tracker_.max_inflight(), change);
  // Every node applies the same entries to the same configuration, so an
  // invalid change is ignored everywhere alike.
  if (next.ok()) switch_to_config(std::move(next->first), std::move(next->second));
  return tracker_.config().to_conf_state();
}

void Raft::switch_to_config(TrackerConfig config, ProgressMap progress) {
  RAFT_CHECK_MSG(Changer::check(Change{config, progress}).ok(), "invalid configuration");
  tracker_.set(std::move(config), std::move(progress));
  const Progress* self = tracker_.find(id_);
  is_learner_ = self != nullptr && self->is_learner;
  if ((role_ == Role::kCandidate || role_ == Role::kPreCandidate) &&
      (self == nullptr || is_learner_)) {
    // No longer a voter: the campaign is moot.
    become_follower(term_, kNoNode);
    return;
  }
  if (role_ != Role::kLeader) return;
  if (lead_transferee_ != kNoNode && !tracker_.is_voter(lead_transferee_)) abort_leader_transfer();
  if (self == nullptr || is_learner_) {
    // Removed or demoted. Stepping down at once could strand the group: the
    // remaining voters may not know yet that this change committed, and so
    // still need our vote under the old config, which our longer log denies.
    // Instead keep leading (without counting ourselves) and hand leadership
    // to the most up-to-date voter.
    hand_off_leadership();
    if (role_ != Role::kLeader) return;
  }
  // The quorum may have changed: release the reads it acknowledged, commit
  // what it allows, and start replicating to new members.
  recheck_pending_reads();
  if (maybe_commit()) {
    on_commit_advanced();
  } else {
    for (const auto& [id, pr] : tracker_.progress()) {
      if (id != id_) maybe_send_append(id, false);
    }
  }
}

bool Raft::removed_from_config() const {
  const Progress* self = tracker_.find(id_);
  return self == nullptr || self->is_learner;
}

void Raft::hand_off_leadership() {
  NodeId best = kNoNode;
  Index best_match = 0;
  for (NodeId id : tracker_.config().voters.all_ids()) {
    const Progress* pr = tracker_.find(id);
    if (id == id_ || pr == nullptr) continue;
    if (best == kNoNode || pr->match > best_match) {
      best = id;
      best_match = pr->match;
    }
  }
  if (best == kNoNode) {
    become_follower(term_, kNoNode);
    return;
  }
  if (lead_transferee_ == best) return;
  abort_leader_transfer();
  handle_transfer_leader(best);
}

void Raft::restore_conf_state(const ConfState& cs) {
  TrackerConfig cfg;
  cfg.voters.incoming = MajorityConfig(std::set<NodeId>(cs.voters.begin(), cs.voters.end()));
  cfg.voters.outgoing =
      MajorityConfig(std::set<NodeId>(cs.voters_outgoing.begin(), cs.voters_outgoing.end()));
  cfg.learners.insert(cs.learners.begin(), cs.learners.end());
  cfg.learners_next.insert(cs.learners_next.begin(), cs.learners_next.end());
  cfg.auto_leave = cs.auto_leave;
  ProgressMap prs;
  const Index next = log_.last_index() + 1;
  auto add = [&](NodeId id, bool learner) {
    Progress pr(tracker_.max_inflight());
    pr.next = next;
    pr.is_learner = learner;
    prs.emplace(id, std::move(pr));
  };
  for (NodeId id : cfg.voters.all_ids()) add(id, false);
  for (NodeId id : cfg.learners) add(id, true);
  switch_to_config(std::move(cfg), std::move(prs));
}

void Raft::maybe_auto_leave_joint() {
  if (role_ != Role::kLeader || !tracker_.config().auto_leave) return;
  if (log_.applied() < pending_conf_index_ || lead_transferee_ != kNoNode) return;
  std::vector<Entry> ents(1);
  ents[0].type = EntryType::kConfChange;
  ents[0].data = Slice(encode_conf_change(leave_joint_change()));
  if (append_entries(std::move(ents))) pending_conf_index_ = log_.last_index();
}

}  // namespace raft
