// NodeImpl: the machinery behind Node (engine/node/node.h): the shard set,
// one ShardRuntime per shard, the listener on shard 0 and the routing of
// calls and client connections to the shard that owns a group.
//
// Its code is in three files: node_startup.cc (opening the data dir, the
// node_id file, the envs, starting the shards and the listener),
// node_impl.cc (routing calls and connections to shards, stop) and, for the
// public API on top, node.cc. The node's identity is a NodeContext
// (node_context.h), which is all the shards see of it.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "engine/node/leader_balancer.h"
#include "engine/node/node.h"
#include "engine/node/node_context.h"
#include "engine/node/shard_runtime.h"
#include "net/handshake.h"
#include "net/listener.h"
#include "net/shard.h"

namespace raft {

class NodeImpl {
 public:
  // node_startup.cc.
  static absl::StatusOr<std::unique_ptr<NodeImpl>> start(NodeConfig config,
                                                         StateMachineFactory factory);
  ~NodeImpl();
  void stop();
  // Node::reload_tls (node_startup.cc).
  absl::Status reload_tls();

  const NodeContext& context() const { return context_; }
  const NodeConfig& config() const { return context_.config; }
  NodeId node_id() const { return context_.node_id; }
  const std::string& bound_address() const { return context_.bound_address; }
  net::HandshakeInfo handshake_for(uint32_t shard) const { return context_.handshake_for(shard); }
  uint32_t shard_of(GroupId group) const { return context_.shard_of(group); }
  uint32_t shard_count() const { return context_.shard_count(); }

  // Runs `fn` on the shard owning `group`, with the group (nullptr if this
  // node does not host it). Runs inline when called on that shard already.
  // If the shard cannot take the task (inbox full, stopping), `fn` runs on
  // the calling thread with a null runtime and group.
  void with_group(GroupId group, absl::AnyInvocable<void(ShardRuntime*, Group*)> fn);
  // Runs `fn` on shard `shard` (inline when already there); false if refused.
  bool on_shard(uint32_t shard, absl::AnyInvocable<void()> fn);
  // True on shard `shard`'s own thread (a task for it may run inline).
  bool on_own_shard(uint32_t shard) const;
  // On `group`'s own shard: runs `fn` there and then, as with_group would,
  // and returns true; elsewhere returns false without calling it.
  bool run_if_local(GroupId group, absl::FunctionRef<void(ShardRuntime*, Group*)> fn);

  ShardRuntime* runtime(uint32_t shard) { return runtimes_[shard].get(); }
  LeaderBalancer& balancer() { return *balancer_; }
  const LeaderBalancer& balancer() const { return *balancer_; }
  // The embedder's factory (any thread; calls are serialized).
  std::unique_ptr<StateMachine> make_state_machine(GroupId group);
  std::vector<ShardRuntime*> runtimes();

 private:
  explicit NodeImpl(NodeConfig config);
  // Startup (node_startup.cc).
  absl::Status open_tls();
  absl::Status open_data_dir();
  absl::Status open_envs();
  absl::Status start_shards(StateMachineFactory factory);
  absl::Status open_groups(ShardRuntime& rt);
  absl::Status start_listener(net::Shard& shard);
  // Connections (node_impl.cc): the listener's, on shard 0, and the ones it
  // routes to their target shard.
  void route_connection(net::DetachedConnection detached);
  void attach_peer_connection(ShardRuntime& rt, const std::shared_ptr<net::FrameConnection>& conn);
  void attach_client_connection(ShardRuntime& rt,
                                const std::shared_ptr<net::FrameConnection>& conn);

  NodeContext context_;  // Config, id (after open_data_dir), bound address.
  std::unique_ptr<net::ShardSet> shards_;
  std::vector<std::unique_ptr<ShardRuntime>> runtimes_;
  std::vector<std::unique_ptr<storage::LogEnv>> envs_;  // Until handed to runtimes.
  std::unique_ptr<net::Listener> listener_;             // Shard 0's.
  // Leader balance, on shard 0; outlives the runtimes (its transfers'
  // callbacks run until the groups are gone).
  std::unique_ptr<LeaderBalancer> balancer_;
  // Members' addresses learned when joining, per group: the joiner must be
  // able to answer the leader before its log tells it who is who.
  std::map<GroupId, PeerAddresses> join_peers_;
  std::mutex factory_mu_;
  StateMachineFactory factory_;  // Set before the shards start.
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace raft
