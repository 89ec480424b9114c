// The client protocol (fbs/client.fbs) in plain C++: encode requests and
// responses into frames, and decode (and validate) them from verified
// frames. The node's client service and the client library both use it;
// client_errors.h maps ClientError codes and outcomes to and from
// absl::Status.
//
// The requests and answers speak the public API's vocabulary
// (engine/node/api_types.h: MemberChange, ReadConsistency, PeerRole;
// engine/node/errors.h: Outcome). The wire's own enums (fbs::ConfChangeKind,
// fbs::ReadMode, fbs::PeerRole, fbs::Outcome) never leave client_codec.cc,
// which converts with explicit switches; a value the API has no name for is
// refused when decoding (or, for an outcome, left unsaid).
//
// Decoding never trusts the sender beyond the Verifier: a union tag without
// its table, a config change without changes or without an address where one
// is needed, a zero node id where one is required, are InvalidArgument.
// Byte payloads (propose data, read queries, results) are Slices into the
// received frame: no copy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/slice.h"
#include "engine/core/types.h"
#include "engine/node/api_types.h"
#include "engine/node/errors.h"
#include "net/frame.h"

namespace raft::protocol {

enum class RequestKind : uint8_t {
  kPropose,
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
  kCreateGroup,  // Answered by the node that receives it (never forwarded).
  kRemoveGroup,
};
const char* request_kind_name(RequestKind kind);

// A proposal's part in a client session: none, or opening or closing one.
enum class SessionOp : uint8_t { kNone = 0, kOpen = 1, kClose = 2 };

struct PeerInfo {
  uint64_t id = 0;
  std::string address;
  PeerRole role = PeerRole::kVoter;
  friend bool operator==(const PeerInfo&, const PeerInfo&) = default;
};

struct ClientRequest {
  uint64_t request_id = 0;
  uint64_t group = 0;
  uint32_t timeout_ms = 0;
  RequestKind kind = RequestKind::kStatus;
  Slice data;  // kPropose: the command; kRead: the query.
  // kRead. The wire's Lease mode decodes as kLinearizable: the serving
  // node's NodeConfig::read_mode decides how a linearizable read is confirmed.
  ReadConsistency consistency = ReadConsistency::kLinearizable;
  std::vector<MemberChange> changes;  // kChangeConfig.
  uint64_t node_id = 0;     // kJoin (0: not assigned yet), kLeave, kTransferLeader (target).
  std::string address;      // kRequestId, kJoin.
  bool as_learner = false;  // kJoin.
  // kJoin of a learner as a voter: only once the leader sees it caught up
  // (Group::promote_learner); else at once.
  bool when_caught_up = false;
  // kPropose in a session (exactly-once): see Group::propose_in_session.
  SessionOp session_op = SessionOp::kNone;
  uint64_t session = 0;  // kPropose in a session, kCloseSession.
  uint64_t sequence = 0;
  uint64_t floor = 0;
  // kCreateGroup: the group's initial members (roles kVoter or kLearner).
  std::vector<PeerInfo> members;
  friend bool operator==(const ClientRequest&, const ClientRequest&) = default;
};

// Codes as in fbs::ErrorCode (absl::StatusCode values, plus kNotLeader).
enum class ClientError : uint16_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
  kNotLeader = 100,
};

struct ClientResponse {
  uint64_t request_id = 0;
  ClientError error = ClientError::kOk;
  // With an error; nullopt: not said (fbs::Outcome::Unspecified, an older
  // sender, or a value this build does not know).
  std::optional<Outcome> outcome;
  std::string message;                      // With an error.
  uint64_t leader_id = 0;                   // kNotLeader hint; kLeader and kTransferLeader answers.
  std::string leader_address;               // kNotLeader hint; kLeader answer.
  RequestKind kind = RequestKind::kStatus;  // Which answer (when error == kOk).
  uint64_t index = 0;                       // kPropose, kRead, kChangeConfig, kLeave, kSnapshot.
  uint64_t term = 0;                        // kPropose, kSnapshot, kLeader.
  Slice result;                 // kPropose: the state machine's result; kRead: the answer.
  std::string json;             // kStatus.
  uint64_t node_id = 0;         // kRequestId, kJoin; kCreateGroup, kRemoveGroup: the answerer.
  std::vector<PeerInfo> peers;  // kRequestId, kJoin, kPeers.
  // kChangeConfig, kJoin, kLeave: the configuration that resulted (the
  // outgoing/next sets and auto_leave are set while in a joint configuration).
  std::vector<uint64_t> voters;
  std::vector<uint64_t> learners;
  std::vector<uint64_t> voters_outgoing;
  std::vector<uint64_t> learners_next;
  bool auto_leave = false;
  friend bool operator==(const ClientResponse&, const ClientResponse&) = default;
};

net::OutFrame encode_client_requests(const std::vector<ClientRequest>& requests);
net::OutFrame encode_client_responses(const std::vector<ClientResponse>& responses);

// `frame` must carry a ClientRequestBatch (else InvalidArgument).
absl::StatusOr<std::vector<ClientRequest>> decode_client_requests(const net::ReceivedFrame& frame);
absl::StatusOr<std::vector<ClientResponse>> decode_client_responses(
    const net::ReceivedFrame& frame);

// The configuration in a kChangeConfig / kJoin / kLeave answer: every
// field, joint-consensus sets and auto_leave included.
void set_response_conf_state(ClientResponse& response, const ConfState& conf_state);
ConfState response_conf_state(const ClientResponse& response);

}  // namespace raft::protocol
