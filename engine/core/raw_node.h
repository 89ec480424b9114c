// RawNode: one Raft group's pure, deterministic state machine, and the
// umbrella header for users of the core. No IO, threads, clocks or global
// randomness: time enters as tick(), randomness from Config::seed.
//
// API changes (announce every change to this header family here):
//   - Ready::persist_index()/persist_term() are now fields set by the core
//     (persist_log_index/persist_log_term): the core's last log position when
//     the Ready was made, set whenever must_persist(). Call on_persisted with
//     them after EVERY Ready that must_persist(), even when the index is 0
//     and even for a Ready holding only a hard state: that call is how the
//     core learns its new term/vote is durable (until then every message it
//     sends waits in persisted_messages).
//   - kTransferLeader forwarded to the leader carries the target in `index`.
//
// Driver contract
// ---------------
//   loop {
//     feed inputs: tick() every tick interval, step(m) for every message
//       received, propose / propose_conf_change / read_index / transfer_leader;
//     if (node.has_ready()) {
//       Ready rd = node.ready();
//       1. Persist, in this order and in Ready order (a later Ready's writes
//          must not become durable before an earlier one's): rd.snapshot
//          (install it in storage and, once durable, restore the state machine
//          from it), rd.entries (truncating any conflicting suffix), then
//          rd.hard_state. This may run asynchronously.
//       2. Send rd.messages at once (they do not depend on step 1).
//       3. Once step 1 is durable: if rd.must_persist(), call
//          on_persisted(rd.persist_index(), rd.persist_term()) (once per
//          such Ready, in order, even if the index is 0); then send
//          rd.persisted_messages.
//       4. Apply rd.committed_entries in order. For a kConfChange entry,
//          decode_conf_change(entry.data), call apply_conf_change(cc) and
//          persist the returned ConfState with the applied index.
//       5. advance(rd): the committed entries are applied. advance() does
//          not imply persistence: it may come before step 3.
//     }
//   }
// A synchronous driver (tests) may simply do 1 to 5 in sequence.
// ready() may be called again before an earlier Ready was persisted. The
// core forgets entries once on_persisted covers them and reads them back from
// LogStorage, so a Ready's entries must be in the storage before its
// on_persisted call.
//
// Other things the driver must know
// ---------------------------------
// - kSnapshot messages carry the whole Snapshot (data is a Slice the driver
//   may stream in chunks); report_snapshot(peer, ok) when the send ends, and
//   report_unreachable(peer) when a peer cannot be reached.
// - Message fields beyond the paper's: kTransferLeader forwarded to the
//   leader carries the target in `index`; vote and pre-vote responses carry
//   the voter's commit index in `commit` and its term in `log_term` (a
//   candidate holding that entry learns the commit); a rejected append
//   response carries (reject_hint, log_term) for fast backtracking; the
//   context of a transfer campaign's vote requests is "transfer".
// - A sole voter becomes leader only after on_persisted for the Ready that
//   holds its new term and vote.
// - A leader removed from (or demoted in) the configuration keeps leading
//   only to hand leadership to the most up-to-date voter (TimeoutNow), then
//   steps down; proposals are refused meanwhile.
//
// Bootstrapping and joining
// -------------------------
// Recommended: every initial member's storage starts with a snapshot at
// index 1, term 1, whose conf state lists the initial voters and learners
// (MemoryLogStorage::apply_snapshot; data may be empty). A node that joins
// later starts with an EMPTY storage (empty ConfState) and receives that
// snapshot, or a later one, from the leader before any entry: entry 1 is in
// no log, so it can never replay conf changes on top of an empty config.
// (Starting from a conf state without a snapshot works for a static cluster,
// but then a joiner must be given the current conf state, since it would
// replay the log from index 1.) A node that is not in its own configuration
// never campaigns; it learns it was added from the conf change entries after
// the snapshot it installs.
//
// The leader counts its own log toward the commit quorum only after
// on_persisted (thesis §10.2.1), so committing requires the driver to report
// persistence. Followers acknowledge appends only through persisted_messages.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/slice.h"
#include "engine/core/conf_change.h"
#include "engine/core/config.h"
#include "engine/core/log_storage.h"
#include "engine/core/ready.h"
#include "engine/core/status.h"
#include "engine/core/types.h"

namespace raft {

class Raft;  // engine/core/raft.h, internal.

class RawNode {
 public:
  // The node starts as a follower in the term of storage's hard state, with
  // the membership of storage's conf state. InvalidArgument for a bad config,
  // the storage's error if its initial state cannot be read.
  static absl::StatusOr<std::unique_ptr<RawNode>> create(const Config& config, LogStorage* storage);
  // As create(), but aborts on error (tests). `storage` must outlive the node.
  RawNode(const Config& config, LogStorage* storage);
  ~RawNode();
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Advances logical time by one tick (election and heartbeat timers).
  void tick();

