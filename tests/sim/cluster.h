// Cluster: the deterministic cluster simulator. N nodes, each running the
// production driver of one Raft group (raft::Group, engine/node/group.h)
// with the user's state machine, on simulated ports: a disk whose batches
// become durable after random delays, in order, and may fail; snapshot files
// written after a delay; a faulty SimNetwork. Crashes lose every write not
// yet reported durable except a random prefix of those already submitted
// (they may have reached the platter before the power went), and the
// volatile state machine. Restarts reopen the group from the simulated disk
// exactly as a node reopens its data dir. Random proposals, reads, leader
// transfers, campaigns, snapshots and membership changes (joint ones too)
// come in through the driver's own API.
//
// After every event it checks the Raft invariants (election safety, log
// matching, leader completeness, commit monotonicity, durability before
// messages) and the driver's (nothing acknowledged to a proposer before it
// is durable on a quorum; every proposer gets the result of its own entry;
// no entry applied twice; every replica applies the same entries and gets
// the same results; reads see everything applied anywhere before they
// began; storage never refuses a batch). At the end it heals every fault
// and checks liveness. One seed determines everything: the same options
// give the same event trace (trace_hash).
//
// Embedders: set SimOptions::state_machine to run the simulator over your
// own StateMachine (see README.md in this directory).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/node/config.h"
#include "engine/node/group.h"
#include "engine/node/state_machine.h"
#include "tests/sim/network.h"
#include "tests/sim/prng.h"
#include "tests/sim/shadow_log.h"

namespace raft::sim {

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;             // Initial voters, ids 1..nodes.
  int spare_nodes = 2;       // Further ids that membership changes may add.
  int steps = 2000;          // Events in the fault phase.
  int liveness_ticks = 400;  // Bound for the healed cluster to make progress.
  bool membership = true;
  bool crashes = true;
  bool compaction = true;     // Snapshots (manual and automatic) and log compaction.
  bool disk_failures = true;  // Periods in which a node's writes fail.
  // The core's CheckQuorum; unset: chosen by the seed.
  std::optional<bool> check_quorum;
  // Quiescence of the idle group (NodeConfig::quiesce_ticks, with the
  // driver's node-level liveness fed by beats over the simulated network);
  // unset: chosen by the seed. With it, the healed cluster must also
  // quiesce, and then commit a proposal again (the wake-up).
  std::optional<bool> quiescence;
  bool verbose = false;  // Print every event.

  // The state machine each node runs (a fresh one at every start). Null:
  // the simulator's own (a counter). Every replica must produce the same
  // results from the same entries: the simulator reports a replica that
  // does not as a failure.
  std::function<std::unique_ptr<StateMachine>()> state_machine;
  // The payload of the n-th proposal (n from 1). Null: random bytes.
  std::function<std::string(uint64_t n, Prng& prng)> proposal;
  // The query of the n-th linearizable read. Null: empty.
  std::function<std::string(uint64_t n)> query;
  // Proposals come from simulated clients in client sessions (exactly-once,
  // engine/node/session_table.h): each client opens a session and retries
  // a proposal whose outcome is unknown with the same sequence number, at
  // any node. Checked: no (session, sequence) is applied twice, and each
  // answer is the result of that proposal's one application.
  bool sessions = false;
};

