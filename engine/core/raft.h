// Raft: the internal state machine of one group behind RawNode. Each concern
// lives in its own file:
//   raft.cc         state, role changes, term rules, step dispatch, ticks
//   election.cc     campaigns, pre-vote, votes
//   replication.cc  AppendEntries and heartbeats, both sides; commitment
//   snapshot.cc     sending, installing and reporting snapshots
//   read_index.cc   ReadIndex and lease reads
//   transfer.cc     leader transfer
//   membership.cc   conf changes (joint consensus) and their application
//   proposal.cc     proposals, uncommitted-bytes cap, forwarding
//   ready.cc        assembling Ready batches and acknowledgements
//   quiesce.cc      idle groups that stop their timers, and waking them
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "engine/core/conf_change.h"
#include "engine/core/config.h"
#include "engine/core/log.h"
#include "engine/core/read_only.h"
#include "engine/core/ready.h"
#include "engine/core/status.h"
#include "engine/core/tracker.h"

namespace raft {

// The context of a vote request sent because of a leader transfer: voters
// grant it even while they still believe in a live leader.
inline constexpr std::string_view kTransferContext = "transfer";

// splitmix64: small, fast, fully determined by its seed.
class Prng {
 public:
  explicit Prng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform enough in [0, n) for small n.
  uint64_t below(uint64_t n) { return next() % n; }

 private:
  uint64_t state_;
};

class Raft {
 public:
  // Requires a valid config and a readable storage (RawNode::create checks).
  Raft(const Config& config, LogStorage* storage, const InitialState& initial);

  // ---- inputs (RawNode forwards here)
  void tick();
  absl::Status step(Message m);
  absl::Status propose(Slice data, EntryType type);
  absl::Status read_index(Slice ctx);
  absl::Status transfer_leader(NodeId target);
  absl::Status campaign_now();
  void report_unreachable(NodeId peer);
  void report_snapshot(NodeId peer, bool ok);
  ConfState apply_conf_change(const ConfChange& change);
  absl::Status check_conf_change_proposal(const ConfChange& change) const;

  // ---- quiescence (quiesce.cc)
  bool can_quiesce(absl::FunctionRef<bool(NodeId)> live) const;
  void quiesce(absl::FunctionRef<bool(NodeId)> live);
  void wake(bool leader_lost);
  bool quiesced() const { return quiesced_; }

  // ---- Ready (ready.cc)
  bool has_ready() const;
  Ready ready();
  void advance(const Ready& rd);
  void on_persisted(Index index, Term term);

  // ---- state
  NodeStatus status() const;
  NodeId id() const { return id_; }
  GroupId group() const { return config_.group; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  Role role() const { return role_; }
  NodeId leader() const { return lead_; }
  const RaftLog& log() const { return log_; }
  const ProgressTracker& tracker() const { return tracker_; }
  bool is_learner() const { return is_learner_; }
  // A membership change is under way: one this leader proposed is not yet
  // applied, or the configuration is joint.
  bool conf_change_pending() const {
    return pending_conf_index_ > log_.applied() || tracker_.config().voters.is_joint();
  }
  NodeId lead_transferee() const { return lead_transferee_; }
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }
  SoftState soft_state() const { return SoftState{lead_, role_}; }

