#include "engine/node/shard_runtime.h"

#include "engine/node/lmdb_log_storage.h"

#include <unistd.h>

#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/trace.h"
#include "engine/node/codec.h"
#include "engine/node/errors.h"
#include "engine/node/node_impl.h"
#include "fbs/frame_generated.h"
#include "net/frame.h"
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
constexpr int kSnapshotChunksPerTick = 16;

uint64_t approx_bytes(const Message& m) {
  // FlatBuffers adds about 56 bytes per entry (table, vtable offset, the
  // data vector's length and padding, the offset in the entries vector): an
  // estimate below that made the builder reallocate and copy the frame.
  uint64_t n = 96;
  for (const Entry& e : m.entries) n += e.data.size() + 64;
  return n;
}

}  // namespace

ShardRuntime::ShardRuntime(NodeImpl& node, net::Shard& shard, std::unique_ptr<storage::LogEnv> env)
    : node_(node),
      shard_(shard),
      config_(node.config()),
      env_(std::move(env)),
      pipeline_(*env_, shard.id(), metrics_, pipeline_callbacks()) {}

WritePipeline::Callbacks ShardRuntime::pipeline_callbacks() {
  WritePipeline::Callbacks cb;
  cb.durable = [this](uint64_t seq) {
    for (auto& [gid, g] : groups_) {
      g->on_durable(seq);
      dirty_.insert(g.get());
    }
  };
  cb.failed = [this](const absl::Status& status) {
    for (auto& [gid, g] : groups_) g->on_write_failed(status);
  };
  cb.before_submit = [this] {
    if (!transport_) return;
    transport_->flush_now();
    shard_.reactor().submit();
  };
  cb.wake = [this] { schedule_process(); };
  return cb;
}

ShardRuntime::~ShardRuntime() {
  for (BackgroundJob& job : background_) job.thread.join();
}

absl::Status ShardRuntime::open_group(GroupId id, std::unique_ptr<StateMachine> fsm,
                                      const std::vector<PeerConfig>& bootstrap) {
  GroupOptions options;
  options.self = node_.node_id();
  options.group = id;
  options.config = &config_;
  options.incarnation = process_incarnation();
  auto g = Group::open(options, GroupPorts{&pipeline_, this, this}, std::move(fsm), bootstrap);
  if (!g.ok()) return g.status();
  Group* raw = g->get();
  groups_[id] = std::move(*g);
  mark_dirty(raw);
  return absl::OkStatus();
}

Group* ShardRuntime::group(GroupId id) {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}

std::vector<GroupId> ShardRuntime::group_ids() const {
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
  topt.seed = node_.node_id() * 7919 + shard_.id();
  net::PeerTransport::Callbacks cb;
  cb.on_unreachable = [this](uint64_t peer, [[maybe_unused]] const absl::Status& status) {
    SPDLOG_DEBUG("shard {}: peer {} unreachable: {}", shard_.id(), peer, status.ToString());
    for (auto& [id, g] : groups_) {
      g->peer_unreachable(peer);
      mark_dirty(g.get());
    }
  };
  // Peers answer on the connection they accepted from us only with their own
  // dialled connection, but a frame here is handled the same way.
  cb.on_frame = [this](uint64_t peer, const net::ReceivedFrame& frame) {
    on_peer_frame(peer, frame);
  };
  transport_ = std::make_unique<net::PeerTransport>(shard_.reactor(), topt, std::move(cb));
  for (const auto& [node, address] : peer_addresses_) {
    if (node != node_.node_id()) (void)transport_->add_peer(node, address, shard_.id());
  }

  tick_timer_ = std::make_unique<net::Timer>(shard_.reactor(), [this] { tick(); });
  tick_timer_->arm_periodic(std::chrono::milliseconds(config_.tick_interval_ms));
  pipeline_.start(shard_.reactor());
  schedule_process();
}

void ShardRuntime::shutdown() {
  stopping_ = true;
  if (tick_timer_) tick_timer_->cancel();
  pipeline_.stop();
  if (transport_) transport_->shutdown();
  outgoing_snapshots_.clear();
  incoming_snapshots_.clear();
  for (BackgroundJob& job : background_) job.thread.join();
  background_.clear();
}

// ---------------------------------------------------------------------------
// The loop.

void ShardRuntime::mark_dirty(Group* g) {
  dirty_.insert(g);
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
    for (Group* g : dirty) g->process();
  }
  flush_outbox();
  pipeline_.submit();
  if (!dirty_.empty()) schedule_process();
}

