#include "net/listener.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "net/address.h"
#include "net/log.h"

namespace raft::net {

namespace {
HandshakeInfo reply_for(const HandshakeInfo& local, const HandshakeInfo& remote) {
  HandshakeInfo reply = local;
  reply.shard = remote.target_shard;
  reply.target_shard = remote.shard;
  reply.role = remote.role;
  return reply;
}
}  // namespace

Listener::Listener(Reactor& reactor, ListenerOptions options, Callbacks callbacks)
    : reactor_(reactor),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      retry_timer_(reactor, [this] { arm_accept(); }) {
  options_.peer_connection.overflow = OverflowPolicy::kDropFrame;
  options_.client_connection.overflow = OverflowPolicy::kCloseConnection;
  options_.client_connection.handshake_timeout = options_.handshake_timeout;
  // Replies tell the dialer how many shards there are (clients route by it).
  if (options_.local.shard_count == 0) options_.local.shard_count = options_.shard_count;
}

Listener::~Listener() {
  RAFT_CHECK_MSG(!accept_op_.in_flight(), "Listener destroyed with accept in flight");
  if (fd_ >= 0) ::close(fd_);
}

absl::Status Listener::start() {
  RAFT_CHECK_MSG(fd_ < 0 && !accept_op_.in_flight(), "Listener started twice");
  // A host name is resolved here, blocking: start() runs before the loop
  // serves (like the bind retry), and binds the name's first address.
  auto fd = listen_host_port(options_.address, options_.backlog, options_.bind_retry, "raft");
  if (!fd.ok()) return fd.status();
  fd_ = *fd;
  bound_ = local_address(fd_);
  stopping_ = false;
  arm_accept();
  net_logger()->info("listening on {}", bound_.to_string());
  return absl::OkStatus();
}

void Listener::stop() {
  stopping_ = true;
  retry_timer_.cancel();
  if (accept_op_.in_flight()) {
    reactor_.cancel(accept_op_);  // The fd closes when the accept drains.
  } else if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void Listener::arm_accept() {
  if (stopping_ || fd_ < 0 || accept_op_.in_flight()) return;
  io_uring_sqe* sqe = reactor_.prepare(accept_op_);
  ++accept_submissions_;
  multishot_ = reactor_.features().multishot_accept;
  if (multishot_) {
    io_uring_prep_multishot_accept(sqe, fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } else {
    io_uring_prep_accept(sqe, fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  }
}

void Listener::on_accept(int32_t result, uint32_t flags) {
  bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (stopping_ || result == -ECANCELED) {
    if (result >= 0) ::close(result);
    if (!accept_op_.in_flight() && fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    return;
  }
  if (result == -EINVAL && multishot_) {
    // No multishot accept in this kernel: plain accepts from now on.
    reactor_.mutable_features().multishot_accept = false;
    net_logger()->info("multishot accept unavailable; using single accepts");
    return arm_accept();
  }
  if (result < 0) {
    // EMFILE, ENFILE, ENOBUFS...: back off briefly instead of spinning.
    RAFT_NET_LOG_LIMITED(spdlog::level::warn, "accept", "accept on {}: {}", bound_.to_string(),
                         std::strerror(-result));
    if (!more && !accept_op_.in_flight()) retry_timer_.arm_after(std::chrono::milliseconds(100));
    return;
  }
  int fd = result;
  set_nodelay(fd);
  reactor_.stats().connections_accepted.add();
  auto conn = FrameConnection::create(reactor_, fd, remote_address(fd).to_string(),
                                      options_.client_connection);
  FrameConnection::Callbacks cb;
  // The connection may outlive this listener (stopped while it handshakes).
  cb.on_handshake = [this, alive = std::weak_ptr<bool>(alive_)](FrameConnection& c,
                                                                const HandshakeInfo& remote) {
    if (!alive.lock()) return absl::UnavailableError("listener stopped");
    return on_handshake(c, remote);
  };
  conn->start(std::move(cb));
  if (!accept_op_.in_flight()) arm_accept();
}

absl::Status Listener::on_handshake(FrameConnection& conn, const HandshakeInfo& remote) {
  absl::Status ok = check_incoming_handshake(options_.local, options_.shard_count, remote);
  if (!ok.ok()) return ok;
  if (options_.require_peer_certificate && remote.role == ConnectionRole::kPeer && conn.tls() &&
      !conn.tls()->peer_certificate_verified()) {
    reactor_.stats().tls_failure(TlsFailure::kNoCertificate).add();
    return absl::PermissionDeniedError(
        "a peer connection needs a client certificate from the cluster's CA (mutual TLS)");
  }
  if (auto it = options_.tls_peer_names.find(remote.node_id);
      remote.role == ConnectionRole::kPeer && conn.tls() && it != options_.tls_peer_names.end() &&
      !conn.tls()->peer_certificate_matches(it->second)) {
    reactor_.stats().tls_failure(TlsFailure::kNameMismatch).add();
    return absl::PermissionDeniedError(
        absl::StrCat("node ", remote.node_id, "'s certificate is not for ", it->second));
  }
  if (remote.target_shard != options_.local.shard && callbacks_.route) {
    // A TLS connection's own handshake bytes may still be on their way out
    // (not seen here in practice): refused, the remote dials again.
    if (!conn.can_detach()) return absl::UnavailableError("busy sending; dial again");
    callbacks_.route(conn.detach());
    return absl::OkStatus();
  }
  bool peer = remote.role == ConnectionRole::kPeer;
  // Accepted with client options (the role was unknown until now).
  if (peer) conn.set_options(options_.peer_connection);
  absl::Status sent = conn.send(encode_handshake(reply_for(options_.local, remote)));
  if (!sent.ok()) return sent;
  std::shared_ptr<FrameConnection> shared = conn.shared_from_this();
  ConnectionHandler& handler = peer ? callbacks_.on_peer : callbacks_.on_client;
  if (!handler) return absl::FailedPreconditionError("this node does not take such connections");
  handler(std::move(shared), remote);
  return absl::OkStatus();
}

std::shared_ptr<FrameConnection> adopt_connection(Reactor& reactor, DetachedConnection detached,
                                                  const HandshakeInfo& local,
                                                  ConnectionOptions options,
                                                  FrameConnection::Callbacks callbacks) {
  options.overflow = detached.handshake.role == ConnectionRole::kPeer
                         ? OverflowPolicy::kDropFrame
                         : OverflowPolicy::kCloseConnection;
  auto conn = FrameConnection::create(reactor, detached.fd, detached.remote, options);
  if (detached.tls) conn->adopt_tls(std::move(detached.tls));
  callbacks.on_handshake = nullptr;
  conn->start(std::move(callbacks), std::move(detached.buffered), detached.handshake);
  (void)conn->send(encode_handshake(reply_for(local, detached.handshake)));
  return conn;
}

}  // namespace raft::net
