#include "engine/node/group.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/checksum.h"
#include "common/trace.h"
#include "engine/node/errors.h"
#include "engine/node/group_rules.h"
#include "protocol/records/peer_addresses.h"
#include "protocol/records/snapshot_envelope.h"
#include "spdlog/spdlog.h"

namespace raft {

using namespace group_rules;  // NOLINT(google-build-using-namespace): the driver's own rules.

Group::Group(const GroupOptions& options, const GroupPorts& ports,
             std::unique_ptr<StateMachine> fsm)
    : config_(*options.config),
      id_(options.group),
      self_(options.self),
      incarnation_(options.incarnation),
      seed_(options.seed),
      writer_(*ports.writer),
      outbox_(*ports.outbox),
      snapshots_(*ports.snapshots),
      fsm_(std::move(fsm)),
      wall_clock_ms_(options.wall_clock_ms),
      sessions_(SessionLimits{options.config->max_sessions,
                              options.config->max_session_result_bytes,
                              options.config->session_expiry_ms}),
      events_(options.group, options.self, fsm_.get()) {}

Group::~Group() {
  // Nobody will answer these any more: say so rather than dropping them.
  // A proposal may already be committed; a read or transfer proposed nothing.
  absl::Status gone = unknown(absl::CancelledError(close_reason_));
  absl::Status gone_refused = refused(absl::CancelledError(close_reason_));
  for (auto& [index, p] : proposals_) {
    if (p.done) p.done(gone);
    if (p.conf_done) p.conf_done(gone);
  }
  for (auto& [id, r] : reads_) r.done(gone_refused);
  for (auto& t : transfers_) t.done(gone);
  for (auto& w : snapshot_waiters_) w(gone_refused);
}

absl::StatusOr<std::unique_ptr<Group>> Group::open(const GroupOptions& options,
                                                   const GroupPorts& ports,
                                                   std::unique_ptr<StateMachine> fsm,
                                                   const std::vector<PeerConfig>& bootstrap) {
  RAFT_CHECK(options.config != nullptr);
  RAFT_CHECK(ports.writer != nullptr && ports.outbox != nullptr && ports.snapshots != nullptr);
  std::unique_ptr<Group> g(new Group(options, ports, std::move(fsm)));
  if (auto s = g->init(bootstrap); !s.ok()) return s;
  return g;
}

GroupBootstrap Group::initial_writes(GroupId group, const std::vector<PeerConfig>& bootstrap) {
  // A static cluster starts from identical logs on every member: one
  // committed conf change per initial peer, carrying its address. Applying
  // them builds the membership, and they replay like any other change.
  GroupBootstrap b;
  b.group = group;
  for (const PeerConfig& p : bootstrap) {
    ConfChange cc = single_change(
        p.role == PeerRole::kVoter ? ConfChangeType::kAddVoter : ConfChangeType::kAddLearner, p.id);
    cc.context = protocol::encode_peer_addresses({{p.id, p.address}});
    b.entries.push_back(
        Entry{1, b.entries.size() + 1, EntryType::kConfChange, Slice(encode_conf_change(cc))});
  }
  b.hard_state = HardState{1, kNoNode, b.entries.size()};
  return b;
}

absl::StatusOr<std::optional<GroupBootstrap>> Group::bootstrap_write(
    GroupId group, const GroupPorts& ports, const std::vector<PeerConfig>& bootstrap) {
  RAFT_CHECK(ports.writer != nullptr && ports.snapshots != nullptr);
  if (bootstrap.empty() || ports.snapshots->held(group)) return std::nullopt;
  // The same test as init's (a view opened only to look: nothing is open yet).
  std::unique_ptr<GroupLog> log = ports.writer->open_log(group, ConfState{});
  absl::StatusOr<InitialState> durable = log->initial_state();
  if (!durable.ok()) return durable.status();
  if (log->last_index() != 0 || !(durable->hard_state == HardState{})) return std::nullopt;
  return initial_writes(group, bootstrap);
}

absl::Status Group::init(const std::vector<PeerConfig>& bootstrap) {
  std::optional<StoredSnapshot> snap = snapshots_.held(id_);
  log_ = writer_.open_log(id_, snap ? snap->meta.conf_state : ConfState{});
  absl::StatusOr<InitialState> durable = log_->initial_state();
  if (!durable.ok()) return durable.status();
  const bool fresh = !snap && log_->last_index() == 0 && durable->hard_state == HardState{};
  if (fresh && !bootstrap.empty()) {
    const GroupBootstrap b = initial_writes(id_, bootstrap);
    if (auto s = writer_.bootstrap(id_, b.entries, b.hard_state); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("group ", id_, ": bootstrap: ", s.message()));
    }
  }

