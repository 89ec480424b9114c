// HttpServer: io_uring accept/recv/send on the node's reactor.
#include "examples/memstore/http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "net/address.h"
#include "net/socket.h"
#include "spdlog/spdlog.h"

namespace raft::memstore {

void Responder::operator()(HttpReply reply) {
  RAFT_CHECK_MSG(send_, "a request was answered twice");
  auto send = std::move(send_);
  send_ = nullptr;
  send(std::move(reply));
}

Responder Responder::with_edit(absl::AnyInvocable<void(HttpReply&)> edit) && {
  RAFT_CHECK_MSG(send_, "with_edit() on a used Responder");
  return Responder([inner = std::move(send_), edit = std::move(edit)](HttpReply reply) mutable {
    edit(reply);
    inner(std::move(reply));
  });
}

namespace {
// Scans for the blank line that ends a header section ("\r\n\r\n", or
// "\n\n", which http_parser accepts too), across reads: `state` is 0 inside a
// line, 1 after '\n', 2 after "\n\r".
bool finds_header_end(std::string_view bytes, uint8_t& state) {
  for (char c : bytes) {
    if (c == '\n') {
      if (state != 0) return true;
      state = 1;
    } else {
      state = c == '\r' && state == 1 ? 2 : 0;
    }
  }
  return false;
}
}  // namespace

// One accepted connection. At most one recv and one send in flight; the
// object is freed (by the server) once it is closing and neither is.
// While it waits for input it is in one of the server's wait lists.
class HttpServer::Connection {
 public:
  Connection(HttpServer& server, uint64_t id, int fd)
      : server_(server), id_(id), fd_(fd), parser_(server.options_.limits) {
    buffer_.resize(server.options_.recv_buffer_bytes);
    if (server.options_.tls) {
      tls_ = server.options_.tls->new_session(net::TlsRole::kServer);
      plain_.resize(server.options_.recv_buffer_bytes);
    }
  }
  ~Connection() {
    RAFT_CHECK(!recv_op_.in_flight() && !send_op_.in_flight());
    if (fd_ >= 0) ::close(fd_);
  }

  uint64_t id() const { return id_; }
  bool busy() const { return busy_; }
  net::Clock::time_point since() const { return since_; }

  // Hands out the next parsed request, or reads more.
  void advance() {
    if (closing_ || busy_ || sending()) return;
    if (parser_.has_request()) {
      busy_ = true;
      server_.set_wait(*this, Wait::kNone);  // With the handler: no timeout.
      HttpRequest request = parser_.pop_request();
      keep_alive_ = request.keep_alive;
      server_.dispatch(*this, std::move(request));
      return;
    }
    if (parse_failed_) {
      // Every complete request before the bad bytes was answered.
      queue_reply(
          http_response(parser_.error_status(), "application/json",
                        absl::StrCat("{\"error\":\"bad request: ", parser_.error(), "\"}"), false),
          /*close_after=*/true);
      return;
    }
    // Nothing in progress: wait for the next request (a new connection was
    // put under header_timeout when accepted).
    if (wait_ == Wait::kNone) {
      server_.set_wait(*this, Wait::kIdle);
      partial_ = false;
    }
    if (!recv_op_.in_flight()) arm_recv();
  }

  // The sweep found this connection past its timeout (loop thread).
  void expire() {
    if (partial_) {
      // Part of a request arrived: say why before closing. The recv stays in
      // flight (cancelling it would close at once); the send closes after.
      return queue_reply(
          http_response(408, "application/json", "{\"error\":\"request timeout\"}", false),
          /*close_after=*/true);
    }
    close();
  }

  void answer(HttpReply reply) {
    RAFT_CHECK(busy_);
    busy_ = false;
    if (closing_) return;
    queue_reply(http_response(reply.status, reply.content_type, reply.body, keep_alive_,
                              reply.extra_headers),
                !keep_alive_);
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    server_.set_wait(*this, Wait::kNone);
    server_.open_.fetch_sub(1, std::memory_order_relaxed);
    if (recv_op_.in_flight()) server_.reactor_.cancel(recv_op_);
    if (send_op_.in_flight()) server_.reactor_.cancel(send_op_);
    maybe_release();
  }

