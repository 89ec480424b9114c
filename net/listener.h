// Listener: accepts TCP connections for one node, peers and clients alike,
// on one port. Each accepted connection must open with a Handshake; the
// listener checks it (check_incoming_handshake), answers with its own, and
// hands the open connection to `on_peer` or `on_client` according to the
// role. Client connections never drop responses: past their send bound they
// close (OverflowPolicy::kCloseConnection); peer connections drop frames.
//
// Shards: the listener runs on one shard. A handshake whose target_shard is
// another shard is detached (fd + undecoded bytes) and given to `route`,
// which should send it to that shard (ShardSet::send) and call
// `adopt_connection` there. Without `route`, every connection stays here.
//
// A connection that has not sent its handshake within handshake_timeout of
// being accepted is closed and counted (NetStats::handshake_timeouts): idle
// sockets cannot pile up on the port. The connection's own timer does it
// (one per connection, embedded, no allocation).
//
// Accept uses multishot accept when the kernel has it (5.19+); at the first
// -EINVAL it falls back to one accept per completion, for good.
//
// Lifetime: loop thread only. After `stop()` the accept operation drains in a
// later turn: keep the Listener alive until `active()` is false (or until the
// reactor's run() returned).
#pragma once

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "net/connection.h"
#include "net/reactor.h"
#include "net/socket.h"

namespace raft::net {

struct ListenerOptions {
  // "ip:port", "[ipv6]:port" ("[::]:0": every address, ephemeral port) or
  // "name:port" (resolved at start(), blocking; the first address is bound).
  // Port 0: ephemeral; see port().
  std::string address = "127.0.0.1:0";
  int backlog = 1024;
  // Our cluster id, node id and (listener) shard. Its shard_count, when 0,
  // is taken from shard_count: every reply tells the dialer the count.
  HandshakeInfo local;
  uint32_t shard_count = 1;
  // Each applies from the handshake on; before it, client_connection does.
  ConnectionOptions peer_connection;    // overflow forced to kDropFrame.
  ConnectionOptions client_connection;  // overflow forced to kCloseConnection.
  // From accept to the remote handshake; past it the connection closes.
  // Replaces client_connection.handshake_timeout (the options an accepted
  // connection has until its handshake names its role).
  Clock::duration handshake_timeout = std::chrono::seconds(5);
  // While the address is in use, start() retries binding this long (see
  // listen_tcp_retrying); 0 fails at once.
  std::chrono::milliseconds bind_retry{0};
  // TLS (peer_connection.tls / client_connection.tls set): a peer must have
  // presented a certificate that verified (mutual TLS); clients need one
  // only if the TlsContext requires client certificates.
  bool require_peer_certificate = false;
  // And, for the peers listed, the name (DNS or IP) their certificate must
  // be for: a node id is only as good as the certificate that claims it.
  absl::flat_hash_map<uint64_t, std::string> tls_peer_names;
};

class Listener {
 public:
  using ConnectionHandler =
      absl::AnyInvocable<void(std::shared_ptr<FrameConnection>, const HandshakeInfo&)>;
  struct Callbacks {
    // Called with an open connection; install handlers with
    // set_frame_handler / set_close_handler before returning.
    ConnectionHandler on_peer;
    ConnectionHandler on_client;
    // Optional: a handshake for another shard.
    absl::AnyInvocable<void(DetachedConnection)> route;
  };

  Listener(Reactor& reactor, ListenerOptions options, Callbacks callbacks);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds, listens and starts accepting.
  absl::Status start();
  void stop();
  bool active() const { return accept_op_.in_flight() || fd_ >= 0; }
  uint16_t port() const { return bound_.port(); }
  std::string address() const { return bound_.to_string(); }
  // Accept operations handed to the kernel so far: one serves many
  // connections with multishot accept, one per connection without.
  uint64_t accept_submissions() const { return accept_submissions_; }

 private:
  void arm_accept();
  void on_accept(int32_t result, uint32_t flags);
  absl::Status on_handshake(FrameConnection& conn, const HandshakeInfo& remote);

  Reactor& reactor_;
  ListenerOptions options_;
  Callbacks callbacks_;
  int fd_ = -1;
  bool stopping_ = false;
  bool multishot_ = false;
  uint64_t accept_submissions_ = 0;
  SocketAddress bound_;
  Timer retry_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  MemberOperation<Listener, &Listener::on_accept> accept_op_{this};
};

// On the target shard: wraps a connection detached by a Listener, answers
// its handshake (as `local`) and starts it, open, with `callbacks`
// (on_handshake is not called again).
std::shared_ptr<FrameConnection> adopt_connection(Reactor& reactor, DetachedConnection detached,
                                                  const HandshakeInfo& local,
                                                  ConnectionOptions options,
                                                  FrameConnection::Callbacks callbacks);

}  // namespace raft::net
