// HttpServer: io_uring accept/recv/send on the node's reactor.
#include "examples/memstore/http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "net/socket.h"

namespace raft::memstore {

void Responder::operator()(HttpReply reply) {
  RAFT_CHECK_MSG(send_, "a request was answered twice");
  auto send = std::move(send_);
  send_ = nullptr;
  send(std::move(reply));
}

// One accepted connection. At most one recv and one send in flight; the
// object is freed (by the server) once it is closing and neither is.
class HttpServer::Connection {
 public:
  Connection(HttpServer& server, uint64_t id, int fd)
      : server_(server), id_(id), fd_(fd), parser_(server.options_.limits) {
    buffer_.resize(server.options_.recv_buffer_bytes);
  }
  ~Connection() {
    RAFT_CHECK(!recv_op_.in_flight() && !send_op_.in_flight());
    if (fd_ >= 0) ::close(fd_);
  }

  uint64_t id() const { return id_; }
  bool busy() const { return busy_; }

  // Hands out the next parsed request, or reads more.
  void advance() {
    if (closing_ || busy_ || sending()) return;
    if (parser_.has_request()) {
      busy_ = true;
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
    if (!recv_op_.in_flight()) arm_recv();
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
    if (!parser_.feed(std::string_view(buffer_.data(), static_cast<size_t>(result)))) {
      parse_failed_ = true;
    }
    advance();
  }

  void queue_reply(std::string bytes, bool close_after) {
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

  HttpServer& server_;
  const uint64_t id_;
  int fd_;
  HttpRequestParser parser_;
  std::string buffer_;
  std::string out_;
  size_t out_offset_ = 0;
  bool busy_ = false;
  bool keep_alive_ = true;
  bool close_after_send_ = false;
  bool parse_failed_ = false;
  bool closing_ = false;
  net::MemberOperation<Connection, &Connection::on_recv> recv_op_{this};
  net::MemberOperation<Connection, &Connection::on_send> send_op_{this};
};

HttpServer::HttpServer(net::Reactor& reactor, HttpServerOptions options, HttpHandler handler)
    : reactor_(reactor),
      options_(std::move(options)),
      handler_(std::move(handler)),
      self_(std::make_shared<HttpServer*>(this)) {}

HttpServer::~HttpServer() {
  // Either the reactor stopped (every operation was drained) or stop() ran
  // and the server is idle.
  RAFT_CHECK_MSG(!accept_op_.in_flight(), "HttpServer destroyed with an accept in flight");
  connections_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

absl::Status HttpServer::start() {
  auto address = net::parse_address(options_.address);
  if (!address.ok()) return address.status();
  auto fd = net::listen_tcp_retrying(*address, options_.backlog, options_.bind_retry, "http");
  if (!fd.ok()) {
    return absl::Status(fd.status().code(), absl::StrCat("http listen on ", options_.address, ": ",
                                                         fd.status().message()));
  }
  listen_fd_ = *fd;
  bound_address_ = net::local_address(listen_fd_).to_string();
  arm_accept();
  return absl::OkStatus();
}

void HttpServer::stop() {
  if (stopping_) return;
  stopping_ = true;
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
    if (result >= 0) ::close(result);
    return maybe_close_listener();
  }
  if (result >= 0) {
    if (connections_.size() >= options_.max_connections) {
      ::close(result);
    } else {
      net::set_nodelay(result);
      const uint64_t id = next_id_++;
      auto conn = std::make_unique<Connection>(*this, id, result);
      Connection* raw = conn.get();
      connections_.emplace(id, std::move(conn));
      raw->advance();
    }
  }
  // Transient errors (ECONNABORTED, EMFILE, ...) do not stop the listener.
  arm_accept();
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
