// FrameConnection: one TCP connection carrying frames, on one reactor.
//
// Receive: one recv at a time into the FrameDecoder's reusable, refcounted
// blocks; complete frames are verified and handed to `on_frame` in order.
// Send: `send` queues a frame (bounded, in frames and bytes) and schedules one
// flush per loop turn, which issues a single sendmsg for everything queued
// (coalescing); partial writes resume where they stopped.
//
// The first frame in each direction is a Handshake (net/handshake.h). Until
// the remote one arrived and `on_handshake` accepted it, no other frame is
// delivered; a HandshakeReject from the remote closes with its reason.
//
// Bad input (garbage, length over the cap, checksum, Verifier failure, EOF in
// the middle of a frame, a partial frame stalled for idle_read_timeout, a
// frame out of protocol) closes the connection, bumps a NetStats counter and
// logs at most once per remote host per interval.
//
// Lifetime: create with `FrameConnection::create` and `start`. The connection
// keeps itself alive while open or while any of its operations is in flight,
// so the owner may drop its shared_ptr at any time; `on_close` runs exactly
// once (from the loop, with the reason; OK for an orderly end), after which no
// callback runs. All methods are loop-thread only.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "net/frame.h"
#include "net/handshake.h"
#include "net/reactor.h"
#include "net/tls.h"

namespace raft::net {

enum class OverflowPolicy : uint8_t {
  kDropFrame,        // Peer (Raft) traffic: the frame is dropped and counted.
  kCloseConnection,  // Client responses: never dropped silently; the connection closes.
};

struct ConnectionOptions {
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  size_t recv_block_bytes = 256 * 1024;
  size_t max_send_queue_frames = 4096;
  size_t max_send_queue_bytes = 128u << 20;
  // A partial frame with no progress for this long is a stall: close.
  Clock::duration idle_read_timeout = std::chrono::seconds(10);
  // The remote handshake must arrive within this (else closed, counted in
  // NetStats::handshake_timeouts). A Listener sets it for what it accepts.
  Clock::duration handshake_timeout = std::chrono::seconds(5);
  OverflowPolicy overflow = OverflowPolicy::kDropFrame;
  // TLS (net/tls.h): when set, the connection speaks TLS from its first
  // byte, as `tls_role`; a client checks the remote certificate is for
  // `tls_expected_name` when that is not empty.
  std::shared_ptr<TlsContext> tls;
  TlsRole tls_role = TlsRole::kServer;
  std::string tls_expected_name;
};

// A connection handed between shards: the fd, the bytes received after the
// handshake and not yet decoded, and the handshake itself.
struct DetachedConnection {
  int fd = -1;
  std::string buffered;
  std::string remote;  // "ip:port", for logs.
  HandshakeInfo handshake;
  std::unique_ptr<TlsSession> tls;  // The connection's TLS session, if it has one.
};

class FrameConnection : public std::enable_shared_from_this<FrameConnection> {
 public:
  struct Callbacks {
    // The remote handshake arrived. Return OK to accept (frames then flow) or
    // an error: a HandshakeReject carrying its message is sent and the
    // connection closes. May call set_frame_handler / send / detach.
    absl::AnyInvocable<absl::Status(FrameConnection&, const HandshakeInfo&)> on_handshake;
    // A verified frame (never a Handshake). The frame's payload is a Slice:
    // keep sub-slices beyond the call without copying.
    absl::AnyInvocable<void(FrameConnection&, const ReceivedFrame&)> on_frame;
    // Exactly once.
    absl::AnyInvocable<void(FrameConnection&, const absl::Status&)> on_close;
  };

  // Takes ownership of the connected socket `fd`.
  static std::shared_ptr<FrameConnection> create(Reactor& reactor, int fd, std::string remote,
                                                 ConnectionOptions options);
  ~FrameConnection();

  // Before start(): the TLS session of a connection adopted from another
  // shard (DetachedConnection::tls).
  void adopt_tls(std::unique_ptr<TlsSession> session) { tls_ = std::move(session); }
  // Starts receiving. `initial_bytes` (from a DetachedConnection) are decoded
  // first. With `checked_handshake`, the connection is open at once (adopted
  // after another shard checked that remote handshake).
  void start(Callbacks callbacks, std::string initial_bytes = {},
             std::optional<HandshakeInfo> checked_handshake = std::nullopt);
  void set_frame_handler(absl::AnyInvocable<void(FrameConnection&, const ReceivedFrame&)> f);
  void set_close_handler(absl::AnyInvocable<void(FrameConnection&, const absl::Status&)> f);

