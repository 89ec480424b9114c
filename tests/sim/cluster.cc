// Cluster: setup, the event loop, what the simulated ports report, crashes
// and restarts. The checks are in checks.cc, faults and client operations
// in chaos.cc.
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
// Setup
// ---------------------------------------------------------------------------

Cluster::Cluster(const SimOptions& options)
    : options_(options),
      prng_(options.seed),
      core_seeds_(prng_.fork()),
      persist_prng_(prng_.fork()),
      payloads_(prng_.fork()),
      network_(prng_.next()) {
  RAFT_CHECK(options_.nodes >= 1);
  // Vary the driver's and the core's settings from seed to seed.
  config_.election_ticks = kElectionTicks;
  config_.heartbeat_ticks = 1;
  config_.pre_vote = prng_.chance(700);
  config_.check_quorum = prng_.chance(700);
  if (options_.check_quorum) config_.check_quorum = *options_.check_quorum;
  const uint64_t sizes[] = {0, 16, 256, 1 << 20};
  config_.max_size_per_msg_bytes = sizes[prng_.below(4)];
  const uint32_t inflight[] = {1, 2, 8, 256};
  config_.max_inflight_msgs = inflight[prng_.below(4)];
  config_.max_uncommitted_bytes = prng_.chance(250) ? 2048 : 0;
  config_.read_mode = ReadMode::kReadIndex;
  config_.tick_interval_ms = 100;
  // Idle sessions expire within a run (30 s: 300 ticks).
  if (options_.sessions) config_.session_expiry_ms = 30'000;
  config_.request_timeout_ms = 100 * 6 * kElectionTicks;
  result_.quiescence = options_.quiescence ? *options_.quiescence : prng_.chance(500);
  config_.quiesce_ticks = result_.quiescence ? static_cast<uint32_t>(prng_.range(1, 30)) : 0;
  const uint64_t every[] = {0, 8, 40, 400};
  const uint64_t keep[] = {0, 2, 20, 1000};
  config_.snapshot_every_entries = options_.compaction ? every[prng_.below(4)] : 0;
  config_.keep_entries_after_snapshot = keep[prng_.below(4)];

  NetworkFaults faults;
  faults.min_delay = 1;
  faults.max_delay = 10;
  network_.set_faults(faults);

  // The initial members bootstrap from the static peer list (the driver
  // writes one conf change per peer); spare nodes start empty and learn
  // everything from the leader once a change adds them.
  for (int i = 1; i <= options_.nodes; ++i) {
    bootstrap_.push_back(
        PeerConfig{static_cast<uint64_t>(i), absl::StrCat("sim:", i), PeerRole::kVoter});
  }
  const int total = options_.nodes + options_.spare_nodes;
  for (NodeId id = 1; id <= static_cast<NodeId>(total); ++id) {
    auto n = std::make_unique<Node>();
    n->id = id;
    n->host = std::make_unique<Host>(*this, *n);
    n->next_tick = prng_.below(kTickUnits);
    nodes_[id] = std::move(n);
  }
  for (auto& [id, n] : nodes_) open_group(*n);
  next_action_ = 1;
  trace(0, options_.seed, options_.nodes, config_.pre_vote * 2 + config_.check_quorum);
}

Cluster::~Cluster() {
  // Groups first: their destructors answer pending requests, whose
  // callbacks look at the nodes.
  for (auto& [id, n] : nodes_) n->group.reset();
}

