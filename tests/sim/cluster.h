// Cluster: the deterministic cluster simulator. N Raft cores (RawNode +
// MemoryLogStorage each) driven by an event loop over simulated time: ticks,
// message deliveries through a faulty SimNetwork, asynchronous persistence
// (each Ready becomes durable after a random delay, in order), crashes that
// lose everything not yet durable, restarts from the durable storage, random
// proposals, reads, leader transfers, compactions and membership changes.
// After every event it checks the safety invariants (see check_invariants);
// at the end it heals every fault and checks liveness. One seed determines
// everything: the same options give the same event trace (trace_hash).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/core/raw_node.h"
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
  bool compaction = true;
  bool verbose = false;  // Print every event.
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
  uint64_t reads_checked = 0;
  uint64_t liveness_ticks = 0;  // Ticks the healed cluster needed.
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
  // Heals the network and restarts every crashed node.
  void heal_all();
  // Waits for a leader and for one new entry to be applied on every member.
  bool check_liveness();

  SimNetwork& network() { return network_; }
  uint64_t now() const { return now_; }
  bool failed() const { return !result_.failure.empty(); }
  const std::string& failure() const { return result_.failure; }
  uint64_t trace_hash() const { return trace_hash_; }
  // Turns random faults and client operations on or off (default on).
  void set_chaos(bool on) { chaos_ = on; }
  // The leader with the highest term among running nodes, if any.
  std::optional<NodeId> leader() const;
  RawNode* raw(NodeId id);
  bool alive(NodeId id) const;
  void crash(NodeId id);
  void restart(NodeId id);
  // Proposes at `id`; the status of RawNode::propose.
  absl::Status propose(NodeId id, const std::string& data);
  // How many entries with this payload `id` has applied since it (re)started.
  int applied_count(NodeId id, const std::string& data) const;
  std::vector<NodeId> ids() const;
  // Test hook: a crashed node's disk silently changes the payload of the
  // durable entry at `index` (to show that the checks notice).
  void corrupt_durable_entry(NodeId id, Index index);

 private:
  struct PendingWrite {
    uint64_t due = 0;
    std::optional<Snapshot> snapshot;
    std::vector<Entry> entries;
    std::optional<HardState> hard_state;
    bool must_persist = false;  // Then on_persisted is due once it is durable.
    Index persist_index = 0;
    Term persist_term = 0;
    std::vector<Message> persisted_messages;
  };

  struct Node {
    NodeId id = kNoNode;
    std::unique_ptr<MemoryLogStorage> storage;  // Durable: survives crashes.
    std::unique_ptr<RawNode> raw;               // Null while crashed.
    ShadowLog durable_log;                      // Mirrors storage.
    ShadowLog log;                              // Mirrors the core's log.
    std::vector<PendingWrite> pending;          // In Ready order.
    uint64_t next_tick = 0;
    // Volatile state machine: the prefix hash of the applied entries.
    Index applied = 0;
    uint64_t applied_hash = 0;
    std::vector<std::pair<Index, ConfState>> conf_history;  // (applied index, membership)
    Index last_commit = 0;                        // Highest commit index observed since the start.
    HardState last_hard_state;                    // The last one a Ready handed out.
    std::map<std::string, int> applied_payloads;  // Liveness markers seen.
    std::map<std::string, Index> pending_reads;   // ctx -> global commit at request.
  };

  Node& node(NodeId id);
  const Node& node(NodeId id) const;
  Config node_config(NodeId id, Index applied);

  void fail(const std::string& what);
  void trace(uint64_t kind, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0);
  void trace_message(uint64_t kind, const Message& m);
  void log_event(const std::string& text) const;

  // Event handlers.
  void deliver(Delivery d);
  void complete_write(Node& n);
  void tick_node(Node& n);
  void chaos_action();

  // Drains the node's Readies: records writes, sends, applies.
  void drain(Node& n);
  void apply_entries(Node& n, const std::vector<Entry>& entries);
  void restore_snapshot(Node& n, const Snapshot& snapshot);
  void send_all(Node& n, std::vector<Message>& messages);
  void check_message_durability(const Node& n, const Message& m);

  // Invariants checked after every event.
  void check_invariants();

  // Random client operations and faults.
  void random_conf_change();
  void random_compaction();
  void random_partition();
  void random_network_faults();
  void random_read();

  SimOptions options_;
  Prng prng_;        // Chaos decisions.
  Prng core_seeds_;  // Seeds for the cores' own generators.
  Prng persist_prng_;
  SimNetwork network_;
  std::map<NodeId, Node> nodes_;
  ConfState initial_conf_;
  Config base_config_;
  uint64_t now_ = 0;
  uint64_t next_action_ = 0;
  bool chaos_ = true;
  uint64_t proposal_counter_ = 0;
  uint64_t read_counter_ = 0;
  uint64_t trace_hash_ = 0;
  uint32_t long_persist_per_mille_ = 0;
  bool bootstrap_snapshot_ = false;  // Members start from a snapshot at (1, 1).

  // Global knowledge for the invariants.
  std::map<Term, NodeId> leaders_;                           // Election safety.
  std::map<std::pair<Index, Term>, uint64_t> entry_hashes_;  // Log matching.
  std::vector<uint64_t> committed_hashes_;  // [i]: prefix hash of committed index i.
  std::vector<uint64_t> applied_hashes_;    // State machine safety.
  std::map<Term, Index> commit_by_term_;    // Leader completeness.
  std::set<Index> conf_change_indexes_;
  // report_snapshot calls to make once the current Ready is closed:
  // (leader, follower, ok).
  std::vector<std::tuple<NodeId, NodeId, bool>> deferred_reports_;

  SimResult result_;
};

// Runs one seed; never aborts on an invariant violation (the core's own
// RAFT_CHECKs still abort the process).
SimResult run_simulation(const SimOptions& options);

}  // namespace raft::sim