  // Feeds a message received from a peer. Local message kinds (kHup, kBeat,
  // kPropose from the driver, ...) are rejected with InvalidArgument, except
  // kPropose / kReadIndex / kTransferLeader forwarded by another node. A
  // message of another group is rejected with InvalidArgument. Messages from
  // unknown peers are stepped as Raft prescribes (answered or ignored).
  absl::Status step(Message message);

  // Starts an election now (pre-vote first if configured). A learner or a
  // node not in the configuration gets FailedPrecondition.
  absl::Status campaign();

  // Appends `data` as a normal entry. On the leader the entry's index is
  // last_index() right after the call returns OK. A follower forwards the
  // proposal to the leader (unless disable_proposal_forwarding). Errors:
  //   Unavailable "no leader" (naming no one) when no leader is known;
  //   Unavailable "leader transfer to N in progress" during a transfer;
  //   Unavailable "not leader; leader is N" with forwarding disabled;
  //   ResourceExhausted over max_uncommitted_entries_bytes.
  absl::Status propose(Slice data);
  // The same, for an entry of another type than kNormal that the core
  // treats as normal (kSession). Not for kConfChange: propose_conf_change.
  absl::Status propose_typed(Slice data, EntryType type);

  // Proposes a membership change (a kConfChange entry). Same errors as
  // propose(), plus FailedPrecondition when another change is pending
  // (proposed but not yet applied) or the change is not valid for the current
  // configuration (e.g. leaving a joint config that was never entered).
  absl::Status propose_conf_change(const ConfChange& change);

  // Requests a linearizable read. `ctx` (non-empty, unique among pending
  // reads) identifies the request. Once confirmed, ready().read_states holds
  // {index, ctx}: the read may be served after applying `index`. On a
  // follower the request is forwarded to the leader. Unavailable when no
  // leader is known; InvalidArgument for an empty ctx. A new leader holds
  // reads until it has committed an entry of its term. Reads are not retried
  // by the core: a read lost with a leader change never completes, so the
  // caller times out and retries.
  absl::Status read_index(Slice ctx);

  // Asks the leader to hand leadership to `target` (forwarded if this node is
  // a follower). The leader catches the target up, sends it TimeoutNow, and
  // gives up after an election timeout. Unavailable with no leader;
  // InvalidArgument for an unknown target or a learner.
  absl::Status transfer_leader(NodeId target);

  // The runtime could not reach `peer`: the leader falls back to probing it.
  void report_unreachable(NodeId peer);
  // The runtime finished sending a snapshot to `peer` (ok) or gave up (!ok).
  void report_snapshot(NodeId peer, bool ok);

  // Applies a committed conf change (the driver calls this when it applies a
  // kConfChange entry) and returns the new membership to persist. A change
  // that is invalid for the current configuration is ignored (every node
  // ignores it alike) and the current membership is returned.
  ConfState apply_conf_change(const ConfChange& change);

  // Quiescence (a group with nothing to do stops its timers; see
  // quiesce.cc for the rules). `live` says which peers' nodes the driver
  // currently hears from; a peer that is not live is left out (and the
  // driver wakes the group when it returns).
  // can_quiesce: this leader may quiesce now. quiesce(): requires it; sends
  // kQuiesce to the live peers and stops this node's timers.
  bool can_quiesce(absl::FunctionRef<bool(NodeId)> live) const;
  void quiesce(absl::FunctionRef<bool(NodeId)> live);
  // Timers stopped: tick() does nothing until a message, a request or
  // wake() restarts them.
  bool quiesced() const;
  // Restarts the timers. leader_lost: the driver stopped hearing from the
  // leader's node; a follower then counts the minimum election timeout as
  // passed and campaigns within its random part.
  void wake(bool leader_lost);

  bool has_ready() const;
  // Hands out all pending work. See the driver contract above.
  Ready ready();
  // The driver has applied rd.committed_entries; the applied index moves to
  // the last of them.
  void advance(const Ready& rd);
  // The log is durable up to (index, term). Ignored if the entry at `index`
  // no longer has that term (it was overwritten meanwhile).
  void on_persisted(Index index, Term term);

  NodeStatus status() const;
  NodeId id() const;
  GroupId group() const;
  Term term() const;
  Role role() const;
  NodeId leader() const;
  Index commit_index() const;
  Index applied_index() const;
  Index last_index() const;
  ConfState conf_state() const;
  bool is_learner() const;
  // Leader: a membership change it proposed is not applied yet, or the
  // configuration is joint (any role).
  bool conf_change_pending() const;
  // Leader: the target of the leader transfer under way (kNoNode: none).
  NodeId lead_transferee() const;

 private:
  explicit RawNode(std::unique_ptr<Raft> raft);
  std::unique_ptr<Raft> raft_;
};

}  // namespace raft
