// NodeImpl's startup: the data dir (the node_id file, asking the cluster for
// an id or for the members' addresses when joining, one LogEnv per shard),
// then the shards with their groups, and shard 0's listener.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "engine/node/client.h"
#include "engine/node/node_impl.h"
#include "spdlog/spdlog.h"

namespace raft {
namespace {

net::TlsOptions tls_options(const TlsConfig& tls) {
  net::TlsOptions o;
  o.ca_file = tls.ca_file;
  o.cert_file = tls.cert_file;
  o.key_file = tls.key_file;
  o.verify_peer = tls.verify_peer;
  o.require_client_certificate = tls.client_cert_required;
  o.allow_tls12 = tls.allow_tls12;
  return o;
}

ClientOptions::Tls client_tls_options(const TlsConfig& tls) {
  ClientOptions::Tls o;
  if (!tls.enabled()) return o;
  o.ca_file = tls.ca_file;
  o.cert_file = tls.cert_file;
  o.key_file = tls.key_file;
  o.allow_tls12 = tls.allow_tls12;
  return o;
}

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

absl::Status join_error(const NodeConfig& config, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("join through ", config.join_address, ": ", status.message()));
}

// A fresh joiner: asks the cluster for an id (reserved as a learner in each
// group), and learns the members' addresses on the way.
absl::StatusOr<NodeId> request_node_id(const NodeConfig& config,
                                       std::map<GroupId, PeerAddresses>& join_peers) {
  Client client({config.join_address}, ClientOptions{.cluster_id = config.cluster_id,
                                                     .tls = client_tls_options(config.tls)});
  NodeId node_id = kNoNode;
  for (GroupId g : config.groups) {
    auto id = client.request_id(g, config.address, &join_peers[g]);
    if (!id.ok()) return join_error(config, id.status());
    if (node_id != kNoNode && *id != node_id) {
      // Groups allocate ids independently; this node needs one id in all.
      return absl::FailedPreconditionError(
          "join: the cluster's groups assigned different ids; join with an explicit node.id");
    }
    node_id = *id;
  }
  spdlog::info("joined through {} as node {}", config.join_address, node_id);
  return node_id;
}

// A fresh node with an explicit id, to be added by a membership change: it
// learns the members' addresses from the member it was pointed at (without
// them it could not answer the leader).
absl::Status fetch_join_peers(const NodeConfig& config,
                              std::map<GroupId, PeerAddresses>& join_peers) {
  Client client({config.join_address}, ClientOptions{.cluster_id = config.cluster_id,
                                                     .tls = client_tls_options(config.tls)});
  for (GroupId g : config.groups) {
    auto peers = client.peers(g);
    if (!peers.ok()) return join_error(config, peers.status());
    join_peers[g] = std::move(*peers);
  }
  return absl::OkStatus();
}

}  // namespace

NodeImpl::NodeImpl(NodeConfig config) {
  context_.config = std::move(config);
  balancer_ = std::make_unique<LeaderBalancer>(*this, context_.config);
}

absl::StatusOr<std::unique_ptr<NodeImpl>> NodeImpl::start(NodeConfig config,
                                                          StateMachineFactory factory) {
  if (auto s = config.validate(); !s.ok()) return s;
  std::unique_ptr<NodeImpl> node(new NodeImpl(std::move(config)));
  if (auto s = node->open_tls(); !s.ok()) return s;
  if (auto s = node->open_data_dir(); !s.ok()) return s;
  if (auto s = node->start_shards(std::move(factory)); !s.ok()) {
    node->stop();
    return s;
  }
  return node;
}

// [tls]: loads the files now, so that a node with an unreadable key or a
// certificate that does not match it refuses to start, saying which.
absl::Status NodeImpl::open_tls() {
  const TlsConfig& tls = context_.config.tls;
  if (!tls.enabled()) return absl::OkStatus();
  auto ctx = net::TlsContext::create(tls_options(tls));
  if (!ctx.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("[tls]: ", ctx.status().message(), " (the node does not start)"));
  }
  context_.tls = *ctx;
  spdlog::info("TLS on {} ({}, peers {}verified)", context_.config.address,
               tls.allow_tls12 ? "TLS 1.2+" : "TLS 1.3", tls.verify_peer ? "" : "NOT ");
  return absl::OkStatus();
}