  // A state machine that persists itself holds every entry up to its own
  // applied index: the snapshot is restored only if it is newer than that,
  // and only the entries after both are given to the machine again.
  const std::optional<Index> fsm_applied = fsm_applied_index();
  const Index snap_index = snap ? snap->meta.index : 0;
  const bool fsm_covers_snapshot = fsm_applied.has_value() && *fsm_applied >= snap_index;
  if (fsm_covers_snapshot) fsm_ahead_until_ = *fsm_applied;
  if (fsm_applied.has_value()) {
    spdlog::info("group {}: the state machine holds entries up to {}{}", id_, *fsm_applied,
                 snap && !fsm_covers_snapshot
                     ? absl::StrCat("; restoring the newer snapshot at ", snap_index)
                     : std::string());
  }
  if (snap) {
    if (auto s = restore(*snap, /*restore_fsm=*/!fsm_covers_snapshot); !s.ok()) return s;
    applied_ = snap->meta.index;
    applied_term_ = snap->meta.term;
    last_snapshot_index_ = snap->meta.index;
  }
  absl::StatusOr<InitialState> state = log_->initial_state();
  if (!state.ok()) return state.status();
  queued_hard_state_ = state->hard_state;

  Config c;
  c.id = self_;
  c.group = id_;
  c.election_ticks = static_cast<int>(config_.election_ticks);
  c.heartbeat_ticks = static_cast<int>(config_.heartbeat_ticks);
  c.max_size_per_msg = config_.max_size_per_msg_bytes;
  c.max_inflight_msgs = config_.max_inflight_msgs;
  c.max_uncommitted_entries_bytes = config_.max_uncommitted_bytes;
  c.max_committed_bytes_per_ready = 4 << 20;
  c.pre_vote = config_.pre_vote;
  c.check_quorum = config_.check_quorum;
  c.read_only =
      config_.read_mode == ReadMode::kLease ? ReadOnlyOption::kLeaseBased : ReadOnlyOption::kSafe;
  // Proposals are forwarded by the runtime (with their results), never by the
  // core, which could not route the result back.
  c.disable_proposal_forwarding = true;
  c.applied = applied_;
  c.seed = seed_ != 0 ? seed_ : self_ * 1000003 + id_;
  auto raw = RawNode::create(c, log_.get());
  if (!raw.ok()) {
    return absl::Status(raw.status().code(),
                        absl::StrCat("group ", id_, ": ", raw.status().message()));
  }
  raw_ = std::move(*raw);
  return absl::OkStatus();
}

std::optional<Index> Group::fsm_applied_index() const {
  std::optional<uint64_t> applied = fsm_->applied_index();
  if (!applied) return std::nullopt;
  const Index last = log_->last_index();
  if (*applied > last) {
    // Every entry a machine applies is committed, so its state up to
    // `applied` is the cluster's. It is trusted: the entries up to it are
    // not given to it again, whatever this log holds. The one way a correct
    // machine gets here is a crash after it made a snapshot from the leader
    // durable and before the install record was (the restore runs as the
    // install is queued); the other is a machine whose files belong to
    // another data dir, which the runtime cannot tell from this.
    spdlog::warn(
        "group {}: the state machine says it applied entries up to index {}, beyond this "
        "node's log (last index {}); entries up to {} are not applied again. If the state "
        "machine's files do not belong to this data dir, stop and remove them",
        id_, *applied, last, *applied);
  }
  return Index{*applied};
}

