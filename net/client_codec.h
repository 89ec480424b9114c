// The client protocol (fbs/client.fbs) in plain C++: encode requests and
// responses into frames, and decode (and validate) them from verified
// frames. The node's client service and the client library both use it;
// the runtime maps ClientError codes to and from absl::Status.
//
// Decoding never trusts the sender beyond the Verifier: a union tag without
// its table, a config change without changes or without an address where one
// is needed, a zero node id where one is required, are InvalidArgument.
// Byte payloads (propose data, read queries, results) are Slices into the
// received frame: no copy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/slice.h"
#include "net/frame.h"

namespace raft::net {

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
};
const char* request_kind_name(RequestKind kind);

enum class ReadMode : uint8_t { kLinearizable = 0, kLease = 1, kStale = 2 };
enum class ConfChangeKind : uint8_t { kAddVoter = 0, kAddLearner = 1, kPromote = 2, kRemove = 3 };
enum class PeerRole : uint8_t { kVoter = 0, kLearner = 1, kVoterOutgoing = 2, kLearnerNext = 3 };

struct ConfChangeItem {
  ConfChangeKind kind = ConfChangeKind::kAddVoter;
  uint64_t node_id = 0;
  std::string address;
  friend bool operator==(const ConfChangeItem&, const ConfChangeItem&) = default;
};

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
  ReadMode read_mode = ReadMode::kLinearizable;
  std::vector<ConfChangeItem> changes;  // kChangeConfig.
  uint64_t node_id = 0;     // kJoin (0: not assigned yet), kLeave, kTransferLeader (target).
  std::string address;      // kRequestId, kJoin.
  bool as_learner = false;  // kJoin.
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

// As in fbs::Outcome: what a failed request did (see engine/node/errors.h).
enum class ClientOutcome : uint8_t { kUnspecified = 0, kRefused = 1, kUnknown = 2, kFailed = 3 };

struct ClientResponse {
  uint64_t request_id = 0;
  ClientError error = ClientError::kOk;
  ClientOutcome outcome = ClientOutcome::kUnspecified;  // With an error.
  std::string message;                                  // With an error.
  uint64_t leader_id = 0;                   // kNotLeader hint; kLeader and kTransferLeader answers.
  std::string leader_address;               // kNotLeader hint; kLeader answer.
  RequestKind kind = RequestKind::kStatus;  // Which answer (when error == kOk).
  uint64_t index = 0;                       // kPropose, kRead, kChangeConfig, kLeave, kSnapshot.
  uint64_t term = 0;                        // kPropose, kSnapshot, kLeader.
  Slice result;                 // kPropose: the state machine's result; kRead: the answer.
  std::string json;             // kStatus.
  uint64_t node_id = 0;         // kRequestId, kJoin.
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

OutFrame encode_client_requests(const std::vector<ClientRequest>& requests);
OutFrame encode_client_responses(const std::vector<ClientResponse>& responses);

// `frame` must carry a ClientRequestBatch (else InvalidArgument).
absl::StatusOr<std::vector<ClientRequest>> decode_client_requests(const ReceivedFrame& frame);
absl::StatusOr<std::vector<ClientResponse>> decode_client_responses(const ReceivedFrame& frame);

}  // namespace raft::net