absl::Status NodeImpl::reload_tls() {
  if (context_.tls == nullptr) return absl::FailedPreconditionError("this node has no [tls]");
  absl::Status s = context_.tls->reload(tls_options(context_.config.tls));
  if (s.ok()) {
    spdlog::info("TLS files reloaded (generation {}): new connections use them",
                 context_.tls->generation());
  } else {
    spdlog::warn("TLS reload failed, keeping the previous files: {}", std::string(s.message()));
  }
  return s;
}

absl::Status NodeImpl::open_data_dir() {
  const NodeConfig& config = context_.config;
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", config.data_dir, ": ", ec.message()));
  }
  const std::string id_path = config.data_dir + "/node_id";
  auto stored = read_node_id_file(id_path);
  if (!stored.ok()) return stored.status();
  const bool fresh = is_fresh(config.data_dir, config.shards);
  if (*stored != kNoNode && config.node_id != kNoNode && *stored != config.node_id) {
    return absl::FailedPreconditionError(absl::StrCat("data dir ", config.data_dir,
                                                      " belongs to node ", *stored,
                                                      ", not to node ", config.node_id));
  }
  NodeId& node_id = context_.node_id;
  node_id = config.node_id != kNoNode ? config.node_id : *stored;
  if (node_id == kNoNode) {
    if (!fresh) {
      return absl::DataLossError(
          absl::StrCat("data dir ", config.data_dir, " has a log but no node_id file"));
    }
    auto id = request_node_id(config, join_peers_);
    if (!id.ok()) return id.status();
    node_id = *id;
  } else if (fresh && !config.join_address.empty()) {
    if (auto s = fetch_join_peers(config, join_peers_); !s.ok()) return s;
  }
  if (*stored == kNoNode) {
    if (auto s = write_node_id_file(id_path, node_id); !s.ok()) return s;
  }
  return open_envs();
}

absl::Status NodeImpl::open_envs() {
  const NodeConfig& config = context_.config;
  for (uint32_t s = 0; s < config.shards; ++s) {
    storage::EnvOptions eo;
    eo.dir = absl::StrCat(config.data_dir, "/shard-", s);
    eo.shard = s;
    eo.shard_count = config.shards;
    eo.initial_map_bytes = config.lmdb_map_size_bytes;
    eo.journal = true;
    eo.journal_segment_bytes = config.journal_segment_bytes;
    eo.journal_segments = config.journal_segments;
    eo.commit_interval_us = config.lmdb_commit_interval_us;
    auto env = storage::LogEnv::open(eo);
    if (!env.ok()) return env.status();
    envs_.push_back(std::move(*env));
  }
  return absl::OkStatus();
}

absl::Status NodeImpl::start_shards(StateMachineFactory factory) {
  const NodeConfig& config = context_.config;
  // spdlog's registry (a function-local static inside the shared library)
  // is built here, before the shard threads log: their first lines at once
  // (bootstrap_groups) would otherwise race to construct it, which the C++
  // guard makes safe but ThreadSanitizer, blind inside libspdlog, reports.
  (void)spdlog::default_logger_raw();
  net::ShardOptions so;
  so.shard_count = config.shards;
  so.pin_to_cores = config.pin_shards;
  shards_ = std::make_unique<net::ShardSet>(so);
  runtimes_.resize(config.shards);
  std::vector<absl::Status> results(config.shards);
  factory_ = std::move(factory);
  context_.make_state_machine = [this](GroupId g) { return make_state_machine(g); };
  shards_->start([&](net::Shard& shard) {
    const uint32_t s = shard.id();
    auto rt = std::make_unique<ShardRuntime>(context_, shard, std::move(envs_[s]));
    results[s] = open_groups(*rt);
    if (s == 0 && results[s].ok()) results[s] = start_listener(shard);
    runtimes_[s] = std::move(rt);
    if (results[s].ok()) runtimes_[s]->start();
  });
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  // Leader balance runs on shard 0 once every shard runs (its timer is
  // armed even while off: Node::set_leader_balance may turn it on).
  on_shard(0, [this] { balancer_->start(runtimes_[0]->reactor()); });
  spdlog::info("node {} listening on {} with {} shard(s), groups {}", context_.node_id,
               context_.bound_address, config.shards, config.groups.size());
  return absl::OkStatus();
}

