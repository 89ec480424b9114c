// Cluster: event loop, asynchronous-persistence driver, faults and the
// safety/liveness checks of the deterministic simulator.
#include "tests/sim/cluster.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace raft::sim {
namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
constexpr GroupId kSimGroup = 1;
constexpr int kElectionTicks = 10;

std::string encode_hash(uint64_t h) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((h >> (8 * i)) & 0xff);
  return out;
}

bool decode_hash(std::string_view bytes, uint64_t* h) {
  if (bytes.size() != 8) return false;
  *h = 0;
  for (int i = 0; i < 8; ++i)
    *h |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  return true;
}

bool contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

std::string conf_string(const ConfState& cs) {
  std::string s = absl::StrCat("voters=[", absl::StrJoin(cs.voters, ","), "]");
  if (!cs.learners.empty())
    absl::StrAppend(&s, " learners=[", absl::StrJoin(cs.learners, ","), "]");
  if (!cs.voters_outgoing.empty()) {
    absl::StrAppend(&s, " outgoing=[", absl::StrJoin(cs.voters_outgoing, ","), "]");
  }
  if (!cs.learners_next.empty()) {
    absl::StrAppend(&s, " learners_next=[", absl::StrJoin(cs.learners_next, ","), "]");
  }
  if (cs.auto_leave) absl::StrAppend(&s, " auto_leave");
  return s;
}

const char* type_name(MessageType t) {
  switch (t) {
    case MessageType::kHup:
      return "Hup";
    case MessageType::kBeat:
      return "Beat";
    case MessageType::kPropose:
      return "Propose";
    case MessageType::kSnapStatus:
      return "SnapStatus";
    case MessageType::kUnreachable:
      return "Unreachable";
    case MessageType::kCheckQuorum:
      return "CheckQuorum";
    case MessageType::kAppend:
      return "App";
    case MessageType::kAppendResponse:
      return "AppResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResponse:
      return "VoteResp";
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResponse:
      return "PreVoteResp";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResponse:
      return "HeartbeatResp";
    case MessageType::kSnapshot:
      return "Snapshot";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kReadIndex:
      return "ReadIndex";
    case MessageType::kReadIndexResponse:
      return "ReadIndexResp";
    case MessageType::kTransferLeader:
      return "TransferLeader";
  }
  return "?";
}

std::string message_string(const Message& m) {
  std::string s = absl::StrCat(type_name(m.type), " ", m.from, "->", m.to, " t", m.term, " lt",
                               m.log_term, " i", m.index, " c", m.commit);
  if (!m.entries.empty()) {
    absl::StrAppend(&s, " ents[", m.entries.front().index, "..", m.entries.back().index, "]");
  }
  if (m.reject) absl::StrAppend(&s, " reject hint", m.reject_hint);
  if (m.snapshot) absl::StrAppend(&s, " snap@", m.snapshot->meta.index);
  return s;
}

}  // namespace

