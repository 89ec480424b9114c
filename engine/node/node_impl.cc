// NodeImpl's routing: calls to the shard that owns a group, connections from
// the listener to the shard their handshake names, client requests to the
// client service and their answers back to the connection's home shard
// (batched per loop turn); and stop.
#include "engine/node/node_impl.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/trace.h"
#include "engine/node/client_service.h"
#include "protocol/client_codec.h"

namespace raft {
namespace {

// The answers to one client connection that are ready in one loop turn, sent
// as one frame at the end of the turn: one FlatBuffers build, one checksum
// and one queued frame for many answers (a pipelining client gets hundreds
// per turn). Lives on the connection's home shard and is used only there.
class ReplyBatcher : public std::enable_shared_from_this<ReplyBatcher> {
 public:
  ReplyBatcher(net::Reactor& reactor, std::weak_ptr<net::FrameConnection> conn)
      : reactor_(reactor), conn_(std::move(conn)) {}

  void add(protocol::ClientResponse response) {
    pending_bytes_ += 64 + response.result.size() + response.message.size() + response.json.size() +
                      response.leader_address.size() + 32 * response.peers.size();
    pending_.push_back(std::move(response));
    // Big answers (reads, status) go out at once: a frame stays far below
    // the frame cap.
    if (pending_bytes_ >= kFlushBytes) return flush();
    if (scheduled_) return;
    scheduled_ = true;
    reactor_.defer([self = shared_from_this()] {
      self->scheduled_ = false;
      self->flush();
    });
  }

 private:
  static constexpr size_t kFlushBytes = 1 << 20;

  void flush() {
    if (pending_.empty()) return;  // Flushed early, then the deferred flush.
    RAFT_TRACE_POINT("client_reply");
    if (auto conn = conn_.lock()) {
      // Out with this turn's submit, not one deferred turn later.
      if (conn->send(protocol::encode_client_responses(pending_)).ok()) conn->flush_now();
    }
    pending_.clear();
    pending_bytes_ = 0;
  }

