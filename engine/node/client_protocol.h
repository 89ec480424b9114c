// The client protocol in C++ terms: ClientCall (one request) and ClientReply
// (its answer), and their conversion to and from fbs/client.fbs frames. The
// node's client service and the client library both speak through these, so
// the mapping lives in one place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"
#include "engine/node/group.h"
#include "engine/node/peer_table.h"
#include "fbs/frame_generated.h"
#include "net/frame.h"

namespace raft {

enum class CallKind : uint8_t {
  kPropose = 1,
  kRead,
  kChangeConfig,
  kRequestId,
  kJoin,
  kLeave,
  kTransferLeader,
  kSnapshot,
  kStatus,
  kLeader,
  kPeers,
};

const char* call_kind_name(CallKind kind);

enum class WireReadMode : uint8_t { kLinearizable = 0, kLease = 1, kStale = 2 };

struct ClientCall {
  uint64_t request_id = 0;
  GroupId group = 1;
  uint32_t timeout_ms = 0;
  CallKind kind = CallKind::kStatus;
  std::string data;  // Propose: the command. Read: the query.
  WireReadMode read_mode = WireReadMode::kLinearizable;
  std::vector<MemberChange> changes;  // ChangeConfig.
  std::string address;                // RequestId, Join.
  NodeId node_id = kNoNode;           // Join, Leave.
  bool as_learner = false;            // Join.
  NodeId target = kNoNode;            // TransferLeader.
};

struct ClientReply {
  uint64_t request_id = 0;
  CallKind kind = CallKind::kStatus;
  absl::Status status;  // NotLeader as not_leader_error() (engine/node/errors.h).
  Index index = 0;
  Term term = 0;
  std::string result;  // Propose/Read result; Status JSON.
  ConfState conf_state;
  NodeId node_id = kNoNode;  // RequestId, Join, TransferLeader (new leader), Leader.
  std::string address;       // Leader.
  PeerAddresses peers;       // RequestId, Join, Peers.
};

// Frames holding a batch of calls / replies.
net::OutFrame encode_calls(const std::vector<ClientCall>& calls);
net::OutFrame encode_replies(const std::vector<ClientReply>& replies);

// From a verified frame's tables. InvalidArgument for a request this node
// cannot make sense of (unknown body, missing fields).
absl::StatusOr<ClientCall> decode_call(const fbs::ClientRequest& request);
ClientReply decode_reply(const fbs::ClientResponse& response);

}  // namespace raft