Cluster::Cluster(const SimOptions& options)
    : options_(options),
      prng_(options.seed),
      core_seeds_(prng_.fork()),
      persist_prng_(prng_.fork()),
      network_(prng_.next()) {
  RAFT_CHECK(options_.nodes >= 1);
  for (int i = 1; i <= options_.nodes; ++i) initial_conf_.voters.push_back(i);

  // Vary the core's settings from seed to seed.
  base_config_.group = kSimGroup;
  base_config_.election_ticks = kElectionTicks;
  base_config_.heartbeat_ticks = 1;
  base_config_.pre_vote = prng_.chance(700);
  base_config_.check_quorum = prng_.chance(700);
  const uint64_t sizes[] = {0, 16, 256, 1 << 20};
  base_config_.max_size_per_msg = sizes[prng_.below(4)];
  const size_t inflight[] = {1, 2, 8, 256};
  base_config_.max_inflight_msgs = inflight[prng_.below(4)];
  base_config_.max_uncommitted_entries_bytes = prng_.chance(250) ? 2048 : 0;
  base_config_.read_only = ReadOnlyOption::kSafe;
  // Settings added later draw from their own stream so that older seeds keep
  // their traces.
  Prng more(options.seed ^ 0x6d6f7265ULL);
  base_config_.max_committed_bytes_per_ready = more.chance(300) ? 64 : 0;

  NetworkFaults faults;
  faults.min_delay = 1;
  faults.max_delay = 10;
  network_.set_faults(faults);

  // Two ways to bootstrap (raw_node.h): every node, spares included, starts
  // from the initial membership and an empty log; or the initial members
  // start from a snapshot at (1, 1) holding the membership and spare nodes
  // start empty, knowing nothing, and must receive a snapshot to join.
  bootstrap_snapshot_ = more.chance(500);
  const uint64_t boot_hash = mix_hash(kGenesisHash, 1);
  const int total = options_.nodes + options_.spare_nodes;
  for (NodeId id = 1; id <= static_cast<NodeId>(total); ++id) {
    Node& n = nodes_[id];
    n.id = id;
    n.storage = std::make_unique<MemoryLogStorage>();
    n.applied_hash = kGenesisHash;
    const bool member = id <= static_cast<NodeId>(options_.nodes);
    if (!bootstrap_snapshot_) {
      // A spare node is not in the membership and stays passive until a
      // change adds it; it replays the whole log, conf changes included.
      n.storage->set_conf_state(initial_conf_);
      n.conf_history = {{0, initial_conf_}};
    } else if (member) {
      Snapshot boot;
      boot.meta.index = 1;
      boot.meta.term = 1;
      boot.meta.conf_state = initial_conf_;
      boot.data = Slice(encode_hash(boot_hash));
      RAFT_CHECK(n.storage->apply_snapshot(boot).ok());
      n.storage->set_hard_state(HardState{1, kNoNode, 1});
      n.log.install(1, 1, boot_hash);
      n.durable_log.install(1, 1, boot_hash);
      n.applied = 1;
      n.applied_hash = boot_hash;
      n.last_commit = 1;
      n.last_hard_state = n.storage->hard_state();
      n.conf_history = {{1, initial_conf_}};
    } else {
      n.conf_history = {{0, ConfState{}}};
    }
    n.next_tick = prng_.below(kTickUnits);
    auto raw = RawNode::create(node_config(id, n.applied), n.storage.get());
    RAFT_CHECK_MSG(raw.ok(), "RawNode::create failed at bootstrap");
    n.raw = std::move(*raw);
  }
  if (bootstrap_snapshot_) applied_hashes_ = {0, boot_hash};
  next_action_ = 1;
  trace(0, options_.seed, options_.nodes,
        base_config_.pre_vote * 4 + base_config_.check_quorum * 2 + bootstrap_snapshot_);
}

Cluster::~Cluster() = default;

Config Cluster::node_config(NodeId id, Index applied) {
  Config c = base_config_;
  c.id = id;
  c.applied = applied;
  c.seed = core_seeds_.next();
  return c;
}

Cluster::Node& Cluster::node(NodeId id) {
  auto it = nodes_.find(id);
  RAFT_CHECK(it != nodes_.end());
  return it->second;
}
const Cluster::Node& Cluster::node(NodeId id) const {
  auto it = nodes_.find(id);
  RAFT_CHECK(it != nodes_.end());
  return it->second;
}

RawNode* Cluster::raw(NodeId id) { return node(id).raw.get(); }
bool Cluster::alive(NodeId id) const { return node(id).raw != nullptr; }

std::vector<NodeId> Cluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

void Cluster::fail(const std::string& what) {
  if (!result_.failure.empty()) return;
  result_.failure = absl::StrCat("t=", now_, " (tick ", now_ / kTickUnits, "): ", what);
}

void Cluster::trace(uint64_t kind, uint64_t a, uint64_t b, uint64_t c) {
  trace_hash_ = mix_hash(mix_hash(mix_hash(mix_hash(trace_hash_, kind), a), b), c);
}

void Cluster::trace_message(uint64_t kind, const Message& m) {
  trace(kind, (static_cast<uint64_t>(m.type) << 32) | (m.from << 16) | m.to, m.term,
        mix_hash(mix_hash(mix_hash(m.index, m.log_term), m.commit),
                 m.entries.size() * 2 + (m.reject ? 1 : 0)));
}

void Cluster::log_event(const std::string& text) const {
  if (options_.verbose) std::fprintf(stderr, "[%8" PRIu64 "] %s\n", now_, text.c_str());
}

// ---------------------------------------------------------------------------
// Event loop
// ---------------------------------------------------------------------------

