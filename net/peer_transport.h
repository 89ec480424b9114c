// PeerTransport: this shard's outgoing connections to the same shard of
// other nodes ("one connection per peer per shard pair"). Each node sends on
// the connections it dialled and receives on the ones it accepted (Listener,
// role kPeer), so there is no dial race to break and each side reconnects
// what it owns.
//
// Per peer: connect (with a timeout) -> handshake -> connected; on a failure
// or a lost connection the peer is reported through `on_unreachable` and
// redialled after a capped exponential backoff with jitter (seeded, so a test
// replays the same delays), or at once when the peer dials us
// (`peer_reachable`). `send` never blocks: while the peer is not
// connected, or when its bounded send queue is full, the frame is dropped and
// counted (Raft tolerates loss and retries on its own).
//
// Lifetime: loop thread only. `shutdown()` closes everything; keep the
// transport alive until `idle()` is true or the reactor's run() returned.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "net/connection.h"
#include "net/reactor.h"
#include "net/resolver.h"
#include "net/socket.h"

namespace raft::net {

struct PeerTransportOptions {
  HandshakeInfo local;           // Our protocol version, cluster id, node id, shard.
  ConnectionOptions connection;  // overflow forced to kDropFrame.
  Clock::duration connect_timeout = std::chrono::seconds(1);
  Clock::duration backoff_initial = std::chrono::milliseconds(50);
  Clock::duration backoff_max = std::chrono::seconds(5);
  uint64_t seed = 1;  // Jitter.
  // With connection.tls: the name a peer's certificate must be for, by id
  // (a peer not listed: any certificate from the CA).
  absl::flat_hash_map<uint64_t, std::string> tls_peer_names;
};

struct PeerStats {
  uint64_t frames_queued = 0;
  uint64_t frames_dropped = 0;
  uint64_t connects = 0;
  uint64_t connect_failures = 0;
  uint64_t early_redials = 0;  // Backoffs cut short because the peer dialled us.
  bool connected = false;
  size_t queued_frames = 0;  // Now, in the connection's send queue.
  size_t queued_bytes = 0;
};

// The wait before redial number `attempts` + 1 (`attempts` failures in a
// row so far): `initial` doubled per failure, capped at `max`, then drawn
// uniformly from [delay/2, delay] so that peers that failed together spread out.
Clock::duration redial_delay(Clock::duration initial, Clock::duration max, uint32_t attempts,
                             std::mt19937_64& rng);

class PeerTransport {
 public:
  struct Callbacks {
    // A peer could not be reached or its connection was lost; `status` says
    // why. The runtime reports kUnreachable to the core for it.
    absl::AnyInvocable<void(uint64_t peer, const absl::Status& status)> on_unreachable;
    // The handshake with a peer completed (optional).
    absl::AnyInvocable<void(uint64_t peer)> on_connected;
    // Frames the peer sent back on our outgoing connection (optional).
    absl::AnyInvocable<void(uint64_t peer, const ReceivedFrame& frame)> on_frame;
  };

  PeerTransport(Reactor& reactor, PeerTransportOptions options, Callbacks callbacks);
  ~PeerTransport();
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Adds (or re-addresses) a peer and dials it. `target_shard` is the shard of
  // the peer this shard talks to. `address` is a literal or a host name
  // (net/address.h); a name is looked up on every dial through an
  // AsyncResolver, off the loop, and its addresses tried in order.
  // InvalidArgument for an address of a bad form.
  absl::Status add_peer(uint64_t peer, std::string_view address, uint32_t target_shard);
  void remove_peer(uint64_t peer);
  // Queues a frame for `peer`. ResourceExhausted (frame dropped, counted)
  // when the queue is full, Unavailable (dropped, counted) when not
  // connected, NotFound for an unknown peer.
  absl::Status send(uint64_t peer, OutFrame frame);
  bool connected(uint64_t peer) const;
  // The peer just dialled us (its handshake on our listener completed): it
  // is up, so a redial waiting out its backoff dials now and the backoff
  // starts over. This is what lets a restarted node hear from the others
  // within a round trip instead of after their backoff (up to backoff_max).
  // Connections stay one per direction, so there is still no dial race.
  void peer_reachable(uint64_t peer);
  // Prepares the sends of every peer's queued frames now
  // (FrameConnection::flush_now); Reactor::submit hands them to the kernel.
  void flush_now();
  PeerStats stats(uint64_t peer) const;
  // Closes every connection and stops redialling.
  void shutdown();
  bool idle() const;

 private:
  struct Peer;
  void dial(Peer& p);
  void connect_next(Peer& p);
  std::string describe(const Peer& p) const;  // For logs: "name:port (ip:port)".
  void on_connect(Peer& p, int32_t result);
  void on_connect_timeout(Peer& p);
  void connection_lost(Peer& p, const absl::Status& status);
  void schedule_redial(Peer& p);
  void reap_removed();
  void defer_reap();

  Reactor& reactor_;
  PeerTransportOptions options_;
  Callbacks callbacks_;
  std::mt19937_64 rng_;
  bool shutting_down_ = false;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Peer>> peers_;
  std::vector<std::unique_ptr<Peer>> removed_;  // Waiting for their connect op to drain.
  std::unique_ptr<AsyncResolver> resolver_;     // Made at the first peer given by name.
  uint64_t next_lookup_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace raft::net
