// The pieces of a simulated node, private to the simulator: its batches
// and disk (storage's rules), the core's view of that disk, the ports the
// driver is given, and the state machine wrapper the checks go through.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "engine/node/node_liveness.h"
#include "tests/sim/cluster.h"
#include "tests/sim/sim_util.h"

namespace raft::sim {

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
    // The header and the state machine's view, written out when the job is
    // due (the background thread's work, while the node applies more).
    std::string header;
    std::unique_ptr<SnapshotView> view;
    absl::AnyInvocable<void(absl::StatusOr<SnapshotFileSummary>)> done;
  };
  std::vector<FileJob> file_jobs;  // Snapshot files being written.
  ShadowLog durable_log;           // Mirrors the disk.
  ShadowLog log;                   // Mirrors the core's log (what the driver wrote).
  uint64_t next_tick = 0;
  uint64_t disk_fails_until = 0;  // Writes fail before this time.
  // Which peers' nodes this node hears from (volatile), and its incarnation.
  std::unique_ptr<NodeLiveness> liveness;
  uint64_t incarnation = 0;
  Index last_commit = 0;      // Highest commit index observed since the start.
  HardState last_hard_state;  // The last one the driver handed out.
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
  // What the events (StateMachine::on_event) told this life of the node,
  // for the checks of event_checks.cc.
  struct EventView {
    Term leading = 0;         // kLeaderStart delivered, kLeaderStop not yet.
    Term last_started = 0;    // The newest term with a kLeaderStart.
    NodeId leader = kNoNode;  // As of the last kLeaderChanged.
    Term leader_term = 0;
    ConfState conf;   // As of the last membership or installed snapshot.
    Index index = 0;  // Of the last event tied to an index.
    Index snapshot_taken = 0;
  } events;
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
  bool peer_live(NodeId node) const override { return n_.liveness->live(node); }

  std::optional<StoredSnapshot> held(GroupId) const override { return n_.disk.snapshot; }
  absl::StatusOr<std::unique_ptr<SnapshotReader>> open(GroupId, const StoredSnapshot& s) override {
    auto it = n_.disk.files.find({s.meta.index, s.meta.term});
    if (it == n_.disk.files.end()) {
      return absl::NotFoundError(absl::StrCat("no snapshot file for index ", s.meta.index));
    }
    if (it->second.size() != s.file_bytes || checksum64(it->second) != s.file_checksum) {
      return absl::DataLossError("snapshot file does not match its record");
    }
    return std::unique_ptr<SnapshotReader>(new OwnedSnapshotReader(it->second, s.meta.index));
  }
  void write(GroupId, Index index, Term term, std::string header,
             std::unique_ptr<SnapshotView> view,
             absl::AnyInvocable<void(absl::StatusOr<SnapshotFileSummary>)> done) override {
    const uint64_t due = c_.now_ + c_.persist_prng_.range(1, 3 * kTickUnits);
    n_.file_jobs.push_back(
        Node::FileJob{due, index, term, std::move(header), std::move(view), std::move(done)});
  }
  void discard(GroupId, const StoredSnapshot& s) override {
    n_.disk.files.erase({s.meta.index, s.meta.term});
  }

 private:
  Cluster& c_;
  Node& n_;
};

// A view writing `prefix`, then an inner view.
class PrefixedView final : public SnapshotView {
 public:
  PrefixedView(std::string prefix, std::unique_ptr<SnapshotView> inner)
      : prefix_(std::move(prefix)), inner_(std::move(inner)) {}
  absl::Status write(SnapshotWriter& writer) override {
    if (absl::Status s = writer.write(prefix_); !s.ok()) return s;
    return inner_->write(writer);
  }

 private:
  std::string prefix_;
  std::unique_ptr<SnapshotView> inner_;
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
  // The checks' part of the state is copied into the view now; the inner
  // machine's view is written when the file job is due, after more applies.
  absl::StatusOr<std::unique_ptr<SnapshotView>> snapshot_view() override {
    std::string header;
    put_u64(&header, n_.fsm_applied);
    put_u64(&header, n_.fsm_hash);
    put_u64(&header, n_.markers.size());
    for (const auto& [marker, count] : n_.markers) {
      put_u64(&header, marker.size());
      header += marker;
      put_u64(&header, static_cast<uint64_t>(count));
    }
    absl::StatusOr<std::unique_ptr<SnapshotView>> inner = inner_->snapshot_view();
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<SnapshotView>(new PrefixedView(std::move(header), std::move(*inner)));
  }
  void on_event(const Event& event) override {
    c_.on_event(n_, event);
    inner_->on_event(event);
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
    StringSnapshotReader rest(in, reader.snapshot_index());
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

}  // namespace raft::sim
