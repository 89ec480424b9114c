#include "engine/node/shard_runtime.h"

#include "engine/node/lmdb_log_storage.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/check.h"
#include "common/trace.h"
#include "engine/node/client_service.h"
#include "engine/node/errors.h"
#include "engine/node/snapshot_io.h"
#include "fbs/frame_generated.h"
#include "net/frame.h"
#include "protocol/client_errors.h"
#include "protocol/raft_codec.h"
#include "spdlog/spdlog.h"

namespace raft {
namespace {

// Drawn once per process: the wall clock and the kernel's entropy, so two
// runs of one node (a restart after a crash) differ.
uint64_t process_incarnation() {
  static const uint64_t value = [] {
    std::random_device rd;
    uint64_t r = (uint64_t{rd()} << 32) ^ rd();
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return r ^
           static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
  }();
  return value;
}

// Raft messages of all groups for one peer are packed into frames of at most
// this many payload bytes (well below the frame cap).
constexpr uint64_t kMaxRaftFrameBytes = 8 << 20;
// Snapshot chunks sent per tick per stream; chunks are about 1 MiB.

uint64_t approx_bytes(const Message& m) {
  // FlatBuffers adds about 56 bytes per entry (table, vtable offset, the
  // data vector's length and padding, the offset in the entries vector): an
  // estimate below that made the builder reallocate and copy the frame.
  uint64_t n = 96;
  for (const Entry& e : m.entries) n += e.data.size() + 64;
  return n;
}

}  // namespace

ShardRuntime::ShardRuntime(const NodeContext& node, net::Shard& shard,
                           std::unique_ptr<storage::LogEnv> env)
    : node_(node),
      shard_(shard),
      config_(node.config),
      env_(std::move(env)),
      pipeline_(*env_, shard.id(), metrics_, pipeline_callbacks()),
      streams_(node.node_id, config_.snapshot_chunk_bytes, env_->snapshot_dir(), metrics_,
               streams_host()) {
  for (GroupId g : env_->removed_groups()) removed_.insert(g);
}

SnapshotStreams::Host ShardRuntime::streams_host() {
  SnapshotStreams::Host host;
  host.group = [this](GroupId id) { return group(id); };
  host.send = [this](NodeId to, net::OutFrame frame) {
    return transport_ != nullptr && transport_->send(to, std::move(frame)).ok();
  };
  host.queued_bytes = [this](NodeId to) -> uint64_t {
    return transport_ != nullptr ? transport_->stats(to).queued_bytes : 0;
  };
  host.dirty = [this](Group* g) { mark_dirty(g); };
  host.run_blocking = [this](absl::AnyInvocable<absl::StatusOr<std::string>()> work,
                             absl::AnyInvocable<void(absl::StatusOr<std::string>)> done) {
    run_blocking(std::move(work), std::move(done));
  };
  return host;
}

WritePipeline::Callbacks ShardRuntime::pipeline_callbacks() {
  WritePipeline::Callbacks cb;
  cb.durable = [this](uint64_t seq) {
    // Only the groups that had a write in a batch (or a failure to clear)
    // have work: with many idle groups, processing every one after each
    // batch (a lazy commit index is one) was most of their cost, and even
    // looking at each one costs ~1 ms per batch at 10,000 groups. So the
    // groups that await one are kept aside (process_dirty, failed).
    if (!awaiting_durable_.empty()) {
      absl::flat_hash_set<Group*> awaiting = std::move(awaiting_durable_);
      awaiting_durable_.clear();
      for (Group* g : awaiting) {
        g->on_durable(seq);
        dirty_.insert(g);
        if (g->awaits_durable()) awaiting_durable_.insert(g);
      }
    }
    // A removal is a write of no group's (the group is closed).
    if (!removals_.empty()) {
      std::vector<Removal> done;
      for (auto it = removals_.begin(); it != removals_.end();) {
        if (it->seq != 0 && it->seq <= seq) {
          done.push_back(std::move(*it));
          it = removals_.erase(it);
        } else {
          ++it;
        }
      }
      for (Removal& r : done) {
        spdlog::info("shard {}: group {} removed from this node", shard_.id(), r.group);
        for (DoneCallback& cb : r.done) cb(absl::OkStatus());
      }
    }
  };
  cb.failed = [this](const absl::Status& status) {
    for (auto& [gid, g] : groups_) {
      g->on_write_failed(status);
      if (g->awaits_durable()) awaiting_durable_.insert(g.get());
    }
  };
  cb.before_submit = [this] {
    if (!transport_) return;
    transport_->flush_now();  // The pipeline submits the sends with its write.
  };
  cb.wake = [this] { schedule_process(); };
  return cb;
}

ShardRuntime::~ShardRuntime() {
  for (BackgroundJob& job : background_) job.thread.join();
  // The groups, destroyed after the transport (members go in reverse
  // order), answer what they still hold; the answer to a request a
  // follower forwarded goes through `transport_`, which must then read as
  // gone, not be a destroyed object (TSan: heap-use-after-free when a leader
  // stopped with forwarded proposals pending, node_async_client_test).
  transport_.reset();
}

absl::Status ShardRuntime::bootstrap_groups(const std::vector<GroupId>& groups,
                                            const std::vector<PeerConfig>& bootstrap) {
  if (bootstrap.empty()) return absl::OkStatus();
  const GroupPorts ports{&pipeline_, this, this};
  std::vector<GroupBootstrap> writes;
  for (GroupId id : groups) {
    absl::StatusOr<std::optional<GroupBootstrap>> w = Group::bootstrap_write(id, ports, bootstrap);
    if (!w.ok()) return w.status();
    if (w->has_value()) writes.push_back(std::move(**w));
  }
  if (writes.empty()) return absl::OkStatus();
  const auto t0 = std::chrono::steady_clock::now();
  if (auto s = pipeline_.bootstrap_groups(writes); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("shard ", shard_.id(), ": bootstrap of ",
                                               writes.size(), " groups: ", s.message()));
  }
  spdlog::info(
      "shard {}: bootstrapped {} groups in {} ms", shard_.id(), writes.size(),
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  return absl::OkStatus();
}

absl::Status ShardRuntime::open_group(GroupId id, std::unique_ptr<StateMachine> fsm,
                                      const std::vector<PeerConfig>& bootstrap) {
  GroupOptions options;
  options.self = node_.node_id;
  options.group = id;
  options.config = &config_;
  options.incarnation = process_incarnation();
  auto g = Group::open(options, GroupPorts{&pipeline_, this, this}, std::move(fsm), bootstrap);
  if (!g.ok()) return g.status();
  Group* raw = g->get();
  {
    std::lock_guard lock(groups_mu_);
    groups_[id] = std::move(*g);
  }
  active_.insert(raw);
  mark_dirty(raw);
  return absl::OkStatus();
}

namespace {

absl::Status check_new_group_members(GroupId id, NodeId self,
                                     const std::vector<PeerConfig>& members) {
  if (id == 0) return absl::InvalidArgumentError("group id 0 is not a group");
  if (members.empty()) return absl::OkStatus();  // A replica to be added later.
  absl::flat_hash_set<NodeId> seen;
  bool voter = false;
  bool self_in = false;
  for (const PeerConfig& p : members) {
    if (p.id == kNoNode) {
      return absl::InvalidArgumentError(absl::StrCat("group ", id, ": member id 0"));
    }
    if (!seen.insert(p.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("group ", id, ": member ", p.id, " is listed twice"));
    }
    std::string host;
    uint16_t port = 0;
    if (absl::Status s = parse_host_port(p.address, &host, &port); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("group ", id, ": member ", p.id, ": ", s.message()));
    }
    voter = voter || p.role == PeerRole::kVoter;
    self_in = self_in || p.id == self;
  }
  if (!voter) return absl::InvalidArgumentError(absl::StrCat("group ", id, ": no voter"));
  if (!self_in) {
    return absl::InvalidArgumentError(
        absl::StrCat("group ", id, ": this node (", self, ") is not among its members"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ShardRuntime::create_group(
    GroupId id, const std::vector<PeerConfig>& members,
    absl::FunctionRef<std::unique_ptr<StateMachine>()> make_fsm) {
  if (absl::Status s = check_new_group_members(id, node_.node_id, members); !s.ok()) return s;
  if (removed_.contains(id)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "group ", id, " was removed from this node; a removed group id cannot be reused"));
  }
  if (Group* g = group(id)) {
    if (members.empty()) return absl::OkStatus();  // An empty replica asked for: it is here.
    const ConfState cs = g->conf_state();
    std::vector<NodeId> have = cs.voters;
    have.insert(have.end(), cs.learners.begin(), cs.learners.end());
    std::vector<NodeId> want;
    for (const PeerConfig& p : members) want.push_back(p.id);
    std::sort(have.begin(), have.end());
    std::sort(want.begin(), want.end());
    if (have == want) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat("group ", id, " exists here with members ",
                                                 absl::StrJoin(have, ","), ", not ",
                                                 absl::StrJoin(want, ",")));
  }
  std::unique_ptr<StateMachine> fsm = make_fsm();
  if (fsm == nullptr) {
    return absl::InternalError(absl::StrCat("state machine factory returned null for group ", id));
  }
  pipeline_.mark_create(id);
  absl::Status s = open_group(id, std::move(fsm), members);
  if (pipeline_.take_create(id) && s.ok()) {
    // The group had durable state already (a group this node hosted before
    // without recording it: one of [node] groups, say): only the record.
    storage::WriteBatch b;
    b.create_group(id);
    s = env_->write(b);
    if (!s.ok()) close_group(id);
  }
  if (!s.ok()) return s;
  spdlog::info("shard {}: group {} created with {} member(s)", shard_.id(), id, members.size());
  return absl::OkStatus();
}

void ShardRuntime::close_group(GroupId id) {
  std::unique_ptr<Group> g;
  {
    std::lock_guard lock(groups_mu_);
    auto it = groups_.find(id);
    if (it == groups_.end()) return;
    g = std::move(it->second);
    groups_.erase(it);
  }
  dirty_.erase(g.get());
  active_.erase(g.get());
  awaiting_durable_.erase(g.get());
  promotion_asks_.erase(id);
  streams_.drop_group(id);
  g->set_close_reason(absl::StrCat("group ", id, " was removed from this node"));
  g.reset();  // Answers what it still held.
}

void ShardRuntime::remove_group(GroupId id, DoneCallback done) {
  if (id == 0) return done(absl::InvalidArgumentError("group id 0 is not a group"));
  for (Removal& r : removals_) {
    if (r.group == id) {
      r.done.push_back(std::move(done));
      return;
    }
  }
  if (removed_.contains(id)) return done(absl::OkStatus());
  if (group(id) == nullptr) {
    return done(absl::NotFoundError(absl::StrCat("group ", id, " is not hosted here")));
  }
  if (stopping_) return done(absl::UnavailableError("node is stopping"));
  Removal r;
  r.group = id;
  r.done.push_back(std::move(done));
  removals_.push_back(std::move(r));
  // In a task of its own: the caller may be one of the group's callbacks,
  // or process_dirty may hold a pointer to it.
  shard_.reactor().defer([this, id] {
    close_group(id);
    for (Removal& r : removals_) {
      if (r.group == id) r.seq = pipeline_.remove_group(id);
    }
    removed_.insert(id);
    schedule_process();
  });
}

Group* ShardRuntime::group(GroupId id) {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}

void ShardRuntime::visit_gauges(absl::FunctionRef<void(GroupId, const GroupGauges&)> fn) const {
  std::lock_guard lock(groups_mu_);
  for (const auto& [id, g] : groups_) fn(id, g->gauges());
}

std::vector<GroupId> ShardRuntime::group_ids() const {
  std::lock_guard lock(groups_mu_);
  std::vector<GroupId> ids;
  for (const auto& [id, g] : groups_) ids.push_back(id);
  return ids;
}

void ShardRuntime::start() {
  net::PeerTransportOptions topt;
  topt.local = node_.handshake_for(shard_.id());
  topt.connection.max_frame_bytes = static_cast<uint32_t>(config_.max_frame_bytes);
  topt.connection.max_send_queue_frames = config_.peer_send_queue_frames;
  topt.connect_timeout = std::chrono::milliseconds(config_.connect_timeout_ms);
  if (node_.tls) {
    topt.connection.tls = node_.tls;
    topt.connection.tls_role = net::TlsRole::kClient;
    topt.connection.handshake_timeout = std::chrono::milliseconds(config_.tls.handshake_timeout_ms);
    for (const PeerConfig& p : config_.peers) {
      if (!p.tls_name.empty()) topt.tls_peer_names[p.id] = p.tls_name;
    }
  }
  topt.seed = node_.node_id * 7919 + shard_.id();
  net::PeerTransport::Callbacks cb;
  cb.on_unreachable = [this](uint64_t peer, [[maybe_unused]] const absl::Status& status) {
    SPDLOG_DEBUG("shard {}: peer {} unreachable: {}", shard_.id(), peer, status.ToString());
    // Quiesced groups send nothing, so they have nothing to learn from it.
    for (Group* g : active_) {
      g->peer_unreachable(peer);
      mark_dirty(g);
    }
  };
  // Peers answer on the connection they accepted from us only with their own
  // dialled connection, but a frame here is handled the same way.
  cb.on_frame = [this](uint64_t peer, const net::ReceivedFrame& frame) {
    on_peer_frame(peer, frame);
  };
  transport_ = std::make_unique<net::PeerTransport>(shard_.reactor(), topt, std::move(cb));
  for (const auto& [node, address] : peer_addresses_) {
    if (node != node_.node_id) (void)transport_->add_peer(node, address, shard_.id());
  }

  tick_timer_ = std::make_unique<net::Timer>(shard_.reactor(), [this] { tick(); });
  tick_timer_->arm_periodic(std::chrono::milliseconds(config_.tick_interval_ms));
  pipeline_.start(shard_.reactor());
  schedule_process();
}

void ShardRuntime::shutdown() {
  stopping_ = true;
  std::vector<Removal> removals = std::move(removals_);
  removals_.clear();
  for (Removal& r : removals) {
    for (DoneCallback& cb : r.done) {
      cb(unknown(absl::UnavailableError(absl::StrCat("node is stopping; the removal of group ",
                                                     r.group, " may not be durable"))));
    }
  }
  if (tick_timer_) tick_timer_->cancel();
  pipeline_.stop();
  if (transport_) transport_->shutdown();
  streams_.clear();
  cancel_background_->store(true, std::memory_order_relaxed);
  for (BackgroundJob& job : background_) job.thread.join();
  background_.clear();
}

// ---------------------------------------------------------------------------
// The loop.

void ShardRuntime::mark_dirty(Group* g) {
  dirty_.insert(g);
  // A group processed outside process_dirty (a received snapshot) may have
  // queued a write that a tick submits before the group's turn comes.
  if (g->awaits_durable()) awaiting_durable_.insert(g);
  schedule_process();
}

void ShardRuntime::schedule_process() {
  if (process_scheduled_ || stopping_) return;
  process_scheduled_ = true;
  shard_.reactor().defer([this] {
    process_scheduled_ = false;
    process_dirty();
  });
}

void ShardRuntime::process_dirty() {
  // Processing may mark groups dirty again (a Ready that unlocks another);
  // a bounded number of rounds keeps one turn from running forever.
  for (int round = 0; round < 4 && !dirty_.empty(); ++round) {
    absl::flat_hash_set<Group*> dirty = std::move(dirty_);
    dirty_.clear();
    for (Group* g : dirty) {
      g->process();
      update_active(g);
      if (g->awaits_durable()) awaiting_durable_.insert(g);
    }
  }
  flush_outbox();
  pipeline_.submit();
  if (!dirty_.empty()) schedule_process();
}

void ShardRuntime::update_active(Group* g) {
  // A learner that asks to be promoted keeps ticking (ask_for_promotion).
  const bool asks = config_.join_as == PeerRole::kVoter && !config_.join_address.empty() &&
                    g->core().is_learner();
  if (g->quiesced() && !asks) {
    active_.erase(g);
  } else {
    active_.insert(g);
  }
}

void ShardRuntime::tick() {
  // Followers of a leader whose node fell silent wake to elect another.
  for (NodeId silent : liveness_.tick()) {
    SPDLOG_DEBUG("shard {}: node {} fell silent", shard_.id(), silent);
    for (auto& [id, g] : groups_) {
      if (g->on_peer_silent(silent)) mark_dirty(g.get());
    }
  }
  for (Group* g : active_) {
    g->tick();
    ask_for_promotion(*g);
    dirty_.insert(g);
  }
  metrics_.groups_quiesced.store(groups_.size() - active_.size(), std::memory_order_relaxed);
  send_beats();
  streams_.pump();
  expire_forwards();
  // An idle shard writes its lazy commit indexes (WritePipeline::tick).
  pipeline_.tick();
  schedule_process();
}

void ShardRuntime::ask_for_promotion(Group& g) {
  if (config_.join_as != PeerRole::kVoter || config_.join_address.empty() || g.removed()) return;
  const NodeId self = node_.node_id;
  const NodeId leader = g.leader();
  if (leader == kNoNode || leader == self) return;
  const ConfState cs = g.conf_state();
  if (std::find(cs.learners.begin(), cs.learners.end(), self) == cs.learners.end()) {
    promotion_asks_.erase(g.id());
    return;
  }
  PromotionAsk& ask = promotion_asks_[g.id()];
  const net::Clock::time_point now = shard_.reactor().now();
  if (ask.in_flight || now < ask.next) return;
  ask.in_flight = true;
  ask.next =
      now + std::chrono::milliseconds(uint64_t{config_.tick_interval_ms} * config_.election_ticks);
  protocol::ClientRequest req;
  req.kind = protocol::RequestKind::kJoin;
  req.group = g.id();
  req.node_id = self;
  req.address = config_.address;
  req.as_learner = false;
  req.when_caught_up = true;
  const GroupId group = g.id();
  execute_client_request(
      node_, this, &g, std::move(req),
      [this, group, self](protocol::ClientResponse r) {
        auto it = promotion_asks_.find(group);
        uint32_t refusals = 0;
        if (it != promotion_asks_.end()) {
          it->second.in_flight = false;
          refusals = it->second.refusals++;
        }
        absl::Status s = protocol::response_status(r);
        if (s.ok()) {
          spdlog::info("group {}: node {} promoted to voter (join_as = voter)", group, self);
        } else if (refusals % 20 == 0) {  // The first, then every 20th.
          spdlog::info("group {}: node {} not promoted yet: {}", group, self, s.ToString());
        }
      },
      /*may_forward=*/true);
}

// ---------------------------------------------------------------------------
// Raft messages.

void ShardRuntime::peer_address(NodeId node, const std::string& address) {
  if (node == node_.node_id) return;
  auto it = peer_addresses_.find(node);
  if (it != peer_addresses_.end() && it->second == address) return;
  peer_addresses_[node] = address;
  if (transport_) {
    if (auto s = transport_->add_peer(node, address, shard_.id()); !s.ok()) {
      spdlog::warn("shard {}: peer {} at {}: {}", shard_.id(), node, address, s.ToString());
    }
  }
}

void ShardRuntime::send(const Message& m) {
  if (m.to == node_.node_id) return;
  uint64_t& bytes = outbox_bytes_[m.to];
  std::vector<Message>& q = outbox_[m.to];
  const uint64_t size = approx_bytes(m);
  if (bytes + size > kMaxRaftFrameBytes && !q.empty()) {
    flush_outbox();
  }
  outbox_[m.to].push_back(m);
  outbox_bytes_[m.to] += size;
}

void ShardRuntime::send_beats() {
  if (!transport_) return;
  for (const auto& [peer, address] : peer_addresses_) {
    if (peer == node_.node_id || sent_since_tick_.contains(peer)) continue;
    if (transport_->send(peer, protocol::encode_raft_batch_frame({}, 0, process_incarnation()))
            .ok()) {
      bump(metrics_.liveness_beats);
      if (peer < ShardMetrics::kPeerSlots) bump(metrics_.peer_frames_sent[peer]);
    }
  }
  sent_since_tick_.clear();
}

void ShardRuntime::heard_from(NodeId from, uint64_t incarnation) {
  const NodeLiveness::Heard heard = liveness_.heard(from, incarnation);
  if (!heard.returned) return;
  SPDLOG_DEBUG("shard {}: node {} is back{}", shard_.id(), from,
               heard.restarted ? " (restarted)" : "");
  for (auto& [id, g] : groups_) {
    if (g->on_peer_returned(from, heard.restarted)) mark_dirty(g.get());
  }
}

void ShardRuntime::flush_outbox() {
  if (!transport_) return;
  for (auto& [peer, messages] : outbox_) {
    if (messages.empty()) continue;
    sent_since_tick_.insert(peer);
    size_t compact = 0;
    net::OutFrame frame = protocol::encode_raft_batch_frame(messages, outbox_bytes_[peer],
                                                            process_incarnation(), &compact);
    RAFT_TRACE_POINT("peer_send");
    absl::Status s = transport_->send(peer, std::move(frame));
    if (s.ok()) {
      bump(metrics_.messages_sent, messages.size());
      bump(metrics_.heartbeats_coalesced, compact);
      bump(metrics_.frames_sent);
      if (peer < ShardMetrics::kPeerSlots) {
        bump(metrics_.peer_messages_sent[peer], messages.size());
        bump(metrics_.peer_frames_sent[peer]);
      }
    } else {
      bump(metrics_.messages_dropped, messages.size());
    }
    messages.clear();
  }
  outbox_.clear();
  outbox_bytes_.clear();
}

void ShardRuntime::forward(NodeId leader, protocol::ClientRequest request, ClientReply reply) {
  const uint64_t id = next_forward_id_++;
  Forwarded f;
  f.original_id = request.request_id;
  f.deadline = shard_.reactor().now() + std::chrono::milliseconds(config_.request_timeout_ms);
  f.reply = std::move(reply);
  request.request_id = id;
  absl::Status sent = transport_
                          ? transport_->send(leader, protocol::encode_client_requests({request}))
                          : absl::UnavailableError("stopping");
  if (!sent.ok()) {
    protocol::ClientResponse r;
    r.request_id = f.original_id;
    r.kind = request.kind;
    protocol::set_response_error(
        r, refused(absl::UnavailableError(
               absl::StrCat("cannot forward to leader ", leader, ": ", sent.message()))));
    f.reply(std::move(r));
    return;
  }
  forwarded_.emplace(id, std::move(f));
}

void ShardRuntime::expire_forwards() {
  const net::Clock::time_point now = shard_.reactor().now();
  for (auto it = forwarded_.begin(); it != forwarded_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    protocol::ClientResponse r;
    r.request_id = it->second.original_id;
    protocol::set_response_error(
        r,
        unknown(absl::DeadlineExceededError("no answer from the leader; the outcome is unknown")));
    ClientReply reply = std::move(it->second.reply);
    forwarded_.erase(it++);
    reply(std::move(r));
  }
}

void ShardRuntime::on_peer_dialled(NodeId peer) {
  if (transport_) transport_->peer_reachable(peer);
}

void ShardRuntime::on_peer_frame(NodeId from, const net::ReceivedFrame& frame) {
  const fbs::RaftBatch* raft_batch = frame.frame->body_as_RaftBatch();
  heard_from(from, raft_batch != nullptr ? raft_batch->incarnation() : 0);
  switch (frame.frame->body_type()) {
    case fbs::FrameBody::ClientRequestBatch: {
      // Requests a follower forwarded to us; answers go back to it.
      auto requests = protocol::decode_client_requests(frame);
      if (!requests.ok()) return;
      for (protocol::ClientRequest& req : *requests) {
        Group* g = group(req.group);
        execute_client_request(
            node_, this, g, std::move(req),
            [this, from](protocol::ClientResponse response) {
              if (transport_)
                (void)transport_->send(from, protocol::encode_client_responses({response}));
            },
            /*may_forward=*/false);
      }
      return;
    }
    case fbs::FrameBody::ClientResponseBatch: {
      auto responses = protocol::decode_client_responses(frame);
      if (!responses.ok()) return;
      for (protocol::ClientResponse& r : *responses) {
        auto it = forwarded_.find(r.request_id);
        if (it == forwarded_.end()) continue;  // Expired meanwhile.
        r.request_id = it->second.original_id;
        ClientReply reply = std::move(it->second.reply);
        forwarded_.erase(it);
        reply(std::move(r));
      }
      return;
    }
    case fbs::FrameBody::RaftBatch: {
      RAFT_TRACE_POINT("peer_recv");
      // A batch with no messages is a beat; it may have woken groups too.
      protocol::decode_raft_batch(
          *raft_batch, frame.payload.owner(), [this](absl::StatusOr<Message> m) {
            if (!m.ok()) {
              SPDLOG_DEBUG("shard {}: bad raft message: {}", shard_.id(), m.status().ToString());
              return;
            }
            bump(metrics_.messages_received);
            Group* g = group(m->group);
            if (g == nullptr || m->to != node_.node_id) return;
            g->step(std::move(*m));
            dirty_.insert(g);
          });
      schedule_process();
      return;
    }
    case fbs::FrameBody::SnapshotChunk:
      streams_.on_chunk(*frame.frame->body_as_SnapshotChunk(), frame);
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------------------
// Snapshots.

std::string ShardRuntime::snapshot_path(GroupId group, const StoredSnapshot& snapshot) const {
  return storage::snapshot_file_path(env_->snapshot_dir(), group, snapshot.meta.index,
                                     snapshot.meta.term);
}

absl::StatusOr<std::unique_ptr<SnapshotReader>> ShardRuntime::open(GroupId group,
                                                                   const StoredSnapshot& snapshot) {
  return open_snapshot_stream(snapshot_path(group, snapshot), snapshot);
}

void ShardRuntime::discard(GroupId group, const StoredSnapshot& snapshot) {
  const std::string path = snapshot_path(group, snapshot);
  ::unlink(path.c_str());
}

void ShardRuntime::send_snapshot(const Message& m, const StoredSnapshot& snapshot) {
  streams_.send(m, snapshot_path(m.group, snapshot), snapshot);
}

void ShardRuntime::write(GroupId group, Index index, Term term, std::string header,
                         std::unique_ptr<SnapshotView> view,
                         absl::AnyInvocable<void(absl::StatusOr<SnapshotFileSummary>)> done) {
  std::string dir = env_->snapshot_dir();
  auto info = std::make_shared<storage::SnapshotFileInfo>();
  // The view is written, and destroyed, on the background thread, while
  // this shard goes on applying and serving.
  run_blocking(
      [dir, group, index, term, header = std::move(header), view = std::move(view), info,
       cancelled = cancel_background_]() mutable -> absl::StatusOr<std::string> {
        auto written = write_snapshot_file(dir, group, index, term, header, *view, cancelled.get());
        view.reset();
        if (!written.ok()) return written.status();
        *info = *written;
        return written->path;
      },
      [this, group, info, done = std::move(done)](absl::StatusOr<std::string> path) mutable {
        if (this->group(group) == nullptr) {
          // Removed meanwhile: nobody waits for it, and its file must go.
          if (path.ok()) ::unlink(path->c_str());
          return;
        }
        if (path.ok()) bump(metrics_.snapshots_made);
        if (path.ok()) {
          done(SnapshotFileSummary{info->bytes, info->checksum});
        } else {
          done(path.status());
        }
        for (auto& [id, g] : groups_) dirty_.insert(g.get());
        schedule_process();
      });
}

void ShardRuntime::run_blocking(absl::AnyInvocable<absl::StatusOr<std::string>()> work,
                                absl::AnyInvocable<void(absl::StatusOr<std::string>)> done) {
  // Finished threads are joined here, so only running ones are kept.
  for (auto it = background_.begin(); it != background_.end();) {
    if (it->finished->load(std::memory_order_acquire)) {
      it->thread.join();
      it = background_.erase(it);
    } else {
      ++it;
    }
  }
  net::Reactor* reactor = &shard_.reactor();
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::thread t([reactor, finished, work = std::move(work), done = std::move(done)]() mutable {
    absl::StatusOr<std::string> result = work();
    reactor->post([result = std::move(result), done = std::move(done)]() mutable {
      done(std::move(result));
    });
    finished->store(true, std::memory_order_release);
  });
  background_.push_back(BackgroundJob{std::move(t), std::move(finished)});
}

}  // namespace raft
