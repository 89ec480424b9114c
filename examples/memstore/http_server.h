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
//
// No lock-out by idle connections: a connection waiting for input is in one
// of two lists ordered by when it started waiting (intrusive, no allocation),
// and one periodic sweep timer per server closes the expired ones:
//   - from accept, or from the first byte of a later request, until the end
//     of the request's header section: header_timeout (then 408 if part of a
//     request arrived, and close);
//   - a keep-alive connection with nothing in progress, or a request body
//     that receives nothing: idle_timeout (a body answers 408).
// A connection whose request is with the handler (e.g. waiting for Raft), or
// whose answer is being sent, is in neither list: never timed out, never
// evicted. At max_connections a new connection closes the connection that
// has waited the longest (idle or with a partial request: the slowloris
// case); only when every connection is busy is the new one closed.
// Bytes that arrive in the same read as a complete request are not known to
// begin another one (the parser does not say): such a connection is treated
// as idle, under idle_timeout, not header_timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "examples/memstore/http.h"
#include "net/reactor.h"
#include "net/tls.h"

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
  // A Responder that runs `edit` on the reply (on the answering thread), then
  // answers through this one, which it consumes.
  Responder with_edit(absl::AnyInvocable<void(HttpReply&)> edit) &&;

 private:
  friend class HttpServer;
  explicit Responder(absl::AnyInvocable<void(HttpReply)> send) : send_(std::move(send)) {}
  absl::AnyInvocable<void(HttpReply)> send_;
};

using HttpHandler = absl::AnyInvocable<void(HttpRequest request, Responder respond)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1:0";  // Port 0: ephemeral; see address().
  int backlog = 1024;                   // Bursts of connects wait here, not in SYN retransmits.
  // Open connections. At the cap a new one evicts the connection waiting the
  // longest for input; it is refused only when every connection is busy.
  size_t max_connections = 1024;
  // A request's header section must arrive within this, counted from accept
  // (first request) or from the request's first byte (later ones).
  std::chrono::milliseconds header_timeout{5000};
  // A keep-alive connection idle between requests, or a request body with no
  // bytes, for this long is closed (most HTTP clients drop pooled
  // connections sooner themselves; shorter only makes them reconnect more).
  std::chrono::milliseconds idle_timeout{30000};
  size_t recv_buffer_bytes = 64 * 1024;
  // While the address is in use, start() retries binding this long (on the
  // calling thread; see net::listen_tcp_retrying). memstore starts its HTTP
  // server on shard 0 after the node's own listener, which shares shard 0's
  // ring: by then the dead process's sockets are gone together.
  std::chrono::milliseconds bind_retry{10000};
  HttpRequestParser::Limits limits;
  // HTTPS: every connection speaks TLS (net/tls.h) as a server with these
  // files; nullptr: plain HTTP.
  std::shared_ptr<net::TlsContext> tls;
};

// Connections the server closed on its own, by reason. Written on the loop
// thread, readable from any thread.
struct HttpServerStats {
  net::Counter accepted;
  net::Counter header_timeouts;  // Header section not complete in header_timeout.
  net::Counter idle_timeouts;    // Idle (or body stalled) for idle_timeout.
  net::Counter evicted;          // Waited the longest: closed at the cap for a new one.
  net::Counter refused;          // New connection closed at the cap: every one busy.
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
  // Connection objects, including closed ones whose operations still drain.
  size_t connection_count() const { return connections_.size(); }
  // Connections not closing (what max_connections bounds). Any thread.
  size_t open_connections() const { return open_.load(std::memory_order_relaxed); }
  const HttpServerStats& stats() const { return stats_; }
  // Prometheus text: memstore_http_connections_closed_total{reason=...} and
  // memstore_http_connections_open. Any thread.
  std::string metrics_text() const;

 private:
  class Connection;
  friend class Connection;
  // What a connection waits for; each waiting kind is in one list.
  enum class Wait : uint8_t {
    kNone,     // Busy (handler or send) or closing: in no list.
    kHeaders,  // A request's header section (or the first request): header_list_.
    kBody,     // The rest of a request body: idle_list_.
    kIdle,     // The next request on a keep-alive connection: idle_list_.
  };
  // Intrusive, ordered by the time each entry was stamped (every insert is
  // at the back, stamped now).
  struct WaitList {
    Connection* head = nullptr;
    Connection* tail = nullptr;
  };

  void arm_accept();
  void on_accept(int32_t result, uint32_t flags);
  void maybe_close_listener();
  // Moves `conn` to the back of the list for `wait` (none for kNone),
  // stamped now.
  void set_wait(Connection& conn, Wait wait);
  void unlink(Connection& conn);
  WaitList& list_for(Wait wait) { return wait == Wait::kHeaders ? header_list_ : idle_list_; }
  // Closes the connection waiting the longest; false if none waits.
  bool evict_one();
  // The sweep timer: closes connections past their timeout.
  void sweep();
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
  std::atomic<size_t> open_{0};
  WaitList header_list_;
  WaitList idle_list_;
  HttpServerStats stats_;
  net::Timer sweep_timer_;
  // Responders hold a weak reference: an answer arriving after the server
  // is gone is dropped.
  std::shared_ptr<HttpServer*> self_;
  net::MemberOperation<HttpServer, &HttpServer::on_accept> accept_op_{this};
};

}  // namespace raft::memstore