struct SimResult {
  bool ok = true;
  std::string failure;  // The first violated invariant, with context.
  uint64_t trace_hash = 0;
  uint64_t events = 0;
  uint64_t ticks = 0;
  Term max_term = 0;
  Index max_commit = 0;
  uint64_t leaders = 0;  // Distinct (term, leader) pairs seen.
  uint64_t crashes = 0;
  uint64_t conf_changes = 0;  // Applied on some node (first time per index).
  uint64_t snapshots_installed = 0;
  uint64_t snapshots_made = 0;
  uint64_t reads_checked = 0;
  uint64_t proposals_acked = 0;     // Proposals answered with their result.
  uint64_t session_retries = 0;     // Session proposals sent again after no answer.
  uint64_t session_duplicates = 0;  // Answered from the session table (applied before).
  uint64_t write_failures = 0;      // Batches that failed and were retried.
  uint64_t torn_batches = 0;        // Crashes that kept a prefix of a batch.
  uint64_t liveness_ticks = 0;      // Ticks the healed cluster needed.
  bool quiescence = false;          // Whether the run had it on.
  uint64_t quiesce_messages = 0;    // kQuiesce messages sent.
  uint64_t quiesce_ticks = 0;       // Ticks the healed, idle cluster needed to quiesce.
  // Events delivered to the state machines (StateMachine::on_event).
  uint64_t leader_starts = 0;
  uint64_t leader_stops = 0;
  uint64_t leader_changes = 0;
  uint64_t membership_events = 0;
  uint64_t snapshot_taken_events = 0;
  uint64_t snapshot_installed_events = 0;
  SimNetwork::Stats network;
};

