// Cluster: event loop, the simulated ports of the production driver
// (raft::Group), faults and the safety/liveness checks of the deterministic
// simulator.
#include "tests/sim/cluster.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checksum.h"
#include "engine/core/conf_change.h"
#include "engine/node/peer_table.h"

namespace raft::sim {
namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
constexpr GroupId kSimGroup = 1;
constexpr int kElectionTicks = 10;

void put_u64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool get_u64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i)
    *v |= static_cast<uint64_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  in->remove_prefix(8);
  return true;
}

absl::StatusOr<std::string> read_all(SnapshotReader& reader) {
  std::string out;
  char buf[4096];
  for (;;) {
    absl::StatusOr<size_t> n = reader.read(std::span<char>(buf, sizeof buf));
    if (!n.ok()) return n.status();
    if (*n == 0) return out;
    out.append(buf, *n);
  }
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

// The simulator's own state machine: a counter of applied entries and a
// digest of their payloads. Results depend on the entry only.
class CounterMachine final : public StateMachine {
 public:
  std::string apply(uint64_t index, std::string_view data) override {
    ++count_;
    digest_ = mix_hash(digest_, checksum64(data));
    return absl::StrCat("r", index, ":", checksum64(data));
  }
  absl::StatusOr<std::string> query(std::string_view) const override {
    return absl::StrCat(count_);
  }
  absl::Status snapshot(SnapshotWriter& writer) override {
    std::string out;
    put_u64(&out, count_);
    put_u64(&out, digest_);
    return writer.write(out);
  }
  absl::Status restore(SnapshotReader& reader) override {
    absl::StatusOr<std::string> bytes = read_all(reader);
    if (!bytes.ok()) return bytes.status();
    std::string_view in = *bytes;
    if (!get_u64(&in, &count_) || !get_u64(&in, &digest_) || !in.empty()) {
      return absl::DataLossError("counter snapshot is malformed");
    }
    return absl::OkStatus();
  }

 private:
  uint64_t count_ = 0;
  uint64_t digest_ = kGenesisHash;
};

bool is_voter_majority(const std::vector<NodeId>& voters, const std::set<NodeId>& durable) {
  size_t n = 0;
  for (NodeId v : voters) n += durable.contains(v) ? 1 : 0;
  return n > voters.size() / 2;
}

}  // namespace

// ---------------------------------------------------------------------------
// The simulated disk, its batches, and the node
// ---------------------------------------------------------------------------

// What one batch writes for the group, in the order storage applies it
// (storage/write_batch.h): install, entries, hard state, save, compact.
struct Cluster::Batch {
  uint64_t seq = 0;
  uint64_t due = 0;
  bool urgent = false;  // Holds more than a commit-only hard state.
  std::optional<StoredSnapshot> install;
  std::vector<Entry> entries;
  std::optional<HardState> hard_state;
  std::optional<StoredSnapshot> save;
  Index compact_to = 0;

  bool empty() const {
    return !install && entries.empty() && !hard_state && !save && compact_to == 0;
  }
  // As storage::WriteBatch::append: a run replaces the batch's own suffix.
  void append(const std::vector<Entry>& run) {
    if (run.empty()) return;
    while (!entries.empty() && entries.back().index >= run.front().index) entries.pop_back();
    entries.insert(entries.end(), run.begin(), run.end());
  }
};

// What survives a crash. Batches are applied with the rules (and refusals)
// of storage/txn_apply.cc, all or nothing.
struct Cluster::Disk {
  Index compacted_index = 0;
  Term compacted_term = 0;
  std::vector<Entry> entries;  // entries[i].index == compacted_index + 1 + i
  HardState hard_state;
  std::optional<StoredSnapshot> snapshot;               // The held one.
  std::map<std::pair<Index, Term>, std::string> files;  // Snapshot images.