 private:
  // ---- raft.cc
  void reset(Term term);
  void reset_randomized_election_timeout();
  void become_follower(Term term, NodeId lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  absl::Status step_term(const Message& m, bool* drop);
  absl::Status step_leader(Message& m);
  absl::Status step_candidate(Message& m);
  absl::Status step_follower(Message& m);
  void tick_election();
  void tick_heartbeat();
  bool past_election_timeout() const { return election_elapsed_ >= randomized_election_timeout_; }
  bool promotable() const;
  // Queues a message, stamping group/from/term. Messages that depend on the
  // term, vote or log being durable wait for persistence.
  void send(Message m);

  // ---- election.cc
  void hup(bool transfer);
  void campaign(bool pre_vote, bool transfer);
  VoteResult poll(NodeId id, bool granted);
  void on_vote_result(VoteResult result);
  // Counts our own vote once the hard state recording it is durable.
  void count_pending_self_vote();
  void learn_commit(Index commit, Term term);
  bool hard_state_dirty() const {
    return term_ != durable_hard_state_.term || vote_ != durable_hard_state_.vote;
  }
  void handle_vote_request(const Message& m);
  bool has_unapplied_conf_change() const;

  // ---- replication.cc
  bool maybe_send_append(NodeId to, bool send_if_empty);
  void send_heartbeat(NodeId to, Slice ctx);
  void bcast_append();
  void bcast_heartbeat();
  void bcast_heartbeat_with_context(Slice ctx);
  void handle_append(Message& m);
  void handle_heartbeat(const Message& m);
  void handle_append_response(const Message& m, Progress& pr);
  void handle_heartbeat_response(const Message& m, Progress& pr);
  bool maybe_commit();
  void on_commit_advanced();
  bool committed_entry_in_current_term() const;

  // ---- snapshot.cc
  bool send_snapshot(NodeId to, Progress& pr);
  void handle_snapshot(const Message& m);
  bool restore(const Snapshot& snapshot);

  // ---- read_index.cc
  absl::Status handle_read_index(const Message& m);
  void respond_read_index(const ReadIndexRequest& req);
  // Tells the requester its read was refused (context already pending from another node).
  void reject_read_index(const Message& request);
  void release_pending_reads();
  void handle_read_acks(const Message& m);
  bool read_acks_won(const std::set<NodeId>& acks) const;
  // After a membership change: releases the pending reads a quorum of the
  // new voters has acknowledged.
  void recheck_pending_reads();

  // ---- quiesce.cc
  // A kQuiesce from the leader: quiesce if our log ends where the leader's
  // does, else answer it as a heartbeat (which wakes the leader).
  void handle_quiesce(const Message& m);
  // What wakes a quiesced node (see quiesce.cc).
  bool wakes(const Message& m) const;
  void wake_for(const Message& m);
  // A rejecting heartbeat response to the leader: "stay awake".
  void send_wake_ping();

  // ---- transfer.cc
  void handle_transfer_leader(NodeId target);
  void send_timeout_now(NodeId to);
  void abort_leader_transfer() { lead_transferee_ = kNoNode; }

  // ---- proposal.cc
  absl::Status handle_propose(Message& m);
  bool increase_uncommitted(const std::vector<Entry>& ents);
  void reduce_uncommitted(const std::vector<Entry>& ents);
  bool append_entries(std::vector<Entry> ents);

  // ---- membership.cc
  void switch_to_config(TrackerConfig config, ProgressMap progress);
  void restore_conf_state(const ConfState& cs);
  void maybe_auto_leave_joint();
  // True if this node is not a voter of its current configuration.
  bool removed_from_config() const;
  // A leader that was removed hands leadership to the best voter.
  void hand_off_leadership();

  Config config_;
  NodeId id_;
  Prng rng_;
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  RaftLog log_;
  ProgressTracker tracker_;
  Role role_ = Role::kFollower;
  NodeId lead_ = kNoNode;
  NodeId lead_transferee_ = kNoNode;
  bool is_learner_ = false;
  // Index of the latest conf change proposed by this leader; no new one may
  // be proposed until it is applied.
  Index pending_conf_index_ = 0;
  uint64_t uncommitted_bytes_ = 0;
  ReadOnly read_only_;
  // ReadIndex requests that arrived before the leader committed an entry of
  // its own term.
  std::vector<Message> pending_reads_;

  // Quiesced: tick() does nothing (quiesce.cc). A leader's lease is not
  // trusted from its quiescence until a check-quorum after it woke.
  bool quiesced_ = false;
  bool lease_valid_ = true;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;

  // Appends are sent lazily, once per ready(), so that a burst of proposals
  // becomes one message per follower.
  bool pending_broadcast_ = false;
  std::vector<Message> msgs_;
  std::vector<Message> msgs_after_persist_;
  std::vector<ReadState> read_states_;
  // What the previous Ready reported.
  HardState prev_hard_state_;
  // Term and vote the driver has made durable. Messages sent while ours
  // differ wait for persistence.
  HardState durable_hard_state_;
  // Readies handed out that must be persisted and whose on_persisted has
  // not come yet, oldest first.
  struct PendingPersist {
    Index index;
    Term term;
    std::optional<HardState> hard_state;
  };
  std::deque<PendingPersist> pending_persist_;
  // Our own vote waits for the durability of the hard state recording it.
  bool self_vote_pending_ = false;
  bool campaign_transfer_ = false;
  SoftState prev_soft_state_;
};

}  // namespace raft