  // Queues a frame; it leaves with the next flush (this loop turn). Returns
  // ResourceExhausted when the queue bound is hit (the frame is dropped and
  // counted for kDropFrame; the connection is closed for kCloseConnection),
  // FailedPrecondition when the connection is closing or closed.
  absl::Status send(OutFrame frame);
  // Prepares the send of the queued frames now instead of in the deferred
  // flush (which then finds it in flight); for a caller that wants the bytes
  // on the wire before it does something else slow (Reactor::submit).
  void flush_now();
  // Half-close: once queued frames are out, shut the write side. Receiving
  // continues until the remote closes.
  void shutdown_write();
  // Sends what is queued, then closes with `reason`.
  void close_after_flush(absl::Status reason);
  // Closes now: in-flight operations are cancelled, queued frames dropped.
  void close(absl::Status reason);
  // Loop thread, only from inside on_handshake: stops using the socket and
  // returns it with the undecoded bytes, to be adopted on another shard.
  // No callback runs afterwards; the object frees itself.
  DetachedConnection detach();
  // Nothing is being sent (no frame queued, no send in flight, no TLS
  // output waiting): detach() may be called.
  bool can_detach() const { return send_idle(); }

  void set_overflow_policy(OverflowPolicy policy) { options_.overflow = policy; }
  // Replaces the options given at creation (frame cap, send bounds, idle
  // timeout, overflow policy). Only while nothing is queued: an acceptor
  // learns from the remote handshake whether peer or client options apply.
  void set_options(const ConnectionOptions& options);
  bool is_open() const { return state_ == State::kOpen; }
  bool is_closed() const { return state_ == State::kClosed; }
  const std::string& remote() const { return remote_; }
  const HandshakeInfo& remote_handshake() const { return remote_handshake_; }
  size_t queued_frames() const { return queue_count_; }
  size_t queued_bytes() const { return queue_bytes_; }
  Reactor& reactor() { return reactor_; }
  // The TLS session, or nullptr for a plaintext connection.
  const TlsSession* tls() const { return tls_.get(); }
  // Opaque slot for the owner (e.g. a peer id).
  uint64_t tag = 0;

 private:
  enum class State : uint8_t { kHandshake, kOpen, kClosing, kClosed, kDetached };

  FrameConnection(Reactor& reactor, int fd, std::string remote, ConnectionOptions options);
  void on_recv(int32_t result, uint32_t flags);
  void on_send(int32_t result, uint32_t flags);
  void arm_recv();
  void process_frames();
  bool dispatch(const ReceivedFrame& frame);
  void schedule_flush();
  void flush();
  void pop_sent(size_t bytes);
  void after_send_idle();
  void update_read_timer();
  void on_read_timeout();
  void bad_input(Counter& counter, const char* what);
  bool send_idle() const;
  // TLS: ciphertext in, handshake, decrypt into the decoder; encrypt the
  // queued frames and send the ciphertext.
  void tls_start();
  void on_tls_recv(size_t n);
  bool tls_decrypt();
  void tls_failed(const absl::Status& status);
  void tls_flush();
  void tls_encrypt_queued();
  void maybe_finish();
  void finish_close();

  Reactor& reactor_;
  int fd_;
  std::string remote_;
  std::string remote_host_;  // Rate-limit key.
  ConnectionOptions options_;
  State state_ = State::kHandshake;
  Callbacks callbacks_;
  HandshakeInfo remote_handshake_;
  absl::Status close_reason_;
  std::shared_ptr<FrameConnection> self_;  // Keeps us alive while open / in flight.

  FrameDecoder decoder_;
  bool read_eof_ = false;
  bool in_dispatch_ = false;
  Timer read_timer_;
  Clock::time_point handshake_deadline_{};

  // Send queue: a fixed ring of frames; head frame partly sent at head_offset_.
  std::vector<OutFrame> queue_;
  // Rings replaced while a send was in flight (its iovecs point into them).
  std::vector<std::vector<OutFrame>> retired_queue_;
  size_t queue_head_ = 0;
  size_t queue_count_ = 0;
  size_t queue_bytes_ = 0;
  size_t head_offset_ = 0;
  bool flush_scheduled_ = false;
  bool want_shutdown_write_ = false;
  bool write_shut_ = false;
  bool close_when_flushed_ = false;
  std::vector<iovec> iov_;
  msghdr msg_{};

  // TLS. Buffers are made once per connection (no allocation per record):
  // ciphertext received, plaintext staged for SSL_write, ciphertext to send.
  std::unique_ptr<TlsSession> tls_;
  std::vector<char> tls_in_;
  std::vector<char> tls_stage_;
  std::vector<char> tls_out_;
  size_t tls_out_begin_ = 0;
  size_t tls_out_end_ = 0;
  // Plaintext: the first bytes received looked like a TLS ClientHello.
  char* recv_ptr_ = nullptr;
  bool first_recv_seen_ = false;
  bool looks_like_tls_ = false;

  MemberOperation<FrameConnection, &FrameConnection::on_recv> recv_op_{this};
  MemberOperation<FrameConnection, &FrameConnection::on_send> send_op_{this};
};

}  // namespace raft::net
