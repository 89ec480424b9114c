// AsyncClient: the asynchronous C++ client library for a ringraft cluster,
// over the native protocol (frames of FlatBuffers on the nodes' port).
//
// Every call returns at once; its callback runs later, exactly once, on the
// client's IO thread (one thread per AsyncClient, running the project's
// io_uring reactor, net/reactor.h). Each typed call also has a future form
// (the overload without a callback). Calls are safe from any number of
// threads, and from inside callbacks.
//
// Pipelining: any number of requests may be in flight. The client keeps
// `connections_per_node` connections to each node it talks to (split over
// its shards, at least one per shard; opened on first use) and sends every
// request queued for a connection during one loop turn in one frame (at
// most `max_batch` requests a frame). Replies are matched by request id.
//
// Routing: a request goes to the shard of its node that owns its group
// (ClientOptions::route_by_shard), learned from the first connection's
// handshake; the node then serves it on the thread that got it.
//
// Per request:
//   - Leader hints: a NotLeader answer with the leader's address sends that
//     request to the leader at once (up to 3 hops in a row without waiting);
//     the hint is also remembered for the group, so later requests for the
//     group go straight there (so does a `leader()` answer).
//   - Retries: only what is safe. An answer whose outcome is *refused*
//     (errors.h: no leader, backpressure, NotLeader) and a connection that
//     could not be made are retried, with capped exponential backoff and
//     jitter, up to `max_attempts`. An answer that says the outcome is
//     *unknown* or *failed* completes the request. A connection lost after a
//     request went out completes it as unknown, except reads, status, leader
//     and peers, which are retried.
//   - Sessions (ClientOptions::sessions, on by default): proposals are
//     exactly-once and are retried on an unknown outcome too (see there).
//     A session unknown to the cluster (expired after
//     NodeConfig::session_expiry_ms without a proposal) fails the proposal
//     (NotFound); the next proposal opens a new session.
//   - Deadline: CallOptions::deadline, by default now + request_timeout. A
//     request still unanswered then completes with DeadlineExceeded, tagged
//     *unknown* when an attempt of it is on the wire, *refused* when it is
//     not (waiting for a connection, or backing off after a refusal).
//
// Destruction completes every request not yet completed with Cancelled
// (unknown if on the wire, refused if not), exactly once, then stops the IO
// thread. Do not destroy the client from inside one of its callbacks, and do
// not wait on one of its futures there (the callback runs on the thread that
// would fulfil it).
//
// The typed calls need only the public headers. The raw calls (`call`,
// `call_batch`) speak the wire types of protocol/client_codec.h, which are
// not public headers; code that uses them includes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
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

struct ClientOptions {
  uint64_t cluster_id = 1;
  std::chrono::milliseconds connect_timeout{1000};
  // AsyncClient: the default deadline of a request. Client (blocking): the
  // longest wait for the answer to one attempt.
  std::chrono::milliseconds request_timeout{10000};
  int max_attempts = 30;
  std::chrono::milliseconds backoff_initial{20};
  std::chrono::milliseconds backoff_max{1000};
  uint64_t seed = 1;
  uint32_t max_frame_bytes = 64u << 20;
  // AsyncClient: connections kept to each node, split over the shards that
  // requests go to: ceil(n / shards) per shard, at least one each (each loop
  // turn of the IO thread sends on the next one of a shard's; with one per
  // shard, requests to a group keep their order).
  uint32_t connections_per_node = 1;
  // Routing: each request goes on a connection to the shard of its node
  // that owns its group (group % the node's `[node] shards`, which the
  // node's handshake reply tells; shard 0 until the first connection to the
  // node is open), so the node serves it without a hop between its shard
  // threads (ringraft_client_cross_shard_total counts those hops). false:
  // every connection is to shard 0, as clients did before routing.
  bool route_by_shard = true;
  // AsyncClient: requests per frame at most.
  uint32_t max_batch = 512;
  // Exactly-once proposals (Node::open_session): propose() puts each
  // proposal in a client session, one per group, opened by the first
  // proposal for the group. An attempt whose outcome is unknown (lost
  // connection, attempt timeout, an answer saying unknown) is sent again
  // with the same session and sequence number until answered or the
  // deadline passes: the cluster applies it once and the caller gets its
  // one result. false: plain proposals, completed as unknown instead.
  bool sessions = true;
  // TLS to the nodes (their [tls]); plaintext while ca_file is empty.
  // cert_file / key_file: a client certificate, for nodes that require one.
  // server_name: the name (DNS or IP) node certificates must be for; empty
  // accepts any certificate from ca_file. A file that cannot be loaded
  // fails every request with the reason.
  struct Tls {
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string server_name;
    bool allow_tls12 = false;
  } tls;
};

struct CallOptions {
  // When the request completes with DeadlineExceeded if not answered. The
  // default (the epoch): now + ClientOptions::request_timeout.
  std::chrono::steady_clock::time_point deadline{};
  // Longest wait for the answer to one attempt once sent (0: until the
  // deadline). It ends the attempt as unknown: reads and the like are then
  // retried, anything else completes.
  std::chrono::milliseconds attempt_timeout{0};
  // false: one attempt only, no hint followed, no retry.
  bool retry = true;
};

