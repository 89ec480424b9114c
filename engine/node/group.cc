#include "engine/node/group.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/checksum.h"
#include "common/trace.h"
#include "engine/node/errors.h"
#include "engine/node/snapshot_envelope.h"
#include "spdlog/spdlog.h"

namespace raft {
namespace {

// A ReadIndex context: (node, incarnation, read id), unique across the
// nodes of a group and across restarts of one node.
constexpr size_t kReadContextBytes = 24;

Slice read_context(NodeId self, uint64_t incarnation, uint64_t id) {
  std::string ctx(kReadContextBytes, '\0');
  std::memcpy(ctx.data(), &self, 8);
  std::memcpy(ctx.data() + 8, &incarnation, 8);
  std::memcpy(ctx.data() + 16, &id, 8);
  return Slice(std::move(ctx));
}

// The read id of a context this node (in this incarnation) made, if it is one.
std::optional<uint64_t> read_id_of(const Slice& ctx, NodeId self, uint64_t incarnation) {
  if (ctx.size() != kReadContextBytes) return std::nullopt;
  uint64_t node = 0, inc = 0, id = 0;
  std::memcpy(&node, ctx.data(), 8);
  std::memcpy(&inc, ctx.data() + 8, 8);
  std::memcpy(&id, ctx.data() + 16, 8);
  if (node != self || inc != incarnation) return std::nullopt;
  return id;
}

bool contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

bool is_member(const ConfState& cs, NodeId id) {
  return contains(cs.voters, id) || contains(cs.learners, id) || contains(cs.voters_outgoing, id) ||
         contains(cs.learners_next, id);
}

void append_ids(std::string* out, const std::vector<NodeId>& ids) {
  out->push_back('[');
  for (size_t i = 0; i < ids.size(); ++i) absl::StrAppend(out, i ? "," : "", ids[i]);
  out->push_back(']');
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// A committed entry of another term holds the index of a pending proposal:
// the proposal's entry is gone from every log that matters and will never
// be applied.
absl::Status replaced_error() {
  return failed(absl::AbortedError("entry was replaced by a newer leader's; it was not applied"));
}

}  // namespace

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
      fsm_(std::move(fsm)) {}

Group::~Group() {
  // Nobody will answer these any more: say so rather than dropping them.
  // A proposal may already be committed; a read or transfer proposed nothing.
  absl::Status gone = unknown(absl::CancelledError("group is shutting down"));
  absl::Status gone_refused = refused(absl::CancelledError("group is shutting down"));
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

absl::Status Group::init(const std::vector<PeerConfig>& bootstrap) {
  std::optional<StoredSnapshot> snap = snapshots_.held(id_);
  log_ = writer_.open_log(id_, snap ? snap->meta.conf_state : ConfState{});
  absl::StatusOr<InitialState> durable = log_->initial_state();
  if (!durable.ok()) return durable.status();
  const bool fresh = !snap && log_->last_index() == 0 && durable->hard_state == HardState{};
  if (fresh && !bootstrap.empty()) {
    // A static cluster starts from identical logs on every member: one
    // committed conf change per initial peer, carrying its address. Applying
    // them builds the membership, and they replay like any other change.
    std::vector<Entry> entries;
    for (const PeerConfig& p : bootstrap) {
      ConfChange cc = single_change(
          p.role == PeerRole::kVoter ? ConfChangeType::kAddVoter : ConfChangeType::kAddLearner,
          p.id);
      cc.context = encode_peer_addresses({{p.id, p.address}});
      entries.push_back(
          Entry{1, entries.size() + 1, EntryType::kConfChange, Slice(encode_conf_change(cc))});
    }
    if (auto s = writer_.bootstrap(id_, entries, HardState{1, kNoNode, entries.size()}); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("group ", id_, ": bootstrap: ", s.message()));
    }
  }

  if (snap) {
    if (auto s = restore(*snap); !s.ok()) return s;
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

absl::Status Group::restore(const StoredSnapshot& snapshot) {
  const std::string name = absl::StrCat("group ", id_, ": snapshot at index ", snapshot.meta.index,
                                        " (term ", snapshot.meta.term, ")");
  absl::StatusOr<std::string> image = snapshots_.read(id_, snapshot);
  if (!image.ok()) {
    return absl::Status(image.status().code(), absl::StrCat(name, ": ", image.status().message()));
  }
  auto envelope = decode_snapshot_image(*image);
  if (!envelope.ok()) {
    return absl::DataLossError(absl::StrCat(name, ": ", envelope.status().message()));
  }
  StringSnapshotReader fsm_reader(envelope->fsm_bytes);
  if (auto s = fsm_->restore(fsm_reader); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(name, ": state machine restore: ", s.message()));
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
  expire_requests();
  maybe_auto_snapshot();
  maybe_hand_off_leadership();
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
// Requests.

int64_t Group::request_deadline() const {
  return ticks_ + std::max<int64_t>(1, config_.request_timeout_ms / config_.tick_interval_ms);
}

std::string Group::address_of(NodeId node) const {
  auto it = peers_.find(node);
  return it == peers_.end() ? std::string() : it->second;
}

void Group::propose(Slice data, ProposeCallback done) {
  RAFT_TRACE_POINT("propose");
  if (removed_) {
    return done(failed(absl::FailedPreconditionError("this node was removed from the group")));
  }
  if (data.empty()) return done(failed(absl::InvalidArgumentError("empty proposal")));
  if (!is_leader()) return done(not_leader_error(leader(), address_of(leader())));
  // The core refuses before appending anything (backpressure, a transfer in
  // progress, leadership lost within this turn).
  if (absl::Status s = raw_->propose(std::move(data)); !s.ok()) return done(refused(s));
  Index index = raw_->last_index();
  if (proposals_.contains(index)) replaced_in_own_log(index);
  proposals_[index] = PendingProposal{raw_->term(), request_deadline(), std::move(done), nullptr};
}

void Group::read(std::string query, ReadConsistency consistency, ReadCallback done) {
  if (consistency == ReadConsistency::kStale) return done(fsm_->query(query));
  uint64_t id = next_read_id_++;
  PendingRead& r = reads_[id];
  r.query = std::move(query);
  r.deadline_tick = request_deadline();
  r.requested_tick = ticks_;
  r.done = std::move(done);
  // The core forwards the request from a follower to the leader; if it
  // cannot be served yet (no leader, or a new leader without a committed
  // entry of its term) it is retried on later ticks until the deadline.
  absl::Status s = raw_->read_index(read_context(self_, incarnation_, id));
  if (!s.ok()) r.requested_tick = ticks_ - config_.election_ticks;
}

void Group::change_membership(std::vector<MemberChange> changes, ConfCallback done) {
  if (changes.empty())
    return done(failed(absl::InvalidArgumentError("no membership change given")));
  if (!is_leader()) return done(not_leader_error(leader(), address_of(leader())));
  ConfState cs = raw_->conf_state();
  ConfChange cc;
  PeerAddresses addresses;
  for (const MemberChange& ch : changes) {
    if (ch.node == kNoNode)
      return done(failed(absl::InvalidArgumentError("node id 0 is not valid")));
    switch (ch.kind) {
      case MemberChangeKind::kAddVoter:
      case MemberChangeKind::kAddLearner: {
        if (ch.address.empty() && !peers_.contains(ch.node)) {
          return done(failed(absl::InvalidArgumentError(
              absl::StrCat("adding node ", ch.node, " needs its address"))));
        }
        if (!ch.address.empty()) addresses[ch.node] = ch.address;
        cc.changes.push_back(ConfChangeSingle{ch.kind == MemberChangeKind::kAddVoter
                                                  ? ConfChangeType::kAddVoter
                                                  : ConfChangeType::kAddLearner,
                                              ch.node});
        break;
      }
      case MemberChangeKind::kPromote:
        if (!contains(cs.learners, ch.node)) {
          return done(failed(
              absl::FailedPreconditionError(absl::StrCat("node ", ch.node, " is not a learner"))));
        }
        cc.changes.push_back(ConfChangeSingle{ConfChangeType::kAddVoter, ch.node});
        break;
      case MemberChangeKind::kRemove:
        if (!is_member(cs, ch.node)) {
          return done(
              failed(absl::NotFoundError(absl::StrCat("node ", ch.node, " is not a member"))));
        }
        cc.changes.push_back(ConfChangeSingle{ConfChangeType::kRemoveNode, ch.node});
        break;
    }
  }
  cc.context = encode_peer_addresses(addresses);
  propose_conf_change(std::move(cc), std::move(done));
}

absl::Status Group::campaign() { return raw_->campaign(); }

void Group::propose_conf_change(ConfChange cc, ConfCallback done) {
  if (!is_leader()) return done(not_leader_error(leader(), address_of(leader())));
  // Refused by the core: another change is pending, or backpressure.
  if (absl::Status s = raw_->propose_conf_change(cc); !s.ok()) return done(refused(s));
  Index index = raw_->last_index();
  if (proposals_.contains(index)) replaced_in_own_log(index);
  proposals_[index] = PendingProposal{raw_->term(), request_deadline(), nullptr, std::move(done)};
}

void Group::reserve_id(const std::string& address,
                       absl::AnyInvocable<void(absl::StatusOr<NodeId>)> done) {
  if (!is_leader()) return done(not_leader_error(leader(), address_of(leader())));
  ConfState cs = raw_->conf_state();
  NodeId id = max_id_seen_;
  for (const auto* v : {&cs.voters, &cs.learners, &cs.voters_outgoing, &cs.learners_next}) {
    for (NodeId n : *v) id = std::max(id, n);
  }
  for (const auto& [n, a] : peers_) id = std::max(id, n);
  ++id;
  // The id is reserved by adding the joiner as a learner through the log:
  // at most one conf change is pending, so two joiners never get one id, and
  // every later leader knows the id is taken.
  change_membership({MemberChange{MemberChangeKind::kAddLearner, id, address}},
                    [id, done = std::move(done)](absl::StatusOr<ConfState> r) mutable {
                      // Another change (often another joiner's reservation)
                      // is pending: that passes, so the joiner may retry.
                      if (absl::IsFailedPrecondition(r.status()) && !is_not_leader(r.status())) {
                        return done(refused(absl::UnavailableError(absl::StrCat(
                            "cannot reserve an id now, retry: ", r.status().message()))));
                      }
                      if (!r.ok()) return done(r.status());
                      done(id);
                    });
}

void Group::transfer_leader(NodeId target, DoneCallback done) {
  if (target == leader() && target != kNoNode) return done(absl::OkStatus());
  // Unavailable (no leader) is a refusal, a target that cannot lead a failure.
  if (absl::Status s = raw_->transfer_leader(target); !s.ok()) return done(s);
  transfers_.push_back(
      PendingTransfer{target, ticks_ + 2 * int64_t{config_.election_ticks}, std::move(done)});
}

void Group::make_snapshot(IndexCallback done) { start_snapshot(std::move(done)); }

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
    if (absl::Status s = restore(*received_snapshot_); !s.ok()) {
      // The file was verified when received; failing now means the disk
      // changed under us. Continuing would diverge from the leader.
      RAFT_CHECK_MSG(false, std::string(s.message()).c_str());
    }
    applied_ = rd.snapshot->meta.index;
    applied_term_ = rd.snapshot->meta.term;
    last_snapshot_index_ = applied_;
    // Proposals covered by the snapshot were decided elsewhere; their
    // results are not known here.
    while (!proposals_.empty() && proposals_.begin()->first <= applied_) {
      finish_proposal(proposals_.begin()->first, 0,
                      unknown(absl::UnknownError("outcome unknown: replaced by a snapshot")));
    }
    received_snapshot_.reset();
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
  if (write_failed_tick_ < 0 || ticks_ - write_failed_tick_ < timeout) return;
  if (ticks_ < next_hand_off_tick_ || raw_->role() != Role::kLeader) return;
  next_hand_off_tick_ = ticks_ + timeout;
  const NodeStatus st = raw_->status();
  if (st.lead_transferee != kNoNode) return;
  const PeerStatus* best = nullptr;
  for (const PeerStatus& p : st.progress) {
    if (p.id == self_ || p.learner || !p.recent_active) continue;
    if (best == nullptr || p.match > best->match) best = &p;
  }
  if (best == nullptr) return;
  spdlog::warn(
      "group {}: this leader's writes have failed for {} ticks ({}); handing leadership "
      "to node {}",
      id_, ticks_ - write_failed_tick_, write_error_.ToString(), best->id);
  gauges_.leader_hand_offs.fetch_add(1, std::memory_order_relaxed);
  if (absl::Status s = raw_->transfer_leader(best->id); !s.ok()) {
    spdlog::warn("group {}: leadership hand-off to node {} refused: {}", id_, best->id,
                 s.ToString());
  }
}

// ---------------------------------------------------------------------------
// Applying.

void Group::apply_entries(const std::vector<Entry>& entries) {
  std::vector<ApplyItem> items;
  std::vector<const Entry*> run;
  std::vector<std::string> results;
  auto flush = [&] {
    if (run.empty()) return;
    fsm_->apply_batch(items, &results);
    RAFT_CHECK(results.size() == run.size());
    gauges_.applied_entries.fetch_add(run.size(), std::memory_order_relaxed);
    for (size_t i = 0; i < run.size(); ++i) {
      if (proposals_.contains(run[i]->index)) {
        finish_proposal(run[i]->index, run[i]->term,
                        ProposeResult{run[i]->index, run[i]->term, std::move(results[i])});
      }
    }
    items.clear();
    run.clear();
  };
  for (const Entry& e : entries) {
    if (e.index <= applied_) continue;
    if (e.type == EntryType::kConfChange) {
      flush();
      apply_conf_change_entry(e);
    } else if (!e.data.empty()) {
      items.push_back(ApplyItem{e.index, e.data.view()});
      run.push_back(&e);
    } else if (proposals_.contains(e.index)) {
      // A leader's no-op took the index of a proposal from an older term.
      finish_proposal(e.index, e.term, replaced_error());
    }
    applied_ = e.index;
    applied_term_ = e.term;
  }
  flush();
  maybe_auto_snapshot();
}

void Group::apply_conf_change_entry(const Entry& e) {
  absl::StatusOr<ConfChange> cc = decode_conf_change(e.data.view());
  if (!cc.ok()) {
    // Every replica decodes the same bytes and skips it alike.
    spdlog::error("group {}: undecodable conf change at index {}: {}", id_, e.index,
                  cc.status().ToString());
    finish_proposal(e.index, e.term, failed(cc.status()));
    return;
  }
  absl::StatusOr<PeerAddresses> added = decode_peer_addresses(cc->context);
  if (added.ok()) {
    for (const auto& [node, address] : *added) {
      peers_[node] = address;
      outbox_.peer_address(node, address);
    }
  }
  const bool was_member = is_member(raw_->conf_state(), self_);
  ConfState cs = raw_->apply_conf_change(*cc);
  for (const ConfChangeSingle& ch : cc->changes) max_id_seen_ = std::max(max_id_seen_, ch.node);
  for (auto it = peers_.begin(); it != peers_.end();) {
    it = is_member(cs, it->first) ? std::next(it) : peers_.erase(it);
  }
  if (was_member && !is_member(cs, self_)) {
    removed_ = true;
    spdlog::info("group {}: node {} was removed from the group at index {}", id_, self_, e.index);
  } else if (removed_ && is_member(cs, self_)) {
    // Added back (the simulator found a re-added leader refusing every
    // proposal because this flag stayed set).
    removed_ = false;
    spdlog::info("group {}: node {} is a member again from index {}", id_, self_, e.index);
  }
  auto it = proposals_.find(e.index);
  if (it != proposals_.end() && it->second.term == e.term && it->second.conf_done) {
    ConfCallback cb = std::move(it->second.conf_done);
    proposals_.erase(it);
    cb(cs);
  } else if (it != proposals_.end()) {
    finish_proposal(e.index, e.term, replaced_error());
  }
}

void Group::replaced_in_own_log(Index index) {
  // This leader appended a new entry at the index of an older pending
  // proposal (from a term it led before). The older entry is gone from this
  // log, but other nodes may still hold it and a later leader may commit it
  // (Raft paper, figure 8): its outcome is unknown, not failed.
  finish_proposal(index, 0,
                  unknown(absl::AbortedError("entry was replaced in this node's log; it may "
                                             "still be committed by another leader")));
}

void Group::finish_proposal(Index index, Term term, absl::StatusOr<ProposeResult> result) {
  auto it = proposals_.find(index);
  if (it == proposals_.end()) return;
  PendingProposal p = std::move(it->second);
  proposals_.erase(it);
  RAFT_TRACE_POINT("proposal_done");
  if (result.ok() && term != 0 && p.term != term) result = replaced_error();
  if (p.done) {
    p.done(std::move(result));
  } else if (p.conf_done) {
    p.conf_done(result.ok() ? absl::StatusOr<ConfState>(raw_->conf_state())
                            : absl::StatusOr<ConfState>(result.status()));
  }
}

void Group::serve_reads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    PendingRead& r = it->second;
    if (r.index != 0 && r.index <= applied_) {
      ReadCallback done = std::move(r.done);
      absl::StatusOr<std::string> result = fsm_->query(r.query);
      it = reads_.erase(it);
      done(std::move(result));
    } else {
      ++it;
    }
  }
}

void Group::expire_requests() {
  while (!proposals_.empty()) {
    // Deadlines grow with the index (the timeout is fixed), so the oldest
    // proposal expires first; a later one may still be pending.
    auto it = std::find_if(proposals_.begin(), proposals_.end(),
                           [&](const auto& p) { return p.second.deadline_tick <= ticks_; });
    if (it == proposals_.end()) break;
    finish_proposal(
        it->first, 0,
        unknown(absl::DeadlineExceededError("proposal timed out; its outcome is unknown")));
  }
  for (auto it = reads_.begin(); it != reads_.end();) {
    PendingRead& r = it->second;
    if (r.deadline_tick <= ticks_) {
      ReadCallback done = std::move(r.done);
      it = reads_.erase(it);
      done(refused(absl::DeadlineExceededError("read timed out")));
      continue;
    }
    // A read-index request is lost with its message or its leader; ask again.
    if (r.index == 0 && ticks_ - r.requested_tick >= int64_t{config_.election_ticks}) {
      r.requested_tick = ticks_;
      (void)raw_->read_index(read_context(self_, incarnation_, it->first));
    }
    ++it;
  }
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    if (it->deadline_tick <= ticks_) {
      DoneCallback done = std::move(it->done);
      it = transfers_.erase(it);
      done(unknown(absl::DeadlineExceededError("leader transfer did not happen in time")));
    } else {
      ++it;
    }
  }
}

// ---------------------------------------------------------------------------
// Snapshots.

void Group::maybe_auto_snapshot() {
  if (config_.snapshot_every_entries == 0 || snapshot_in_progress_) return;
  if (applied_ < last_snapshot_index_ + config_.snapshot_every_entries) return;
  start_snapshot(nullptr);
}

std::string Group::snapshot_image(Index index, Term term, const ConfState& cs,
                                  absl::Status* status) {
  (void)index;
  (void)term;
  (void)cs;
  std::string image = encode_snapshot_header(peers_, max_id_seen_);
  StringSnapshotWriter writer(&image);
  *status = fsm_->snapshot(writer);
  return image;
}

void Group::start_snapshot(IndexCallback done) {
  if (done) snapshot_waiters_.push_back(std::move(done));
  if (snapshot_in_progress_) return;
  if (applied_ == 0 || applied_ == last_snapshot_index_) {
    std::vector<IndexCallback> waiters = std::move(snapshot_waiters_);
    snapshot_waiters_.clear();
    for (auto& w : waiters) {
      if (applied_ == 0) {
        w(refused(absl::FailedPreconditionError("nothing applied yet")));
      } else {
        w(last_snapshot_index_);
      }
    }
    return;
  }
  const Index index = applied_;
  const Term term = applied_term_;
  const ConfState cs = raw_->conf_state();
  absl::Status status;
  std::string image = snapshot_image(index, term, cs, &status);
  if (!status.ok()) {
    std::vector<IndexCallback> waiters = std::move(snapshot_waiters_);
    snapshot_waiters_.clear();
    for (auto& w : waiters) w(status);
    return;
  }
  snapshot_in_progress_ = true;
  const uint64_t bytes = image.size();
  const uint64_t checksum = checksum64(image);
  // The file is written and fsynced off the shard thread; the snapshot
  // record (and the compaction it allows) goes into a later batch.
  snapshots_.write(
      id_, index, term, std::move(image),
      [this, index, term, cs, bytes, checksum](absl::Status written) {
        snapshot_in_progress_ = false;
        std::vector<IndexCallback> waiters = std::move(snapshot_waiters_);
        snapshot_waiters_.clear();
        if (!written.ok()) {
          spdlog::error("group {}: snapshot at {} failed: {}", id_, index, written.ToString());
          for (auto& w : waiters) w(written);
          return;
        }
        if (index <= last_snapshot_index_) {
          // A newer snapshot from the leader was installed while this one
          // was written: recording this one would go back (storage refuses
          // that, and the batch would fail for good).
          SPDLOG_INFO("group {}: snapshot at index {} superseded by the one at {}", id_, index,
                      last_snapshot_index_);
          if (index < last_snapshot_index_) {
            snapshots_.discard(id_, StoredSnapshot{SnapshotMeta{index, term, cs}, bytes, checksum});
          }
          for (auto& w : waiters) w(last_snapshot_index_);
          return;
        }
        const Index keep = config_.keep_entries_after_snapshot;
        const Index first = log_->first_index();
        writer_.save_snapshot(id_, StoredSnapshot{SnapshotMeta{index, term, cs}, bytes, checksum},
                              index > keep && index - keep >= first ? index - keep : 0);
        last_snapshot_index_ = index;
        SPDLOG_INFO("group {}: snapshot at index {} ({} bytes)", id_, index, bytes);
        for (auto& w : waiters) w(index);
      });
}

// ---------------------------------------------------------------------------
// Status.

std::string Group::status_json() const {
  NodeStatus st = raw_->status();
  std::string out;
  absl::StrAppend(&out, "{\"group\":", id_, ",\"id\":", self_, ",\"role\":\"", role_name(st.role),
                  "\",\"term\":", st.hard_state.term, ",\"vote\":", st.hard_state.vote,
                  ",\"leader\":", st.leader, ",\"commit\":", st.hard_state.commit,
                  ",\"applied\":", applied_, ",\"first_index\":", st.first_index,
                  ",\"last_index\":", st.last_index, ",\"snapshot_index\":", last_snapshot_index_,
                  ",\"removed\":", removed_ ? "true" : "false");
  out += ",\"conf_state\":{\"voters\":";
  append_ids(&out, st.conf_state.voters);
  out += ",\"learners\":";
  append_ids(&out, st.conf_state.learners);
  out += ",\"voters_outgoing\":";
  append_ids(&out, st.conf_state.voters_outgoing);
  out += "},\"peers\":{";
  bool first = true;
  for (const auto& [node, address] : peers_) {
    absl::StrAppend(&out, first ? "" : ",", "\"", node, "\":\"", json_escape(address), "\"");
    first = false;
  }
  out += "},\"progress\":[";
  for (size_t i = 0; i < st.progress.size(); ++i) {
    const PeerStatus& p = st.progress[i];
    absl::StrAppend(&out, i ? "," : "", "{\"id\":", p.id, ",\"match\":", p.match,
                    ",\"next\":", p.next, ",\"state\":\"", progress_state_name(p.state),
                    "\",\"inflight\":", p.inflight,
                    ",\"recent_active\":", p.recent_active ? "true" : "false",
                    ",\"learner\":", p.learner ? "true" : "false", "}");
  }
  absl::StrAppend(&out, "],\"pending_proposals\":", proposals_.size(),
                  ",\"pending_reads\":", reads_.size(), ",\"write_error\":\"",
                  json_escape(write_error_.ok() ? "" : write_error_.ToString()), "\"}");
  return out;
}

}  // namespace raft