std::unique_ptr<StateMachine> NodeImpl::make_state_machine(GroupId group) {
  std::lock_guard<std::mutex> lock(factory_mu_);
  return factory_(group);
}

// On `rt`'s shard thread, before it starts: the groups of that shard, i.e.
// [node] groups and the groups created at runtime (hosted in its env), but
// not the removed ones (tombstones in its env), even if [node] lists them.
absl::Status NodeImpl::open_groups(ShardRuntime& rt) {
  const NodeConfig& config = context_.config;
  std::set<GroupId> groups;
  for (GroupId g : config.groups) {
    if (shard_of(g) == rt.shard_id()) groups.insert(g);
  }
  for (GroupId g : rt.env().hosted_groups()) groups.insert(g);
  std::vector<GroupId> open;
  std::vector<GroupId> configured;
  for (GroupId g : groups) {
    if (rt.removed(g)) {
      spdlog::info("group {} was removed from this node: not opened", g);
      continue;
    }
    open.push_back(g);
    if (std::find(config.groups.begin(), config.groups.end(), g) != config.groups.end()) {
      configured.push_back(g);
    }
  }
  // The fresh configured groups' static peer lists in a few commits, not
  // one each; a group created at runtime has its members in its log.
  if (auto st = rt.bootstrap_groups(configured, config.peers); !st.ok()) return st;
  for (GroupId g : open) {
    std::unique_ptr<StateMachine> fsm = make_state_machine(g);
    if (fsm == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("state machine factory returned null for group ", g));
    }
    // Groups write the static peer list only into a log that is still
    // empty; a group created at runtime has its members in its log.
    const bool listed =
        std::find(config.groups.begin(), config.groups.end(), g) != config.groups.end();
    if (auto st =
            rt.open_group(g, std::move(fsm), listed ? config.peers : std::vector<PeerConfig>{});
        !st.ok()) {
      return st;
    }
    // Read only: the shards run this at the same time.
    if (auto it = join_peers_.find(g); it != join_peers_.end()) {
      for (const auto& [peer, address] : it->second) rt.peer_address(peer, address);
    }
  }
  return absl::OkStatus();
}

// On shard 0's thread: binds the listener, which hands each accepted
// connection to the shard its handshake names.
absl::Status NodeImpl::start_listener(net::Shard& shard) {
  const NodeConfig& config = context_.config;
  net::ListenerOptions lo;
  lo.address = config.address;
  lo.local = handshake_for(0);
  lo.shard_count = config.shards;
  lo.bind_retry = std::chrono::milliseconds(config.bind_retry_ms);
  lo.peer_connection.max_frame_bytes = static_cast<uint32_t>(config.max_frame_bytes);
  lo.client_connection.max_frame_bytes = static_cast<uint32_t>(config.max_frame_bytes);
  if (context_.tls) {
    lo.peer_connection.tls = context_.tls;
    lo.client_connection.tls = context_.tls;
    lo.require_peer_certificate = config.tls.verify_peer;
    for (const PeerConfig& p : config.peers) {
      if (!p.tls_name.empty()) lo.tls_peer_names[p.id] = p.tls_name;
    }
    lo.handshake_timeout = std::chrono::milliseconds(config.tls.handshake_timeout_ms);
  }
  net::Listener::Callbacks lc;
  lc.on_peer = [this](std::shared_ptr<net::FrameConnection> conn, const net::HandshakeInfo&) {
    attach_peer_connection(*runtimes_[0], conn);
  };
  lc.on_client = [this](std::shared_ptr<net::FrameConnection> conn, const net::HandshakeInfo&) {
    attach_client_connection(*runtimes_[0], conn);
  };
  lc.route = [this](net::DetachedConnection d) { route_connection(std::move(d)); };
  listener_ = std::make_unique<net::Listener>(shard.reactor(), lo, std::move(lc));
  if (auto st = listener_->start(); !st.ok()) return st;
  context_.bound_address = listener_->address();
  return absl::OkStatus();
}

}  // namespace raft