 private:
  bool sending() const { return send_op_.in_flight() || out_offset_ < out_.size(); }

  void arm_recv() {
    io_uring_prep_recv(server_.reactor_.prepare(recv_op_), fd_, buffer_.data(), buffer_.size(), 0);
  }

  void on_recv(int32_t result, uint32_t) {
    if (closing_) return maybe_release();
    if (result <= 0) return close();  // 0: peer closed; <0: error or cancel.
    const std::string_view bytes(buffer_.data(), static_cast<size_t>(result));
    if (tls_) return on_tls_recv(bytes);
    if (!parser_.feed(bytes)) parse_failed_ = true;
    if (!parse_failed_ && !parser_.has_request()) note_partial(bytes);
    advance();
  }

  // HTTPS: ciphertext in; the handshake's answers go out as they come, and
  // the plaintext goes to the parser as if received.
  void on_tls_recv(std::string_view bytes) {
    tls_->feed(bytes.data(), bytes.size());
    if (absl::Status s = tls_->handshake(); !s.ok()) {
      spdlog::warn("memstore https: {}", std::string(s.message()));
      return close();
    }
    bool got_plain = false;
    while (tls_->established() && !parse_failed_) {
      absl::StatusOr<size_t> n = tls_->read(plain_.data(), plain_.size());
      if (!n.ok()) return close();
      if (*n == 0) break;
      const std::string_view plain(plain_.data(), *n);
      got_plain = true;
      if (!parser_.feed(plain)) parse_failed_ = true;
      if (!parse_failed_ && !parser_.has_request()) note_partial(plain);
    }
    if (!got_plain && !sending() && tls_->pending_output() > 0) {
      out_ = take_tls_output();  // The handshake's flight.
      out_offset_ = 0;
      close_after_send_ = false;
      return arm_send();
    }
    advance();
  }

  std::string take_tls_output() {
    std::string out(tls_->pending_output(), '\0');
    out.resize(tls_->take_output(out.data(), out.size()));
    return out;
  }

  // `bytes` are part of a request not complete yet.
  void note_partial(std::string_view bytes) {
    switch (wait_) {
      case Wait::kIdle:  // A new request begins: header_timeout from now.
        server_.set_wait(*this, Wait::kHeaders);
        header_scan_ = 0;
        [[fallthrough]];
      case Wait::kHeaders:
        partial_ = true;
        if (finds_header_end(bytes, header_scan_)) server_.set_wait(*this, Wait::kBody);
        return;
      case Wait::kBody:  // Progress: idle_timeout from now.
        server_.set_wait(*this, Wait::kBody);
        return;
      case Wait::kNone:  // Timed out and answering 408: ignored.
        return;
    }
  }

  void queue_reply(std::string bytes, bool close_after) {
    server_.set_wait(*this, Wait::kNone);  // Being answered: no timeout.
    if (tls_) {
      if (!tls_->established() || !tls_->write(bytes.data(), bytes.size()).ok()) return close();
      bytes = take_tls_output();
    }
    out_ = std::move(bytes);
    out_offset_ = 0;
    close_after_send_ = close_after;
    arm_send();
  }

  void arm_send() {
    io_uring_prep_send(server_.reactor_.prepare(send_op_), fd_, out_.data() + out_offset_,
                       out_.size() - out_offset_, MSG_NOSIGNAL);
  }

  void on_send(int32_t result, uint32_t) {
    if (closing_) return maybe_release();
    if (result < 0) return close();
    out_offset_ += static_cast<size_t>(result);
    if (out_offset_ < out_.size()) return arm_send();
    out_.clear();
    out_offset_ = 0;
    if (close_after_send_) return close();
    advance();
  }

  void maybe_release() {
    if (recv_op_.in_flight() || send_op_.in_flight()) return;
    // A request still being answered keeps nothing of ours alive: its
    // answer finds the connection gone and is dropped.
    server_.release(id_);
  }

