#include "net/connection.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "net/log.h"
#include "net/socket.h"

namespace raft::net {

namespace {
constexpr size_t kMaxIov = 1024;  // IOV_MAX on Linux.
constexpr size_t kInitialQueueSlots = 64;
// TLS buffers: ciphertext per recv, plaintext per SSL_write (several
// records), ciphertext per send (the staged plaintext and its records'
// overhead, 22 bytes per 16 KiB record in TLS 1.3, fit).
constexpr size_t kTlsRecvBytes = 64 * 1024;
constexpr size_t kTlsStageBytes = 128 * 1024;
constexpr size_t kTlsOutBytes = kTlsStageBytes + 16 * 1024;

absl::Status errno_status(int err, const char* what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(err)));
}
}  // namespace

std::shared_ptr<FrameConnection> FrameConnection::create(Reactor& reactor, int fd,
                                                         std::string remote,
                                                         ConnectionOptions options) {
  return std::shared_ptr<FrameConnection>(
      new FrameConnection(reactor, fd, std::move(remote), options));
}

FrameConnection::FrameConnection(Reactor& reactor, int fd, std::string remote,
                                 ConnectionOptions options)
    : reactor_(reactor),
      fd_(fd),
      remote_(std::move(remote)),
      options_(options),
      decoder_(options.max_frame_bytes, options.recv_block_bytes),
      read_timer_(reactor, [this] { on_read_timeout(); }) {
  RAFT_CHECK(options_.max_send_queue_frames > 0);
  size_t colon = remote_.rfind(':');
  remote_host_ = colon == std::string::npos ? remote_ : remote_.substr(0, colon);
  queue_.resize(std::min(kInitialQueueSlots, options_.max_send_queue_frames));
  iov_.resize(kMaxIov);
}

FrameConnection::~FrameConnection() {
  RAFT_CHECK_MSG(!recv_op_.in_flight() && !send_op_.in_flight(),
                 "FrameConnection freed with operations in flight");
  if (fd_ >= 0) ::close(fd_);
}

void FrameConnection::start(Callbacks callbacks, std::string initial_bytes,
                            std::optional<HandshakeInfo> checked_handshake) {
  RAFT_CHECK_MSG(self_ == nullptr && state_ == State::kHandshake, "start() called twice");
  self_ = shared_from_this();
  callbacks_ = std::move(callbacks);
  if (options_.tls != nullptr || tls_ != nullptr) tls_start();
  if (checked_handshake) {
    remote_handshake_ = *checked_handshake;
    state_ = State::kOpen;
  } else {
    handshake_deadline_ = Clock::now() + options_.handshake_timeout;
    read_timer_.arm_at(handshake_deadline_);
  }
  if (!initial_bytes.empty()) {
    std::string_view rest = initial_bytes;
    while (!rest.empty()) {
      size_t capacity = 0;
      char* p = decoder_.prepare_write(&capacity);
      size_t n = std::min(capacity, rest.size());
      std::memcpy(p, rest.data(), n);
      decoder_.commit_write(n);
      rest.remove_prefix(n);
    }
    // Delivered from the loop, like every other frame.
    reactor_.defer([self = shared_from_this()] {
      self->process_frames();
      // An adopted TLS connection: records that came with the handshake.
      if (self->tls_ && !self->tls_decrypt()) return;
      self->update_read_timer();
      self->arm_recv();
    });
    return;
  }
  arm_recv();
}

void FrameConnection::set_options(const ConnectionOptions& options) {
  // A TLS send in flight carries ciphertext from tls_out_, not the queue.
  RAFT_CHECK_MSG(queue_count_ == 0 && (tls_ || !send_op_.in_flight()),
                 "set_options() with frames queued");
  RAFT_CHECK(options.max_send_queue_frames > 0);
  options_ = options;
  decoder_.set_max_frame_bytes(options_.max_frame_bytes);
  queue_.assign(std::min(kInitialQueueSlots, options_.max_send_queue_frames), OutFrame{});
  queue_head_ = 0;
}

void FrameConnection::set_frame_handler(
    absl::AnyInvocable<void(FrameConnection&, const ReceivedFrame&)> f) {
  callbacks_.on_frame = std::move(f);
}

