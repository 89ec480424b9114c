// MemstoreApi: memstore's HTTP routes over a Node, served on the node's
// reactor by HttpServer.
//
//   PUT    /store/{key}            value in the body
//   PUT    /store/{key}/{value}
//   GET    /store/{key}            linearizable; ?stale=true reads locally
//   DELETE /store/{key}
//   GET    /leader, GET /peers, GET /status, GET /metrics
//   POST   /leave, POST /snapshot, POST /transfer_leader/{id}
//   POST   /groups?id=G&members=1=host:port,2=...[&learners=...]  (or the
//          same as a JSON body {"id":G,"members":"1=host:port,..."}):
//          creates group G on every member (each one asked itself)
//   DELETE /groups/{id}[?members=...]: removes the group's replica from
//          every member listed, or from this node alone without members
//   (both answer per node; 200 if every node did it, else 502; re-run)
//
// Handlers run on the loop thread and use only the Node's asynchronous API.
// Requests that only the leader can serve (writes, leave, transfer) are
// forwarded from a follower to the leader: writes and leave by the runtime
// (NodeConfig::forward_to_leader); when the runtime answers NotLeader
// instead (forwarding off in its config) and for transfer_leader, memstore
// forwards through a Client on a helper thread (the answer then carries
// "forwarded_to" and the header X-Forwarded-To). With forwarding off
// (ApiOptions::forward, or ?forward=false on the request) a follower answers
// 421 with
// {"error":"not leader","leader_id":N,"leader_address":"host:port"}: the
// runtime knows the leader's Raft address, not its HTTP address, so a 307
// redirect cannot be built. No known leader is 503.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/node/client.h"
#include "engine/node/node.h"
#include "examples/memstore/blocking_pool.h"
#include "examples/memstore/http.h"
#include "examples/memstore/http_server.h"

namespace raft::memstore {

struct ApiOptions {
  GroupId group = 1;
  bool forward = true;       // Forward leader-only requests from a follower.
  std::string http_address;  // Shown in /status.
  size_t helper_threads = 2;
  size_t helper_queue = 256;
  ClientOptions client = {.connect_timeout = std::chrono::milliseconds(1000),
                          .request_timeout = std::chrono::milliseconds(5000),
                          .max_attempts = 10};
};

// The HTTP reply for a failed Node call (NotLeader excluded by callers that
// forward): InvalidArgument 400, NotFound 404, FailedPrecondition 409,
// NotLeader 421, ResourceExhausted 429, Unavailable/Cancelled/DeadlineExceeded
// 503, anything else 500.
HttpReply error_reply(const absl::Status& status);

// The first `"key":<number>` in a JSON text (for the flat status objects the
// runtime produces).
std::optional<uint64_t> json_number(absl::string_view json, absl::string_view key);
std::string json_quote(absl::string_view text);

class MemstoreApi {
 public:
  MemstoreApi(Node& node, ApiOptions options);
  ~MemstoreApi();

  // The HTTP address shown in /status (loop thread, before serving).
  void set_http_address(std::string address) { options_.http_address = std::move(address); }
  // Loop thread (HttpServer's handler).
  void handle(HttpRequest request, Responder respond);
  // Stops the helper threads (queued forwards are dropped). Before Node::stop.
  void stop();

 private:
  void store(HttpRequest& request, Responder respond);
  // A put or a delete (`command`), in `session` unless its id is 0.
  void write(const std::string& key, std::string command, bool forward, SessionRef session,
             Responder respond);
  void sessions(HttpRequest& request, Responder respond);
  void get(const std::string& key, bool stale, Responder respond);
  void leader(Responder respond);
  void peers(Responder respond);
  void leave(bool forward, Responder respond);
  void snapshot(Responder respond);
  void transfer_leader(NodeId target, bool forward, Responder respond);
  void status(Responder respond);
  void metrics(Responder respond);
  void groups(HttpRequest& request, Responder respond);

  // Runs `via_leader` on a helper thread with a Client connected to the
  // leader named by the NotLeader `status`, or answers 421/503.
  void forward_or_refuse(const absl::Status& status, bool forward,
                         absl::AnyInvocable<HttpReply(Client&)> via_leader, Responder respond);
  // Runs `go` at once when forwarding is allowed; else only on the leader
  // (421 on a follower, 503 without a leader).
  void if_leader(bool forward, absl::AnyInvocable<void(Responder)> go, Responder respond);
  // Runs `fn(respond)` on a helper thread; answers 503 if the pool is full.
  void on_helper(absl::AnyInvocable<void(Responder&)> fn, Responder respond);

  Node& node_;
  ApiOptions options_;
  std::unique_ptr<BlockingPool> pool_;
};

}  // namespace raft::memstore
