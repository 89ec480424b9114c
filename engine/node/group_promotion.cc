// Promoting a caught-up learner to voter (NodeConfig::join_as = voter).
//
// The leader keeps, for every learner, the tick since which its progress
// has stayed caught up: in the replicate state, heard from within the last
// election timeout (the core's recent_active, remembered across its periodic
// reset), and matched within `promote_max_lag` entries of the
// leader's last index. promote_learner proposes the promotion only when
// that has held for a whole election timeout (so one lucky heartbeat
// answer after a long absence does not count); before that it refuses,
// naming how far behind the learner is, and the joiner asks again later
// (ShardRuntime::ask_for_promotion). A leader that just took over knows no
// learner's progress yet, so it starts counting from scratch.
#include "absl/strings/str_cat.h"
#include "engine/node/errors.h"
#include "engine/node/group.h"
#include "engine/node/group_rules.h"

namespace raft {

void Group::track_learner_catch_up() {
  if (!is_leader() || raw_->conf_state().learners.empty()) {
    learners_caught_up_since_.clear();
    return;
  }
  NodeStatus st = raw_->status();
  std::map<NodeId, LearnerCatchUp> next;
  for (const PeerStatus& p : st.progress) {
    if (!p.learner) continue;
    auto it = learners_caught_up_since_.find(p.id);
    LearnerCatchUp t = it == learners_caught_up_since_.end() ? LearnerCatchUp{-1, -1} : it->second;
    // The core clears recent_active every election timeout (check quorum)
    // and sets it again on the learner's next answer: active means heard
    // from within the last election timeout.
    if (p.recent_active) t.last_active = ticks_;
    const bool active = t.last_active >= 0 &&
                        ticks_ - t.last_active <= static_cast<int64_t>(config_.election_ticks);
    const bool within =
        p.state == ProgressState::kReplicate && p.match + config_.promote_max_lag >= st.last_index;
    if (!active || !within) {
      t.since = -1;
    } else if (t.since < 0) {
      t.since = ticks_;
    }
    next[p.id] = t;
  }
  learners_caught_up_since_ = std::move(next);
}

void Group::promote_learner(NodeId node, ConfCallback done) {
  if (!is_leader()) return done(not_leader_error(leader(), address_of(leader())));
  ConfState cs = raw_->conf_state();
  if (group_rules::contains(cs.voters, node)) return done(cs);  // Already promoted.
  if (!group_rules::contains(cs.learners, node)) {
    return done(
        failed(absl::FailedPreconditionError(absl::StrCat("node ", node, " is not a learner"))));
  }
  auto it = learners_caught_up_since_.find(node);
  const int64_t held = it == learners_caught_up_since_.end() || it->second.since < 0
                           ? -1
                           : ticks_ - it->second.since;
  if (held < static_cast<int64_t>(config_.election_ticks)) {
    NodeStatus st = raw_->status();
    Index match = 0;
    for (const PeerStatus& p : st.progress) {
      if (p.id == node) match = p.match;
    }
    return done(refused(absl::UnavailableError(
        absl::StrCat("node ", node, " is not caught up yet: matched ", match, " of ", st.last_index,
                     " (promote_max_lag ", config_.promote_max_lag, "), ",
                     held < 0 ? "behind" : absl::StrCat("caught up for ", held, " ticks"),
                     "; needs ", config_.election_ticks, " ticks caught up"))));
  }
  change_membership({MemberChange{MemberChangeKind::kPromote, node, ""}}, std::move(done));
}

}  // namespace raft