void FrameConnection::set_close_handler(
    absl::AnyInvocable<void(FrameConnection&, const absl::Status&)> f) {
  callbacks_.on_close = std::move(f);
}

// --- Receive -----------------------------------------------------------------

void FrameConnection::arm_recv() {
  if ((state_ != State::kHandshake && state_ != State::kOpen) || read_eof_ ||
      recv_op_.in_flight() || close_when_flushed_) {
    return;
  }
  if (tls_) {
    io_uring_prep_recv(reactor_.prepare(recv_op_), fd_, tls_in_.data(), tls_in_.size(), 0);
    return;
  }
  size_t capacity = 0;
  char* p = decoder_.prepare_write(&capacity);
  capacity = std::min<size_t>(capacity, 1u << 30);
  recv_ptr_ = p;
  io_uring_prep_recv(reactor_.prepare(recv_op_), fd_, p, capacity, 0);
}

void FrameConnection::on_recv(int32_t result, uint32_t /*flags*/) {
  if (state_ == State::kClosing) return maybe_finish();
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  if (close_when_flushed_) return;  // We stopped reading on purpose.
  if (result == -ECANCELED) return close(absl::CancelledError("reactor shutting down"));
  if (result == -EAGAIN || result == -EINTR) return arm_recv();
  if (result < 0) {
    RAFT_NET_LOG_LIMITED(spdlog::level::info, remote_host_ + "/recv", "recv from {}: {}", remote_,
                         std::strerror(-result));
    return close(errno_status(-result, "recv"));
  }
  if (result == 0) {
    read_eof_ = true;
    read_timer_.cancel();
    if (decoder_.buffered() > 0) {
      return bad_input(reactor_.stats().bad_frame_truncated, "closed in the middle of a frame");
    }
    if (state_ == State::kHandshake) {
      if (tls_ && !tls_->established()) {
        return tls_failed(absl::UnavailableError(
            "the remote closed during the TLS handshake (is its port TLS, and did it accept "
            "our certificate?)"));
      }
      return close(absl::UnavailableError("closed before the handshake"));
    }
    // Half-close from the remote: finish sending what is queued, then close.
    if (close_when_flushed_) return;
    if (queue_count_ == 0 && !send_op_.in_flight()) return close(absl::OkStatus());
    return close_after_flush(absl::OkStatus());
  }
  if (tls_) return on_tls_recv(static_cast<size_t>(result));
  if (!first_recv_seen_) {
    first_recv_seen_ = true;
    // 0x16 0x03: a TLS handshake record (a ClientHello) on a plaintext port.
    looks_like_tls_ =
        state_ == State::kHandshake && result >= 3 && recv_ptr_[0] == 0x16 && recv_ptr_[1] == 0x03;
  }
  decoder_.commit_write(static_cast<size_t>(result));
  reactor_.stats().bytes_received.add(static_cast<uint64_t>(result));
  process_frames();
  update_read_timer();
  arm_recv();
}

void FrameConnection::process_frames() {
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  auto keep_alive = shared_from_this();
  in_dispatch_ = true;
  FrameError e = decoder_.decode([this](const ReceivedFrame& f) { return dispatch(f); });
  in_dispatch_ = false;
  if (e == FrameError::kNone || (state_ != State::kHandshake && state_ != State::kOpen)) return;
  NetStats& s = reactor_.stats();
  switch (e) {
    case FrameError::kBadHeader:
      return bad_input(s.bad_frame_header, frame_error_name(e));
    case FrameError::kTooLarge:
      return bad_input(s.bad_frame_too_large, frame_error_name(e));
    case FrameError::kChecksum:
      return bad_input(s.bad_frame_checksum, frame_error_name(e));
    case FrameError::kVerify:
      return bad_input(s.bad_frame_verify, frame_error_name(e));
    case FrameError::kNone:
      return;
  }
}

