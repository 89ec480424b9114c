// Group: the driver of one Raft group. It turns the core's Ready (RawNode)
// into writes, sends and applies, completes the proposals, reads and
// transfers made through it, and makes and installs snapshots. It depends
// only on the core, the user's StateMachine and the ports it is given
// (ports.h): the shard runtime gives it LMDB, the peer transport and
// snapshot files, the simulator (tests/sim) simulated disks and network.
//
// Everything here runs on the owning thread. The owner feeds the group
// ticks, messages and requests, calls process() at the end of a loop turn,
// and calls on_durable() when a batch the group wrote to is durable. The
// group never blocks on a snapshot it makes: it takes the state machine's
// point-in-time view inline and the snapshot store writes the bytes off the
// thread. Restoring (at open, or installing one from the leader) streams the
// image through the state machine inline.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/slice_arena.h"
#include "engine/core/raw_node.h"
#include "engine/node/api_types.h"
#include "engine/node/config.h"
#include "engine/node/group_events.h"
#include "engine/node/peer_table.h"
#include "engine/node/ports.h"
#include "engine/node/session_table.h"
#include "engine/node/state_machine.h"
#include "protocol/records/session_command.h"

namespace raft {

struct GroupOptions {
  NodeId self = kNoNode;
  GroupId group = 0;
  const NodeConfig* config = nullptr;  // Outlives the group.
  // Seed of the core's election-timeout generator; 0 derives one from
  // (self, group). The simulator draws it per run.
  uint64_t seed = 0;
  // Differs between two runs of the same node (the shard draws it when the
  // process starts). Read contexts are (self, incarnation, counter), so reads
  // from different nodes, or from one node before and after a restart, never
  // share a context on the leader.
  uint64_t incarnation = 0;
  // The leader's clock for the timestamps session commands carry (sessions
  // expire by them); null: the system clock. The simulator gives its own.
  std::function<uint64_t()> wall_clock_ms;
};

// A group's vital numbers, written by its shard thread after each
// process() and readable from any thread (metrics, without a shard hop).
struct GroupGauges {
  std::atomic<uint64_t> term{0};
  std::atomic<uint64_t> commit{0};
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> last_index{0};
  std::atomic<uint64_t> leader{0};
  std::atomic<bool> is_leader{false};
  std::atomic<uint64_t> applied_entries{0};  // Counter: entries given to the state machine.
  // Counter: entries not given to the state machine after a restart because
  // it had persisted them itself (StateMachine::applied_index).
  std::atomic<uint64_t> skipped_entries{0};
  // Counter: hand-offs started because this leader's writes kept failing
  // or its group is halted (Group::halted).
  std::atomic<uint64_t> leader_hand_offs{0};
  // Counters: session proposals answered from the session table without
  // applying them again, and sessions expired.
  std::atomic<uint64_t> session_duplicates{0};
  std::atomic<uint64_t> sessions_expired{0};
  // The state machine refused an entry (StateMachine::apply_batch_checked):
  // the group applies nothing more on this node.
  std::atomic<bool> halted{false};
};

class Group {
 public:
  // Opens the group from the shard's env: restores the state machine from the
  // newest snapshot (if any), then lets the core re-deliver the entries after
  // it. `bootstrap` (a static peer list) is written only if the group has no
  // durable state yet.
  static absl::StatusOr<std::unique_ptr<Group>> open(const GroupOptions& options,
                                                     const GroupPorts& ports,
                                                     std::unique_ptr<StateMachine> fsm,
                                                     const std::vector<PeerConfig>& bootstrap);
  // What open() would write first for `group` with the static peer list
  // `bootstrap`: its writes if the group has no durable state yet, nullopt
  // if it has one (or the list is empty). The shard writes those of all its
  // fresh groups together (LogWriter::bootstrap_groups) before opening them.
  static absl::StatusOr<std::optional<GroupBootstrap>> bootstrap_write(
      GroupId group, const GroupPorts& ports, const std::vector<PeerConfig>& bootstrap);
  ~Group();
  // What the destructor tells the requests still waiting (default: the
  // group is shutting down). Set when the group is removed from the node.
  void set_close_reason(std::string reason) { close_reason_ = std::move(reason); }