absl::Status Group::restore(const StoredSnapshot& snapshot, bool restore_fsm) {
  const std::string name = absl::StrCat("group ", id_, ": snapshot at index ", snapshot.meta.index,
                                        " (term ", snapshot.meta.term, ")");
  auto with_name = [&name](const absl::Status& s, const char* what) {
    return absl::Status(s.code(), absl::StrCat(name, what, s.message()));
  };
  absl::StatusOr<std::unique_ptr<SnapshotReader>> opened = snapshots_.open(id_, snapshot);
  if (!opened.ok()) return with_name(opened.status(), ": ");
  SnapshotReader& in = **opened;
  // The envelope first: its fixed prefix gives the size of the rest.
  std::string header(protocol::kSnapshotHeaderPrefix, '\0');
  if (auto s = read_exactly(in, std::span<char>(header)); !s.ok()) {
    return with_name(s, ": envelope: ");
  }
  absl::StatusOr<size_t> header_size = protocol::snapshot_header_size(header);
  if (!header_size.ok()) {
    return absl::DataLossError(absl::StrCat(name, ": ", header_size.status().message()));
  }
  header.resize(*header_size);
  if (auto s = read_exactly(in, std::span<char>(header).subspan(protocol::kSnapshotHeaderPrefix));
      !s.ok()) {
    return with_name(s, ": envelope: ");
  }
  auto envelope = protocol::decode_snapshot_image(header);
  if (!envelope.ok()) {
    return absl::DataLossError(absl::StrCat(name, ": ", envelope.status().message()));
  }
  if (restore_fsm) {
    // Whatever the machine left unread is read after it, so the whole
    // file's checksum is always checked; a damaged file is named as the
    // cause even when the machine stumbled over the damage first.
    absl::Status restored = fsm_->restore(in);
    std::vector<char> rest(64 << 10);
    absl::Status checked;
    for (;;) {
      absl::StatusOr<size_t> n = in.read(std::span<char>(rest));
      if (!n.ok()) checked = n.status();
      if (!n.ok() || *n == 0) break;
    }
    if (!checked.ok() && !restored.ok()) {
      return absl::DataLossError(absl::StrCat(
          name, ": ", checked.message(), " (state machine restore: ", restored.message(), ")"));
    }
    if (!restored.ok()) return with_name(restored, ": state machine restore: ");
    if (!checked.ok()) return with_name(checked, ": ");
  }
  if (absl::Status s = sessions_.decode(envelope->sessions); !s.ok()) {
    return absl::DataLossError(absl::StrCat(name, ": ", s.message()));
  }
  peers_ = std::move(envelope->peers);
  max_id_seen_ = std::max(max_id_seen_, envelope->max_id_seen);
  for (const auto& [node, address] : peers_) outbox_.peer_address(node, address);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Inputs.

void Group::tick() {
  ++ticks_;
  raw_->tick();
  track_learner_catch_up();
  expire_requests();
  maybe_auto_snapshot();
  maybe_hand_off_leadership();
  maybe_quiesce();
}

void Group::maybe_quiesce() {
  if (config_.quiesce_ticks == 0 || raw_->quiesced() || !is_leader()) return;
  auto live = [this](NodeId node) { return outbox_.peer_live(node); };
  // A live learner must have been caught up for an election timeout first:
  // its promotion (group_promotion.cc) counts this leader's ticks, which
  // stop while quiesced.
  bool learners_settled = true;
  for (const auto& [node, t] : learners_caught_up_since_) {
    if (live(node) && (t.since < 0 || ticks_ - t.since < int64_t{config_.election_ticks})) {
      learners_settled = false;
    }
  }
  const bool idle =
      !busy() && halted_.ok() && write_error_.ok() && learners_settled && raw_->can_quiesce(live);
  if (!idle) {
    idle_ticks_ = 0;
    return;
  }
  if (++idle_ticks_ < config_.quiesce_ticks) return;
  idle_ticks_ = 0;
  raw_->quiesce(live);
}

bool Group::busy() const {
  return pending_requests() != 0 || !persist_queue_.empty() || snapshot_in_progress_ ||
         received_snapshot_.has_value() || !snapshot_waiters_.empty() || !id_waiters_.empty();
}

bool Group::quiesced() const { return raw_->quiesced() && !busy(); }

bool Group::has_member(NodeId peer) const {
  const ConfState cs = raw_->conf_state();
  auto has = [peer](const std::vector<NodeId>& v) {
    return std::find(v.begin(), v.end(), peer) != v.end();
  };
  return has(cs.voters) || has(cs.learners) || has(cs.voters_outgoing);
}

bool Group::on_peer_silent(NodeId peer) {
  if (!raw_->quiesced()) return false;
  if (raw_->role() == Role::kLeader) {
    // Ticking again, check-quorum steps it down if the silence cost it its
    // quorum; if not, the group quiesces again among the live members.
    if (!has_member(peer)) return false;
    raw_->wake(/*leader_lost=*/false);
    return true;
  }
  if (leader() != peer) return false;
  raw_->wake(/*leader_lost=*/true);
  return true;
}

bool Group::on_peer_returned(NodeId peer, bool restarted) {
  if (!raw_->quiesced()) return false;
  if (raw_->role() == Role::kLeader) {
    if (!has_member(peer)) return false;
    raw_->wake(/*leader_lost=*/false);
    return true;
  }
  // A restarted leader is a follower now: elect another (or it again).
  if (!restarted || leader() != peer) return false;
  raw_->wake(/*leader_lost=*/true);
  return true;
}

void Group::step(Message m) {
  if (auto s = raw_->step(std::move(m)); !s.ok()) {
    SPDLOG_DEBUG("group {}: dropped message: {}", id_, s.ToString());
  }
}

void Group::peer_unreachable(NodeId peer) { raw_->report_unreachable(peer); }

void Group::snapshot_sent(NodeId to, bool ok) { raw_->report_snapshot(to, ok); }

void Group::snapshot_received(const Message& announce, const StoredSnapshot& received) {
  RAFT_CHECK(announce.snapshot.has_value() && announce.snapshot->meta == received.meta);
  received_snapshot_ = received;
  step(announce);
  process();
  if (received_snapshot_) {
    // The core did not take it (stale, or from an old term): drop the file,
    // unless it is a duplicate of the snapshot this group holds (durable or
    // being made durable): file names are group-index-term, so unlinking it
    // would delete the held snapshot's file and the next restart could not
    // restore.
    const Index index = announce.snapshot->meta.index;
    std::optional<StoredSnapshot> held = snapshots_.held(id_);
    const bool in_use = index == last_snapshot_index_ || (held && held->meta.index == index);
    SPDLOG_INFO("group {}: snapshot at index {} not installed (stale){}", id_, index,
                in_use ? "; its file is the held snapshot's, kept" : "");
    received_snapshot_.reset();
    if (!in_use) snapshots_.discard(id_, received);
  }
}

// ---------------------------------------------------------------------------
// Ready handling.

void Group::process() {
  while (raw_->has_ready()) {
    Ready rd = raw_->ready();
    handle_ready(rd);
    raw_->advance(rd);
  }
  serve_reads();
  constexpr auto kRelaxed = std::memory_order_relaxed;
  gauges_.term.store(raw_->term(), kRelaxed);
  gauges_.commit.store(raw_->commit_index(), kRelaxed);
  gauges_.applied.store(applied_, kRelaxed);
  gauges_.last_index.store(raw_->last_index(), kRelaxed);
  gauges_.leader.store(raw_->leader(), kRelaxed);
  gauges_.is_leader.store(is_leader(), kRelaxed);
}

void Group::handle_ready(Ready& rd) {
  // Before this Ready's applies: a lost leadership is reported before any
  // entry of a newer term reaches the state machine.
  events_.on_core_state(raw_->role(), raw_->term(), raw_->leader(), applied_);
  if (rd.soft_state) {
    for (auto it = transfers_.begin(); it != transfers_.end();) {
      if (rd.soft_state->leader == it->target) {
        it->done(absl::OkStatus());
        it = transfers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (rd.snapshot) {
    RAFT_CHECK_MSG(received_snapshot_ && received_snapshot_->meta == rd.snapshot->meta,
                   "core installs a snapshot the runtime did not receive");
    writer_.install_snapshot(id_, *received_snapshot_);
    if (absl::Status s = restore(*received_snapshot_, /*restore_fsm=*/true); !s.ok()) {
      // The file was verified when received; failing now means the disk
      // changed under us. Continuing would diverge from the leader.
      RAFT_CHECK_MSG(false, std::string(s.message()).c_str());
    }
    applied_ = rd.snapshot->meta.index;
    fsm_ahead_until_ = 0;  // The state machine's state is the snapshot's now.
    // A node added back while it was away learns it from the snapshot.
    note_membership(/*was_member=*/false, rd.snapshot->meta.conf_state, applied_);
    applied_term_ = rd.snapshot->meta.term;
    last_snapshot_index_ = applied_;
    // Proposals covered by the snapshot were decided elsewhere; their
    // results are not known here.
    while (!proposals_.empty() && proposals_.begin()->first <= applied_) {
      finish_proposal(proposals_.begin()->first, 0,
                      unknown(absl::UnknownError("outcome unknown: replaced by a snapshot")));
    }
    received_snapshot_.reset();
    events_.snapshot_installed(rd.snapshot->meta);
  }
  // Only the commit index moved: nothing here needs an fsync of its own.
  const bool commit_only = rd.hard_state && !rd.snapshot && rd.entries.empty() &&
                           rd.hard_state->term == queued_hard_state_.term &&
                           rd.hard_state->vote == queued_hard_state_.vote;
  if (!rd.entries.empty()) {
    log_->appending(rd.entries);
    writer_.append(id_, rd.entries);
  }
  if (rd.hard_state) {
    if (commit_only) {
      writer_.set_lazy_hard_state(id_, *rd.hard_state);
    } else {
      writer_.set_hard_state(id_, *rd.hard_state);
    }
    queued_hard_state_ = *rd.hard_state;
  }
  send_all(rd.messages);
  if (commit_only) {
    // Durable as far as the core cares (term and vote are) once every
    // earlier Ready is: report it with the last one still pending, or now.
    if (persist_queue_.empty()) {
      raw_->on_persisted(rd.persist_index(), rd.persist_term());
      send_all(rd.persisted_messages);
    } else {
      persist_queue_.push_back(PendingPersist{persist_queue_.back().seq, rd.persist_index(),
                                              rd.persist_term(), std::move(rd.persisted_messages)});
    }
  } else if (rd.must_persist()) {
    persist_queue_.push_back(PendingPersist{writer_.open_seq(), rd.persist_index(),
                                            rd.persist_term(), std::move(rd.persisted_messages)});
  } else if (!rd.persisted_messages.empty()) {
    if (persist_queue_.empty()) {
      send_all(rd.persisted_messages);
    } else {
      auto& back = persist_queue_.back().messages;
      for (Message& m : rd.persisted_messages) back.push_back(std::move(m));
    }
  }
  if (!rd.committed_entries.empty()) apply_entries(rd.committed_entries);
  for (const ReadState& rs : rd.read_states) {
    std::optional<uint64_t> id = read_id_of(rs.context, self_, incarnation_);
    if (!id) continue;
    auto it = reads_.find(*id);
    if (it == reads_.end() || it->second.index != 0) continue;
    if (rs.rejected) {
      ReadCallback done = std::move(it->second.done);
      reads_.erase(it);
      done(refused(absl::AlreadyExistsError(
          "the leader has another read with this context pending; ask again")));
      continue;
    }
    it->second.index = std::max<Index>(rs.index, 1);
  }
}

void Group::send_all(std::vector<Message>& messages) {
  for (Message& m : messages) {
    if (m.type != MessageType::kSnapshot) {
      outbox_.send(m);
      continue;
    }
    std::optional<StoredSnapshot> snap = snapshots_.held(id_);
    if (!snap || !m.snapshot || snap->meta.index != m.snapshot->meta.index) {
      raw_->report_snapshot(m.to, false);
      continue;
    }
    outbox_.send_snapshot(m, *snap);
  }
}

void Group::on_durable(uint64_t seq) {
  write_error_ = absl::OkStatus();
  write_failed_tick_ = -1;
  while (!persist_queue_.empty() && persist_queue_.front().seq <= seq) {
    PendingPersist p = std::move(persist_queue_.front());
    persist_queue_.pop_front();
    raw_->on_persisted(p.index, p.term);  // Also for index 0: the term/vote is durable.
    send_all(p.messages);
  }
}

void Group::on_write_failed(const absl::Status& status) {
  // Nothing of the batch is durable and the shard retries it; until then the
  // group acknowledges nothing, and status() shows why.
  write_error_ = status;
  if (write_failed_tick_ < 0) write_failed_tick_ = ticks_;
}

// A leader whose own log cannot be written (disk full, I/O errors) commits
// nothing until its disk is back, though its followers could go on without
// it. Once its writes have failed for an election timeout it hands
// leadership to the most up-to-date voter it heard from recently (the core
// catches that one up and sends it TimeoutNow; the entries this leader could
// not persist were sent before its own write, so the target has them), and
// tries again every election timeout while the failures last.
void Group::maybe_hand_off_leadership() {
  const int64_t timeout = config_.election_ticks;
  // A halted group (its state machine refused an entry) cannot serve as
  // leader either: it hands leadership over at once.
  const bool writes_failing = write_failed_tick_ >= 0 && ticks_ - write_failed_tick_ >= timeout;
  if (!writes_failing && halted_.ok()) return;
  if (ticks_ < next_hand_off_tick_ || raw_->role() != Role::kLeader) return;
  const NodeStatus st = raw_->status();
  if (st.lead_transferee != kNoNode) return;
  const PeerStatus* best = nullptr;
  for (const PeerStatus& p : st.progress) {
    if (p.id == self_ || p.learner || !p.recent_active) continue;
    if (best == nullptr || p.match > best->match) best = &p;
  }
  // No target yet: look again next tick. CheckQuorum clears recent_active
  // once per election timeout; waiting a whole timeout here would land every
  // try in that same gap, and the leader would never hand off.
  if (best == nullptr) return;
  // A halted leader hands off at once the first time, then rarely: when
  // every replica's machine refused the entry, they would pass leadership
  // round for ever.
  next_hand_off_tick_ = ticks_ + (writes_failing ? timeout : 10 * timeout);
  if (writes_failing) {
    spdlog::warn(
        "group {}: this leader's writes have failed for {} ticks ({}); handing leadership "
        "to node {}",
        id_, ticks_ - write_failed_tick_, write_error_.ToString(), best->id);
  } else {
    SPDLOG_INFO("group {}: halted here; handing leadership to node {}", id_, best->id);
  }
  gauges_.leader_hand_offs.fetch_add(1, std::memory_order_relaxed);
  if (absl::Status s = raw_->transfer_leader(best->id); !s.ok()) {
    spdlog::warn("group {}: leadership hand-off to node {} refused: {}", id_, best->id,
                 s.ToString());
  }
}

}  // namespace raft