bool FrameConnection::dispatch(const ReceivedFrame& f) {
  reactor_.stats().frames_received.add();
  fbs::FrameBody type = f.frame->body_type();
  if (state_ == State::kHandshake) {
    if (type == fbs::FrameBody::HandshakeReject) {
      const auto* r = f.frame->body_as_HandshakeReject();
      std::string reason = r->reason() ? r->reason()->str() : "";
      reactor_.stats().handshake_rejected.add();
      RAFT_NET_LOG_LIMITED(spdlog::level::warn, remote_host_ + "/rejected",
                           "{} rejected our handshake: {}", remote_, reason);
      close(absl::FailedPreconditionError(absl::StrCat("handshake rejected: ", reason)));
      return false;
    }
    if (type != fbs::FrameBody::Handshake) {
      bad_input(reactor_.stats().bad_frame_protocol, "frame before the handshake");
      return false;
    }
    remote_handshake_ = decode_handshake(*f.frame->body_as_Handshake());
    absl::Status ok = callbacks_.on_handshake ? callbacks_.on_handshake(*this, remote_handshake_)
                                              : absl::OkStatus();
    if (state_ != State::kHandshake) return false;  // Detached or closed by the callback.
    if (!ok.ok()) {
      reactor_.stats().handshake_rejected.add();
      RAFT_NET_LOG_LIMITED(spdlog::level::warn, remote_host_ + "/handshake",
                           "handshake from {} refused: {}", remote_, std::string(ok.message()));
      (void)send(encode_handshake_reject(std::string(ok.message())));
      close_after_flush(ok);
      return false;
    }
    state_ = State::kOpen;
    update_read_timer();
    return true;
  }
  if (type == fbs::FrameBody::Handshake || type == fbs::FrameBody::HandshakeReject ||
      type == fbs::FrameBody::NONE) {
    bad_input(reactor_.stats().bad_frame_protocol, "unexpected frame type");
    return false;
  }
  if (callbacks_.on_frame) callbacks_.on_frame(*this, f);
  return state_ == State::kOpen && !close_when_flushed_;
}

void FrameConnection::update_read_timer() {
  if (state_ == State::kHandshake) {
    if (!read_timer_.armed()) read_timer_.arm_at(handshake_deadline_);
  } else if (state_ == State::kOpen && decoder_.buffered() > 0 && !read_eof_) {
    read_timer_.arm_after(options_.idle_read_timeout);
  } else {
    read_timer_.cancel();
  }
}

void FrameConnection::on_read_timeout() {
  if (close_when_flushed_) {
    // The remote does not take what we still have queued: give up on it.
    return close(close_reason_);
  }
  if (state_ == State::kHandshake) {
    if (tls_ && !tls_->established()) {
      reactor_.stats().handshake_timeouts.add();
      return tls_failed(
          absl::DeadlineExceededError("TLS handshake failed (timeout): not done in time"));
    }
    return bad_input(reactor_.stats().handshake_timeouts, "no handshake in time");
  }
  if (state_ == State::kOpen && decoder_.buffered() > 0) {
    bad_input(reactor_.stats().bad_frame_stalled, "partial frame stalled");
  }
}

void FrameConnection::bad_input(Counter& counter, const char* what) {
  if (looks_like_tls_) {
    looks_like_tls_ = false;
    reactor_.stats().tls_on_plaintext_port.add();
    what = "a TLS ClientHello on a plaintext port (this node has no [tls])";
  }
  counter.add();
  RAFT_NET_LOG_LIMITED(spdlog::level::warn, remote_host_ + "/bad:" + what,
                       "closing connection from {}: {}", remote_, what);
  close(absl::DataLossError(absl::StrCat("bad input from ", remote_, ": ", what)));
}

// --- Send --------------------------------------------------------------------