void ShardRuntime::tick() {
  for (auto& [id, g] : groups_) {
    g->tick();
    dirty_.insert(g.get());
  }
  pump_snapshots();
  expire_forwards();
  // An idle shard writes its lazy commit indexes (WritePipeline::tick).
  pipeline_.tick();
  schedule_process();
}

// ---------------------------------------------------------------------------
// Raft messages.

void ShardRuntime::peer_address(NodeId node, const std::string& address) {
  if (node == node_.node_id()) return;
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
  if (m.to == node_.node_id()) return;
  uint64_t& bytes = outbox_bytes_[m.to];
  std::vector<Message>& q = outbox_[m.to];
  const uint64_t size = approx_bytes(m);
  if (bytes + size > kMaxRaftFrameBytes && !q.empty()) {
    flush_outbox();
  }
  outbox_[m.to].push_back(m);
  outbox_bytes_[m.to] += size;
}

void ShardRuntime::flush_outbox() {
  if (!transport_) return;
  for (auto& [peer, messages] : outbox_) {
    if (messages.empty()) continue;
    flatbuffers::FlatBufferBuilder b(outbox_bytes_[peer] + 1024);
    auto batch = encode_raft_batch(b, messages);
    b.Finish(fbs::CreateFrame(b, fbs::FrameBody::RaftBatch, batch.Union()));
    net::OutFrame frame = net::frame_from_builder(b);
    RAFT_TRACE_POINT("peer_send");
    absl::Status s = transport_->send(peer, std::move(frame));
    if (s.ok()) {
      bump(metrics_.messages_sent, messages.size());
      bump(metrics_.frames_sent);
    } else {
      bump(metrics_.messages_dropped, messages.size());
    }
    messages.clear();
  }
  outbox_.clear();
  outbox_bytes_.clear();
}