  Index first_index() const { return compacted_index + 1; }
  Index last_index() const { return compacted_index + entries.size(); }
  std::optional<Term> term(Index i) const {
    if (i == compacted_index) return compacted_term;
    if (i < compacted_index || i > last_index()) return std::nullopt;
    return entries[i - compacted_index - 1].term;
  }
  // Whether the entry (index, term) is durable here (or covered by the
  // compacted prefix, which holds only committed entries).
  bool holds(Index index, Term term_of) const {
    if (index <= compacted_index) return true;
    std::optional<Term> t = term(index);
    return t && *t == term_of;
  }

  absl::Status apply(const Batch& b) {
    Disk d = *this;
    if (b.install) {
      const SnapshotMeta& meta = b.install->meta;
      if (meta.index <= d.compacted_index) {
        return absl::FailedPreconditionError(absl::StrCat("snapshot at index ", meta.index,
                                                          " is out of date (log compacted through ",
                                                          d.compacted_index, ")"));
      }
      d.entries.clear();
      d.compacted_index = meta.index;
      d.compacted_term = meta.term;
      d.hard_state.commit = std::max(d.hard_state.commit, meta.index);
      d.snapshot = *b.install;
    }
    size_t from = 0;
    while (from < b.entries.size() && b.entries[from].index <= d.compacted_index) ++from;
    if (from < b.entries.size()) {
      const Index start = b.entries[from].index;
      if (start > d.last_index() + 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("entries from ", start, " leave a gap after ", d.last_index()));
      }
      d.entries.resize(start - d.compacted_index - 1);
      for (size_t i = from; i < b.entries.size(); ++i) {
        const Entry& e = b.entries[i];
        if (e.index != d.last_index() + 1) return absl::InvalidArgumentError("not contiguous");
        const Term prev = d.term(e.index - 1).value_or(0);
        if (e.term < prev) return absl::InvalidArgumentError("decreasing term");
        d.entries.push_back(e);
      }
    }
    if (b.hard_state) d.hard_state = *b.hard_state;
    if (b.save) {
      const SnapshotMeta& meta = b.save->meta;
      std::optional<Term> t = d.term(meta.index);
      if (!t || *t != meta.term) {
        return absl::InvalidArgumentError(absl::StrCat("snapshot (index ", meta.index, ", term ",
                                                       meta.term, ") does not match the log (",
                                                       d.first_index(), "..", d.last_index(), ")"));
      }
      if (d.snapshot && meta.index < d.snapshot->meta.index) {
        return absl::FailedPreconditionError(absl::StrCat("snapshot at index ", meta.index,
                                                          " is older than the saved one at ",
                                                          d.snapshot->meta.index));
      }
      d.snapshot = *b.save;
    }
    if (b.compact_to > d.compacted_index) {
      if (b.compact_to > d.last_index()) {
        return absl::InvalidArgumentError(
            absl::StrCat("compact(", b.compact_to, ") is beyond last index ", d.last_index()));
      }
      const Term t = *d.term(b.compact_to);
      d.entries.erase(d.entries.begin(),
                      d.entries.begin() + static_cast<ptrdiff_t>(b.compact_to - d.compacted_index));
      d.compacted_index = b.compact_to;
      d.compacted_term = t;
    }
    *this = std::move(d);
    return absl::OkStatus();
  }
};

// The core's view of a simulated disk, as LmdbLogStorage is of LMDB: the
// membership it starts from is the one given at open (the held snapshot's).
class Cluster::Log final : public GroupLog {
 public:
  Log(const Disk* disk, ConfState initial) : disk_(disk), initial_(std::move(initial)) {}