absl::Status FrameConnection::send(OutFrame frame) {
  RAFT_CHECK_MSG(!frame.empty(), "empty frame");
  if ((state_ != State::kHandshake && state_ != State::kOpen) || close_when_flushed_ ||
      want_shutdown_write_) {
    return absl::FailedPreconditionError("connection closing");
  }
  size_t bytes = frame.wire_bytes();
  bool over_bytes = queue_count_ > 0 && queue_bytes_ + bytes > options_.max_send_queue_bytes;
  if (queue_count_ == queue_.size() && queue_.size() < options_.max_send_queue_frames) {
    // Grow the ring (doubling up to the bound), keeping order.
    std::vector<OutFrame> bigger(std::min(queue_.size() * 2, options_.max_send_queue_frames));
    for (size_t i = 0; i < queue_count_; ++i) {
      bigger[i] = std::move(queue_[(queue_head_ + i) % queue_.size()]);
    }
    // An in-flight sendmsg points at frame headers inside the old ring:
    // keep its memory alive until that send completes.
    if (send_op_.in_flight()) retired_queue_.push_back(std::move(queue_));
    queue_ = std::move(bigger);
    queue_head_ = 0;
  }
  if (queue_count_ == queue_.size() || over_bytes) {
    if (options_.overflow == OverflowPolicy::kDropFrame) {
      reactor_.stats().raft_frames_dropped.add();
      return absl::ResourceExhaustedError("send queue full: frame dropped");
    }
    reactor_.stats().client_connections_overflowed.add();
    RAFT_NET_LOG_LIMITED(spdlog::level::warn, remote_host_ + "/overflow",
                         "closing {}: client is not reading its responses ({} frames queued)",
                         remote_, queue_count_);
    close(absl::ResourceExhaustedError("response queue over its bound; connection closed"));
    return absl::ResourceExhaustedError("response queue over its bound; connection closed");
  }
  queue_[(queue_head_ + queue_count_) % queue_.size()] = std::move(frame);
  ++queue_count_;
  queue_bytes_ += bytes;
  schedule_flush();
  return absl::OkStatus();
}

void FrameConnection::schedule_flush() {
  if (flush_scheduled_ || send_op_.in_flight()) return;
  flush_scheduled_ = true;
  reactor_.defer([self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->flush();
  });
}

void FrameConnection::flush_now() {
  if (flush_scheduled_) flush();
}

void FrameConnection::flush() {
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  if (send_op_.in_flight()) return;
  if (tls_) return tls_flush();
  if (queue_count_ == 0) return after_send_idle();
  size_t n = 0;
  for (size_t i = 0; i < queue_count_ && n + 3 <= kMaxIov; ++i) {
    OutFrame& f = queue_[(queue_head_ + i) % queue_.size()];
    size_t skip = i == 0 ? head_offset_ : 0;
    const iovec parts[3] = {{f.header, kFrameHeaderBytes},
                            {const_cast<char*>(f.payload.data()), f.payload.size()},
                            {const_cast<uint8_t*>(kFramePadding), f.padding}};
    for (const iovec& part : parts) {
      if (skip >= part.iov_len) {
        skip -= part.iov_len;
        continue;
      }
      iov_[n++] = {static_cast<char*>(part.iov_base) + skip, part.iov_len - skip};
      skip = 0;
    }
  }
  msg_ = {};
  msg_.msg_iov = iov_.data();
  msg_.msg_iovlen = n;
  io_uring_prep_sendmsg(reactor_.prepare(send_op_), fd_, &msg_, MSG_NOSIGNAL);
  reactor_.stats().send_calls.add();
}

void FrameConnection::on_send(int32_t result, uint32_t /*flags*/) {
  retired_queue_.clear();  // The kernel no longer reads the old rings.
  if (state_ == State::kClosing) return maybe_finish();
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  if (result == -ECANCELED) return close(absl::CancelledError("reactor shutting down"));
  if (result == -EAGAIN || result == -EINTR) return flush();
  if (result < 0) {
    RAFT_NET_LOG_LIMITED(spdlog::level::info, remote_host_ + "/send", "send to {}: {}", remote_,
                         std::strerror(-result));
    return close(errno_status(-result, "send"));
  }
  if (tls_) {
    reactor_.stats().bytes_sent.add(static_cast<uint64_t>(result));
    reactor_.stats().tls_bytes_sent.add(static_cast<uint64_t>(result));
    tls_out_begin_ += static_cast<size_t>(result);
    return flush();
  }
  reactor_.stats().bytes_sent.add(static_cast<uint64_t>(result));
  pop_sent(static_cast<size_t>(result));
  flush();  // More frames may have queued meanwhile; else idle handling.
}

void FrameConnection::pop_sent(size_t bytes) {
  while (bytes > 0) {
    RAFT_CHECK(queue_count_ > 0);
    OutFrame& f = queue_[queue_head_];
    size_t remaining = f.wire_bytes() - head_offset_;
    if (bytes < remaining) {
      head_offset_ += bytes;
      return;
    }
    bytes -= remaining;
    queue_bytes_ -= f.wire_bytes();
    f = OutFrame{};  // Releases the payload now.
    queue_head_ = (queue_head_ + 1) % queue_.size();
    --queue_count_;
    head_offset_ = 0;
    reactor_.stats().frames_sent.add();
  }
}