  friend class HttpServer;  // The wait lists.
  HttpServer& server_;
  const uint64_t id_;
  int fd_;
  HttpRequestParser parser_;
  std::string buffer_;
  std::unique_ptr<net::TlsSession> tls_;  // HTTPS.
  std::string plain_;                     // HTTPS: decrypted bytes.
  std::string out_;
  size_t out_offset_ = 0;
  bool busy_ = false;
  bool keep_alive_ = true;
  bool close_after_send_ = false;
  bool parse_failed_ = false;
  bool closing_ = false;
  // Waiting for input: which list, since when, and the list links.
  Wait wait_ = Wait::kNone;
  net::Clock::time_point since_{};
  Connection* prev_ = nullptr;
  Connection* next_ = nullptr;
  bool partial_ = false;     // Bytes of an incomplete request arrived.
  uint8_t header_scan_ = 0;  // finds_header_end's state.
  net::MemberOperation<Connection, &Connection::on_recv> recv_op_{this};
  net::MemberOperation<Connection, &Connection::on_send> send_op_{this};
};

HttpServer::HttpServer(net::Reactor& reactor, HttpServerOptions options, HttpHandler handler)
    : reactor_(reactor),
      options_(std::move(options)),
      handler_(std::move(handler)),
      sweep_timer_(reactor, [this] { sweep(); }),
      self_(std::make_shared<HttpServer*>(this)) {}

HttpServer::~HttpServer() {
  // Either the reactor stopped (every operation was drained) or stop() ran
  // and the server is idle.
  RAFT_CHECK_MSG(!accept_op_.in_flight(), "HttpServer destroyed with an accept in flight");
  connections_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

absl::Status HttpServer::start() {
  // A literal, "[ipv6]:port" or a host name (resolved here, blocking: start()
  // runs before the loop serves).
  auto fd = net::listen_host_port(options_.address, options_.backlog, options_.bind_retry, "http");
  if (!fd.ok()) {
    return absl::Status(fd.status().code(), absl::StrCat("http listen on ", options_.address, ": ",
                                                         fd.status().message()));
  }
  listen_fd_ = *fd;
  bound_address_ = net::local_address(listen_fd_).to_string();
  arm_accept();
  // A quarter of the shorter timeout, within [10 ms, 1 s]: a connection is
  // closed at most that late.
  const auto period =
      std::clamp<net::Clock::duration>(std::min(options_.header_timeout, options_.idle_timeout) / 4,
                                       std::chrono::milliseconds(10), std::chrono::seconds(1));
  sweep_timer_.arm_periodic(period);
  return absl::OkStatus();
}

void HttpServer::stop() {
  if (stopping_) return;
  stopping_ = true;
  sweep_timer_.cancel();
  if (accept_op_.in_flight()) reactor_.cancel(accept_op_);
  maybe_close_listener();
  // close() may release (erase) the connection: iterate over a copy of ids.
  std::vector<uint64_t> ids;
  for (const auto& [id, conn] : connections_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second->close();
  }
}

bool HttpServer::idle() const {
  return stopping_ && !accept_op_.in_flight() && connections_.empty();
}

void HttpServer::arm_accept() {
  io_uring_prep_accept(reactor_.prepare(accept_op_), listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
}

void HttpServer::maybe_close_listener() {
  if (stopping_ && !accept_op_.in_flight() && listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

void HttpServer::on_accept(int32_t result, uint32_t) {
  if (result == -ECANCELED || reactor_.stop_requested()) stopping_ = true;
  if (stopping_) {
    // Also when the reactor drains without stop(): the timer must not
    // outlive the reactor armed (a Shard frees its reactor once it stopped).
    sweep_timer_.cancel();
    if (result >= 0) ::close(result);
    return maybe_close_listener();
  }
  if (result >= 0) {
    stats_.accepted.add();
    if (open_connections() >= options_.max_connections && !evict_one()) {
      stats_.refused.add();  // Every connection is busy.
      ::close(result);
    } else {
      net::set_nodelay(result);
      const uint64_t id = next_id_++;
      auto conn = std::make_unique<Connection>(*this, id, result);
      Connection* raw = conn.get();
      connections_.emplace(id, std::move(conn));
      open_.fetch_add(1, std::memory_order_relaxed);
      set_wait(*raw, Wait::kHeaders);  // The first request's headers are due.
      raw->advance();
    }
  }
  // Transient errors (ECONNABORTED, EMFILE, ...) do not stop the listener.
  arm_accept();
}

void HttpServer::unlink(Connection& conn) {
  if (conn.wait_ == Wait::kNone) return;
  WaitList& list = list_for(conn.wait_);
  (conn.prev_ ? conn.prev_->next_ : list.head) = conn.next_;
  (conn.next_ ? conn.next_->prev_ : list.tail) = conn.prev_;
  conn.prev_ = conn.next_ = nullptr;
  conn.wait_ = Wait::kNone;
}

void HttpServer::set_wait(Connection& conn, Wait wait) {
  unlink(conn);
  if (wait == Wait::kNone) return;
  WaitList& list = list_for(wait);
  conn.wait_ = wait;
  conn.since_ = reactor_.now();
  conn.prev_ = list.tail;
  (list.tail ? list.tail->next_ : list.head) = &conn;
  list.tail = &conn;
}

bool HttpServer::evict_one() {
  Connection* a = header_list_.head;
  Connection* b = idle_list_.head;
  Connection* oldest = a == nullptr ? b : (b == nullptr || a->since() <= b->since() ? a : b);
  if (oldest == nullptr) return false;
  stats_.evicted.add();
  oldest->close();
  return true;
}

void HttpServer::sweep() {
  const net::Clock::time_point now = reactor_.now();
  // Each list is in stamp order: stop at the first one not yet due. expire()
  // takes the connection out of its list.
  while (Connection* c = header_list_.head) {
    if (now - c->since() < options_.header_timeout) break;
    stats_.header_timeouts.add();
    c->expire();
  }
  while (Connection* c = idle_list_.head) {
    if (now - c->since() < options_.idle_timeout) break;
    stats_.idle_timeouts.add();
    c->expire();
  }
}

std::string HttpServer::metrics_text() const {
  return absl::StrCat(
      "# HELP memstore_http_connections_closed_total HTTP connections closed by the server: "
      "header section not in time, idle too long, evicted at the connection cap (the one "
      "waiting longest), refused at the cap (every connection busy).\n"
      "# TYPE memstore_http_connections_closed_total counter\n",
      "memstore_http_connections_closed_total{reason=\"header_timeout\"} ",
      stats_.header_timeouts.get(), "\n",
      "memstore_http_connections_closed_total{reason=\"idle_timeout\"} ",
      stats_.idle_timeouts.get(), "\n",
      "memstore_http_connections_closed_total{reason=\"evicted\"} ", stats_.evicted.get(), "\n",
      "memstore_http_connections_closed_total{reason=\"refused\"} ", stats_.refused.get(), "\n",
      "# HELP memstore_http_connections_accepted_total HTTP connections accepted.\n"
      "# TYPE memstore_http_connections_accepted_total counter\n"
      "memstore_http_connections_accepted_total ",
      stats_.accepted.get(), "\n",
      "# HELP memstore_http_connections_open HTTP connections open now.\n"
      "# TYPE memstore_http_connections_open gauge\n"
      "memstore_http_connections_open ",
      open_connections(), "\n");
}

void HttpServer::dispatch(Connection& conn, HttpRequest request) {
  std::weak_ptr<HttpServer*> weak = self_;
  net::Reactor* reactor = &reactor_;
  const uint64_t id = conn.id();
  Responder respond([weak, reactor, id](HttpReply reply) mutable {
    auto task = [weak, id, reply = std::move(reply)]() mutable {
      if (auto self = weak.lock()) (*self)->deliver(id, std::move(reply));
    };
    if (reactor->on_loop_thread()) {
      reactor->defer(std::move(task));
    } else {
      reactor->post(std::move(task));
    }
  });
  handler_(std::move(request), std::move(respond));
}

void HttpServer::deliver(uint64_t id, HttpReply reply) {
  auto it = connections_.find(id);
  if (it == connections_.end() || !it->second->busy()) return;
  it->second->answer(std::move(reply));
}

void HttpServer::release(uint64_t id) {
  // Deferred: the connection may be inside its own callback.
  reactor_.defer([this, id, weak = std::weak_ptr<HttpServer*>(self_)] {
    if (weak.expired()) return;
    connections_.erase(id);
  });
}

}  // namespace raft::memstore
