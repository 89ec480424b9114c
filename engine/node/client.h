// Client: the C++ client library for a ringraft cluster, over the native
// protocol (frames of FlatBuffers on the nodes' port).
//
// It connects to any member and follows NotLeader hints to the leader;
// requests refused with Unavailable ("no leader" during an election,
// backpressure) are retried with capped exponential backoff and jitter.
// A request whose answer was lost with its connection is NOT retried when
// it may have taken effect (a propose): that error says the outcome is
// unknown. call_pipelined() sends many requests on one connection before
// reading any answer.
//
// Blocking, one thread at a time per Client; make one Client per thread.
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
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/export.h"
#include "engine/core/types.h"
#include "engine/node/api_types.h"
#include "engine/node/errors.h"
#include "engine/node/peer_table.h"

namespace raft {

namespace protocol {  // protocol/client_codec.h.
struct ClientRequest;
struct ClientResponse;
}  // namespace protocol
namespace net {  // net/frame.h.
class FrameDecoder;
}  // namespace net

struct ClientOptions {
  uint64_t cluster_id = 1;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{10000};
  int max_attempts = 30;
  std::chrono::milliseconds backoff_initial{20};
  std::chrono::milliseconds backoff_max{1000};
  uint64_t seed = 1;
  uint32_t max_frame_bytes = 64u << 20;
};

class RINGRAFT_API Client {
 public:
  Client(std::vector<std::string> addresses, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One request, following leader hints and retrying Unavailable. The
  // returned response may still carry an error (protocol::response_status()).
  absl::StatusOr<protocol::ClientResponse> call(protocol::ClientRequest request);
  // Sends every request on the current connection, then reads every
  // response (matched by request id; returned in the requests' order). No
  // retries. Request ids are assigned here.
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
  absl::StatusOr<std::string> status(GroupId group);
  absl::StatusOr<LeaderHint> leader(GroupId group);
  absl::StatusOr<PeerAddresses> peers(GroupId group);

  // The address of the current connection ("" when not connected).
  const std::string& connected_to() const { return connected_address_; }

 private:
  absl::Status ensure_connected();
  absl::Status connect_to(const std::string& address);
  void disconnect();
  absl::Status write_all(const std::string& bytes);
  // Reads frames until a reply for every id in `want` arrived.
  absl::Status read_replies(std::vector<protocol::ClientResponse>& out, size_t count,
                            std::chrono::steady_clock::time_point deadline);
  absl::StatusOr<protocol::ClientResponse> checked(absl::StatusOr<protocol::ClientResponse> r);

  std::vector<std::string> addresses_;
  size_t next_address_ = 0;
  std::string preferred_;  // Leader hint.
  ClientOptions options_;
  int fd_ = -1;
  std::string connected_address_;
  std::unique_ptr<net::FrameDecoder> decoder_;
  uint64_t next_request_id_ = 1;
  std::mt19937_64 rng_;
};

}  // namespace raft