  // ---- Inputs from the shard.
  void tick();
  void step(Message m);
  // A received snapshot is complete and durable in the SnapshotStore:
  // install it (or discard it, if the core does not take it).
  void snapshot_received(const Message& announce, const StoredSnapshot& received);
  // Whether a snapshot at `index` is worth receiving: the core ignores one
  // its commit index already covers, and the file of such a duplicate would
  // be written under the name of the snapshot this group already holds.
  bool wants_snapshot(Index index) const { return index > raw_->commit_index(); }
  void snapshot_sent(NodeId to, bool ok);
  void peer_unreachable(NodeId peer);
  // Node-level liveness (NodeLiveness, seen by the shard for all its
  // groups). A quiesced follower whose leader's node fell silent, or
  // restarted, wakes to elect another; a quiesced leader wakes when a
  // member's node falls silent (check-quorum may step it down) or comes
  // back (to catch it up). True if the group woke.
  bool on_peer_silent(NodeId peer);
  bool on_peer_returned(NodeId peer, bool restarted);
  // Voter, learner or outgoing voter of the current configuration.
  bool has_member(NodeId peer) const;
  // Quiesced (the core's timers stopped) with no request, write or snapshot
  // pending: the shard need not tick it.
  bool quiesced() const;

  // ---- Requests (shard thread). Callbacks run on the shard thread.
  void propose(Slice data, ProposeCallback done);
  void read(std::string query, ReadConsistency consistency, ReadCallback done);
  void change_membership(std::vector<MemberChange> changes, ConfCallback done);
  // Proposes a conf change as the core takes it (joint transitions, leaving
  // a joint configuration). The addresses of added nodes go in cc.context
  // (protocol::encode_peer_addresses). Leader only; change_membership builds on it.
  void propose_conf_change(ConfChange cc, ConfCallback done);
  // Starts an election now (RawNode::campaign).
  absl::Status campaign();
  void transfer_leader(NodeId target, DoneCallback done);
  void make_snapshot(IndexCallback done);
  // Proposes an AddLearner for a fresh id (one above every id this group has
  // ever seen), so the id is reserved through the log. Leader only.
  void reserve_id(const std::string& address,
                  absl::AnyInvocable<void(absl::StatusOr<NodeId>)> done);
  // Promotes learner `node` to voter once it has caught up: its match within
  // NodeConfig::promote_max_lag of the last index, in the replicate state
  // and recently active, without a break for an election timeout
  // (group_promotion.cc). Until then refused (Unavailable, naming the lag).
  // Leader only; a node that is already a voter answers at once.
  void promote_learner(NodeId node, ConfCallback done);

  // ---- Sessions: exactly-once proposals (session_table.h, group_sessions.cc).
  // Opens a session; the result's index is the session's id.
  void open_session(ProposeCallback done);
  void close_session(uint64_t session, ProposeCallback done);
  // Proposes `data` as sequence `sequence` of `session`, every sequence below
  // `floor` answered. Applied once however often it is proposed: a duplicate
  // gets the result the first one got.
  void propose_in_session(uint64_t session, uint64_t sequence, uint64_t floor, Slice data,
                          ProposeCallback done);
  const SessionTable& sessions() const { return sessions_; }

  // ---- Loop work.
  // Turns every pending Ready into writes, sends and applies.
  void process();
  // The batch with sequence `seq` (and every earlier one) is durable, or
  // failed with `status` (then nothing of it is, and the shard retries it).
  void on_durable(uint64_t seq);
  // Whether on_durable has anything to do here: a write waiting to be
  // durable, or a failure to clear. The shard skips the others.
  bool awaits_durable() const {
    return !persist_queue_.empty() || !write_error_.ok() || write_failed_tick_ >= 0;
  }
  void on_write_failed(const absl::Status& status);