bool Cluster::step_event() {
  if (failed()) return false;
  // The earliest event wins; ties go to deliveries, then writes, then ticks
  // (lowest node id first), then the chaos action.
  enum Kind { kNone, kDeliver, kWrite, kTick, kAction } kind = kNone;
  uint64_t best = kNever;
  Node* who = nullptr;
  if (auto t = network_.next_delivery(); t && *t < best) {
    best = *t;
    kind = kDeliver;
  }
  for (auto& [id, n] : nodes_) {
    if (!n.raw || n.pending.empty()) continue;
    if (n.pending.front().due < best) {
      best = n.pending.front().due;
      kind = kWrite;
      who = &n;
    }
  }
  for (auto& [id, n] : nodes_) {
    if (!n.raw) continue;
    if (n.next_tick < best) {
      best = n.next_tick;
      kind = kTick;
      who = &n;
    }
  }
  if (chaos_ && next_action_ < best) {
    best = next_action_;
    kind = kAction;
  }
  if (kind == kNone) {
    fail("no event left to run (every node crashed?)");
    return false;
  }
  RAFT_CHECK(best >= now_);
  now_ = best;
  ++result_.events;
  switch (kind) {
    case kDeliver:
      deliver(*network_.pop_due(now_));
      break;
    case kWrite:
      complete_write(*who);
      break;
    case kTick:
      tick_node(*who);
      break;
    case kAction:
      chaos_action();
      next_action_ = now_ + prng_.range(1, 2 * kTickUnits);
      break;
    case kNone:
      break;
  }
  // Snapshot reports collected while a Ready was open go in now.
  for (size_t i = 0; i < deferred_reports_.size(); ++i) {
    const auto [from, to, ok] = deferred_reports_[i];
    Node& n = node(from);
    if (!n.raw) continue;
    n.raw->report_snapshot(to, ok);
    drain(n);
  }
  deferred_reports_.clear();
  check_invariants();
  return !failed();
}

void Cluster::run_ticks(uint64_t ticks) {
  const uint64_t until = now_ + ticks * kTickUnits;
  const bool chaos = chaos_;
  chaos_ = false;
  while (!failed() && now_ < until) step_event();
  chaos_ = chaos;
}

void Cluster::deliver(Delivery d) {
  const Message& m = d.message;
  trace_message(d.blocked ? 2 : 1, m);
  auto from = nodes_.find(m.from);
  Node* sender = from != nodes_.end() && from->second.raw ? &from->second : nullptr;
  auto to_it = nodes_.find(m.to);
  Node* to = to_it != nodes_.end() && to_it->second.raw ? &to_it->second : nullptr;
  if (d.blocked || to == nullptr) {
    log_event(absl::StrCat("lost ", message_string(m), d.blocked ? " (blocked)" : " (down)"));
    if (sender && m.type == MessageType::kSnapshot)
      deferred_reports_.push_back({m.from, m.to, false});
    if (sender && d.blocked && m.type == MessageType::kAppend && prng_.chance(300)) {
      sender->raw->report_unreachable(m.to);
      drain(*sender);
    }
    return;
  }
  log_event(absl::StrCat("deliver ", message_string(m)));
  absl::Status s = to->raw->step(m);
  if (!s.ok()) {
    trace(3, m.to, static_cast<uint64_t>(s.code()));
    log_event(absl::StrCat("  step: ", s.ToString()));
  }
  drain(*to);
  if (sender && m.type == MessageType::kSnapshot) deferred_reports_.push_back({m.from, m.to, true});
}

void Cluster::tick_node(Node& n) {
  trace(4, n.id, now_);
  n.next_tick += kTickUnits;
  n.raw->tick();
  drain(n);
}

// ---------------------------------------------------------------------------
// Driver: Readies, asynchronous persistence, applying
// ---------------------------------------------------------------------------

