// Promoting a caught-up learner to voter (NodeConfig::join_as = voter).
//
// The leader keeps, for every learner, the tick since which its progress
// has stayed caught up: in the replicate state, heard from within the last
// election timeout, and matched within `promote_max_lag` entries of the
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

namespace {
bool caught_up(const PeerStatus& p, Index last_index, uint64_t max_lag) {
  return p.state == ProgressState::kReplicate && p.recent_active && p.match + max_lag >= last_index;
}
}  // namespace

void Group::track_learner_catch_up() {
  if (!is_leader() || raw_->conf_state().learners.empty()) {
    learners_caught_up_since_.clear();
    return;
  }
  NodeStatus st = raw_->status();
  std::map<NodeId, int64_t> next;
  for (const PeerStatus& p : st.progress) {
    if (!p.learner || !caught_up(p, st.last_index, config_.promote_max_lag)) continue;
    auto it = learners_caught_up_since_.find(p.id);
    next[p.id] = it == learners_caught_up_since_.end() ? ticks_ : it->second;
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
  const int64_t held = it == learners_caught_up_since_.end() ? -1 : ticks_ - it->second;
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
