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
      self->update_read_timer();
      self->arm_recv();
    });
    return;
  }
  arm_recv();
}

void FrameConnection::set_options(const ConnectionOptions& options) {
  RAFT_CHECK_MSG(queue_count_ == 0 && !send_op_.in_flight(), "set_options() with frames queued");
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
  size_t capacity = 0;
  char* p = decoder_.prepare_write(&capacity);
  capacity = std::min<size_t>(capacity, 1u << 30);
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
      return close(absl::UnavailableError("closed before the handshake"));
    }
    // Half-close from the remote: finish sending what is queued, then close.
    if (close_when_flushed_) return;
    if (queue_count_ == 0 && !send_op_.in_flight()) return close(absl::OkStatus());
    return close_after_flush(absl::OkStatus());
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
    return bad_input(reactor_.stats().handshake_timeouts, "no handshake in time");
  }
  if (state_ == State::kOpen && decoder_.buffered() > 0) {
    bad_input(reactor_.stats().bad_frame_stalled, "partial frame stalled");
  }
}

void FrameConnection::bad_input(Counter& counter, const char* what) {
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
  if (queue_count_ == 0 && !send_op_.in_flight()) after_send_idle();
}

void FrameConnection::close_after_flush(absl::Status reason) {
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  close_when_flushed_ = true;
  close_reason_ = std::move(reason);
  read_timer_.cancel();
  if (recv_op_.in_flight()) reactor_.cancel(recv_op_);
  if (queue_count_ == 0 && !send_op_.in_flight()) return close(close_reason_);
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
  RAFT_CHECK_MSG(queue_count_ == 0 && !send_op_.in_flight(), "detach() with frames queued");
  state_ = State::kDetached;
  read_timer_.cancel();
  DetachedConnection d;
  d.fd = fd_;
  fd_ = -1;
  d.buffered = decoder_.take_buffered();
  d.remote = remote_;
  d.handshake = remote_handshake_;
  auto cleanup = std::make_shared<Callbacks>(std::move(callbacks_));
  callbacks_ = Callbacks{};
  reactor_.defer([cleanup, self = std::move(self_)]() mutable {
    cleanup.reset();
    self.reset();
  });
  return d;
}

}  // namespace raft::net