  // ---- Inspection.
  // The core, read-only (term, commit, last index, membership, status).
  const RawNode& core() const { return *raw_; }
  GroupId id() const { return id_; }
  NodeId self() const { return self_; }
  NodeId leader() const { return raw_->leader(); }
  Term term() const { return raw_->term(); }
  bool is_leader() const { return raw_->role() == Role::kLeader; }
  const PeerAddresses& peers() const { return peers_; }
  std::string address_of(NodeId node) const;
  ConfState conf_state() const { return raw_->conf_state(); }
  Index applied() const { return applied_; }
  bool removed() const { return removed_; }
  // JSON object: term, role, leader, commit, applied, last index, members,
  // per-peer progress on the leader, storage errors.
  std::string status_json() const;
  const absl::Status& write_error() const { return write_error_; }
  // Not OK once the state machine refused an entry: the group is halted here.
  const absl::Status& halted() const { return halted_; }
  const GroupGauges& gauges() const { return gauges_; }
  // A membership change is under way: proposed and not yet applied, or the
  // configuration is joint. Leader balance does not move such a group.
  bool change_in_flight() const { return raw_->conf_change_pending(); }
  // A leader transfer is under way: asked through transfer_leader and not
  // answered yet, or started by the core (a hand-off).
  bool transfer_in_flight() const {
    return !transfers_.empty() || raw_->lead_transferee() != kNoNode;
  }
  // Its target (kNoNode: none): the core's, else the oldest asked here.
  NodeId transfer_target() const {
    if (raw_->lead_transferee() != kNoNode) return raw_->lead_transferee();
    return transfers_.empty() ? kNoNode : transfers_.front().target;
  }

 private:
  struct PendingPersist {
    uint64_t seq = 0;
    Index index = 0;  // Passed to on_persisted, even when 0.
    Term term = 0;
    std::vector<Message> messages;
  };
  struct PendingProposal {
    Term term = 0;
    int64_t deadline_tick = 0;
    ProposeCallback done;    // Normal entries.
    ConfCallback conf_done;  // Conf change entries.
  };
  struct PendingRead {
    std::string query;
    int64_t deadline_tick = 0;
    int64_t requested_tick = 0;
    Index index = 0;  // Read index once confirmed; 0 while waiting.
    ReadCallback done;
  };
  struct PendingTransfer {
    NodeId target = kNoNode;
    int64_t deadline_tick = 0;
    DoneCallback done;
  };

  Group(const GroupOptions& options, const GroupPorts& ports, std::unique_ptr<StateMachine> fsm);
  absl::Status init(const std::vector<PeerConfig>& bootstrap);
  // A static cluster's first entries: one committed conf change per peer.
  static GroupBootstrap initial_writes(GroupId group, const std::vector<PeerConfig>& bootstrap);
  // Reads the snapshot's envelope (peer table, highest id) and, if
  // `restore_fsm`, streams the rest into the state machine; the image is
  // never held in memory.
  absl::Status restore(const StoredSnapshot& snapshot, bool restore_fsm);
  // The state machine's own applied index (StateMachine::applied_index);
  // logs a warning when it is beyond the log (trusted all the same).
  std::optional<Index> fsm_applied_index() const;

