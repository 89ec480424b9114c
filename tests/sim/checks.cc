// The simulator's checks: what the ports and the state machines see (durable
// before sent, applied once, acknowledged on a quorum, the proposer's own
// result) and the Raft invariants after every event.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checksum.h"
#include "engine/core/conf_change.h"
#include "engine/node/peer_table.h"
#include "tests/sim/cluster.h"
#include "tests/sim/sim_node.h"
#include "tests/sim/sim_util.h"

namespace raft::sim {

// ---------------------------------------------------------------------------
// What the ports see
// ---------------------------------------------------------------------------

void Cluster::on_append(Node& n, const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  trace(5, n.id, entries.front().index, entries.size());
  if (!n.log.append(entries)) {
    fail(absl::StrCat("node ", n.id, ": driver appends entries from ", entries.front().index,
                      " leaving a gap after ", n.log.last_index()));
    return;
  }
  // Log matching: an (index, term) names one prefix everywhere.
  for (const Entry& e : entries) {
    if (!n.log.has(e.index) || e.index == n.log.base_index()) continue;
    const uint64_t h = n.log.hash_at(e.index);
    auto [it, inserted] = entry_hashes_.try_emplace({e.index, e.term}, h);
    if (!inserted && it->second != h) {
      fail(absl::StrCat("log matching: node ", n.id, " holds (index ", e.index, ", term ", e.term,
                        ") with a prefix that differs from another node's"));
    }
  }
}

void Cluster::on_hard_state(Node& n, const HardState& hs) {
  if (hs.term < n.last_hard_state.term) {
    fail(absl::StrCat("node ", n.id, ": term went back from ", n.last_hard_state.term, " to ",
                      hs.term));
  }
  if (hs.term == n.last_hard_state.term && n.last_hard_state.vote != kNoNode &&
      hs.vote != n.last_hard_state.vote) {
    fail(absl::StrCat("node ", n.id, ": vote changed within term ", hs.term, " from ",
                      n.last_hard_state.vote, " to ", hs.vote));
  }
  n.last_hard_state = hs;
}

void Cluster::on_install(Node& n, const StoredSnapshot& snapshot) {
  const SnapshotMeta& meta = snapshot.meta;
  if (meta.index >= committed_hashes_.size() || committed_hashes_[meta.index] == 0) {
    fail(absl::StrCat("node ", n.id, " installs a snapshot at ", meta.index,
                      ", an index no node has committed"));
    return;
  }
  n.log.install(meta.index, meta.term, committed_hashes_[meta.index]);
  ++result_.snapshots_installed;
  trace(26, n.id, meta.index, meta.term);
  log_event(absl::StrCat("node ", n.id, " installs snapshot@", meta.index, " t", meta.term));
}

void Cluster::on_send(Node& n, Message m) {
  check_message_durability(n, m);
  if (m.group != kSimGroup) fail(absl::StrCat("node ", n.id, " sent a message of group ", m.group));
  if (m.from != n.id) fail(absl::StrCat("node ", n.id, " sent a message from ", m.from));
  if (m.type == MessageType::kSnapshot) {
    fail(absl::StrCat("node ", n.id, " sent a snapshot announce without its file"));
  }
  if (m.type == MessageType::kQuiesce) ++result_.quiesce_messages;
  trace_message(6, m);
  log_event(absl::StrCat("send ", message_string(m)));
  network_.send(now_, std::move(m));
}

void Cluster::on_send_snapshot(Node& n, const Message& m, const StoredSnapshot& snapshot) {
  check_message_durability(n, m);
  auto it = n.disk.files.find({snapshot.meta.index, snapshot.meta.term});
  if (it == n.disk.files.end() || !m.snapshot || m.snapshot->meta != snapshot.meta) {
    fail(absl::StrCat("node ", n.id, " streams snapshot@", snapshot.meta.index,
                      " that it does not hold"));
    return;
  }
  Message carried = m;
  carried.snapshot->data = Slice(std::string(it->second));
  trace_message(6, carried);
  log_event(absl::StrCat("send ", message_string(carried), " (", it->second.size(), " bytes)"));
  if (!network_.send(now_, std::move(carried))) deferred_reports_.push_back({n.id, m.to, false});
}

// "A term or vote leaves the node in no message before it is durable", and a
// follower acknowledges only entries that are durable.
void Cluster::check_message_durability(const Node& n, const Message& m) {
  if (m.type == MessageType::kPreVote || m.type == MessageType::kPreVoteResponse) return;
  const HardState& durable = n.disk.hard_state;
  if (m.term > durable.term) {
    fail(absl::StrCat("node ", n.id, " sent ", message_string(m), " while its durable term is ",
                      durable.term));
    return;
  }
  if (m.type == MessageType::kVote && (durable.term != m.term || durable.vote != n.id)) {
    fail(absl::StrCat("node ", n.id, " asked for votes in term ", m.term,
                      " before its own vote was durable"));
  }
  if (m.type == MessageType::kVoteResponse && !m.reject &&
      (durable.term != m.term || durable.vote != m.to)) {
    fail(absl::StrCat("node ", n.id, " granted its vote to ", m.to, " in term ", m.term,
                      " before the vote was durable (durable term ", durable.term, " vote ",
                      durable.vote, ")"));
  }
  if (m.type == MessageType::kAppendResponse && !m.reject && m.index > n.durable_log.last_index()) {
    fail(absl::StrCat("node ", n.id, " acknowledged index ", m.index,
                      " before it was durable (durable last ", n.durable_log.last_index(), ")"));
  }
}

void Cluster::on_applied(Node& n, Index index, const std::string& data, const std::string& result) {
  if (index <= n.fsm_applied) {
    fail(absl::StrCat("node ", n.id, " applies index ", index, " after ", n.fsm_applied,
                      ": an entry applied twice or out of order"));
    return;
  }
  if (index > n.durable_log.last_index()) {
    fail(absl::StrCat("node ", n.id, ": entry ", index,
                      " applied before it is durable here (durable last ",
                      n.durable_log.last_index(), ")"));
    return;
  }
  if (index <= n.events.index) {
    fail(absl::StrCat("node ", n.id, " applies index ", index, " after an event at index ",
                      n.events.index, ": events and applies out of log order"));
    return;
  }
  const uint64_t data_sum = checksum64(data);
  const uint64_t result_sum = checksum64(result);
  const uint64_t prefix = mix_hash(mix_hash(n.fsm_hash, index), data_sum);
  auto [it, inserted] = applied_.try_emplace(index, Applied{data_sum, result_sum, prefix});
  if (!inserted) {
    if (it->second.data != data_sum) {
      fail(absl::StrCat("state machine safety: node ", n.id, " applies at index ", index,
                        " an entry other than the one another node applied"));
      return;
    }
    if (it->second.prefix != prefix) {
      fail(absl::StrCat("state machine safety: node ", n.id, " has applied other entries up to ",
                        index, " than another node"));
      return;
    }
    if (it->second.result != result_sum) {
      fail(absl::StrCat("the state machine is not deterministic: node ", n.id,
                        " got another result at index ", index, " than another node"));
      return;
    }
  }
  n.fsm_applied = index;
  n.fsm_hash = prefix;
  max_applied_ = std::max(max_applied_, index);
  if (options_.sessions) on_session_applied(n, index, data, result_sum);
  if (data.compare(0, 4, "live") == 0) ++n.markers[data];
  n.results[index] = {data_sum, result_sum};
  while (n.results.size() > 4096) n.results.erase(n.results.begin());
}

void Cluster::on_restored(Node& n, Index index, uint64_t hash) {
  if (index < n.fsm_applied) {
    fail(absl::StrCat("node ", n.id, " restores a snapshot holding entries up to ", index,
                      " over state applied up to ", n.fsm_applied));
    return;
  }
  if (index > 0) {
    auto it = applied_.find(index);
    if (it == applied_.end() || it->second.prefix != hash) {
      fail(absl::StrCat("state machine safety: node ", n.id, " restores a snapshot at ", index,
                        " that differs from what others applied"));
      return;
    }
  }
  n.fsm_applied = index;
  n.fsm_hash = hash;
  log_event(absl::StrCat("node ", n.id, " restored its state machine up to ", index));
}

// A proposer got its answer: it must be the result of its own entry, and the
// entry must be durable on a quorum (of both halves of a joint config).
void Cluster::check_acknowledged(Node& n, const std::string& data, const ProposeResult& r,
                                 size_t conf_from, bool own_entry) {
  auto it = n.results.find(r.index);
  if (own_entry && (it == n.results.end() || it->second.first != checksum64(data))) {
    fail(absl::StrCat("node ", n.id, " answered a proposal with the result of index ", r.index,
                      ", which is not the entry it proposed"));
    return;
  }
  if (own_entry && it->second.second != checksum64(r.result)) {
    fail(absl::StrCat("node ", n.id, " answered a proposal at ", r.index,
                      " with a result its state machine did not return"));
    return;
  }
  std::set<NodeId> durable;
  for (const auto& [id, other] : nodes_) {
    if (other->disk.holds(r.index, r.term)) durable.insert(id);
  }
  // The entry was committed under one of the memberships the proposer had
  // between the proposal and now.
  std::vector<ConfState> confs(n.confs.begin() + static_cast<ptrdiff_t>(conf_from), n.confs.end());
  confs.push_back(n.group->core().conf_state());
  bool quorum = false;
  std::string tried;
  for (const ConfState& cs : confs) {
    quorum =
        quorum || (is_voter_majority(cs.voters, durable) &&
                   (cs.voters_outgoing.empty() || is_voter_majority(cs.voters_outgoing, durable)));
    absl::StrAppend(&tried, tried.empty() ? "" : " / ", conf_string(cs));
  }
  if (!quorum) {
    fail(absl::StrCat("node ", n.id, " acknowledged the proposal at ", r.index, " (term ", r.term,
                      ") before a quorum had it durable (durable on [", absl::StrJoin(durable, ","),
                      "]; memberships since the proposal: ", tried, ")"));
    return;
  }
  ++result_.proposals_acked;
}

// ---------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------

void Cluster::check_invariants() {
  for (auto& [id, n] : nodes_) {
    if (!n->group) continue;
    const RawNode& core = n->group->core();
    const Term term = core.term();
    result_.max_term = std::max(result_.max_term, term);

    // Election safety: at most one leader per term.
    if (core.role() == Role::kLeader) {
      auto [it, inserted] = leaders_.try_emplace(term, id);
      if (inserted) {
        ++result_.leaders;
        log_event(absl::StrCat("node ", id, " leads term ", term));
      } else if (it->second != id) {
        fail(absl::StrCat("election safety: nodes ", it->second, " and ", id,
                          " are both leaders of term ", term));
        return;
      }
    }

    // What the driver wrote must be the core's log.
    if (core.last_index() != n->log.last_index()) {
      fail(absl::StrCat("node ", id, ": core last index ", core.last_index(),
                        " but the driver's writes add up to ", n->log.last_index()));
      return;
    }

    // Commit never goes backwards, and commits only what is in the log.
    const Index commit = core.commit_index();
    if (commit < n->last_commit) {
      fail(absl::StrCat("node ", id, ": commit index went back from ", n->last_commit, " to ",
                        commit));
      return;
    }
    if (commit > n->log.last_index()) {
      fail(absl::StrCat("node ", id, ": commit ", commit, " beyond last index ",
                        n->log.last_index()));
      return;
    }
    // Every node agrees on what is committed.
    if (committed_hashes_.size() <= commit) committed_hashes_.resize(commit + 1, 0);
    for (Index i = std::max(n->last_commit, n->log.base_index()); i <= commit; ++i) {
      if (i == 0) continue;
      const uint64_t h = n->log.hash_at(i);
      if (committed_hashes_[i] == 0) {
        committed_hashes_[i] = h;
      } else if (committed_hashes_[i] != h) {
        fail(absl::StrCat("committed logs differ: node ", id, " commits at index ", i,
                          " an entry other than another node's"));
        return;
      }
    }
    n->last_commit = commit;
    check_events(*n);
    if (ConfState cs = core.conf_state(); !(cs == n->confs.back())) n->confs.push_back(cs);
    result_.max_commit = std::max(result_.max_commit, commit);
    Index& by_term = commit_by_term_[term];
    by_term = std::max(by_term, commit);
  }

  // Leader completeness: a leader of term T holds every entry committed in
  // a term up to T.
  for (auto& [id, n] : nodes_) {
    if (!n->group || n->group->core().role() != Role::kLeader) continue;
    const Term term = n->group->core().term();
    Index need = 0;
    for (auto it = commit_by_term_.begin(); it != commit_by_term_.end() && it->first <= term;
         ++it) {
      need = std::max(need, it->second);
    }
    if (need == 0 || need <= n->log.base_index()) continue;
    if (need > n->log.last_index() || n->log.hash_at(need) != committed_hashes_[need]) {
      fail(absl::StrCat("leader completeness: leader ", id, " of term ", term,
                        " lacks the committed entry at index ", need));
      return;
    }
  }
}

}  // namespace raft::sim