void Cluster::drain(Node& n) {
  for (int rounds = 0; n.raw && n.raw->has_ready(); ++rounds) {
    if (rounds > 10000) {
      fail(absl::StrCat("node ", n.id, " keeps producing Readies"));
      return;
    }
    Ready rd = n.raw->ready();
    trace(5, n.id, rd.entries.size() * 4 + rd.committed_entries.size(),
          rd.messages.size() * 4 + rd.persisted_messages.size());

    // The core's log as the driver knows it.
    if (rd.snapshot) {
      const SnapshotMeta& meta = rd.snapshot->meta;
      uint64_t h = 0;
      if (!decode_hash(rd.snapshot->data.view(), &h)) {
        fail(absl::StrCat("node ", n.id, ": snapshot data is not ours"));
        return;
      }
      if (meta.index < committed_hashes_.size() && committed_hashes_[meta.index] != 0 &&
          committed_hashes_[meta.index] != h) {
        fail(absl::StrCat("node ", n.id, " got a snapshot at ", meta.index,
                          " that differs from the committed log"));
      }
      n.log.install(meta.index, meta.term, h);
      log_event(absl::StrCat("node ", n.id, " ready: snapshot@", meta.index, " t", meta.term));
    }
    if (!rd.entries.empty()) {
      if (!n.log.append(rd.entries)) {
        fail(absl::StrCat("node ", n.id, ": Ready entries from ", rd.entries.front().index,
                          " leave a gap after ", n.log.last_index()));
        return;
      }
      // Log matching: an (index, term) names one prefix everywhere.
      for (const Entry& e : rd.entries) {
        if (!n.log.has(e.index) || e.index == n.log.base_index()) continue;
        const uint64_t h = n.log.hash_at(e.index);
        auto [it, inserted] = entry_hashes_.try_emplace({e.index, e.term}, h);
        if (!inserted && it->second != h) {
          fail(absl::StrCat("log matching: node ", n.id, " holds (index ", e.index, ", term ",
                            e.term, ") with a prefix that differs from another node's"));
        }
      }
    }
    if (rd.hard_state) {
      const HardState& hs = *rd.hard_state;
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

    // Messages that may leave now.
    send_all(n, rd.messages);

    // Queue the durable write; it completes after a random delay, in order.
    if (rd.must_persist() || !rd.persisted_messages.empty()) {
      PendingWrite w;
      uint64_t delay = persist_prng_.range(0, 15);
      if (persist_prng_.chance(long_persist_per_mille_)) delay += persist_prng_.range(20, 150);
      w.due = now_ + delay;
      if (!n.pending.empty()) w.due = std::max(w.due, n.pending.back().due);
      w.snapshot = rd.snapshot;
      w.entries = rd.entries;
      w.hard_state = rd.hard_state;
      w.must_persist = rd.must_persist();
      w.persist_index = rd.persist_index();
      w.persist_term = rd.persist_term();
      w.persisted_messages = std::move(rd.persisted_messages);
      n.pending.push_back(std::move(w));
    }

    // Apply.
    for (const Entry& e : rd.committed_entries) {
      if (e.index > n.durable_log.last_index()) {
        fail(absl::StrCat("node ", n.id, ": committed entry ", e.index,
                          " handed out before it is durable (durable last ",
                          n.durable_log.last_index(), ")"));
        return;
      }
    }
    apply_entries(n, rd.committed_entries);
    for (const ReadState& rs : rd.read_states) {
      auto it = n.pending_reads.find(rs.context.to_string());
      if (it == n.pending_reads.end()) continue;
      if (rs.index < it->second) {
        fail(absl::StrCat("read index: node ", n.id, " read ", rs.context.to_string(), " at index ",
                          rs.index, " but ", it->second, " was committed before the read began"));
      }
      ++result_.reads_checked;
      n.pending_reads.erase(it);
    }
    if (!n.raw) return;
    n.raw->advance(rd);
  }
}

void Cluster::send_all(Node& n, std::vector<Message>& messages) {
  for (Message& m : messages) {
    check_message_durability(n, m);
    if (m.group != kSimGroup) {
      fail(absl::StrCat("node ", n.id, " sent a message of group ", m.group));
    }
    if (m.from != n.id) fail(absl::StrCat("node ", n.id, " sent a message from ", m.from));
    trace_message(6, m);
    log_event(absl::StrCat("send ", message_string(m)));
    const bool snapshot = m.type == MessageType::kSnapshot;
    const NodeId to = m.to;
    if (!network_.send(now_, std::move(m)) && snapshot) {
      deferred_reports_.push_back({n.id, to, false});
    }
  }
}

// "A term or vote leaves the node in no message before it is durable", and a
// follower acknowledges only entries that are durable.
void Cluster::check_message_durability(const Node& n, const Message& m) {
  if (m.type == MessageType::kPreVote || m.type == MessageType::kPreVoteResponse) return;
  const HardState& durable = n.storage->hard_state();
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

void Cluster::complete_write(Node& n) {
  PendingWrite w = std::move(n.pending.front());
  n.pending.erase(n.pending.begin());
  trace(7, n.id, w.persist_index, w.persist_term);
  if (w.snapshot) {
    absl::Status s = n.storage->apply_snapshot(*w.snapshot);
    if (!s.ok()) {
      fail(absl::StrCat("node ", n.id, ": storage refused snapshot@", w.snapshot->meta.index, ": ",
                        s.ToString()));
      return;
    }
    uint64_t h = 0;
    decode_hash(w.snapshot->data.view(), &h);
    n.durable_log.install(w.snapshot->meta.index, w.snapshot->meta.term, h);
    restore_snapshot(n, *w.snapshot);
  }
  if (!w.entries.empty()) {
    absl::Status s = n.storage->append(w.entries);
    if (!s.ok()) {
      fail(absl::StrCat("node ", n.id, ": storage refused entries from ", w.entries.front().index,
                        ": ", s.ToString()));
      return;
    }
    n.durable_log.append(w.entries);
  }
  if (w.hard_state) n.storage->set_hard_state(*w.hard_state);
  if (w.must_persist) n.raw->on_persisted(w.persist_index, w.persist_term);
  send_all(n, w.persisted_messages);
  drain(n);
}

void Cluster::restore_snapshot(Node& n, const Snapshot& snapshot) {
  const Index s = snapshot.meta.index;
  uint64_t h = 0;
  decode_hash(snapshot.data.view(), &h);
  if (n.applied > s) {
    fail(absl::StrCat("node ", n.id, " restores snapshot@", s, " over applied state at ",
                      n.applied));
    return;
  }
  if (s < applied_hashes_.size() && applied_hashes_[s] != 0 && applied_hashes_[s] != h) {
    fail(absl::StrCat("state machine safety: node ", n.id, " restores a snapshot at ", s,
                      " that differs from what others applied"));
  }
  n.applied = s;
  n.applied_hash = h;
  n.conf_history = {{s, snapshot.meta.conf_state}};
  ++result_.snapshots_installed;
  log_event(absl::StrCat("node ", n.id, " restored snapshot@", s));
}

void Cluster::apply_entries(Node& n, const std::vector<Entry>& entries) {
  for (const Entry& e : entries) {
    if (e.index != n.applied + 1) {
      fail(absl::StrCat("node ", n.id, " applies index ", e.index, " after ", n.applied));
      return;
    }
    const uint64_t h = chain_hash(n.applied_hash, e);
    if (n.log.has(e.index) && n.log.hash_at(e.index) != h) {
      fail(absl::StrCat("node ", n.id, " applies an entry at ", e.index,
                        " that is not the one in its log"));
      return;
    }
    if (applied_hashes_.size() <= e.index) applied_hashes_.resize(e.index + 1, 0);
    if (applied_hashes_[e.index] == 0) {
      applied_hashes_[e.index] = h;
    } else if (applied_hashes_[e.index] != h) {
      fail(absl::StrCat("state machine safety: node ", n.id, " applies at index ", e.index,
                        " an entry other than the one another node applied"));
      return;
    }
    n.applied = e.index;
    n.applied_hash = h;
    if (e.type == EntryType::kNormal) {
      if (e.data.view().substr(0, 4) == "live") ++n.applied_payloads[e.data.to_string()];
    } else {
      auto cc = decode_conf_change(e.data.view());
      if (!cc.ok()) {
        fail(absl::StrCat("node ", n.id, ": conf change at ", e.index,
                          " does not decode: ", cc.status().ToString()));
        return;
      }
      ConfState cs = n.raw->apply_conf_change(*cc);
      n.conf_history.push_back({e.index, cs});
      if (conf_change_indexes_.insert(e.index).second) ++result_.conf_changes;
      trace(8, n.id, e.index, cs.voters.size() * 16 + cs.learners.size());
      log_event(
          absl::StrCat("node ", n.id, " applied conf change @", e.index, " -> ", conf_string(cs)));
    }
  }
}

// ---------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------

void Cluster::check_invariants() {
  for (auto& [id, n] : nodes_) {
    if (!n.raw) continue;
    const Term term = n.raw->term();
    result_.max_term = std::max(result_.max_term, term);

    // Election safety: at most one leader per term.
    if (n.raw->role() == Role::kLeader) {
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

    // The driver's copy of the log must be the core's.
    if (n.raw->last_index() != n.log.last_index()) {
      fail(absl::StrCat("node ", id, ": core last index ", n.raw->last_index(),
                        " but the Readies add up to ", n.log.last_index()));
      return;
    }

    // Commit never goes backwards, and commits only what is in the log.
    const Index commit = n.raw->commit_index();
    if (commit < n.last_commit) {
      fail(absl::StrCat("node ", id, ": commit index went back from ", n.last_commit, " to ",
                        commit));
      return;
    }
    if (commit > n.log.last_index()) {
      fail(absl::StrCat("node ", id, ": commit ", commit, " beyond last index ",
                        n.log.last_index()));
      return;
    }
    // Every node agrees on what is committed.
    if (committed_hashes_.size() <= commit) committed_hashes_.resize(commit + 1, 0);
    for (Index i = std::max(n.last_commit, n.log.base_index()); i <= commit; ++i) {
      if (i == 0) continue;
      const uint64_t h = n.log.hash_at(i);
      if (committed_hashes_[i] == 0) {
        committed_hashes_[i] = h;
      } else if (committed_hashes_[i] != h) {
        fail(absl::StrCat("committed logs differ: node ", id, " commits at index ", i,
                          " an entry other than another node's"));
        return;
      }
    }
    n.last_commit = commit;
    result_.max_commit = std::max(result_.max_commit, commit);
    Index& by_term = commit_by_term_[term];
    by_term = std::max(by_term, commit);
  }

  // Leader completeness: a leader of term T holds every entry committed in
  // a term up to T.
  for (auto& [id, n] : nodes_) {
    if (!n.raw || n.raw->role() != Role::kLeader) continue;
    const Term term = n.raw->term();
    Index need = 0;
    for (auto it = commit_by_term_.begin(); it != commit_by_term_.end() && it->first <= term;
         ++it) {
      need = std::max(need, it->second);
    }
    if (need == 0 || need <= n.log.base_index()) continue;
    if (need > n.log.last_index() || n.log.hash_at(need) != committed_hashes_[need]) {
      fail(absl::StrCat("leader completeness: leader ", id, " of term ", term,
                        " lacks the committed entry at index ", need));
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Crashes, restarts, client operations, faults
// ---------------------------------------------------------------------------

void Cluster::crash(NodeId id) {
  Node& n = node(id);
  if (!n.raw) return;
  trace(9, id, n.pending.size());
  log_event(absl::StrCat("CRASH node ", id, " (", n.pending.size(), " writes lost)"));
  n.raw.reset();
  n.pending.clear();
  n.log = n.durable_log;
  n.applied = 0;
  n.applied_hash = kGenesisHash;
  n.applied_payloads.clear();
  n.pending_reads.clear();
  ++result_.crashes;
}

void Cluster::restart(NodeId id) {
  Node& n = node(id);
  if (n.raw) return;
  trace(10, id);
  auto snap = n.storage->snapshot();
  RAFT_CHECK(snap.ok());
  n.applied = snap->meta.index;
  n.applied_hash = kGenesisHash;
  if (n.applied > 0 && !decode_hash(snap->data.view(), &n.applied_hash)) {
    fail(absl::StrCat("node ", id, ": stored snapshot data is not ours"));
    return;
  }
  n.conf_history = {{n.applied, n.storage->conf_state()}};
  auto raw = RawNode::create(node_config(id, n.applied), n.storage.get());
  if (!raw.ok()) {
    fail(absl::StrCat("node ", id, " cannot restart: ", raw.status().ToString()));
    return;
  }
  n.raw = std::move(*raw);
  n.last_hard_state = n.storage->hard_state();
  n.next_tick = now_ + 1 + prng_.below(kTickUnits);
  const Index durable_commit = n.storage->hard_state().commit;
  if (n.raw->commit_index() < durable_commit) {
    fail(absl::StrCat("node ", id, " restarted with commit ", n.raw->commit_index(),
                      " below its durable commit ", durable_commit));
    return;
  }
  if (n.raw->term() != n.storage->hard_state().term) {
    fail(absl::StrCat("node ", id, " restarted in term ", n.raw->term(), " but durable term is ",
                      n.storage->hard_state().term));
    return;
  }
  n.last_commit = durable_commit;
  log_event(absl::StrCat("RESTART node ", id, " term ", n.raw->term(), " commit ",
                         n.raw->commit_index(), " last ", n.raw->last_index()));
  drain(n);
}

void Cluster::corrupt_durable_entry(NodeId id, Index index) {
  Node& n = node(id);
  RAFT_CHECK_MSG(!n.raw, "corrupt only a crashed node's disk");
  auto entries = n.storage->entries(index, n.storage->last_index() + 1, kNoLimit);
  RAFT_CHECK(entries.ok() && !entries->empty());
  (*entries)[0].data = Slice(std::string("corrupted"));
  RAFT_CHECK(n.storage->append(*entries).ok());
  RAFT_CHECK(n.durable_log.append(*entries));
  n.log = n.durable_log;
}

absl::Status Cluster::propose(NodeId id, const std::string& data) {
  Node& n = node(id);
  if (!n.raw) return absl::UnavailableError("down");
  absl::Status s = n.raw->propose(Slice(data));
  trace(11, id, s.ok());
  drain(n);
  return s;
}

int Cluster::applied_count(NodeId id, const std::string& data) const {
  const Node& n = node(id);
  auto it = n.applied_payloads.find(data);
  return it == n.applied_payloads.end() ? 0 : it->second;
}

std::optional<NodeId> Cluster::leader() const {
  std::optional<NodeId> best;
  Term best_term = 0;
  for (const auto& [id, n] : nodes_) {
    if (n.raw && n.raw->role() == Role::kLeader && n.raw->term() >= best_term) {
      best = id;
      best_term = n.raw->term();
    }
  }
  return best;
}

void Cluster::chaos_action() {
  // Weights of the actions, in the order of the switch below.
  const uint32_t weights[] = {
      30,                            // 0 propose
      4,                             // 1 propose a burst
      options_.membership ? 5u : 0,  // 2 membership change
      2,                             // 3 leader transfer
      options_.crashes ? 3u : 0,     // 4 crash
      options_.crashes ? 5u : 0,     // 5 restart
      3,                             // 6 partition
      4,                             // 7 heal
      2,                             // 8 network fault settings
      options_.compaction ? 3u : 0,  // 9 compaction
      1,                             // 10 campaign
      4,                             // 11 read
  };
  uint32_t total = 0;
  for (uint32_t w : weights) total += w;
  uint64_t pick = prng_.below(total);
  int action = 0;
  while (pick >= weights[action]) pick -= weights[action++];
  trace(12, action);

  std::vector<NodeId> up, down;
  for (const auto& [id, n] : nodes_) (n.raw ? up : down).push_back(id);
  auto random_of = [&](const std::vector<NodeId>& v) { return v[prng_.below(v.size())]; };

  switch (action) {
    case 0:
    case 1: {
      if (up.empty()) return;
      const int count = action == 0 ? 1 : static_cast<int>(prng_.range(2, 12));
      const NodeId at = random_of(up);
      for (int i = 0; i < count; ++i) {
        std::string data = absl::StrCat("p", ++proposal_counter_, "-");
        data.append(prng_.below(64), 'x');
        absl::Status s = propose(at, data);
        log_event(absl::StrCat("propose at ", at, ": ", s.ok() ? "ok" : s.ToString()));
      }
      return;
    }
    case 2:
      random_conf_change();
      return;
    case 3: {
      auto l = leader();
      if (!l) return;
      const ConfState cs = raw(*l)->conf_state();
      if (cs.voters.empty()) return;
      const NodeId target = cs.voters[prng_.below(cs.voters.size())];
      absl::Status s = raw(*l)->transfer_leader(target);
      log_event(absl::StrCat("transfer ", *l, " -> ", target, ": ", s.ok() ? "ok" : s.ToString()));
      drain(node(*l));
      return;
    }
    case 4: {
      // Keep a majority of all nodes running most of the time.
      if (up.empty() || down.size() + 1 > nodes_.size() / 2) return;
      crash(random_of(up));
      return;
    }
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
      random_compaction();
      return;
    case 10: {
      if (up.empty()) return;
      const NodeId id = random_of(up);
      absl::Status s = raw(id)->campaign();
      log_event(absl::StrCat("campaign at ", id, ": ", s.ok() ? "ok" : s.ToString()));
      drain(node(id));
      return;
    }
    case 11:
      random_read();
      return;
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
  absl::Status s = raw(*l)->propose_conf_change(cc);
  trace(14, *l, cc.changes.size(), s.ok());
  std::string what = cc.changes.empty() ? "leave-joint" : "";
  for (const auto& c : cc.changes) {
    absl::StrAppend(&what,
                    c.type == ConfChangeType::kAddVoter     ? "+v"
                    : c.type == ConfChangeType::kAddLearner ? "+l"
                                                            : "-",
                    c.node, " ");
  }
  log_event(absl::StrCat("conf change at ", *l, " (", conf_string(cs), "): ", what, "transition ",
                         static_cast<int>(cc.transition), ": ", s.ok() ? "ok" : s.ToString()));
  drain(node(*l));
}

void Cluster::random_compaction() {
  std::vector<NodeId> up;
  for (const auto& [id, n] : nodes_) {
    if (n.raw) up.push_back(id);
  }
  if (up.empty()) return;
  Node& n = node(up[prng_.below(up.size())]);
  const Index first = n.storage->first_index();
  const Index limit =
      std::min({n.applied, n.storage->hard_state().commit, n.durable_log.last_index()});
  if (limit < first) return;
  const Index index = prng_.range(first, limit);
  ConfState cs;
  bool found = false;
  for (const auto& [at, conf] : n.conf_history) {
    if (at <= index) {
      cs = conf;
      found = true;
    }
  }
  if (!found) return;
  auto snap =
      n.storage->create_snapshot(index, cs, Slice(encode_hash(n.durable_log.hash_at(index))));
  if (!snap.ok()) {
    fail(absl::StrCat("node ", n.id, ": create_snapshot(", index,
                      ") failed: ", snap.status().ToString()));
    return;
  }
  absl::Status s = n.storage->compact(index);
  if (!s.ok()) {
    fail(absl::StrCat("node ", n.id, ": compact(", index, ") failed: ", s.ToString()));
    return;
  }
  // After a restart the state machine starts from this snapshot, so the
  // durable membership is the one at its index.
  n.storage->set_conf_state(cs);
  n.durable_log.compact(index);
  trace(15, n.id, index);
  log_event(absl::StrCat("node ", n.id, " compacted to ", index));
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
    if (n.raw) up.push_back(id);
  }
  if (up.empty()) return;
  Node& n = node(up[prng_.below(up.size())]);
  const std::string ctx = absl::StrCat("r", ++read_counter_);
  // Everything committed anywhere before the read begins must be visible.
  const Index committed = committed_hashes_.empty() ? 0 : committed_hashes_.size() - 1;
  absl::Status s = n.raw->read_index(Slice(ctx));
  trace(20, n.id, s.ok());
  if (s.ok()) n.pending_reads[ctx] = committed;
  log_event(absl::StrCat("read ", ctx, " at ", n.id, " (", role_name(n.raw->role()), " t",
                         n.raw->term(), " commit ", n.raw->commit_index(), ", committed anywhere ",
                         committed, "): ", s.ok() ? "ok" : s.ToString()));
  drain(n);
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
  for (NodeId id : ids()) {
    if (!alive(id)) restart(id);
  }
  trace(21);
  log_event("HEAL: network healed, every node running");
}

bool Cluster::check_liveness() {
  const bool chaos = chaos_;
  chaos_ = false;
  const uint64_t start = now_;
  const uint64_t deadline = now_ + static_cast<uint64_t>(options_.liveness_ticks) * kTickUnits;
  const std::string marker = absl::StrCat("live-", options_.seed);
  Term proposed_term = 0;
  uint64_t proposed_at = 0;
  Term left_joint_term = 0;
  while (!failed() && now_ < deadline) {
    const uint64_t next_check = now_ + kTickUnits;
    while (!failed() && now_ < next_check) step_event();
    if (failed()) break;
    auto l = leader();
    if (!l) continue;
    RawNode* lead = raw(*l);
    const ConfState cs = lead->conf_state();
    if (!cs.voters_outgoing.empty() && !cs.auto_leave && left_joint_term != lead->term()) {
      if (lead->propose_conf_change(leave_joint_change()).ok()) left_joint_term = lead->term();
      drain(node(*l));
    }
    if (proposed_term != lead->term() || now_ - proposed_at > 4 * kElectionTicks * kTickUnits) {
      if (propose(*l, marker).ok()) {
        proposed_term = lead->term();
        proposed_at = now_;
      }
    }
    std::vector<NodeId> members = cs.voters;
    members.insert(members.end(), cs.learners.begin(), cs.learners.end());
    members.insert(members.end(), cs.voters_outgoing.begin(), cs.voters_outgoing.end());
    bool done = !members.empty();
    for (NodeId id : members) {
      if (nodes_.count(id) == 0 || applied_count(id, marker) == 0) done = false;
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
      absl::StrAppend(&state, " [", id, ": ", role_name(n.raw->role()), " t", n.raw->term(), " c",
                      n.raw->commit_index(), " last", n.raw->last_index(), " lead", n.raw->leader(),
                      " ", conf_string(n.raw->conf_state()), "]");
    }
    fail(absl::StrCat("liveness: no progress within ", options_.liveness_ticks,
                      " ticks after healing;", state));
  }
  chaos_ = chaos;
  return false;
}

SimResult Cluster::run() {
  for (int i = 0; i < options_.steps && !failed(); ++i) step_event();
  if (!failed()) {
    heal_all();
    check_liveness();
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
