// The simulator's checks of the events a group delivers to its state machine
// (engine/node/events.h): each event when it is delivered, against the
// core's state at that moment and the applies around it, and after every
// simulator event, what a node's events add up to against its core: a
// kLeaderStart and its kLeaderStop bracket each leadership whose first entry
// was applied, the leader last reported is the core's, and the membership
// the events reported is the core's.
#include "absl/strings/str_cat.h"
#include "engine/node/events.h"
#include "tests/sim/cluster.h"
#include "tests/sim/sim_node.h"
#include "tests/sim/sim_util.h"

namespace raft::sim {

namespace {

std::string event_string(const Event& e) {
  return absl::StrCat(event_kind_name(e.kind), " term ", e.term, " index ", e.index, " leader ",
                      e.leader);
}

}  // namespace

void Cluster::on_event(Node& n, const Event& e) {
  Node::EventView& v = n.events;
  const std::string what = absl::StrCat("node ", n.id, ": event ", event_string(e));
  trace(40 + static_cast<uint64_t>(e.kind), n.id, e.term, e.index);
  log_event(what);
  if (!n.group) {
    fail(absl::StrCat(what, " delivered while the group is being opened"));
    return;
  }
  const RawNode& core = n.group->core();
  const bool leads = core.role() == Role::kLeader;
  if (e.group != kSimGroup) fail(absl::StrCat(what, " names group ", e.group));
  // Events tied to an index come in log order with the applies: after the
  // entry at their index, before the next one.
  const bool tied = e.kind == EventKind::kLeaderStart || e.kind == EventKind::kMembershipApplied ||
                    e.kind == EventKind::kSnapshotInstalled;
  if (tied) {
    if (e.index < v.index || e.index < n.fsm_applied || e.index > core.commit_index()) {
      fail(absl::StrCat(what, " out of log order (last event at ", v.index, ", applied ",
                        n.fsm_applied, ", commit ", core.commit_index(), ")"));
      return;
    }
    v.index = e.index;
  }
  switch (e.kind) {
    case EventKind::kLeaderStart:
      ++result_.leader_starts;
      if (!leads || core.term() != e.term || e.leader != n.id) {
        fail(absl::StrCat(what, " but the core is ", role_name(core.role()), " in term ",
                          core.term()));
      } else if (v.leading != 0 || e.term <= v.last_started) {
        fail(absl::StrCat(what, " while leading term ", v.leading, " (last started ",
                          v.last_started, ")"));
      } else if (!n.log.has(e.index) || n.log.term_at(e.index) != e.term ||
                 (e.index > n.log.base_index() && n.log.term_at(e.index - 1) >= e.term) ||
                 n.group->applied() != e.index) {
        fail(absl::StrCat(what, " is not at the first entry of its term, just applied (applied ",
                          n.group->applied(), ")"));
      }
      v.leading = e.term;
      v.last_started = e.term;
      break;
    case EventKind::kLeaderStop:
      ++result_.leader_stops;
      if (v.leading == 0 || v.leading != e.term || e.leader != n.id) {
        fail(absl::StrCat(what, " without its kLeaderStart (leading term ", v.leading, ")"));
      } else if (leads && core.term() == e.term) {
        fail(absl::StrCat(what, " but the core still leads term ", e.term));
      }
      v.leading = 0;
      break;
    case EventKind::kLeaderChanged:
      ++result_.leader_changes;
      if (e.leader != core.leader() || e.term != core.term()) {
        fail(absl::StrCat(what, " but the core knows leader ", core.leader(), " in term ",
                          core.term()));
      } else if (e.leader == v.leader && (e.leader == kNoNode || e.term == v.leader_term)) {
        fail(absl::StrCat(what, " reports no change"));
      }
      v.leader = e.leader;
      v.leader_term = e.term;
      break;
    case EventKind::kMembershipApplied:
    case EventKind::kSnapshotInstalled:
      ++(e.kind == EventKind::kMembershipApplied ? result_.membership_events
                                                 : result_.snapshot_installed_events);
      if (!(e.conf_state == core.conf_state())) {
        fail(absl::StrCat(what, " reports membership ", conf_string(e.conf_state),
                          " but the core has ", conf_string(core.conf_state())));
      }
      if (n.group->applied() != e.index) {
        fail(absl::StrCat(what, " but the group has applied up to ", n.group->applied()));
      }
      v.conf = e.conf_state;
      break;
    case EventKind::kSnapshotTaken:
      ++result_.snapshot_taken_events;
      if (e.index <= v.snapshot_taken || e.index > n.group->applied() ||
          !n.disk.files.contains({e.index, e.term})) {
        fail(absl::StrCat(what, " (previous at ", v.snapshot_taken, ", applied ",
                          n.group->applied(), ", file ",
                          n.disk.files.contains({e.index, e.term}) ? "present" : "missing", ")"));
      }
      v.snapshot_taken = e.index;
      break;
  }
}

void Cluster::check_events(const Node& n) {
  const RawNode& core = n.group->core();
  const Node::EventView& v = n.events;
  const bool leads = core.role() == Role::kLeader;
  if (v.leading != 0 && !(leads && core.term() == v.leading)) {
    fail(absl::StrCat("node ", n.id, " got kLeaderStart for term ", v.leading,
                      " and no kLeaderStop, but the core is ", role_name(core.role()), " in term ",
                      core.term()));
    return;
  }
  // A leader whose own first entry is applied has been told it leads.
  const Index applied = n.group->applied();
  if (leads && v.leading != core.term() && n.log.has(applied) &&
      n.log.term_at(applied) == core.term()) {
    fail(absl::StrCat("node ", n.id, " leads term ", core.term(), " and applied its entry ",
                      applied, " but got no kLeaderStart"));
    return;
  }
  if (core.leader() != v.leader || (v.leader != kNoNode && core.term() != v.leader_term)) {
    fail(absl::StrCat("node ", n.id, " knows leader ", core.leader(), " in term ", core.term(),
                      " but its last kLeaderChanged said ", v.leader, " in term ", v.leader_term));
    return;
  }
  if (!(core.conf_state() == v.conf)) {
    fail(absl::StrCat("node ", n.id, " has membership ", conf_string(core.conf_state()),
                      " but its events said ", conf_string(v.conf)));
  }
}

}  // namespace raft::sim