void FrameConnection::after_send_idle() {
  if (close_when_flushed_) return close(close_reason_);
  if (want_shutdown_write_ && !write_shut_) {
    ::shutdown(fd_, SHUT_WR);
    write_shut_ = true;
  }
  if (read_eof_) close(absl::OkStatus());
}

void FrameConnection::shutdown_write() {
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  want_shutdown_write_ = true;
  if (send_idle()) after_send_idle();
}

void FrameConnection::close_after_flush(absl::Status reason) {
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  close_when_flushed_ = true;
  close_reason_ = std::move(reason);
  read_timer_.cancel();
  if (recv_op_.in_flight()) reactor_.cancel(recv_op_);
  if (send_idle()) return close(close_reason_);
  // Do not wait forever on a remote that stopped reading.
  read_timer_.arm_after(options_.idle_read_timeout);
  schedule_flush();
}

// --- Close -------------------------------------------------------------------

void FrameConnection::close(absl::Status reason) {
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  state_ = State::kClosing;
  close_reason_ = std::move(reason);
  read_timer_.cancel();
  reactor_.cancel(recv_op_);
  reactor_.cancel(send_op_);
  maybe_finish();
}

void FrameConnection::maybe_finish() {
  if (state_ == State::kClosing && !recv_op_.in_flight() && !send_op_.in_flight()) {
    finish_close();
  }
}

void FrameConnection::finish_close() {
  state_ = State::kClosed;
  read_timer_.cancel();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  reactor_.stats().connections_closed.add();
  for (size_t i = 0; i < queue_count_; ++i) queue_[(queue_head_ + i) % queue_.size()] = OutFrame{};
  queue_count_ = 0;
  queue_bytes_ = 0;
  // The callbacks may be running right now (close from inside on_frame):
  // destroy them, and possibly this object, from a later task.
  Callbacks callbacks = std::move(callbacks_);
  callbacks_ = Callbacks{};
  if (callbacks.on_close) callbacks.on_close(*this, close_reason_);
  auto cleanup = std::make_shared<Callbacks>(std::move(callbacks));
  reactor_.defer([cleanup, self = std::move(self_)]() mutable {
    cleanup.reset();
    self.reset();
  });
}

DetachedConnection FrameConnection::detach() {
  RAFT_CHECK_MSG(in_dispatch_ && state_ == State::kHandshake,
                 "detach() only from inside on_handshake");
  RAFT_CHECK_MSG(send_idle(), "detach() with frames queued");
  state_ = State::kDetached;
  read_timer_.cancel();
  DetachedConnection d;
  d.fd = fd_;
  fd_ = -1;
  d.buffered = decoder_.take_buffered();
  d.remote = remote_;
  d.handshake = remote_handshake_;
  d.tls = std::move(tls_);
  auto cleanup = std::make_shared<Callbacks>(std::move(callbacks_));
  callbacks_ = Callbacks{};
  reactor_.defer([cleanup, self = std::move(self_)]() mutable {
    cleanup.reset();
    self.reset();
  });
  return d;
}

bool FrameConnection::send_idle() const {
  if (queue_count_ > 0 || send_op_.in_flight()) return false;
  return !tls_ || (tls_out_begin_ == tls_out_end_ && tls_->pending_output() == 0);
}

// --- TLS ---------------------------------------------------------------------

void FrameConnection::tls_start() {
  if (!tls_) tls_ = options_.tls->new_session(options_.tls_role, options_.tls_expected_name);
  tls_in_.resize(kTlsRecvBytes);
  tls_stage_.resize(kTlsStageBytes);
  tls_out_.resize(kTlsOutBytes);
  if (!tls_->established()) {
    // A client's ClientHello goes out now; a server's handshake waits for it.
    absl::Status s = tls_->handshake();
    RAFT_CHECK_MSG(s.ok(), "TLS handshake failed before any input");
    if (tls_->pending_output() > 0) schedule_flush();
  }
}

void FrameConnection::on_tls_recv(size_t n) {
  NetStats& stats = reactor_.stats();
  stats.bytes_received.add(n);
  stats.tls_bytes_received.add(n);
  tls_->feed(tls_in_.data(), n);
  if (!tls_->established()) {
    absl::Status s = tls_->handshake();
    if (!s.ok()) return tls_failed(s);
    if (tls_->established()) {
      stats.tls_handshakes.add();
      schedule_flush();  // Frames queued during the handshake (ours).
    }
  }
  if (tls_->established() && !tls_decrypt()) return;
  if (tls_->pending_output() > 0) schedule_flush();
  update_read_timer();
  arm_recv();
}

