// HttpServer: a small HTTP/1.1 server that runs on a net::Reactor (the
// node's own io_uring loop), with io_uring accept, recv and send. Requests
// are parsed by HttpRequestParser (libhttp-parser) and handed to one handler
// on the loop thread; the handler answers through a Responder, from any
// thread, at most once. Requests of one connection are answered in order:
// the next request of a connection is handed out only once the previous
// answer is sent (pipelined requests wait, parsed, in the parser's queue),
// and the connection is not read while a request is in progress, which
// bounds the memory a client can make the server hold.
//
// Threading: construct, start(), stop() and the destructor on the loop thread
// (or any thread once the reactor stopped running). Responders are safe from
// any thread; an answer for a connection that is gone is dropped.
//
// Lifetime: after stop(), operations still in flight complete in later loop
// turns; keep the server alive until the reactor has stopped (Node::stop), or
// until idle() is true.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "examples/memstore/http.h"
#include "net/reactor.h"

namespace raft::memstore {

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string extra_headers;  // Lines each ending with "\r\n".
};

// Answers one request. Move-only; call at most once, from any thread.
class Responder {
 public:
  Responder() = default;
  void operator()(HttpReply reply);
  explicit operator bool() const { return static_cast<bool>(send_); }

 private:
  friend class HttpServer;
  explicit Responder(absl::AnyInvocable<void(HttpReply)> send) : send_(std::move(send)) {}
  absl::AnyInvocable<void(HttpReply)> send_;
};

using HttpHandler = absl::AnyInvocable<void(HttpRequest request, Responder respond)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1:0";  // Port 0: ephemeral; see address().
  int backlog = 128;
  size_t max_connections = 1024;  // Past it, new connections are closed at once.
  size_t recv_buffer_bytes = 64 * 1024;
  // While the address is in use, start() retries binding this long (on the
  // calling thread; see net::listen_tcp_retrying). memstore starts its HTTP
  // server on shard 0 after the node's own listener, which shares shard 0's
  // ring: by then the dead process's sockets are gone together.
  std::chrono::milliseconds bind_retry{10000};
  HttpRequestParser::Limits limits;
};

class HttpServer {
 public:
  HttpServer(net::Reactor& reactor, HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts accepting (loop thread).
  absl::Status start();
  // Stops accepting and closes every connection (loop thread). Answers still
  // pending are dropped.
  void stop();
  // True once stopped and every operation drained.
  bool idle() const;
  // "ip:port" actually bound.
  const std::string& address() const { return bound_address_; }
  size_t connection_count() const { return connections_.size(); }

 private:
  class Connection;
  friend class Connection;

  void arm_accept();
  void on_accept(int32_t result, uint32_t flags);
  void maybe_close_listener();
  // Runs on the loop thread: delivers an answer to connection `id`.
  void deliver(uint64_t id, HttpReply reply);
  void dispatch(Connection& conn, HttpRequest request);
  void release(uint64_t id);

  net::Reactor& reactor_;
  HttpServerOptions options_;
  HttpHandler handler_;
  int listen_fd_ = -1;
  bool stopping_ = false;
  std::string bound_address_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  // Responders hold a weak reference: an answer arriving after the server
  // is gone is dropped.
  std::shared_ptr<HttpServer*> self_;
  net::MemberOperation<HttpServer, &HttpServer::on_accept> accept_op_{this};
};

}  // namespace raft::memstore
