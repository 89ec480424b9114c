// Faults and client operations the simulator injects, and the healed
// cluster's liveness check.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checksum.h"
#include "engine/core/conf_change.h"
#include "protocol/records/peer_addresses.h"
#include "tests/sim/cluster.h"
#include "tests/sim/sim_node.h"
#include "tests/sim/sim_util.h"

namespace raft::sim {

void Cluster::chaos_action() {
  // Weights of the actions, in the order of the switch below.
  const uint32_t weights[] = {
      30,                               // 0 propose
      4,                                // 1 propose a burst
      options_.membership ? 5u : 0,     // 2 membership change
      2,                                // 3 leader transfer
      options_.crashes ? 3u : 0,        // 4 crash
      options_.crashes ? 5u : 0,        // 5 restart
      3,                                // 6 partition
      4,                                // 7 heal
      2,                                // 8 network fault settings
      options_.compaction ? 3u : 0,     // 9 snapshot
      1,                                // 10 campaign
      4,                                // 11 read
      options_.disk_failures ? 1u : 0,  // 12 a disk fails for a while
  };
  uint32_t total = 0;
  for (uint32_t w : weights) total += w;
  uint64_t pick = prng_.below(total);
  int action = 0;
  while (pick >= weights[action]) pick -= weights[action++];
  trace(12, action);

  std::vector<NodeId> up, down;
  for (const auto& [id, n] : nodes_) (n->group ? up : down).push_back(id);
  auto random_of = [&](const std::vector<NodeId>& v) { return v[prng_.below(v.size())]; };

  switch (action) {
    case 0:
    case 1:
      random_propose(action == 1);
      return;
    case 2:
      random_conf_change();
      return;
    case 3: {
      auto l = leader();
      if (!l) return;
      const ConfState cs = raw(*l)->conf_state();
      if (cs.voters.empty()) return;
      const NodeId target = cs.voters[prng_.below(cs.voters.size())];
      node(*l).group->transfer_leader(target, [this, target](absl::Status s) {
        log_event(absl::StrCat("transfer to ", target, ": ", s.ok() ? "done" : s.ToString()));
      });
      log_event(absl::StrCat("transfer ", *l, " -> ", target));
      settle(node(*l));
      return;
    }
    case 4:
      // Keep a majority of all nodes running most of the time.
      if (up.empty() || down.size() + 1 > nodes_.size() / 2) return;
      crash(random_of(up));
      return;
    case 5:
      if (!down.empty()) restart(random_of(down));
      return;
    case 6:
      random_partition();
      return;
    case 7:
      network_.heal();
      trace(13);
      log_event("heal network");
      return;
    case 8:
      random_network_faults();
      return;
    case 9:
      random_snapshot();
      return;
    case 10: {
      if (up.empty()) return;
      const NodeId id = random_of(up);
      absl::Status s = node(id).group->campaign();
      log_event(absl::StrCat("campaign at ", id, ": ", s.ok() ? "ok" : s.ToString()));
      settle(node(id));
      return;
    }
    case 11:
      random_read();
      return;
    case 12:
      random_disk_failure();
      return;
  }
}

void Cluster::random_propose(bool burst) {
  std::vector<NodeId> up;
  for (const auto& [id, n] : nodes_) {
    if (n->group) up.push_back(id);
  }
  if (up.empty()) return;
  // Mostly at the leader; sometimes anywhere (the driver refuses there).
  auto l = leader();
  const NodeId at = l && prng_.chance(850) ? *l : up[prng_.below(up.size())];
  const int count = burst ? static_cast<int>(prng_.range(2, 12)) : 1;
  if (options_.sessions) return random_session_propose(at, count);
  for (int i = 0; i < count; ++i) {
    const uint64_t k = ++proposal_counter_;
    std::string data;
    if (options_.proposal) {
      data = options_.proposal(k, payloads_);
    } else {
      data = absl::StrCat("p", k, "-");
      data.append(prng_.below(64), 'x');
    }
    absl::Status s = propose(at, data);
    log_event(absl::StrCat("propose at ", at, ": ", s.ok() ? "taken" : s.ToString()));
  }
}

void Cluster::random_conf_change() {
  auto l = leader();
  if (!l) return;
  const ConfState cs = raw(*l)->conf_state();
  ConfChange cc;
  if (!cs.voters_outgoing.empty()) {
    if (cs.auto_leave) return;
    cc = leave_joint_change();
  } else {
    std::vector<NodeId> others;  // Neither voter nor learner.
    std::vector<NodeId> promotable;
    for (const auto& [id, n] : nodes_) {
      if (!contains(cs.voters, id) && !contains(cs.learners, id)) others.push_back(id);
      if (!contains(cs.voters, id)) promotable.push_back(id);
    }
    auto pick = [&](const std::vector<NodeId>& v) { return v[prng_.below(v.size())]; };
    const bool may_remove_voter = cs.voters.size() > 1;
    switch (prng_.below(6)) {
      case 0:  // Add a voter, or promote a learner.
        if (promotable.empty()) return;
        cc = single_change(ConfChangeType::kAddVoter, pick(promotable));
        break;
      case 1:  // Add a learner, or demote a voter.
        if (!others.empty() && (prng_.chance(600) || !may_remove_voter)) {
          cc = single_change(ConfChangeType::kAddLearner, pick(others));
        } else if (may_remove_voter) {
          cc = single_change(ConfChangeType::kAddLearner, pick(cs.voters));
        } else {
          return;
        }
        break;
      case 2:  // Remove a voter.
        if (!may_remove_voter) return;
        cc = single_change(ConfChangeType::kRemoveNode, pick(cs.voters));
        break;
      case 3:  // Remove a learner.
        if (cs.learners.empty()) return;
        cc = single_change(ConfChangeType::kRemoveNode, pick(cs.learners));
        break;
      case 4: {  // Several changes at once (joint consensus): add + remove.
        if (promotable.empty() || !may_remove_voter) return;
        const NodeId add = pick(promotable);
        const NodeId remove = pick(cs.voters);
        cc.changes = {{ConfChangeType::kAddVoter, add}, {ConfChangeType::kRemoveNode, remove}};
        if (prng_.chance(500) && !others.empty()) {
          const NodeId learner = pick(others);
          if (learner != add) cc.changes.push_back({ConfChangeType::kAddLearner, learner});
        }
        break;
      }
      case 5: {  // A single change through an explicit joint configuration.
        if (promotable.empty()) return;
        cc.changes = {{ConfChangeType::kAddVoter, pick(promotable)}};
        break;
      }
    }
    const ConfChangeTransition transitions[] = {ConfChangeTransition::kAuto,
                                                ConfChangeTransition::kJointImplicit,
                                                ConfChangeTransition::kJointExplicit};
    cc.transition = transitions[prng_.below(3)];
  }
  // Added nodes carry their addresses, as the runtime's changes do.
  PeerAddresses added;
  for (const ConfChangeSingle& c : cc.changes) {
    if (c.type != ConfChangeType::kRemoveNode) added[c.node] = absl::StrCat("sim:", c.node);
  }
  cc.context = protocol::encode_peer_addresses(added);
  std::string what = cc.changes.empty() ? "leave-joint" : "";
  for (const auto& c : cc.changes) {
    absl::StrAppend(&what,
                    c.type == ConfChangeType::kAddVoter     ? "+v"
                    : c.type == ConfChangeType::kAddLearner ? "+l"
                                                            : "-",
                    c.node, " ");
  }
  trace(14, *l, cc.changes.size(), static_cast<uint64_t>(cc.transition));
  log_event(absl::StrCat("conf change at ", *l, " (", conf_string(cs), "): ", what, "transition ",
                         static_cast<int>(cc.transition)));
  node(*l).group->propose_conf_change(cc, [this, what](absl::StatusOr<ConfState> r) {
    log_event(
        absl::StrCat("conf change ", what, ": ", r.ok() ? conf_string(*r) : r.status().ToString()));
    if (r.ok()) ++result_.conf_changes;
  });
  settle(node(*l));
}

void Cluster::random_snapshot() {
  std::vector<NodeId> up;
  for (const auto& [id, n] : nodes_) {
    if (n->group) up.push_back(id);
  }
  if (up.empty()) return;
  const NodeId id = up[prng_.below(up.size())];
  trace(15, id);
  log_event(absl::StrCat("snapshot at ", id));
  node(id).group->make_snapshot([this, id](absl::StatusOr<Index> r) {
    log_event(absl::StrCat("snapshot at ", id, ": ",
                           r.ok() ? absl::StrCat("index ", *r) : r.status().ToString()));
  });
  settle(node(id));
}

void Cluster::random_disk_failure() {
  std::vector<NodeId> up;
  for (const auto& [id, n] : nodes_) {
    if (n->group) up.push_back(id);
  }
  if (up.empty()) return;
  const NodeId id = up[prng_.below(up.size())];
  fail_disk(id, prng_.range(2, 4 * kElectionTicks));
}

void Cluster::fail_disk(NodeId id, uint64_t ticks) {
  Node& n = node(id);
  n.disk_fails_until = now_ + ticks * kTickUnits;
  trace(28, n.id, ticks);
  log_event(absl::StrCat("node ", n.id, "'s disk fails for ", ticks, " ticks"));
}

void Cluster::random_partition() {
  std::vector<NodeId> all = ids();
  switch (prng_.below(3)) {
    case 0: {  // Symmetric split into two sides.
      for (size_t i = all.size(); i > 1; --i) std::swap(all[i - 1], all[prng_.below(i)]);
      const size_t cut = prng_.range(1, all.size() - 1);
      std::vector<NodeId> a(all.begin(), all.begin() + cut), b(all.begin() + cut, all.end());
      network_.partition(a, b);
      log_event(
          absl::StrCat("partition [", absl::StrJoin(a, ","), "] | [", absl::StrJoin(b, ","), "]"));
      trace(16, a.size());
      return;
    }
    case 1: {  // Asymmetric: some directed links fail.
      const int links = static_cast<int>(prng_.range(1, 4));
      for (int i = 0; i < links; ++i) {
        const NodeId from = all[prng_.below(all.size())];
        const NodeId to = all[prng_.below(all.size())];
        if (from == to) continue;
        network_.block(from, to);
        log_event(absl::StrCat("block ", from, " -> ", to));
        trace(17, from, to);
      }
      return;
    }
    case 2: {  // The leader can hear but not speak (or the reverse).
      auto l = leader();
      if (!l) return;
      const bool outgoing = prng_.chance(500);
      for (NodeId id : all) {
        if (id == *l) continue;
        if (outgoing) {
          network_.block(*l, id);
        } else {
          network_.block(id, *l);
        }
      }
      log_event(absl::StrCat("leader ", *l, outgoing ? " cannot send" : " cannot receive"));
      trace(18, *l, outgoing);
      return;
    }
  }
}

void Cluster::random_network_faults() {
  NetworkFaults f;
  const uint32_t drops[] = {0, 10, 50, 200};
  const uint32_t dups[] = {0, 20, 100};
  const uint64_t max_delays[] = {5, 10, 20, 60};
  const uint32_t long_delays[] = {0, 10, 50};
  f.drop_per_mille = drops[prng_.below(4)];
  f.duplicate_per_mille = dups[prng_.below(3)];
  f.min_delay = 1;
  f.max_delay = max_delays[prng_.below(4)];
  f.long_delay_per_mille = long_delays[prng_.below(3)];
  f.long_delay_max = prng_.range(50, 400);
  network_.set_faults(f);
  const uint32_t slow_disk[] = {0, 20, 100};
  long_persist_per_mille_ = slow_disk[prng_.below(3)];
  trace(19, f.drop_per_mille, f.duplicate_per_mille, f.max_delay);
  log_event(absl::StrCat("faults: drop ", f.drop_per_mille, "‰ dup ", f.duplicate_per_mille,
                         "‰ delay 1..", f.max_delay, " long ", f.long_delay_per_mille,
                         "‰ slow disk ", long_persist_per_mille_, "‰"));
}

void Cluster::random_read() {
  std::vector<NodeId> up;
  for (const auto& [id, n] : nodes_) {
    if (n->group) up.push_back(id);
  }
  if (up.empty()) return;
  const NodeId id = up[prng_.below(up.size())];
  const uint64_t k = ++read_counter_;
  // Everything applied anywhere before the read begins must be visible.
  const Index expected = max_applied_;
  trace(20, id, k);
  log_event(absl::StrCat("read ", k, " at ", id, " (applied anywhere ", expected, ")"));
  node(id).group->read(
      options_.query ? options_.query(k) : std::string(), ReadConsistency::kLinearizable,
      [this, id, k, expected](absl::StatusOr<std::string> r) {
        Node& n = node(id);
        const bool served = n.query_served;
        n.query_served = false;
        if (!served) {
          log_event(absl::StrCat("read ", k, " at ", id, ": ", r.status().ToString()));
          return;
        }
        if (n.query_applied < expected) {
          fail(absl::StrCat("read index: node ", id, " served read ", k,
                            " with state applied up to ", n.query_applied, " but ", expected,
                            " was applied before the read began"));
          return;
        }
        ++result_.reads_checked;
      });
  settle(node(id));
}

// ---------------------------------------------------------------------------
// Healing and liveness
// ---------------------------------------------------------------------------

void Cluster::heal_all() {
  network_.heal();
  NetworkFaults calm;
  calm.min_delay = 1;
  calm.max_delay = 10;
  network_.set_faults(calm);
  long_persist_per_mille_ = 0;
  for (auto& [id, n] : nodes_) n->disk_fails_until = 0;
  for (NodeId id : ids()) {
    if (!alive(id)) restart(id);
  }
  trace(21);
  log_event("HEAL: network and disks healed, every node running");
}

bool Cluster::check_liveness() {
  const bool chaos = chaos_;
  chaos_ = false;
  const uint64_t start = now_;
  // The healed cluster must elect a leader and acknowledge a proposal within
  // liveness_ticks, and a member that lags must keep catching up: the bound
  // moves while some member's applied index grows (a follower that missed
  // hundreds of entries under the slowest settings, one entry per message
  // and one message in flight, needs longer), up to 5x.
  const uint64_t window = static_cast<uint64_t>(options_.liveness_ticks) * kTickUnits;
  uint64_t deadline = now_ + window;
  const uint64_t hard_deadline = now_ + 5 * window;
  Index applied_sum = 0;
  // A proposal must be acknowledged, and applied by every member.
  auto acked = std::make_shared<Index>(0);
  Term proposed_term = 0;
  uint64_t proposed_at = 0;
  Term left_joint_term = 0;
  while (!failed() && now_ < deadline) {
    const uint64_t next_check = now_ + kTickUnits;
    while (!failed() && now_ < next_check) step_event();
    if (failed()) break;
    auto l = leader();
    if (!l) continue;
    Group& lead = *node(*l).group;
    const ConfState cs = lead.core().conf_state();
    if (!cs.voters_outgoing.empty() && !cs.auto_leave && left_joint_term != lead.term()) {
      left_joint_term = lead.term();
      lead.propose_conf_change(leave_joint_change(), [](absl::StatusOr<ConfState>) {});
      settle(node(*l));
    }
    if (*acked == 0 &&
        (proposed_term != lead.term() || now_ - proposed_at > 4 * kElectionTicks * kTickUnits)) {
      proposed_term = lead.term();
      proposed_at = now_;
      const std::string data = options_.proposal ? options_.proposal(++proposal_counter_, payloads_)
                                                 : absl::StrCat("live-", options_.seed);
      const NodeId at = *l;
      const size_t conf_from = node(at).confs.size() - 1;
      lead.propose(Slice(data),
                   [this, at, data, acked, conf_from](absl::StatusOr<ProposeResult> r) {
                     if (!r.ok()) {
                       log_event(absl::StrCat("liveness proposal: ", r.status().ToString()));
                       return;
                     }
                     check_acknowledged(node(at), data, *r, conf_from);
                     *acked = r->index;
                   });
      settle(node(*l));
    }
    if (*acked == 0) continue;
    Index sum = 0;
    for (const auto& [id, n] : nodes_) sum += n->group ? n->group->applied() : 0;
    if (sum > applied_sum) {
      applied_sum = sum;
      deadline = std::min(hard_deadline, std::max(deadline, now_ + window / 2));
    }
    std::vector<NodeId> members = cs.voters;
    members.insert(members.end(), cs.learners.begin(), cs.learners.end());
    members.insert(members.end(), cs.voters_outgoing.begin(), cs.voters_outgoing.end());
    bool done = !members.empty();
    for (NodeId id : members) {
      if (!nodes_.contains(id) || !alive(id) || node(id).group->applied() < *acked) done = false;
    }
    if (done) {
      result_.liveness_ticks = (now_ - start) / kTickUnits;
      chaos_ = chaos;
      return true;
    }
  }
  if (!failed()) {
    std::string state;
    for (const auto& [id, n] : nodes_) {
      if (!n->group) continue;
      const RawNode& c = n->group->core();
      absl::StrAppend(&state, " [", id, ": ", role_name(c.role()), " t", c.term(), " c",
                      c.commit_index(), " last", c.last_index(), " applied", n->group->applied(),
                      " lead", c.leader(), " ", conf_string(c.conf_state()), "]");
    }
    fail(absl::StrCat("liveness: no progress within ", options_.liveness_ticks,
                      " ticks after healing (acknowledged index ", *acked, ");", state));
  }
  chaos_ = chaos;
  return false;
}

bool Cluster::check_quiesces() {
  const bool chaos = chaos_;
  chaos_ = false;
  const uint64_t start = now_;
  // Idle ticks to decide, plus time for stragglers to catch up and for a
  // leader that stepped down (check-quorum during the catch-up) to return.
  const uint64_t deadline =
      now_ + (config_.quiesce_ticks + 20 * uint64_t{kElectionTicks}) * kTickUnits;
  while (!failed() && now_ < deadline) {
    const uint64_t next_check = now_ + kTickUnits;
    while (!failed() && now_ < next_check) step_event();
    if (failed()) break;
    auto l = leader();
    if (!l) continue;
    const ConfState cs = node(*l).group->core().conf_state();
    std::vector<NodeId> members = cs.voters;
    members.insert(members.end(), cs.learners.begin(), cs.learners.end());
    bool all = true;
    for (NodeId id : members) {
      if (!nodes_.contains(id) || !alive(id) || !node(id).group->quiesced()) all = false;
    }
    if (all) {
      result_.quiesce_ticks = (now_ - start) / kTickUnits;
      chaos_ = chaos;
      return true;
    }
  }
  if (!failed()) {
    std::string state;
    for (const auto& [id, n] : nodes_) {
      if (!n->group) continue;
      const RawNode& c = n->group->core();
      absl::StrAppend(&state, " [", id, ": ", role_name(c.role()), " t", c.term(), " c",
                      c.commit_index(), " last", c.last_index(), " applied", n->group->applied(),
                      " lead", c.leader(), c.quiesced() ? " quiesced" : "",
                      n->group->quiesced() ? "" : " busy", "]");
      if (c.role() == Role::kLeader) absl::StrAppend(&state, " leader: ", n->group->status_json());
    }
    fail(absl::StrCat("quiescence: the idle, healed cluster did not quiesce within ",
                      (deadline - start) / kTickUnits, " ticks;", state));
  }
  chaos_ = chaos;
  return false;
}

SimResult Cluster::run() {
  for (int i = 0; i < options_.steps && !failed(); ++i) step_event();
  if (!failed()) {
    heal_all();
    // With quiescence, the healed cluster must also quiesce once idle, and
    // a proposal must then wake it and commit everywhere.
    // Without pre-vote and check-quorum a removed node's vote requests
    // depose leaders over and over (with or without quiescence): the group
    // is not idle then.
    const bool can_idle = config_.pre_vote || config_.check_quorum;
    if (check_liveness() && result_.quiescence && can_idle && check_quiesces()) check_liveness();
  }
  result_.ok = !failed();
  result_.trace_hash = trace_hash_;
  result_.ticks = now_ / kTickUnits;
  result_.network = network_.stats();
  return result_;
}

SimResult run_simulation(const SimOptions& options) {
  Cluster cluster(options);
  return cluster.run();
}

}  // namespace raft::sim