  absl::StatusOr<InitialState> initial_state() const override {
    return InitialState{disk_->hard_state, initial_};
  }
  absl::StatusOr<std::vector<Entry>> entries(Index lo, Index hi,
                                             uint64_t max_bytes) const override {
    if (lo < disk_->first_index()) return compacted_error();
    if (hi > disk_->last_index() + 1) return unavailable_error();
    std::vector<Entry> out;
    uint64_t bytes = 0;
    for (Index i = lo; i < hi; ++i) {
      const Entry& e = disk_->entries[i - disk_->compacted_index - 1];
      bytes += e.data.size();
      if (!out.empty() && bytes > max_bytes) break;
      out.push_back(e);
    }
    return out;
  }
  absl::StatusOr<Term> term(Index i) const override {
    if (i < disk_->compacted_index) return compacted_error();
    if (i > disk_->last_index()) return unavailable_error();
    return *disk_->term(i);
  }
  Index first_index() const override { return disk_->first_index(); }
  Index last_index() const override { return disk_->last_index(); }
  absl::StatusOr<Snapshot> snapshot() const override {
    if (!disk_->snapshot) return Snapshot{};
    return Snapshot{disk_->snapshot->meta, Slice()};
  }

 private:
  const Disk* disk_;
  ConfState initial_;
};

struct Cluster::Node {
  NodeId id = kNoNode;
  Disk disk;                     // Durable: survives crashes.
  std::unique_ptr<Host> host;    // The ports; outlives the group.
  std::unique_ptr<Group> group;  // The production driver; null while crashed.
  Batch open;                    // Being filled in this turn.
  std::deque<Batch> submitted;   // Not yet reported durable, in order.
  struct FileJob {
    uint64_t due = 0;
    Index index = 0;
    Term term = 0;
    std::string image;
    absl::AnyInvocable<void(absl::Status)> done;
  };
  std::vector<FileJob> file_jobs;  // Snapshot files being written.
  ShadowLog durable_log;           // Mirrors the disk.
  ShadowLog log;                   // Mirrors the core's log (what the driver wrote).
  uint64_t next_tick = 0;
  uint64_t disk_fails_until = 0;  // Writes fail before this time.
  Index last_commit = 0;          // Highest commit index observed since the start.
  HardState last_hard_state;      // The last one the driver handed out.
  // The state machine as the checks see it (volatile: reset at a crash).
  Index fsm_applied = 0;
  uint64_t fsm_hash = kGenesisHash;
  std::map<std::string, int> markers;  // "live" payloads applied.
  // (payload checksum, result checksum) of recent entries applied in this
  // life, for the proposers' checks.
  std::map<Index, std::pair<uint64_t, uint64_t>> results;
  bool query_served = false;  // Set by the state machine's query().
  Index query_applied = 0;
  // The memberships the core has had since it started, as of the end of
  // each event (a commit is computed with the membership in effect when the
  // event began), for the quorum check of acknowledged proposals.
  std::vector<ConfState> confs;
};

// The ports of one node's driver (engine/node/ports.h) over the simulated
// disk, network and files.
class Cluster::Host final : public LogWriter, public Outbox, public SnapshotStore {
 public:
  Host(Cluster& c, Node& n) : c_(c), n_(n) {}
  GroupPorts ports() { return GroupPorts{this, this, this}; }

  std::unique_ptr<GroupLog> open_log(GroupId, const ConfState& initial) override {
    return std::make_unique<Log>(&n_.disk, initial);
  }
  absl::Status bootstrap(GroupId, const std::vector<Entry>& entries, const HardState& hs) override {
    Batch b;
    b.entries = entries;
    b.hard_state = hs;
    if (absl::Status s = n_.disk.apply(b); !s.ok()) return s;
    n_.durable_log.append(entries);
    n_.log = n_.durable_log;
    return absl::OkStatus();
  }
  uint64_t open_seq() const override { return n_.open.seq; }
  void append(GroupId, const std::vector<Entry>& entries) override {
    c_.on_append(n_, entries);
    n_.open.append(entries);
    n_.open.urgent = true;
  }
  void set_hard_state(GroupId, const HardState& hs) override {
    c_.on_hard_state(n_, hs);
    n_.open.hard_state = hs;
    n_.open.urgent = true;
  }
  void set_lazy_hard_state(GroupId, const HardState& hs) override {
    c_.on_hard_state(n_, hs);
    n_.open.hard_state = hs;
  }
  void install_snapshot(GroupId, const StoredSnapshot& snapshot) override {
    c_.on_install(n_, snapshot);
    n_.open.install = snapshot;
    n_.open.save.reset();  // Older than this one (see LogWriter::install_snapshot).
    n_.open.urgent = true;
  }
  void save_snapshot(GroupId, const StoredSnapshot& snapshot, Index compact_to) override {
    n_.open.save = snapshot;
    n_.open.compact_to = std::max(n_.open.compact_to, compact_to);
    n_.open.urgent = true;
  }

