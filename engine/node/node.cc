#include "engine/node/node.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/check.h"
#include "common/trace.h"
#include "engine/node/client.h"
#include "engine/node/client_service.h"
#include "engine/node/node_impl.h"
#include "protocol/client_errors.h"
#include "spdlog/spdlog.h"

namespace raft {
namespace {

absl::StatusOr<NodeId> read_node_id_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NodeId{kNoNode};
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  NodeId id = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &id) || id == 0) {
    return absl::DataLossError(absl::StrCat(path, ": not a node id: \"", text, "\""));
  }
  return id;
}

absl::Status write_node_id_file(const std::string& path, NodeId id) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

bool is_fresh(const std::string& data_dir, uint32_t shards) {
  for (uint32_t s = 0; s < shards; ++s) {
    if (std::filesystem::exists(absl::StrCat(data_dir, "/shard-", s, "/data.mdb"))) return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// NodeImpl.

NodeImpl::NodeImpl(NodeConfig config) : config_(std::move(config)) {}

NodeImpl::~NodeImpl() { stop(); }

net::HandshakeInfo NodeImpl::handshake_for(uint32_t shard) const {
  net::HandshakeInfo h;
  h.cluster_id = config_.cluster_id;
  h.node_id = node_id_;
  h.shard = shard;
  h.target_shard = shard;
  h.role = net::ConnectionRole::kPeer;
  return h;
}

absl::Status NodeImpl::open_data_dir() {
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", config_.data_dir, ": ", ec.message()));
  }
  const std::string id_path = config_.data_dir + "/node_id";
  auto stored = read_node_id_file(id_path);
  if (!stored.ok()) return stored.status();
  const bool fresh = is_fresh(config_.data_dir, config_.shards);
  if (*stored != kNoNode && config_.node_id != kNoNode && *stored != config_.node_id) {
    return absl::FailedPreconditionError(absl::StrCat("data dir ", config_.data_dir,
                                                      " belongs to node ", *stored,
                                                      ", not to node ", config_.node_id));
  }
  node_id_ = config_.node_id != kNoNode ? config_.node_id : *stored;
  if (node_id_ == kNoNode) {
    if (!fresh) {
      return absl::DataLossError(
          absl::StrCat("data dir ", config_.data_dir, " has a log but no node_id file"));
    }
    // A fresh joiner: ask the cluster for an id (reserved as a learner).
    Client client({config_.join_address}, ClientOptions{.cluster_id = config_.cluster_id});
    absl::Status last;
    for (GroupId g : config_.groups) {
      auto id = client.request_id(g, config_.address, &join_peers_[g]);
      if (!id.ok()) {
        return absl::Status(id.status().code(), absl::StrCat("join through ", config_.join_address,
                                                             ": ", id.status().message()));
      }
      if (node_id_ != kNoNode && *id != node_id_) {
        // Groups allocate ids independently; this node needs one id in all.
        return absl::FailedPreconditionError(
            "join: the cluster's groups assigned different ids; join with an explicit node.id");
      }
      node_id_ = *id;
    }
    spdlog::info("joined through {} as node {}", config_.join_address, node_id_);
  } else if (fresh && !config_.join_address.empty()) {
    // A fresh node with an explicit id, to be added by a membership change:
    // it learns the members' addresses from the member it was pointed at
    // (without them it could not answer the leader).
    Client client({config_.join_address}, ClientOptions{.cluster_id = config_.cluster_id});
    for (GroupId g : config_.groups) {
      auto peers = client.peers(g);
      if (!peers.ok()) {
        return absl::Status(
            peers.status().code(),
            absl::StrCat("join through ", config_.join_address, ": ", peers.status().message()));
      }
      join_peers_[g] = std::move(*peers);
    }
  }
  if (*stored == kNoNode) {
    if (auto s = write_node_id_file(id_path, node_id_); !s.ok()) return s;
  }
  for (uint32_t s = 0; s < config_.shards; ++s) {
    storage::EnvOptions eo;
    eo.dir = absl::StrCat(config_.data_dir, "/shard-", s);
    eo.shard = s;
    eo.shard_count = config_.shards;
    eo.initial_map_bytes = config_.lmdb_map_size_bytes;
    eo.queue_capacity = WritePipeline::kMaxBatchesInFlight;
    auto env = storage::LogEnv::open(eo);
    if (!env.ok()) return env.status();
    envs_.push_back(std::move(*env));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<NodeImpl>> NodeImpl::start(NodeConfig config,
                                                          StateMachineFactory factory) {
  if (auto s = config.validate(); !s.ok()) return s;
  std::unique_ptr<NodeImpl> node(new NodeImpl(std::move(config)));
  if (auto s = node->open_data_dir(); !s.ok()) return s;
  if (auto s = node->start_shards(std::move(factory)); !s.ok()) {
    node->stop();
    return s;
  }
  return node;
}

absl::Status NodeImpl::start_shards(StateMachineFactory factory) {
  net::ShardOptions so;
  so.shard_count = config_.shards;
  so.pin_to_cores = config_.pin_shards;
  shards_ = std::make_unique<net::ShardSet>(so);
  runtimes_.resize(config_.shards);
  std::vector<absl::Status> results(config_.shards);
  std::mutex factory_mu;
  // Groups write the static peer list only into a log that is still empty.
  const std::vector<PeerConfig> peers = config_.peers;
  shards_->start([&](net::Shard& shard) {
    const uint32_t s = shard.id();
    auto rt = std::make_unique<ShardRuntime>(*this, shard, std::move(envs_[s]));
    for (GroupId g : config_.groups) {
      if (shard_of(g) != s) continue;
      std::unique_ptr<StateMachine> fsm;
      {
        std::lock_guard<std::mutex> lock(factory_mu);
        fsm = factory(g);
      }
      if (fsm == nullptr) {
        results[s] = absl::InvalidArgumentError(
            absl::StrCat("state machine factory returned null for group ", g));
        break;
      }
      if (auto st = rt->open_group(g, std::move(fsm), peers); !st.ok()) {
        results[s] = st;
        break;
      }
      for (const auto& [peer, address] : join_peers_[g]) rt->peer_address(peer, address);
    }
    if (s == 0 && results[s].ok()) {
      net::ListenerOptions lo;
      lo.address = config_.address;
      lo.local = handshake_for(0);
      lo.shard_count = config_.shards;
      lo.bind_retry = std::chrono::milliseconds(config_.bind_retry_ms);
      lo.peer_connection.max_frame_bytes = static_cast<uint32_t>(config_.max_frame_bytes);
      lo.client_connection.max_frame_bytes = static_cast<uint32_t>(config_.max_frame_bytes);
      net::Listener::Callbacks lc;
      lc.on_peer = [this](std::shared_ptr<net::FrameConnection> conn, const net::HandshakeInfo&) {
        attach_peer_connection(*runtimes_[0], conn);
      };
      lc.on_client = [this](std::shared_ptr<net::FrameConnection> conn, const net::HandshakeInfo&) {
        attach_client_connection(*runtimes_[0], conn);
      };
      lc.route = [this](net::DetachedConnection d) {
        const uint32_t target = d.handshake.target_shard;
        auto holder = std::make_shared<net::DetachedConnection>(std::move(d));
        bool ok = shards_->send(target, [this, target, holder]() mutable {
          ShardRuntime& rt = *runtimes_[target];
          net::HandshakeInfo local = handshake_for(target);
          const bool peer = holder->handshake.role == net::ConnectionRole::kPeer;
          net::ConnectionOptions co;
          co.max_frame_bytes = static_cast<uint32_t>(config_.max_frame_bytes);
          co.overflow =
              peer ? net::OverflowPolicy::kDropFrame : net::OverflowPolicy::kCloseConnection;
          net::FrameConnection::Callbacks cb;
          cb.on_close = [](net::FrameConnection&, const absl::Status&) {};
          cb.on_frame = [](net::FrameConnection&, const net::ReceivedFrame&) {};
          auto conn =
              net::adopt_connection(rt.reactor(), std::move(*holder), local, co, std::move(cb));
          if (peer) {
            attach_peer_connection(rt, conn);
          } else {
            attach_client_connection(rt, conn);
          }
        });
        if (!ok) ::close(holder->fd);
      };
      listener_ = std::make_unique<net::Listener>(shard.reactor(), lo, std::move(lc));
      if (auto st = listener_->start(); !st.ok()) {
        results[s] = st;
      } else {
        bound_address_ = listener_->address();
      }
    }
    runtimes_[s] = std::move(rt);
    if (results[s].ok()) runtimes_[s]->start();
  });
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  spdlog::info("node {} listening on {} with {} shard(s), groups {}", node_id_, bound_address_,
               config_.shards, config_.groups.size());
  return absl::OkStatus();
}

void NodeImpl::attach_peer_connection(ShardRuntime& rt,
                                      const std::shared_ptr<net::FrameConnection>& conn) {
  conn->set_frame_handler([&rt](net::FrameConnection& c, const net::ReceivedFrame& frame) {
    rt.on_peer_frame(c.remote_handshake().node_id, frame);
  });
  conn->set_close_handler([](net::FrameConnection&, const absl::Status&) {});
  rt.on_peer_dialled(conn->remote_handshake().node_id);
}

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

void NodeImpl::attach_client_connection(ShardRuntime& rt,
                                        const std::shared_ptr<net::FrameConnection>& conn) {
  const uint32_t home = rt.shard_id();
  auto replies = std::make_shared<ReplyBatcher>(rt.reactor(), conn);
  conn->set_frame_handler(
      [this, home, replies](net::FrameConnection& c, const net::ReceivedFrame& frame) {
        RAFT_TRACE_POINT("client_recv");
        auto requests = protocol::decode_client_requests(frame);
        if (!requests.ok()) {
          c.close(absl::InvalidArgumentError(
              absl::StrCat("bad client request: ", requests.status().message())));
          return;
        }
        for (protocol::ClientRequest& req : *requests) {
          // Replies go back on the connection's own shard.
          ClientReply reply_home = [this, home, replies](protocol::ClientResponse response) {
            on_shard(home, [replies, response = std::move(response)]() mutable {
              replies->add(std::move(response));
            });
          };
          const GroupId group = req.group;
          with_group(group, [this, req = std::move(req), reply_home = std::move(reply_home)](
                                ShardRuntime* target, Group* g) mutable {
            execute_client_request(*this, target, g, std::move(req), std::move(reply_home));
          });
        }
      });
  conn->set_close_handler([](net::FrameConnection&, const absl::Status&) {});
}

bool NodeImpl::on_shard(uint32_t shard, absl::AnyInvocable<void()> fn) {
  net::Shard* current = net::ShardSet::current();
  if (current != nullptr && current->id() == shard && shards_ &&
      &shards_->shard(shard) == current) {
    fn();
    return true;
  }
  if (!shards_) return false;
  return shards_->send(shard, std::move(fn));
}

void NodeImpl::with_group(GroupId group, absl::AnyInvocable<void(ShardRuntime*, Group*)> fn) {
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

void NodeImpl::stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (shards_) {
    // Loop-bound objects are freed on their own thread once the loops drained.
    for (uint32_t s = 0; s < shards_->size(); ++s) {
      shards_->send(s, [this, s] {
        if (s == 0 && listener_) listener_->stop();
        if (runtimes_[s]) runtimes_[s]->shutdown();
      });
    }
    shards_->stop([this](net::Shard& shard) {
      if (shard.id() == 0) listener_.reset();
      if (runtimes_[shard.id()]) runtimes_[shard.id()]->shutdown();
      runtimes_[shard.id()].reset();
    });
    shards_.reset();
  }
  runtimes_.clear();
  envs_.clear();
}

// ---------------------------------------------------------------------------
// Node.

Node::Node(std::unique_ptr<NodeImpl> impl) : impl_(std::move(impl)) {}
Node::~Node() { stop(); }

absl::StatusOr<std::unique_ptr<Node>> Node::start(NodeConfig config, StateMachineFactory factory) {
  auto impl = NodeImpl::start(std::move(config), std::move(factory));
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Node>(new Node(std::move(*impl)));
}

void Node::stop() {
  if (impl_) impl_->stop();
}

NodeId Node::id() const { return impl_->node_id(); }
std::string Node::address() const { return impl_->bound_address(); }
const NodeConfig& Node::config() const { return impl_->config(); }

namespace {
absl::Status not_hosted(GroupId group) {
  return failed(absl::NotFoundError(absl::StrCat("group ", group, " is not hosted here")));
}
absl::Status overloaded() {
  return refused(absl::UnavailableError("node is overloaded or stopping"));
}

// Runs an asynchronous call and waits for its answer.
template <typename T, typename Start>
absl::StatusOr<T> wait_for(const NodeConfig& config, Start start) {
  if (net::ShardSet::current() != nullptr) {
    return failed(absl::FailedPreconditionError("blocking call on a shard thread would deadlock"));
  }
  auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
  std::future<absl::StatusOr<T>> future = promise->get_future();
  start([promise](absl::StatusOr<T> r) { promise->set_value(std::move(r)); });
  // The group answers by its own deadline; this is only a safety net.
  if (future.wait_for(std::chrono::milliseconds(config.request_timeout_ms * 2 + 1000)) !=
      std::future_status::ready) {
    return unknown(absl::DeadlineExceededError("no answer from the shard"));
  }
  return future.get();
}
}  // namespace

void Node::propose(GroupId group, std::string data, ProposeCallback done) {
  // Through the client service, so that a follower forwards to the leader
  // (NodeConfig::forward_to_leader) and the result still comes back here.
  protocol::ClientRequest req;
  req.kind = protocol::RequestKind::kPropose;
  req.group = group;
  req.data = Slice(std::move(data));
  impl_->with_group(group, [this, req = std::move(req), done = std::move(done)](ShardRuntime* rt,
                                                                                Group* g) mutable {
    execute_client_request(*impl_, rt, g, std::move(req),
                           [done = std::move(done)](protocol::ClientResponse r) mutable {
                             absl::Status s = protocol::response_status(r);
                             if (!s.ok()) return done(s);
                             done(ProposeResult{r.index, r.term, r.result.to_string()});
                           });
  });
}

void Node::read(GroupId group, std::string query, ReadConsistency consistency, ReadCallback done) {
  impl_->with_group(group, [query = std::move(query), consistency, done = std::move(done), group](
                               ShardRuntime* rt, Group* g) mutable {
    if (rt == nullptr) return done(overloaded());
    if (g == nullptr) return done(not_hosted(group));
    bump(rt->metrics().reads);
    g->read(std::move(query), consistency, std::move(done));
    rt->mark_dirty(g);
  });
}

void Node::change_membership(GroupId group, std::vector<MemberChange> changes, ConfCallback done) {
  protocol::ClientRequest req;
  req.kind = protocol::RequestKind::kChangeConfig;
  req.group = group;
  req.changes = std::move(changes);
  impl_->with_group(group, [this, req = std::move(req), done = std::move(done)](ShardRuntime* rt,
                                                                                Group* g) mutable {
    execute_client_request(*impl_, rt, g, std::move(req),
                           [done = std::move(done)](protocol::ClientResponse r) mutable {
                             absl::Status s = protocol::response_status(r);
                             if (!s.ok()) return done(s);
                             done(protocol::response_conf_state(r));  // Joint-config fields too.
                           });
  });
}

void Node::leave(GroupId group, ConfCallback done) {
  change_membership(group, {MemberChange{MemberChangeKind::kRemove, id(), ""}}, std::move(done));
}

void Node::transfer_leader(GroupId group, NodeId target, DoneCallback done) {
  impl_->with_group(group,
                    [target, done = std::move(done), group](ShardRuntime* rt, Group* g) mutable {
                      if (rt == nullptr) return done(overloaded());
                      if (g == nullptr) return done(not_hosted(group));
                      g->transfer_leader(target, std::move(done));
                      rt->mark_dirty(g);
                    });
}

void Node::make_snapshot(GroupId group, IndexCallback done) {
  impl_->with_group(group, [done = std::move(done), group](ShardRuntime* rt, Group* g) mutable {
    if (rt == nullptr) return done(overloaded());
    if (g == nullptr) return done(not_hosted(group));
    g->make_snapshot(std::move(done));
    rt->mark_dirty(g);
  });
}

absl::StatusOr<ProposeResult> Node::propose(GroupId group, std::string data) {
  return wait_for<ProposeResult>(
      config(), [&](ProposeCallback cb) { propose(group, std::move(data), std::move(cb)); });
}

absl::StatusOr<std::string> Node::read(GroupId group, std::string query,
                                       ReadConsistency consistency) {
  return wait_for<std::string>(config(), [&](ReadCallback cb) {
    read(group, std::move(query), consistency, std::move(cb));
  });
}

absl::StatusOr<ConfState> Node::change_membership(GroupId group,
                                                  std::vector<MemberChange> changes) {
  return wait_for<ConfState>(config(), [&](ConfCallback cb) {
    change_membership(group, std::move(changes), std::move(cb));
  });
}

absl::StatusOr<ConfState> Node::add_voter(GroupId group, NodeId node, std::string address) {
  return change_membership(group, {MemberChange{MemberChangeKind::kAddVoter, node, address}});
}
absl::StatusOr<ConfState> Node::add_learner(GroupId group, NodeId node, std::string address) {
  return change_membership(group, {MemberChange{MemberChangeKind::kAddLearner, node, address}});
}
absl::StatusOr<ConfState> Node::promote(GroupId group, NodeId node) {
  return change_membership(group, {MemberChange{MemberChangeKind::kPromote, node, ""}});
}
absl::StatusOr<ConfState> Node::remove(GroupId group, NodeId node) {
  return change_membership(group, {MemberChange{MemberChangeKind::kRemove, node, ""}});
}
absl::StatusOr<ConfState> Node::leave(GroupId group) { return remove(group, id()); }

absl::Status Node::transfer_leader(GroupId group, NodeId target) {
  auto r = wait_for<bool>(config(), [&](absl::AnyInvocable<void(absl::StatusOr<bool>)> cb) {
    transfer_leader(group, target, [cb = std::move(cb)](absl::Status s) mutable {
      if (s.ok()) {
        cb(true);
      } else {
        cb(s);
      }
    });
  });
  return r.status();
}

absl::StatusOr<Index> Node::make_snapshot(GroupId group) {
  return wait_for<Index>(config(), [&](IndexCallback cb) { make_snapshot(group, std::move(cb)); });
}

void Node::leader(GroupId group, absl::AnyInvocable<void(absl::StatusOr<LeaderHint>)> done) {
  impl_->with_group(
      group, [this, done = std::move(done), group](ShardRuntime* rt, Group* g) mutable {
        if (rt == nullptr) return done(overloaded());
        if (g == nullptr) return done(not_hosted(group));
        done(LeaderHint{g->leader(),
                        g->leader() == id() ? impl_->bound_address() : g->address_of(g->leader())});
      });
}

void Node::group_status_json(GroupId group, ReadCallback done) {
  impl_->with_group(group, [done = std::move(done), group](ShardRuntime* rt, Group* g) mutable {
    if (rt == nullptr) return done(overloaded());
    if (g == nullptr) return done(not_hosted(group));
    done(g->status_json());
  });
}

bool Node::run_on_shard(uint32_t shard, absl::AnyInvocable<void(net::Reactor&)> fn) {
  if (shard >= shard_count()) return false;
  return impl_->on_shard(
      shard, [this, shard, fn = std::move(fn)]() mutable { fn(impl_->runtime(shard)->reactor()); });
}

uint32_t Node::shard_count() const { return impl_->shard_count(); }

absl::StatusOr<LeaderHint> Node::leader(GroupId group) const {
  return wait_for<LeaderHint>(
      config(), [&](absl::AnyInvocable<void(absl::StatusOr<LeaderHint>)> cb) {
        impl_->with_group(
            group, [this, cb = std::move(cb), group](ShardRuntime* rt, Group* g) mutable {
              if (rt == nullptr) return cb(overloaded());
              if (g == nullptr) return cb(not_hosted(group));
              LeaderHint h{g->leader(), g->leader() == id() ? impl_->bound_address()
                                                            : g->address_of(g->leader())};
              cb(h);
            });
      });
}

absl::StatusOr<std::vector<MemberInfo>> Node::members(GroupId group) const {
  using Members = std::vector<MemberInfo>;
  return wait_for<Members>(config(), [&](absl::AnyInvocable<void(absl::StatusOr<Members>)> cb) {
    impl_->with_group(group, [cb = std::move(cb), group](ShardRuntime* rt, Group* g) mutable {
      if (rt == nullptr) return cb(overloaded());
      if (g == nullptr) return cb(not_hosted(group));
      ConfState cs = g->conf_state();
      Members out;
      for (NodeId v : cs.voters) out.push_back(MemberInfo{v, g->address_of(v), true});
      for (NodeId l : cs.learners) out.push_back(MemberInfo{l, g->address_of(l), false});
      cb(std::move(out));
    });
  });
}

absl::StatusOr<std::string> Node::group_status_json(GroupId group) const {
  return wait_for<std::string>(config(), [&](ReadCallback cb) {
    impl_->with_group(group, [cb = std::move(cb), group](ShardRuntime* rt, Group* g) mutable {
      if (rt == nullptr) return cb(overloaded());
      if (g == nullptr) return cb(not_hosted(group));
      cb(g->status_json());
    });
  });
}

std::string Node::status_json() const {
  std::string out =
      absl::StrCat("{\"node\":", id(), ",\"address\":\"", address(), "\",\"groups\":[");
  bool first = true;
  for (GroupId g : config().groups) {
    auto s = group_status_json(g);
    if (!s.ok()) continue;
    absl::StrAppend(&out, first ? "" : ",", *s);
    first = false;
  }
  out += "]}";
  return out;
}

std::string Node::metrics_text() const {
  struct Sum {
    const char* name;
    const char* help;
    uint64_t value = 0;
  };
  std::vector<ShardRuntime*> rts = impl_->runtimes();
  auto sum = [&](auto member) {
    uint64_t v = 0;
    for (ShardRuntime* rt : rts) {
      if (rt) v += (rt->metrics().*member).load(std::memory_order_relaxed);
    }
    return v;
  };
  std::string out;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    absl::StrAppend(&out, "# HELP ringraft_", name, " ", help, "\n# TYPE ringraft_", name,
                    " counter\nringraft_", name, " ", v, "\n");
  };
  counter("proposals_total", "Proposals accepted by a leader here.", sum(&ShardMetrics::proposals));
  counter("proposals_failed_total", "Proposals refused or failed.",
          sum(&ShardMetrics::proposals_failed));
  uint64_t applied_entries = 0;
  uint64_t hand_offs = 0;
  for (ShardRuntime* rt : rts) {
    if (!rt) continue;
    for (const auto& [gid, g] : rt->groups()) {
      applied_entries += g->gauges().applied_entries.load(std::memory_order_relaxed);
      hand_offs += g->gauges().leader_hand_offs.load(std::memory_order_relaxed);
    }
  }
  counter("applied_entries_total", "Entries applied to state machines.", applied_entries);
  counter("leader_hand_offs_total",
          "Leadership hand-offs started because this leader's writes kept failing.", hand_offs);
  counter("reads_total", "Reads served.", sum(&ShardMetrics::reads));
  counter("write_batches_total", "Storage write transactions (each one full fsync).",
          sum(&ShardMetrics::batches_submitted));
  counter("entries_persisted_total", "Log entries written.", sum(&ShardMetrics::entries_persisted));
  counter("raft_messages_sent_total", "Raft messages sent.", sum(&ShardMetrics::messages_sent));
  counter("raft_messages_dropped_total", "Raft messages dropped (peer down or queue full).",
          sum(&ShardMetrics::messages_dropped));
  counter("raft_messages_received_total", "Raft messages received.",
          sum(&ShardMetrics::messages_received));
  counter("snapshots_sent_total", "Snapshots streamed to followers.",
          sum(&ShardMetrics::snapshots_sent));
  counter("snapshots_received_total", "Snapshots received from a leader.",
          sum(&ShardMetrics::snapshots_received));
  counter("snapshots_made_total", "Snapshots taken.", sum(&ShardMetrics::snapshots_made));
  counter("client_requests_total", "Client protocol requests.",
          sum(&ShardMetrics::client_requests));
  uint64_t bad = 0;
  uint64_t handshake_timeouts = 0;
  uint64_t commits = 0;
  uint64_t failed_commits = 0;
  uint64_t commit_ns = 0;
  const std::vector<uint32_t> bounds = storage::commit_latency_bounds_us();
  std::vector<uint64_t> latency(bounds.size() + 1);
  for (ShardRuntime* rt : rts) {
    if (!rt) continue;
    bad += rt->reactor().stats().bad_frames();
    handshake_timeouts += rt->reactor().stats().handshake_timeouts.get();
    const storage::EnvStats es = rt->env().stats();
    commits += es.commits;
    failed_commits += es.failed_commits;
    commit_ns += es.txn_commit_ns;
    for (size_t i = 0; i < latency.size() && i < es.commit_latency.size(); ++i)
      latency[i] += es.commit_latency[i];
  }
  counter("bad_frames_total", "Frames rejected (garbage, too large, checksum, verifier).", bad);
  counter("handshake_timeouts_total",
          "Accepted connections closed for sending no handshake in time.", handshake_timeouts);
  counter("fsync_commits_total", "LMDB write transactions committed with full sync.", commits);
  // Per transaction, which may have held several batches; batches failed
  // untried behind a failure were in none.
  counter("write_batches_failed_total", "Storage write transactions that failed.", failed_commits);
  auto gauge = [&](const char* name, const char* help, auto field) {
    absl::StrAppend(&out, "# HELP ringraft_", name, " ", help, "\n# TYPE ringraft_", name,
                    " gauge\n");
    for (ShardRuntime* rt : rts) {
      if (!rt) continue;
      for (const auto& [gid, g] : rt->groups()) {
        absl::StrAppend(&out, "ringraft_", name, "{group=\"", gid, "\"} ",
                        static_cast<uint64_t>((g->gauges().*field).load(std::memory_order_relaxed)),
                        "\n");
      }
    }
  };
  gauge("term", "Current Raft term.", &GroupGauges::term);
  gauge("commit_index", "Highest committed log index.", &GroupGauges::commit);
  gauge("applied_index", "Highest index applied to the state machine.", &GroupGauges::applied);
  gauge("last_index", "Last log index.", &GroupGauges::last_index);
  gauge("leader_id", "Known leader (0: none).", &GroupGauges::leader);
  gauge("is_leader", "1 if this node leads the group.", &GroupGauges::is_leader);
  absl::StrAppend(&out,
                  "# HELP ringraft_entries_per_batch Entries per write transaction.\n"
                  "# TYPE ringraft_entries_per_batch histogram\n");
  uint64_t cumulative = 0;
  const uint64_t batches = sum(&ShardMetrics::batches_submitted);
  for (size_t b = 0; b < 20; ++b) {
    uint64_t n = 0;
    for (ShardRuntime* rt : rts) {
      if (rt) n += rt->metrics().entries_per_batch[b].load(std::memory_order_relaxed);
    }
    cumulative += n;
    absl::StrAppend(&out, "ringraft_entries_per_batch_bucket{le=\"", (uint64_t{2} << b) - 1, "\"} ",
                    cumulative, "\n");
  }
  absl::StrAppend(&out, "ringraft_entries_per_batch_bucket{le=\"+Inf\"} ", cumulative, "\n",
                  "ringraft_entries_per_batch_sum ", sum(&ShardMetrics::entries_persisted), "\n",
                  "ringraft_entries_per_batch_count ", batches, "\n");
  absl::StrAppend(&out,
                  "# HELP ringraft_commit_latency_seconds LMDB commit (page writes and syncs) of "
                  "each write transaction.\n"
                  "# TYPE ringraft_commit_latency_seconds histogram\n");
  cumulative = 0;
  for (size_t b = 0; b < latency.size(); ++b) {
    cumulative += latency[b];
    const std::string le =
        b < bounds.size() ? absl::StrCat(static_cast<double>(bounds[b]) / 1e6) : "+Inf";
    absl::StrAppend(&out, "ringraft_commit_latency_seconds_bucket{le=\"", le, "\"} ", cumulative,
                    "\n");
  }
  absl::StrAppend(&out, "ringraft_commit_latency_seconds_sum ",
                  static_cast<double>(commit_ns) / 1e9, "\n",
                  "ringraft_commit_latency_seconds_count ", cumulative, "\n");
  return out;
}

}  // namespace raft
