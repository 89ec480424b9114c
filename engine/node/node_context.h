// NodeContext: what a shard and the client service know of the node they
// run in: its config, its id, the listener's bound address and the peer
// handshake of each shard. NodeImpl (node_impl.h) owns the one instance and
// fills it during start (the id once the data dir is open, the address once
// shard 0's listener is bound); ShardRuntime and execute_client_request
// only read it, so they need neither node_impl.h nor node.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/core/types.h"
#include "engine/node/config.h"
#include "engine/node/state_machine.h"
#include "net/handshake.h"
#include "net/tls.h"

namespace raft {

struct NodeContext {
  NodeConfig config;
  NodeId node_id = kNoNode;
  // The listener's address ("host:port", the real port if 0 was configured).
  // Set on shard 0 during start, before any request is served.
  std::string bound_address;
  // [tls]: the node's certificate, key and CA (shared by every shard), or
  // nullptr for plain TCP. Made during start, before any connection.
  std::shared_ptr<net::TlsContext> tls;
  // The embedder's state machine factory (calls serialized; any thread),
  // for groups created at runtime. Set before the shards start.
  std::function<std::unique_ptr<StateMachine>(GroupId)> make_state_machine;

  uint32_t shard_count() const { return config.shards; }
  uint32_t shard_of(GroupId group) const { return static_cast<uint32_t>(group % shard_count()); }

  // The handshake this node's shard `shard` opens peer connections with (and
  // answers accepted ones with: its shard_count tells clients where groups
  // live).
  net::HandshakeInfo handshake_for(uint32_t shard) const {
    net::HandshakeInfo h;
    h.cluster_id = config.cluster_id;
    h.node_id = node_id;
    h.shard = shard;
    h.target_shard = shard;
    h.role = net::ConnectionRole::kPeer;
    h.shard_count = shard_count();
    return h;
  }
};

}  // namespace raft