  void send(const Message& m) override { c_.on_send(n_, m); }
  void send_snapshot(const Message& m, const StoredSnapshot& snapshot) override {
    c_.on_send_snapshot(n_, m, snapshot);
  }
  void peer_address(NodeId, const std::string&) override {}

  std::optional<StoredSnapshot> held(GroupId) const override { return n_.disk.snapshot; }
  absl::StatusOr<std::string> read(GroupId, const StoredSnapshot& s) override {
    auto it = n_.disk.files.find({s.meta.index, s.meta.term});
    if (it == n_.disk.files.end()) {
      return absl::NotFoundError(absl::StrCat("no snapshot file for index ", s.meta.index));
    }
    if (it->second.size() != s.file_bytes || checksum64(it->second) != s.file_checksum) {
      return absl::DataLossError("snapshot file does not match its record");
    }
    return it->second;
  }
  void write(GroupId, Index index, Term term, std::string image,
             absl::AnyInvocable<void(absl::Status)> done) override {
    const uint64_t due = c_.now_ + c_.persist_prng_.range(1, 3 * kTickUnits);
    n_.file_jobs.push_back(Node::FileJob{due, index, term, std::move(image), std::move(done)});
  }
  void discard(GroupId, const StoredSnapshot& s) override {
    n_.disk.files.erase({s.meta.index, s.meta.term});
  }

 private:
  Cluster& c_;
  Node& n_;
};

// Wraps the state machine a node runs: every apply, snapshot, restore and
// query goes through the checks (Cluster::on_applied, on_restored). Its
// snapshot is (applied index, applied hash, markers) followed by the inner
// machine's bytes.
class Cluster::CheckedStateMachine final : public StateMachine {
 public:
  CheckedStateMachine(Cluster& c, Node& n, std::unique_ptr<StateMachine> inner)
      : c_(c), n_(n), inner_(std::move(inner)) {}

  std::string apply(uint64_t index, std::string_view data) override {
    std::vector<std::string> results;
    const ApplyItem item{index, data};
    apply_batch(std::span<const ApplyItem>(&item, 1), &results);
    return std::move(results[0]);
  }
  void apply_batch(std::span<const ApplyItem> items, std::vector<std::string>* results) override {
    inner_->apply_batch(items, results);
    RAFT_CHECK(results->size() == items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      c_.on_applied(n_, items[i].index, std::string(items[i].data), (*results)[i]);
    }
  }
  absl::StatusOr<std::string> query(std::string_view request) const override {
    n_.query_served = true;
    n_.query_applied = n_.fsm_applied;
    return inner_->query(request);
  }
  absl::Status snapshot(SnapshotWriter& writer) override {
    std::string header;
    put_u64(&header, n_.fsm_applied);
    put_u64(&header, n_.fsm_hash);
    put_u64(&header, n_.markers.size());
    for (const auto& [marker, count] : n_.markers) {
      put_u64(&header, marker.size());
      header += marker;
      put_u64(&header, static_cast<uint64_t>(count));
    }
    if (absl::Status s = writer.write(header); !s.ok()) return s;
    return inner_->snapshot(writer);
  }
  absl::Status restore(SnapshotReader& reader) override {
    absl::StatusOr<std::string> bytes = read_all(reader);
    if (!bytes.ok()) return bytes.status();
    std::string_view in = *bytes;
    uint64_t applied = 0, hash = 0, markers = 0;
    if (!get_u64(&in, &applied) || !get_u64(&in, &hash) || !get_u64(&in, &markers)) {
      return absl::DataLossError("simulator snapshot header is malformed");
    }
    std::map<std::string, int> restored;
    for (uint64_t i = 0; i < markers; ++i) {
      uint64_t len = 0, count = 0;
      if (!get_u64(&in, &len) || in.size() < len) return absl::DataLossError("bad marker");
      std::string marker(in.substr(0, len));
      in.remove_prefix(len);
      if (!get_u64(&in, &count)) return absl::DataLossError("bad marker count");
      restored[marker] = static_cast<int>(count);
    }
    StringSnapshotReader rest(in);
    if (absl::Status s = inner_->restore(rest); !s.ok()) return s;
    n_.markers = std::move(restored);
    c_.on_restored(n_, applied, hash);
    return absl::OkStatus();
  }