// Thrown-free failure channel: the first violation is recorded and the run
// stops at the end of the current event.
class Cluster {
 public:
  explicit Cluster(const SimOptions& options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Runs the fault phase for options.steps events, then heals and checks
  // liveness.
  SimResult run();

  // Building blocks (also used by the simulator's own tests).
  // Processes the next event (the earliest in simulated time); returns false
  // if the run already failed.
  bool step_event();
  // Processes events until `ticks` ticks have passed (no new faults).
  void run_ticks(uint64_t ticks);
  // Heals the network and the disks and restarts every crashed node.
  void heal_all();
  // Waits for a leader and for one new entry to be applied on every member.
  bool check_liveness();
  // With quiescence: waits for every member of the healed, idle cluster to
  // quiesce.
  bool check_quiesces();

  SimNetwork& network() { return network_; }
  uint64_t now() const { return now_; }
  bool failed() const { return !result_.failure.empty(); }
  const std::string& failure() const { return result_.failure; }
  uint64_t trace_hash() const { return trace_hash_; }
  // Turns random faults and client operations on or off (default on).
  void set_chaos(bool on) { chaos_ = on; }
  // The leader with the highest term among running nodes, if any.
  std::optional<NodeId> leader() const;
  // The core of a running node (null while crashed), read-only.
  const RawNode* raw(NodeId id) const;
  bool alive(NodeId id) const;
  // Crashes a node. Of the batches it handed to its disk and that were not
  // reported durable, a random prefix survives (or the first
  // `surviving_batches`).
  void crash(NodeId id, std::optional<size_t> surviving_batches = std::nullopt);
  void restart(NodeId id);
  // The node's writes fail (and are retried) for the next `ticks` ticks.
  void fail_disk(NodeId id, uint64_t ticks);
  // Proposes at `id` through the driver. OK if the driver took it (its
  // answer is checked when it comes); else the driver's immediate refusal.
  absl::Status propose(NodeId id, const std::string& data);
  // How many entries with this payload (a "live" marker) `id` has applied.
  int applied_count(NodeId id, const std::string& data) const;
  std::vector<NodeId> ids() const;
  // Test hook: a crashed node's disk silently changes the payload of the
  // durable entry at `index` (to show that the checks notice).
  void corrupt_durable_entry(NodeId id, Index index);

 private:
  class Host;
  class Log;
  class CheckedStateMachine;
  struct Disk;
  struct Batch;
  struct Node;

  Node& node(NodeId id);
  const Node& node(NodeId id) const;
  NodeConfig node_config() const;
  void open_group(Node& n);

  void fail(const std::string& what);
  void trace(uint64_t kind, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0);
  void trace_message(uint64_t kind, const Message& m);
  void log_event(const std::string& text) const;

  // Event handlers.
  void deliver(Delivery d);
  void complete_batch(Node& n);
  void complete_file(Node& n);
  // Applies a batch to the node's disk and its durable shadow log; false
  // (and the run fails) if storage refuses it.
  bool make_durable(Node& n, const Batch& b);
  void tick_node(Node& n);
  // Node-level liveness: a beat from `from` (or any message) reached `to`.
  void heard(Node& to, NodeId from, uint64_t incarnation);
  void chaos_action();
  // After an input to a node: the driver's process(), then the end of the
  // turn (the open batch is submitted if it must be, or at a tick anyway).
  void settle(Node& n, bool tick = false);

  // Called by the ports and the checked state machine.
  void on_append(Node& n, const std::vector<Entry>& entries);
  void on_hard_state(Node& n, const HardState& hs);
  void on_install(Node& n, const StoredSnapshot& snapshot);
  void on_send(Node& n, Message m);
  void on_send_snapshot(Node& n, const Message& m, const StoredSnapshot& snapshot);
  void on_applied(Node& n, Index index, const std::string& data, const std::string& result);
  void on_restored(Node& n, Index index, uint64_t hash);
  // Events (event_checks.cc): each one as it is delivered, and what the
  // node's events add up to after every simulator event.
  void on_event(Node& n, const Event& e);
  void check_events(const Node& n);
  void check_message_durability(const Node& n, const Message& m);
  // `own_entry`: the answer's index must hold this very payload (a plain
  // proposal); a session proposal's duplicate is answered at its own index
  // with the result of the first application instead (sessions.cc).
  void check_acknowledged(Node& n, const std::string& data, const ProposeResult& r,
                          size_t conf_from, bool own_entry = true);
  // Sessions (sessions.cc).
  void random_session_propose(NodeId at, int count);
  void propose_in_session(NodeId at, size_t client, uint64_t sequence);
  void on_session_applied(Node& n, Index index, const std::string& data, uint64_t result_sum);

  // Invariants checked after every event.
  void check_invariants();

  // Random client operations and faults.
  void random_propose(bool burst);
  void random_conf_change();
  void random_snapshot();
  void random_partition();
  void random_network_faults();
  void random_disk_failure();
  void random_read();

  SimOptions options_;
  Prng prng_;        // Chaos decisions.
  Prng core_seeds_;  // Seeds for the cores' own generators.
  Prng persist_prng_;
  Prng payloads_;  // For SimOptions::proposal.
  SimNetwork network_;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;
  std::vector<PeerConfig> bootstrap_;
  NodeConfig config_;
  uint64_t now_ = 0;
  uint64_t next_action_ = 0;
  bool chaos_ = true;
  uint64_t proposal_counter_ = 0;
  uint64_t read_counter_ = 0;
  uint64_t trace_hash_ = 0;
  uint32_t long_persist_per_mille_ = 0;

  // Global knowledge for the invariants.
  std::map<Term, NodeId> leaders_;                           // Election safety.
  std::map<std::pair<Index, Term>, uint64_t> entry_hashes_;  // Log matching.
  std::vector<uint64_t> committed_hashes_;  // [i]: prefix hash of committed index i.
  std::map<Term, Index> commit_by_term_;    // Leader completeness.
  std::set<Index> conf_change_indexes_;
  // State machine safety, over what the state machines see (normal
  // entries): per index, the payload's checksum, the result's checksum and
  // the applied-prefix hash.
  struct Applied {
    uint64_t data = 0;
    uint64_t result = 0;
    uint64_t prefix = 0;
  };
  std::map<Index, Applied> applied_;
  Index max_applied_ = 0;  // Highest index any state machine applied.
  // Snapshot reports to make once the current event is done: (leader,
  // follower, ok).
  std::vector<std::tuple<NodeId, NodeId, bool>> deferred_reports_;

  // Simulated clients (SimOptions::sessions): their session, next sequence
  // number and the proposals not answered yet (sequence -> payload).
  struct SimClient {
    uint64_t session = 0;
    bool opening = false;
    uint64_t next_sequence = 1;
    std::map<uint64_t, std::string> pending;
  };
  std::vector<SimClient> clients_;
  // Per session payload tag: the index of its one application and the
  // result's checksum.
  std::map<std::string, std::pair<Index, uint64_t>> session_applied_;

  SimResult result_;
};

// Runs one seed; never aborts on an invariant violation (the core's own
// RAFT_CHECKs still abort the process).
SimResult run_simulation(const SimOptions& options);

}  // namespace raft::sim