  net::Reactor& reactor_;
  std::weak_ptr<net::FrameConnection> conn_;
  std::vector<protocol::ClientResponse> pending_;
  size_t pending_bytes_ = 0;
  bool scheduled_ = false;
};

}  // namespace

NodeImpl::~NodeImpl() { stop(); }

// ---------------------------------------------------------------------------
// Calls.

bool NodeImpl::on_own_shard(uint32_t shard) const {
  net::Shard* current = net::ShardSet::current();
  return current != nullptr && current->id() == shard && shards_ &&
         &shards_->shard(shard) == current;
}

bool NodeImpl::on_shard(uint32_t shard, absl::AnyInvocable<void()> fn) {
  if (on_own_shard(shard)) {
    fn();
    return true;
  }
  if (!shards_) return false;
  return shards_->send(shard, std::move(fn));
}

bool NodeImpl::run_if_local(GroupId group, absl::FunctionRef<void(ShardRuntime*, Group*)> fn) {
  const uint32_t s = shard_of(group);
  if (!on_own_shard(s)) return false;
  ShardRuntime* rt = runtimes_[s].get();
  fn(rt, rt ? rt->group(group) : nullptr);
  return true;
}

void NodeImpl::with_group(GroupId group, absl::AnyInvocable<void(ShardRuntime*, Group*)> fn) {
  if (run_if_local(group, [&](ShardRuntime* rt, Group* g) { fn(rt, g); })) return;
  const uint32_t s = shard_of(group);
  auto shared = std::make_shared<absl::AnyInvocable<void(ShardRuntime*, Group*)>>(std::move(fn));
  bool ok = on_shard(s, [this, s, group, shared] {
    ShardRuntime* rt = runtimes_[s].get();
    (*shared)(rt, rt ? rt->group(group) : nullptr);
  });
  if (!ok) (*shared)(nullptr, nullptr);
}

std::vector<ShardRuntime*> NodeImpl::runtimes() {
  std::vector<ShardRuntime*> out;
  for (auto& r : runtimes_) out.push_back(r.get());
  return out;
}

// ---------------------------------------------------------------------------
// Connections.

// A connection the listener (shard 0) accepted for another shard: adopted on
// that shard, whose reactor it then belongs to.
void NodeImpl::route_connection(net::DetachedConnection d) {
  const uint32_t target = d.handshake.target_shard;
  auto holder = std::make_shared<net::DetachedConnection>(std::move(d));
  bool ok = shards_->send(target, [this, target, holder]() mutable {
    ShardRuntime& rt = *runtimes_[target];
    net::HandshakeInfo local = handshake_for(target);
    const bool peer = holder->handshake.role == net::ConnectionRole::kPeer;
    net::ConnectionOptions co;
    co.max_frame_bytes = static_cast<uint32_t>(config().max_frame_bytes);
    co.overflow = peer ? net::OverflowPolicy::kDropFrame : net::OverflowPolicy::kCloseConnection;
    net::FrameConnection::Callbacks cb;
    cb.on_close = [](net::FrameConnection&, const absl::Status&) {};
    cb.on_frame = [](net::FrameConnection&, const net::ReceivedFrame&) {};
    auto conn = net::adopt_connection(rt.reactor(), std::move(*holder), local, co, std::move(cb));
    if (peer) {
      attach_peer_connection(rt, conn);
    } else {
      attach_client_connection(rt, conn);
    }
  });
  if (!ok) ::close(holder->fd);
}

void NodeImpl::attach_peer_connection(ShardRuntime& rt,
                                      const std::shared_ptr<net::FrameConnection>& conn) {
  conn->set_frame_handler([&rt](net::FrameConnection& c, const net::ReceivedFrame& frame) {
    rt.on_peer_frame(c.remote_handshake().node_id, frame);
  });
  conn->set_close_handler([](net::FrameConnection&, const absl::Status&) {});
  rt.on_peer_dialled(conn->remote_handshake().node_id);
}

void NodeImpl::attach_client_connection(ShardRuntime& rt,
                                        const std::shared_ptr<net::FrameConnection>& conn) {
  const uint32_t home = rt.shard_id();
  auto replies = std::make_shared<ReplyBatcher>(rt.reactor(), conn);
  // The handler runs on the home shard, whose runtime outlives its connections.
  ShardMetrics* home_metrics = &rt.metrics();
  conn->set_frame_handler([this, home, replies, home_metrics](net::FrameConnection& c,
                                                              const net::ReceivedFrame& frame) {
    RAFT_TRACE_POINT("client_recv");
    auto requests = protocol::decode_client_requests(frame);
    if (!requests.ok()) {
      c.close(absl::InvalidArgumentError(
          absl::StrCat("bad client request: ", requests.status().message())));
      return;
    }
    for (protocol::ClientRequest& req : *requests) {
      // Replies go back on the connection's own shard: at once when the
      // answer comes from it (no task, no copy of the response).
      ClientReply reply_home = [this, home, replies](protocol::ClientResponse response) {
        if (on_own_shard(home)) return replies->add(std::move(response));
        on_shard(home, [replies, response = std::move(response)]() mutable {
          replies->add(std::move(response));
        });
      };
      const GroupId group = req.group;
      // The group lives here (the common case with one shard): no hop,
      // and no closure holding the request.
      if (run_if_local(group, [&](ShardRuntime* rt, Group* g) {
            execute_client_request(context_, rt, g, std::move(req), std::move(reply_home));
          })) {
        continue;
      }
      // Another shard's group: the client did not route by group.
      bump(home_metrics->client_cross_shard);
      with_group(group, [this, req = std::move(req), reply_home = std::move(reply_home)](
                            ShardRuntime* target, Group* g) mutable {
        execute_client_request(context_, target, g, std::move(req), std::move(reply_home));
      });
    }
  });
  conn->set_close_handler([](net::FrameConnection&, const absl::Status&) {});
}

// ---------------------------------------------------------------------------
// Stop.

void NodeImpl::stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (shards_) {
    // Loop-bound objects are freed on their own thread once the loops drained.
    for (uint32_t s = 0; s < shards_->size(); ++s) {
      shards_->send(s, [this, s] {
        if (s == 0) balancer_->stop();
        if (s == 0 && listener_) listener_->stop();
        if (runtimes_[s]) runtimes_[s]->shutdown();
      });
    }
    shards_->stop([this](net::Shard& shard) {
      if (shard.id() == 0) {
        balancer_->stop();
        listener_.reset();
      }
      if (runtimes_[shard.id()]) runtimes_[shard.id()]->shutdown();
      runtimes_[shard.id()].reset();
    });
    shards_.reset();
  }
  runtimes_.clear();
  envs_.clear();
}

}  // namespace raft