void Cluster::open_group(Node& n) {
  n.fsm_applied = 0;
  n.fsm_hash = kGenesisHash;
  n.markers.clear();
  n.results.clear();
  n.open = Batch{};
  n.open.seq = n.submitted.empty() ? 1 : n.submitted.back().seq + 1;
  GroupOptions o;
  o.self = n.id;
  o.group = kSimGroup;
  o.config = &config_;
  o.seed = core_seeds_.next() | 1;
  o.incarnation = prng_.next();
  n.incarnation = o.incarnation;
  n.liveness = std::make_unique<NodeLiveness>(config_.election_ticks);
  // Session commands carry sim time, in ms.
  o.wall_clock_ms = [this] { return now_ * (config_.tick_interval_ms / kTickUnits); };
  std::unique_ptr<StateMachine> inner =
      options_.state_machine ? options_.state_machine() : std::make_unique<CounterMachine>();
  auto fsm = std::make_unique<CheckedStateMachine>(*this, n, std::move(inner));
  const bool member = n.id <= static_cast<NodeId>(options_.nodes);
  auto g = Group::open(o, n.host->ports(), std::move(fsm),
                       member ? bootstrap_ : std::vector<PeerConfig>{});
  if (!g.ok()) {
    fail(absl::StrCat("node ", n.id, " cannot open its group: ", g.status().ToString()));
    return;
  }
  n.group = std::move(*g);
  n.last_hard_state = n.disk.hard_state;
  n.last_commit = n.group->core().commit_index();
  n.confs = {n.group->core().conf_state()};
  n.events = Node::EventView{};
  n.events.conf = n.group->core().conf_state();
  n.events.index = n.group->applied();
}

Cluster::Node& Cluster::node(NodeId id) {
  auto it = nodes_.find(id);
  RAFT_CHECK(it != nodes_.end());
  return *it->second;
}
const Cluster::Node& Cluster::node(NodeId id) const {
  auto it = nodes_.find(id);
  RAFT_CHECK(it != nodes_.end());
  return *it->second;
}

