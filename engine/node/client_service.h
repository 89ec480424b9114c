// The client service: answers one client-protocol request against a group,
// on the shard that owns it. The listener's client connections and requests
// forwarded by followers (over peer connections) both end here.
#pragma once

#include "absl/functional/any_invocable.h"
#include "engine/node/group.h"
#include "engine/node/node_context.h"
#include "protocol/client_codec.h"

namespace raft {

class ShardRuntime;

using ClientReply = absl::AnyInvocable<void(protocol::ClientResponse)>;

// Runs on `rt`'s shard thread (`rt` null: the shard refused the task; `g`
// null: the group is not hosted here). `reply` runs on the same thread, now
// or when the request completes. A follower that cannot serve a proposal or
// a membership change forwards it to the leader when the config says so.
// `may_forward` is false for requests that were forwarded to this node
// already (they are never forwarded twice).
void execute_client_request(const NodeContext& node, ShardRuntime* rt, Group* g,
                            protocol::ClientRequest req, ClientReply reply,
                            bool may_forward = true);

}  // namespace raft