  void handle_ready(Ready& rd);
  void send_all(std::vector<Message>& messages);
  void apply_entries(const std::vector<Entry>& entries);
  // The state machine could not apply the entry at `index`: stop applying,
  // fail every waiting request, refuse new ones (halted_).
  void halt(Index index, const absl::Status& why);
  void apply_conf_change_entry(const Entry& e);
  // Proposes an entry the core treats as normal (kNormal, kSession).
  void propose_entry(Slice data, EntryType type, ProposeCallback done);
  uint64_t wall_clock_ms() const;
  void propose_session_command(protocol::SessionCommand command, ProposeCallback done);
  // A committed kSession entry (`command` its decoded data): answers its
  // proposal here (open, close, an error, a duplicate's stored result) and
  // returns nothing, or returns the payload the state machine must apply.
  std::optional<std::string_view> apply_session_command(
      const Entry& e, const absl::StatusOr<protocol::SessionCommand>& command);
  // Updates removed_ after the membership became `cs` at index `at`.
  void note_membership(bool was_member, const ConfState& cs, Index at);
  void finish_proposal(Index index, Term term, absl::StatusOr<ProposeResult> result);
  void serve_reads();
  void expire_requests();
  void maybe_auto_snapshot();
  void maybe_hand_off_leadership();
  // Leader, every tick: quiesces after NodeConfig::quiesce_ticks idle ticks.
  void maybe_quiesce();
  // A request, write or snapshot is pending here.
  bool busy() const;
  // Leader, every tick: learners_caught_up_since_ (group_promotion.cc).
  void track_learner_catch_up();
  void start_snapshot(IndexCallback done);
  int64_t request_deadline() const;
  size_t pending_requests() const;
  // OK while fewer than NodeConfig::max_pending_requests requests wait;
  // else the refusal to answer a new one with.
  absl::Status request_slot() const;
  // Finishes the pending proposal at `index` (unknown outcome): this
  // leader's new entry took its place in the log.
  void replaced_in_own_log(Index index);

  const NodeConfig& config_;
  GroupId id_;
  NodeId self_;
  uint64_t incarnation_;  // See GroupOptions::incarnation.
  uint64_t seed_;         // See GroupOptions::seed.
  LogWriter& writer_;
  Outbox& outbox_;
  SnapshotStore& snapshots_;
  std::unique_ptr<StateMachine> fsm_;
  std::unique_ptr<GroupLog> log_;
  std::unique_ptr<RawNode> raw_;

  PeerAddresses peers_;
  NodeId max_id_seen_ = 0;
  int64_t ticks_ = 0;
  // Leader: ticks in a row this group could have quiesced (quiesce_ticks).
  uint32_t idle_ticks_ = 0;
  Index applied_ = 0;
  Term applied_term_ = 0;
  // A self-persisting state machine's applied index at open when it is
  // ahead of the snapshot: the entries up to it are delivered again (conf
  // changes are applied to the core) but not given to the state machine.
  Index fsm_ahead_until_ = 0;
  bool removed_ = false;
  std::string close_reason_ = "group is shutting down";
  std::function<uint64_t()> wall_clock_ms_;
  SessionTable sessions_;     // Replicated: changed only by applied entries and snapshots.
  SliceArena command_arena_;  // The session commands this leader proposes.

  std::deque<PendingPersist> persist_queue_;
  // The newest hard state handed to storage (durable or queued): a Ready
  // whose hard state differs from it only in commit is written lazily.
  HardState queued_hard_state_;
  absl::btree_map<Index, PendingProposal> proposals_;
  std::map<uint64_t, PendingRead> reads_;  // By read id (the ReadIndex context).
  uint64_t next_read_id_ = 1;
  std::vector<PendingTransfer> transfers_;
  std::vector<absl::AnyInvocable<void(absl::StatusOr<NodeId>)>> id_waiters_;

  // Snapshots.
  bool snapshot_in_progress_ = false;
  Index last_snapshot_index_ = 0;
  std::vector<IndexCallback> snapshot_waiters_;
  std::optional<StoredSnapshot> received_snapshot_;  // Being installed.

  absl::Status write_error_;
  // Set once by halt(): why this group applies nothing more here.
  absl::Status halted_;
  // Tick of the first failed write since the last durable one (-1: none),
  // and the earliest tick of the next leadership hand-off on failing writes.
  int64_t write_failed_tick_ = -1;
  int64_t next_hand_off_tick_ = 0;
  // Leader, per learner: the tick since which it is caught up (-1: it is
  // not) and the last tick the core saw it active (-1: never).
  struct LearnerCatchUp {
    int64_t since = -1;
    int64_t last_active = -1;
  };
  std::map<NodeId, LearnerCatchUp> learners_caught_up_since_;
  GroupGauges gauges_;
  // Leadership, membership and snapshot events for the state machine.
  GroupEvents events_;
};

}  // namespace raft