void ShardRuntime::forward(NodeId leader, net::ClientRequest request, ClientReply reply) {
  const uint64_t id = next_forward_id_++;
  Forwarded f;
  f.original_id = request.request_id;
  f.deadline = shard_.reactor().now() + std::chrono::milliseconds(config_.request_timeout_ms);
  f.reply = std::move(reply);
  request.request_id = id;
  absl::Status sent = transport_ ? transport_->send(leader, net::encode_client_requests({request}))
                                 : absl::UnavailableError("stopping");
  if (!sent.ok()) {
    net::ClientResponse r;
    r.request_id = f.original_id;
    r.kind = request.kind;
    set_response_error(r, refused(absl::UnavailableError(absl::StrCat(
                              "cannot forward to leader ", leader, ": ", sent.message()))));
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
    net::ClientResponse r;
    r.request_id = it->second.original_id;
    set_response_error(
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
  switch (frame.frame->body_type()) {
    case fbs::FrameBody::ClientRequestBatch: {
      // Requests a follower forwarded to us; answers go back to it.
      auto requests = net::decode_client_requests(frame);
      if (!requests.ok()) return;
      for (net::ClientRequest& req : *requests) {
        Group* g = group(req.group);
        execute_client_request(
            node_, this, g, std::move(req),
            [this, from](net::ClientResponse response) {
              if (transport_)
                (void)transport_->send(from, net::encode_client_responses({response}));
            },
            /*may_forward=*/false);
      }
      return;
    }
    case fbs::FrameBody::ClientResponseBatch: {
      auto responses = net::decode_client_responses(frame);
      if (!responses.ok()) return;
      for (net::ClientResponse& r : *responses) {
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
      const fbs::RaftBatch* batch = frame.frame->body_as_RaftBatch();
      if (batch->messages() == nullptr) return;
      for (const fbs::Message* fm : *batch->messages()) {
        auto m = decode_message(*fm, frame.payload.owner());
        if (!m.ok()) {
          SPDLOG_DEBUG("shard {}: bad raft message: {}", shard_.id(), m.status().ToString());
          continue;
        }
        bump(metrics_.messages_received);
        Group* g = group(m->group);
        if (g == nullptr || m->to != node_.node_id()) continue;
        g->step(std::move(*m));
        dirty_.insert(g);
      }
      schedule_process();
      return;
    }
    case fbs::FrameBody::SnapshotChunk:
      on_snapshot_chunk(*frame.frame->body_as_SnapshotChunk(), frame);
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

absl::StatusOr<std::string> ShardRuntime::read(GroupId group, const StoredSnapshot& snapshot) {
  const std::string path = snapshot_path(group, snapshot);
  auto reader =
      storage::SnapshotFileReader::open(path, snapshot.file_bytes, snapshot.file_checksum);
  if (!reader.ok()) return reader.status();
  std::string image;
  image.reserve((*reader)->size());
  while (!(*reader)->done()) {
    auto chunk = (*reader)->next_chunk(1 << 20);
    if (!chunk.ok())
      return absl::Status(chunk.status().code(),
                          absl::StrCat(path, ": ", chunk.status().message()));
    image.append(*chunk);
  }
  return image;
}

void ShardRuntime::discard(GroupId group, const StoredSnapshot& snapshot) {
  const std::string path = snapshot_path(group, snapshot);
  ::unlink(path.c_str());
}

void ShardRuntime::send_snapshot(const Message& m, const StoredSnapshot& snapshot) {
  Group* g = group(m.group);
  for (const OutgoingSnapshot& o : outgoing_snapshots_) {
    if (o.group == m.group && o.announce.to == m.to) return;  // Already streaming.
  }
  const uint64_t file_checksum = snapshot.file_checksum;
  auto reader = storage::SnapshotFileReader::open(snapshot_path(m.group, snapshot),
                                                  snapshot.file_bytes, file_checksum);
  if (!reader.ok()) {
    spdlog::error("group {}: cannot stream snapshot to {}: {}", m.group, m.to,
                  reader.status().ToString());
    if (g) g->snapshot_sent(m.to, false);
    return;
  }
  OutgoingSnapshot o;
  o.group = m.group;
  o.announce = m;
  o.reader = std::move(*reader);
  o.checksum = file_checksum;
  outgoing_snapshots_.push_back(std::move(o));
  pump_snapshots();
}

void ShardRuntime::pump_snapshots() {
  for (auto it = outgoing_snapshots_.begin(); it != outgoing_snapshots_.end();) {
    OutgoingSnapshot& o = *it;
    Group* g = group(o.group);
    bool finished = false;
    bool ok = true;
    for (int i = 0; i < kSnapshotChunksPerTick && !finished; ++i) {
      const uint64_t offset = o.reader->offset();
      auto chunk = o.reader->next_chunk(config_.snapshot_chunk_bytes);
      if (!chunk.ok()) {
        spdlog::error("group {}: snapshot stream to {}: {}", o.group, o.announce.to,
                      chunk.status().ToString());
        ok = false;
        finished = true;
        break;
      }
      const bool last = o.reader->done();
      flatbuffers::FlatBufferBuilder b(chunk->size() + 1024);
      auto data = b.CreateVector(reinterpret_cast<const uint8_t*>(chunk->data()), chunk->size());
      flatbuffers::Offset<fbs::SnapshotMeta> meta = 0;
      if (offset == 0) meta = encode_snapshot_meta(b, o.announce.snapshot->meta);
      fbs::SnapshotChunkBuilder cb(b);
      cb.add_group(o.group);
      cb.add_from(o.announce.from);
      cb.add_to(o.announce.to);
      cb.add_term(o.announce.term);
      cb.add_snapshot_index(o.announce.snapshot->meta.index);
      cb.add_snapshot_term(o.announce.snapshot->meta.term);
      cb.add_offset(offset);
      cb.add_data(data);
      cb.add_last(last);
      if (offset == 0) cb.add_meta(meta);
      if (last) cb.add_checksum(o.checksum);
      auto chunk_off = cb.Finish();
      b.Finish(fbs::CreateFrame(b, fbs::FrameBody::SnapshotChunk, chunk_off.Union()));
      if (!transport_->send(o.announce.to, net::frame_from_builder(b)).ok()) {
        ok = false;
        finished = true;
        break;
      }
      if (last) finished = true;
    }
    if (finished) {
      if (ok) bump(metrics_.snapshots_sent);
      if (g) {
        g->snapshot_sent(o.announce.to, ok);
        dirty_.insert(g);
      }
      it = outgoing_snapshots_.erase(it);
    } else {
      ++it;
    }
  }
  if (!dirty_.empty()) schedule_process();
}

void ShardRuntime::on_snapshot_chunk(const fbs::SnapshotChunk& c, const net::ReceivedFrame& frame) {
  Group* g = group(c.group());
  if (g == nullptr || c.to() != node_.node_id()) return;
  auto key = std::make_pair(c.group(), c.from());
  auto it = incoming_snapshots_.find(key);
  if (c.offset() == 0) {
    if (c.meta() == nullptr) return;
    // One stream per group: a new start abandons any other, also one from a
    // sender that died mid-stream (the same snapshot would share its file).
    for (auto o = incoming_snapshots_.begin(); o != incoming_snapshots_.end();) {
      o = o->first.first == c.group() ? incoming_snapshots_.erase(o) : std::next(o);
    }
    // A duplicate of a snapshot the group already covers, or of one still
    // being finished, is not received: its file name is the same
    // (group-index-term), so writing it would truncate or replace a file in
    // use. The leader's probe goes on after the stream.
    if (!g->wants_snapshot(c.snapshot_index()) ||
        finishing_snapshots_.contains(
            std::make_tuple(c.group(), c.snapshot_index(), c.snapshot_term()))) {
      return;
    }
    auto writer = storage::SnapshotFileWriter::create(env_->snapshot_dir(), c.group(),
                                                      c.snapshot_index(), c.snapshot_term());
    if (!writer.ok()) {
      spdlog::error("group {}: cannot receive snapshot: {}", c.group(), writer.status().ToString());
      return;
    }
    IncomingSnapshot in;
    in.group = c.group();
    in.from = c.from();
    in.index = c.snapshot_index();
    in.term = c.snapshot_term();
    in.writer = std::move(*writer);
    in.announce.type = MessageType::kSnapshot;
    in.announce.group = c.group();
    in.announce.from = c.from();
    in.announce.to = c.to();
    in.announce.term = c.term();
    in.announce.snapshot = Snapshot{decode_snapshot_meta(c.meta()), Slice()};
    it = incoming_snapshots_.emplace(key, std::move(in)).first;
  }
  if (it == incoming_snapshots_.end()) return;  // Middle of a stream we did not see start.
  IncomingSnapshot& in = it->second;
  if (c.snapshot_index() != in.index || c.offset() != in.next_offset) {
    // A chunk was lost (dropped frame): give up; the leader retries.
    incoming_snapshots_.erase(it);
    return;
  }
  Slice data = frame.slice_of(c.data());
  if (absl::Status s = in.writer->write(data.view()); !s.ok()) {
    spdlog::error("group {}: writing received snapshot: {}", c.group(), s.ToString());
    incoming_snapshots_.erase(it);
    return;
  }
  in.next_offset += data.size();
  if (!c.last()) return;
  // fsync and rename off the loop, then hand the file to the group.
  const uint64_t expected_checksum = c.checksum();
  const uint64_t bytes = in.next_offset;
  const Index in_index = in.index;
  const Term in_term = in.term;
  Message announce = in.announce;
  std::shared_ptr<storage::SnapshotFileWriter> writer(std::move(in.writer));
  incoming_snapshots_.erase(it);
  const auto finishing = std::make_tuple(announce.group, in_index, in_term);
  finishing_snapshots_.insert(finishing);
  auto info = std::make_shared<storage::SnapshotFileInfo>();
  run_blocking(
      [writer, info]() -> absl::StatusOr<std::string> {
        auto r = writer->finish();
        if (!r.ok()) return r.status();
        *info = *r;
        return r->path;
      },
      [this, announce, expected_checksum, bytes, info,
       finishing](absl::StatusOr<std::string> path) {
        finishing_snapshots_.erase(finishing);
        Group* g = group(announce.group);
        if (!path.ok() || g == nullptr) {
          if (!path.ok()) {
            spdlog::error("group {}: finishing received snapshot: {}", announce.group,
                          path.status().ToString());
          }
          return;
        }
        if (info->checksum != expected_checksum || info->bytes != bytes) {
          spdlog::error("group {}: received snapshot {} has a bad checksum; dropped",
                        announce.group, *path);
          ::unlink(path->c_str());
          return;
        }
        bump(metrics_.snapshots_received);
        g->snapshot_received(announce,
                             StoredSnapshot{announce.snapshot->meta, info->bytes, info->checksum});
        dirty_.insert(g);
        schedule_process();
      });
}

void ShardRuntime::write(GroupId group, Index index, Term term, std::string image,
                         absl::AnyInvocable<void(absl::Status)> done) {
  std::string dir = env_->snapshot_dir();
  run_blocking(
      [dir, group, index, term, image = std::move(image)]() -> absl::StatusOr<std::string> {
        auto writer = storage::SnapshotFileWriter::create(dir, group, index, term);
        if (!writer.ok()) return writer.status();
        constexpr size_t kChunk = 1 << 20;
        for (size_t off = 0; off < image.size(); off += kChunk) {
          if (auto s = (*writer)->write(std::string_view(image).substr(off, kChunk)); !s.ok()) {
            return s;
          }
        }
        auto info = (*writer)->finish();
        if (!info.ok()) return info.status();
        return info->path;
      },
      [this, done = std::move(done)](absl::StatusOr<std::string> path) mutable {
        if (path.ok()) bump(metrics_.snapshots_made);
        done(path.status());
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