// How a raw call went.
struct CallInfo {
  // The node whose answer (or lost connection) ended it; empty if none.
  // Valid during the callback.
  std::string_view address;
  int attempts = 0;  // Attempts sent.
};

// A node id granted by request_id, with the members' addresses.
struct IdGrant {
  NodeId id = kNoNode;
  PeerAddresses peers;
};

using RawCallback =
    absl::AnyInvocable<void(absl::StatusOr<protocol::ClientResponse>&&, const CallInfo&)>;
using IdCallback = absl::AnyInvocable<void(absl::StatusOr<IdGrant>)>;
using TextCallback = absl::AnyInvocable<void(absl::StatusOr<std::string>)>;
using LeaderCallback = absl::AnyInvocable<void(absl::StatusOr<LeaderHint>)>;
using PeersCallback = absl::AnyInvocable<void(absl::StatusOr<PeerAddresses>)>;

class RINGRAFT_API AsyncClient {
 public:
  // `addresses`: any members ("host:port"); requests for a group with no
  // known leader go to the first that accepts a connection.
  AsyncClient(std::vector<std::string> addresses, ClientOptions options = {});
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // One request (its request_id is assigned here). The response may still
  // carry an error that was not retried (protocol::response_status()); the
  // StatusOr is an error when there is no response to give: deadline,
  // connection lost, attempts used up, cancelled.
  void call(protocol::ClientRequest request, RawCallback done, CallOptions options = {});
  // Requests queued together, in order (with one connection per node, those
  // to one node leave in order in the same frames); done[i] completes
  // requests[i]. Sizes must match.
  void call_batch(std::vector<protocol::ClientRequest> requests, std::vector<RawCallback> done,
                  CallOptions options = {});

  void propose(GroupId group, std::string data, ProposeCallback done, CallOptions options = {});
  void read(GroupId group, std::string query, ReadConsistency consistency, ReadCallback done,
            CallOptions options = {});
  void change_config(GroupId group, std::vector<MemberChange> changes, ConfCallback done,
                     CallOptions options = {});
  void request_id(GroupId group, std::string address, IdCallback done, CallOptions options = {});
  void join(GroupId group, NodeId node, std::string address, bool as_learner, ConfCallback done,
            CallOptions options = {});
  void leave(GroupId group, NodeId node, ConfCallback done, CallOptions options = {});
  void transfer_leader(GroupId group, NodeId target, DoneCallback done, CallOptions options = {});
  void snapshot(GroupId group, IndexCallback done, CallOptions options = {});
  void status(GroupId group, TextCallback done, CallOptions options = {});
  void leader(GroupId group, LeaderCallback done, CallOptions options = {});
  void peers(GroupId group, PeersCallback done, CallOptions options = {});

  // Future forms.
  std::future<absl::StatusOr<ProposeResult>> propose(GroupId group, std::string data,
                                                     CallOptions options = {});
  std::future<absl::StatusOr<std::string>> read(
      GroupId group, std::string query,
      ReadConsistency consistency = ReadConsistency::kLinearizable, CallOptions options = {});
  std::future<absl::StatusOr<ConfState>> change_config(GroupId group,
                                                       std::vector<MemberChange> changes,
                                                       CallOptions options = {});
  std::future<absl::StatusOr<IdGrant>> request_id(GroupId group, std::string address,
                                                  CallOptions options = {});
  std::future<absl::StatusOr<ConfState>> join(GroupId group, NodeId node, std::string address,
                                              bool as_learner, CallOptions options = {});
  std::future<absl::StatusOr<ConfState>> leave(GroupId group, NodeId node,
                                               CallOptions options = {});
  std::future<absl::Status> transfer_leader(GroupId group, NodeId target, CallOptions options = {});
  std::future<absl::StatusOr<Index>> snapshot(GroupId group, CallOptions options = {});
  std::future<absl::StatusOr<std::string>> status(GroupId group, CallOptions options = {});
  std::future<absl::StatusOr<LeaderHint>> leader(GroupId group, CallOptions options = {});
  std::future<absl::StatusOr<PeerAddresses>> peers(GroupId group, CallOptions options = {});

  // Requests accepted and not yet completed (any thread; a snapshot).
  size_t in_flight() const;

  class Impl;

 private:
  friend class Client;  // Its propose says which node answered (connected_to).
  struct Sessions;
  using AddressedProposeCallback =
      absl::AnyInvocable<void(absl::StatusOr<ProposeResult>, std::string_view address)>;
  // propose(), telling the callback which node answered (empty if none).
  void propose_addressed(GroupId group, std::string data, AddressedProposeCallback done,
                         CallOptions options);
  void propose_in_session(GroupId group, SessionRef ref, std::string data,
                          AddressedProposeCallback done, CallOptions options);
  void open_session(GroupId group, CallOptions options);

  std::unique_ptr<Impl> impl_;
  bool use_sessions_ = true;
  std::shared_ptr<Sessions> sessions_;
};

}  // namespace raft