const RawNode* Cluster::raw(NodeId id) const {
  const Node& n = node(id);
  return n.group ? &n.group->core() : nullptr;
}
bool Cluster::alive(NodeId id) const { return node(id).group != nullptr; }

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
  // The earliest event wins; ties go to deliveries, then disk batches, then
  // snapshot files, then ticks (lowest node id first), then the chaos action.
  enum Kind { kNone, kDeliver, kBatch, kFile, kTick, kAction } kind = kNone;
  uint64_t best = kNever;
  Node* who = nullptr;
  if (auto t = network_.next_delivery(); t && *t < best) {
    best = *t;
    kind = kDeliver;
  }
  for (auto& [id, n] : nodes_) {
    if (n->group && !n->submitted.empty() && n->submitted.front().due < best) {
      best = n->submitted.front().due;
      kind = kBatch;
      who = n.get();
    }
  }
  for (auto& [id, n] : nodes_) {
    if (!n->group) continue;
    for (const Node::FileJob& job : n->file_jobs) {
      if (job.due < best) {
        best = job.due;
        kind = kFile;
        who = n.get();
      }
    }
  }
  for (auto& [id, n] : nodes_) {
    if (n->group && n->next_tick < best) {
      best = n->next_tick;
      kind = kTick;
      who = n.get();
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
    case kBatch:
      complete_batch(*who);
      break;
    case kFile:
      complete_file(*who);
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
  // Snapshot transfer outcomes go in now, outside any Ready.
  for (size_t i = 0; i < deferred_reports_.size(); ++i) {
    const auto [from, to, ok] = deferred_reports_[i];
    Node& n = node(from);
    if (!n.group) continue;
    n.group->snapshot_sent(to, ok);
    settle(n);
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

void Cluster::settle(Node& n, bool tick) {
  if (!n.group) return;
  n.group->process();
  // As the shard does: a batch that must be durable goes at the end of the
  // turn; one holding only a commit-only hard state waits for the next tick.
  if (!n.open.urgent && !(tick && !n.open.empty())) return;
  Batch b = std::move(n.open);
  n.open = Batch{};
  n.open.seq = b.seq + 1;
  uint64_t delay = persist_prng_.range(0, 15);
  if (persist_prng_.chance(long_persist_per_mille_)) delay += persist_prng_.range(20, 150);
  b.due = now_ + delay;
  if (!n.submitted.empty()) b.due = std::max(b.due, n.submitted.back().due);
  trace(23, n.id, b.seq, b.entries.size());
  n.submitted.push_back(std::move(b));
}

void Cluster::heard(Node& to, NodeId from, uint64_t incarnation) {
  const NodeLiveness::Heard h = to.liveness->heard(from, incarnation);
  if (!h.returned) return;
  log_event(absl::StrCat("node ", to.id, " hears node ", from, h.restarted ? " (restarted)" : ""));
  if (to.group->on_peer_returned(from, h.restarted)) settle(to);
}

void Cluster::deliver(Delivery d) {
  const Message& m = d.message;
  if (m.type == MessageType::kBeat) {
    // A node-level liveness beat (the shard's, between two nodes).
    auto it = nodes_.find(m.to);
    if (!d.blocked && it != nodes_.end() && it->second->group) heard(*it->second, m.from, m.index);
    return;
  }
  trace_message(d.blocked ? 2 : 1, m);
  auto from = nodes_.find(m.from);
  Node* sender = from != nodes_.end() && from->second->group ? from->second.get() : nullptr;
  auto to_it = nodes_.find(m.to);
  Node* to = to_it != nodes_.end() && to_it->second->group ? to_it->second.get() : nullptr;
  const bool snapshot = m.type == MessageType::kSnapshot;
  if (d.blocked || to == nullptr) {
    log_event(absl::StrCat("lost ", message_string(m), d.blocked ? " (blocked)" : " (down)"));
    if (sender && snapshot) deferred_reports_.push_back({m.from, m.to, false});
    if (sender && d.blocked && m.type == MessageType::kAppend && prng_.chance(300)) {
      sender->group->peer_unreachable(m.to);
      settle(*sender);
    }
    return;
  }
  log_event(absl::StrCat("deliver ", message_string(m)));
  heard(*to, m.from, 0);
  if (!to->group) return;
  if (!snapshot) {
    to->group->step(m);
    settle(*to);
    return;
  }
  // A snapshot stream arrived whole (the simulator carries the image in the
  // announce's data): the receiver keeps the file, as the shard does once it
  // is fsynced, and hands it to its group.
  const SnapshotMeta meta = m.snapshot->meta;
  if (to->group->wants_snapshot(meta.index)) {
    std::string image = m.snapshot->data.to_string();
    const StoredSnapshot received{meta, image.size(), checksum64(image)};
    to->disk.files[{meta.index, meta.term}] = std::move(image);
    Message announce = m;
    announce.snapshot->data = Slice();
    to->group->snapshot_received(announce, received);
    settle(*to);
  } else {
    log_event(absl::StrCat("  node ", m.to, " does not want snapshot@", meta.index));
  }
  if (sender) deferred_reports_.push_back({m.from, m.to, true});
}

void Cluster::tick_node(Node& n) {
  trace(4, n.id, now_);
  n.next_tick += kTickUnits;
  for (NodeId silent : n.liveness->tick()) {
    log_event(absl::StrCat("node ", n.id, " stops hearing node ", silent));
    if (n.group->on_peer_silent(silent)) settle(n);
  }
  n.group->tick();
  settle(n, /*tick=*/true);
  // The shard's beat to every other node (also to those down: the network
  // loses them), so that a live pair never falls silent.
  for (const auto& [id, other] : nodes_) {
    if (id == n.id) continue;
    Message beat;
    beat.type = MessageType::kBeat;
    beat.group = kSimGroup;
    beat.from = n.id;
    beat.to = id;
    beat.index = n.incarnation;
    network_.send(now_, std::move(beat));
  }
}

void Cluster::complete_batch(Node& n) {
  Batch& b = n.submitted.front();
  if (now_ < n.disk_fails_until) {
    // The write failed: nothing of it is durable; the shard retries the
    // batch (and the ones behind it) after a backoff.
    ++result_.write_failures;
    trace(24, n.id, b.seq);
    log_event(absl::StrCat("node ", n.id, " write of batch ", b.seq, " failed"));
    b.due = now_ + persist_prng_.range(1, 3) * kTickUnits;
    for (Batch& later : n.submitted) later.due = std::max(later.due, b.due);
    n.group->on_write_failed(absl::UnavailableError("simulated disk failure"));
    settle(n);
    return;
  }
  Batch done = std::move(b);
  n.submitted.pop_front();
  trace(7, n.id, done.seq, done.entries.size());
  if (!make_durable(n, done)) return;
  n.group->on_durable(done.seq);
  settle(n);
}

bool Cluster::make_durable(Node& n, const Batch& b) {
  if (absl::Status s = n.disk.apply(b); !s.ok()) {
    // The shard would retry this batch forever, and the group would stall.
    fail(absl::StrCat("node ", n.id, ": storage refuses batch ", b.seq, ": ", s.ToString()));
    return false;
  }
  if (b.install) {
    const SnapshotMeta& meta = b.install->meta;
    RAFT_CHECK(meta.index < committed_hashes_.size());  // Checked by on_install.
    n.durable_log.install(meta.index, meta.term, committed_hashes_[meta.index]);
  }
  n.durable_log.append(b.entries);
  if (b.compact_to > n.durable_log.base_index()) n.durable_log.compact(b.compact_to);
  return true;
}

void Cluster::complete_file(Node& n) {
  auto it = std::min_element(
      n.file_jobs.begin(), n.file_jobs.end(),
      [](const Node::FileJob& a, const Node::FileJob& b) { return a.due < b.due; });
  Node::FileJob job = std::move(*it);
  n.file_jobs.erase(it);
  trace(25, n.id, job.index);
  // The background thread's work: the view is written now, after the node
  // went on applying since it was made.
  std::string image = std::move(job.header);
  StringSnapshotWriter writer(&image);
  if (absl::Status s = job.view->write(writer); !s.ok()) {
    log_event(
        absl::StrCat("node ", n.id, " snapshot file @", job.index, " failed: ", s.ToString()));
    job.done(s);
    settle(n);
    return;
  }
  const SnapshotFileSummary summary{image.size(), checksum64(image)};
  n.disk.files[{job.index, job.term}] = std::move(image);
  ++result_.snapshots_made;
  log_event(absl::StrCat("node ", n.id, " snapshot file @", job.index, " durable"));
  job.done(summary);
  settle(n);
}

// ---------------------------------------------------------------------------
// Crashes and restarts
// ---------------------------------------------------------------------------

void Cluster::crash(NodeId id, std::optional<size_t> surviving_batches) {
  Node& n = node(id);
  if (!n.group) return;
  // Batches handed to the disk and not yet reported durable may or may not
  // have reached it: a random prefix of them survives (when the disk works);
  // the rest, the open batch and unfinished snapshot files are lost.
  size_t kept = now_ < n.disk_fails_until ? 0 : prng_.below(n.submitted.size() + 1);
  if (surviving_batches) kept = std::min(*surviving_batches, n.submitted.size());
  trace(9, id, n.submitted.size(), kept);
  log_event(absl::StrCat("CRASH node ", id, " (", n.submitted.size(), " batches in flight, ", kept,
                         " survive)"));
  n.group.reset();
  for (size_t i = 0; i < kept; ++i) {
    if (!make_durable(n, n.submitted[i])) return;
  }
  // The next one may be torn: the journal writes a large batch as several
  // records (storage::split_batch), and a prefix of them may survive: its
  // install and a prefix of its entries, without its states, save or
  // compaction (which go with the last record).
  if (kept < n.submitted.size() && !surviving_batches && now_ >= n.disk_fails_until &&
      prng_.below(4) == 0) {
    Batch torn;
    torn.install = n.submitted[kept].install;
    const std::vector<Entry>& all = n.submitted[kept].entries;
    torn.entries.assign(all.begin(),
                        all.begin() + static_cast<ptrdiff_t>(prng_.below(all.size() + 1)));
    log_event(absl::StrCat("node ", id, ": batch ", n.submitted[kept].seq, " torn, ",
                           torn.entries.size(), " of ", all.size(), " entries survive"));
    ++result_.torn_batches;
    if (!make_durable(n, torn)) return;
  }
  n.submitted.clear();
  n.open = Batch{};
  n.file_jobs.clear();
  n.log = n.durable_log;
  n.disk_fails_until = 0;
  ++result_.crashes;
}

void Cluster::restart(NodeId id) {
  Node& n = node(id);
  if (n.group) return;
  trace(10, id);
  open_group(n);
  if (!n.group) return;
  const RawNode& core = n.group->core();
  n.next_tick = now_ + 1 + prng_.below(kTickUnits);
  const Index durable_commit = n.disk.hard_state.commit;
  if (core.commit_index() < durable_commit) {
    fail(absl::StrCat("node ", id, " restarted with commit ", core.commit_index(),
                      " below its durable commit ", durable_commit));
    return;
  }
  if (core.term() != n.disk.hard_state.term) {
    fail(absl::StrCat("node ", id, " restarted in term ", core.term(), " but durable term is ",
                      n.disk.hard_state.term));
    return;
  }
  log_event(absl::StrCat("RESTART node ", id, " term ", core.term(), " commit ",
                         core.commit_index(), " last ", core.last_index(), " applied ",
                         n.group->applied()));
  settle(n);
}

void Cluster::corrupt_durable_entry(NodeId id, Index index) {
  Node& n = node(id);
  RAFT_CHECK_MSG(!n.group, "corrupt only a crashed node's disk");
  RAFT_CHECK(index > n.disk.compacted_index && index <= n.disk.last_index());
  Entry& e = n.disk.entries[index - n.disk.compacted_index - 1];
  e.data = Slice(std::string("corrupted"));
  std::vector<Entry> rest(
      n.disk.entries.begin() + static_cast<ptrdiff_t>(index - n.disk.compacted_index - 1),
      n.disk.entries.end());
  RAFT_CHECK(n.durable_log.append(rest));
  n.log = n.durable_log;
}

// ---------------------------------------------------------------------------
// Client operations, through the driver's API
// ---------------------------------------------------------------------------

absl::Status Cluster::propose(NodeId id, const std::string& data) {
  Node& n = node(id);
  if (!n.group) return absl::UnavailableError("down");
  // The driver answers a refusal at once; an accepted proposal later.
  struct Call {
    bool in_call = true;
    absl::Status immediate;
  };
  auto call = std::make_shared<Call>();
  const size_t conf_from = n.confs.size() - 1;
  n.group->propose(Slice(data), [this, id, data, call, conf_from](absl::StatusOr<ProposeResult> r) {
    if (call->in_call) call->immediate = r.status();
    trace(27, id, r.ok() ? r->index : 1000 + static_cast<uint64_t>(r.status().code()));
    if (r.ok()) {
      check_acknowledged(node(id), data, *r, conf_from);
    } else {
      log_event(absl::StrCat("proposal at ", id, ": ", r.status().ToString()));
    }
  });
  call->in_call = false;
  trace(11, id, call->immediate.ok());
  settle(n);
  return call->immediate;
}

int Cluster::applied_count(NodeId id, const std::string& data) const {
  const Node& n = node(id);
  auto it = n.markers.find(data);
  return it == n.markers.end() ? 0 : it->second;
}

std::optional<NodeId> Cluster::leader() const {
  std::optional<NodeId> best;
  Term best_term = 0;
  for (const auto& [id, n] : nodes_) {
    if (n->group && n->group->core().role() == Role::kLeader &&
        n->group->core().term() >= best_term) {
      best = id;
      best_term = n->group->core().term();
    }
  }
  return best;
}

}  // namespace raft::sim