// Decrypts everything fed so far into the decoder and delivers the frames.
// False when the connection is no longer receiving (closed, detached).
bool FrameConnection::tls_decrypt() {
  for (;;) {
    if (state_ != State::kHandshake && state_ != State::kOpen) return false;
    size_t capacity = 0;
    char* p = decoder_.prepare_write(&capacity);
    absl::StatusOr<size_t> n = tls_->read(p, capacity);
    if (!n.ok()) {
      if (absl::IsUnavailable(n.status())) {
        // close_notify: an orderly end, like EOF.
        read_eof_ = true;
        if (decoder_.buffered() > 0) {
          bad_input(reactor_.stats().bad_frame_truncated, "closed in the middle of a frame");
        } else {
          close_after_flush(absl::OkStatus());
        }
        return false;
      }
      // In TLS 1.3 a client learns only now that the server refused its
      // certificate (an alert in place of the first record).
      if (state_ == State::kHandshake) {
        tls_failed(n.status());
      } else {
        bad_input(reactor_.stats().bad_frame_protocol, "bad TLS record");
      }
      return false;
    }
    if (*n == 0) return true;
    decoder_.commit_write(*n);
    process_frames();
  }
}

void FrameConnection::tls_failed(const absl::Status& status) {
  const TlsFailure why = absl::IsDeadlineExceeded(status) ? TlsFailure::kTimeout : tls_->failure();
  reactor_.stats().tls_failure(why).add();
  RAFT_NET_LOG_LIMITED(spdlog::level::warn, remote_host_ + "/tls:" + tls_failure_name(why),
                       "closing connection with {}: {}", remote_, std::string(status.message()));
  // The alert OpenSSL made, if any, tells the remote why.
  if (tls_->pending_output() > 0 && !read_eof_) return close_after_flush(status);
  close(status);
}

void FrameConnection::tls_flush() {
  if (tls_->established()) tls_encrypt_queued();
  if (tls_out_begin_ == tls_out_end_) {
    tls_out_begin_ = 0;
    tls_out_end_ = tls_->take_output(tls_out_.data(), tls_out_.size());
  }
  if (tls_out_end_ == 0) {
    if (queue_count_ == 0 || !tls_->established()) after_send_idle();
    return;
  }
  io_uring_prep_send(reactor_.prepare(send_op_), fd_, tls_out_.data() + tls_out_begin_,
                     tls_out_end_ - tls_out_begin_, MSG_NOSIGNAL);
  reactor_.stats().send_calls.add();
}

// Copies queued frames (header, payload, padding) into the stage, up to its
// size, and encrypts them with one SSL_write: small frames share records.
// The frames copied are done with (pop_sent); their ciphertext waits in the
// session's output.
void FrameConnection::tls_encrypt_queued() {
  if (tls_->pending_output() >= kTlsOutBytes) return;  // Send what is there first.
  size_t staged = 0;
  while (queue_count_ > 0 && staged < tls_stage_.size()) {
    const OutFrame& f = queue_[queue_head_];
    const std::string_view parts[3] = {{reinterpret_cast<const char*>(f.header), kFrameHeaderBytes},
                                       {f.payload.data(), f.payload.size()},
                                       {reinterpret_cast<const char*>(kFramePadding), f.padding}};
    size_t skip = head_offset_;
    size_t copied = 0;
    for (std::string_view part : parts) {
      if (skip >= part.size()) {
        skip -= part.size();
        continue;
      }
      size_t n = std::min(part.size() - skip, tls_stage_.size() - staged);
      std::memcpy(tls_stage_.data() + staged, part.data() + skip, n);
      staged += n;
      copied += n;
      skip = 0;
      if (staged == tls_stage_.size()) break;
    }
    pop_sent(copied);
  }
  if (staged == 0) return;
  absl::Status s = tls_->write(tls_stage_.data(), staged);
  RAFT_CHECK_MSG(s.ok(), "TLS write into a memory BIO failed");
}

}  // namespace raft::net
