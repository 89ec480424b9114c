// Client: the blocking C++ client library for a ringraft cluster, a thin
// layer over AsyncClient (async_client.h): each call submits and waits.
//
// It connects to any member and follows NotLeader hints to the leader;
// requests refused with Unavailable ("no leader" during an election,
// backpressure) are retried with capped exponential backoff and jitter, up
// to max_attempts. A request whose answer was lost with its connection, or
// not received within request_timeout, is NOT retried when it may have
// taken effect (a propose): that error says the outcome is unknown (reads,
// status, leader and peers are retried). call_pipelined() sends many
// requests at once before waiting for any answer.
//
// One thread at a time per Client (make one Client per thread, or use an
// AsyncClient, which any number of threads may share). The AsyncClient and
// its IO thread start with the first call.
//
// The typed calls (propose, read, change_config, ...) need only the public
// headers. The raw protocol calls (call, call_pipelined) speak the wire
// types of protocol/client_codec.h (and protocol/client_errors.h for
// response_status), which are not public headers (they pull in the
// FlatBuffers frame): code that uses them includes them; raft_node links
// raft_protocol.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/export.h"
#include "engine/core/types.h"
#include "engine/node/api_types.h"
#include "engine/node/async_client.h"
#include "engine/node/config.h"
#include "engine/node/errors.h"
#include "engine/node/peer_table.h"

namespace raft {

class RINGRAFT_API Client {
 public:
  Client(std::vector<std::string> addresses, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One request, following leader hints and retrying Unavailable. The
  // returned response may still carry an error (protocol::response_status()).
  absl::StatusOr<protocol::ClientResponse> call(protocol::ClientRequest request);
  // Sends every request (together, in order: to the group's leader as last
  // heard, else to the current node), then waits for every response
  // (returned in the requests' order). No retries and no hints followed
  // (but a node that cannot be connected to is skipped for the next one).
  // Request ids are assigned here. An error when any request got no
  // response (lost connection, no reply within request_timeout).
  absl::StatusOr<std::vector<protocol::ClientResponse>> call_pipelined(
      std::vector<protocol::ClientRequest> requests);

  absl::StatusOr<ProposeResult> propose(GroupId group, std::string data);
  absl::StatusOr<std::string> read(GroupId group, std::string query,
                                   ReadConsistency consistency = ReadConsistency::kLinearizable);
  absl::StatusOr<ConfState> change_config(GroupId group, std::vector<MemberChange> changes);
  // Reserves a node id for a node at `address` (it is added as a learner);
  // `peers`, if given, receives the members' addresses.
  absl::StatusOr<NodeId> request_id(GroupId group, std::string address,
                                    PeerAddresses* peers = nullptr);
  absl::StatusOr<ConfState> join(GroupId group, NodeId node, std::string address, bool as_learner);
  absl::StatusOr<ConfState> leave(GroupId group, NodeId node);
  absl::Status transfer_leader(GroupId group, NodeId target);
  absl::StatusOr<Index> snapshot(GroupId group);
  // Groups at runtime, on the node this client reaches (give it one
  // address to ask a given node): creates `group` there with `members` as
  // its initial membership, or removes that node's replica (see
  // Node::create_group / remove_group). Returns the id of the node that
  // answered. Both are idempotent, so they are retried like reads.
  absl::StatusOr<NodeId> create_group(GroupId group, const std::vector<PeerConfig>& members);
  absl::StatusOr<NodeId> remove_group(GroupId group);
  absl::StatusOr<std::string> status(GroupId group);
  absl::StatusOr<LeaderHint> leader(GroupId group);
  absl::StatusOr<PeerAddresses> peers(GroupId group);

  // The node that answered (or lost) the last call ("" before any).
  const std::string& connected_to() const { return connected_address_; }

 private:
  AsyncClient& async();
  CallOptions call_options() const;

  std::vector<std::string> addresses_;
  ClientOptions options_;
  std::unique_ptr<AsyncClient> async_;
  std::string connected_address_;
};

}  // namespace raft