 private:
  Cluster& c_;
  Node& n_;
  std::unique_ptr<StateMachine> inner_;
};

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
  const uint64_t sizes[] = {0, 16, 256, 1 << 20};
  config_.max_size_per_msg_bytes = sizes[prng_.below(4)];
  const uint32_t inflight[] = {1, 2, 8, 256};
  config_.max_inflight_msgs = inflight[prng_.below(4)];
  config_.max_uncommitted_bytes = prng_.chance(250) ? 2048 : 0;
  config_.read_mode = ReadMode::kReadIndex;
  config_.tick_interval_ms = 100;
  config_.request_timeout_ms = 100 * 6 * kElectionTicks;
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

void Cluster::deliver(Delivery d) {
  const Message& m = d.message;
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
  n.group->tick();
  settle(n, /*tick=*/true);
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
  if (absl::Status s = n.disk.apply(done); !s.ok()) {
    // The shard would retry this batch forever, and the group would stall.
    fail(absl::StrCat("node ", n.id, ": storage refuses batch ", done.seq, ": ", s.ToString()));
    return;
  }
  if (done.install) {
    const SnapshotMeta& meta = done.install->meta;
    RAFT_CHECK(meta.index < committed_hashes_.size());  // Checked by on_install.
    n.durable_log.install(meta.index, meta.term, committed_hashes_[meta.index]);
  }
  n.durable_log.append(done.entries);
  if (done.compact_to > n.durable_log.base_index()) n.durable_log.compact(done.compact_to);
  n.group->on_durable(done.seq);
  settle(n);
}

void Cluster::complete_file(Node& n) {
  auto it = std::min_element(
      n.file_jobs.begin(), n.file_jobs.end(),
      [](const Node::FileJob& a, const Node::FileJob& b) { return a.due < b.due; });
  Node::FileJob job = std::move(*it);
  n.file_jobs.erase(it);
  trace(25, n.id, job.index);
  n.disk.files[{job.index, job.term}] = std::move(job.image);
  ++result_.snapshots_made;
  log_event(absl::StrCat("node ", n.id, " snapshot file @", job.index, " durable"));
  job.done(absl::OkStatus());
  settle(n);
}

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
                                 size_t conf_from) {
  auto it = n.results.find(r.index);
  if (it == n.results.end() || it->second.first != checksum64(data)) {
    fail(absl::StrCat("node ", n.id, " answered a proposal with the result of index ", r.index,
                      ", which is not the entry it proposed"));
    return;
  }
  if (it->second.second != checksum64(r.result)) {
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
    const Batch& b = n.submitted[i];
    if (absl::Status s = n.disk.apply(b); !s.ok()) {
      fail(absl::StrCat("node ", n.id, ": storage refuses batch ", b.seq, ": ", s.ToString()));
      return;
    }
    if (b.install) {
      n.durable_log.install(b.install->meta.index, b.install->meta.term,
                            committed_hashes_[b.install->meta.index]);
    }
    n.durable_log.append(b.entries);
    if (b.compact_to > n.durable_log.base_index()) n.durable_log.compact(b.compact_to);
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
  cc.context = encode_peer_addresses(added);
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
  Node& n = node(up[prng_.below(up.size())]);
  const uint64_t ticks = prng_.range(2, 4 * kElectionTicks);
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
