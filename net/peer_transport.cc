#include "net/peer_transport.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "net/log.h"

namespace raft::net {

Clock::duration redial_delay(Clock::duration initial, Clock::duration max, uint32_t attempts,
                             std::mt19937_64& rng) {
  auto base = initial * (int64_t{1} << std::min<uint32_t>(attempts, 20));
  auto delay = std::min<Clock::duration>(base, max);
  auto half = delay / 2;
  std::uniform_int_distribution<int64_t> jitter(0, (delay - half).count());
  return half + Clock::duration(jitter(rng));
}

struct PeerTransport::Peer {
  enum class State : uint8_t {
    kIdle,
    kResolving,
    kConnecting,
    kHandshaking,
    kConnected,
    kBackoff,
    kRemoved
  };

  Peer(PeerTransport& owner, uint64_t id)
      : owner(owner),
        id(id),
        connect_timer(owner.reactor_, [this] { this->owner.on_connect_timeout(*this); }),
        redial_timer(owner.reactor_, [this] { this->owner.dial(*this); }) {}

  void on_connect_done(int32_t result, uint32_t /*flags*/) { owner.on_connect(*this, result); }

  PeerTransport& owner;
  uint64_t id;
  std::string address;  // As configured: a literal or "name:port".
  HostPort target;
  bool literal = false;                  // `addresses` is fixed; no lookup.
  std::vector<SocketAddress> addresses;  // Of the current dial attempt.
  size_t next_address = 0;               // Next one of `addresses` to connect to.
  SocketAddress connecting;              // The address being connected to.
  uint64_t lookup = 0;                   // Token of the lookup this peer waits for (0: none).
  uint32_t target_shard = 0;
  State state = State::kIdle;
  int fd = -1;  // While connecting.
  bool timed_out = false;
  uint32_t attempts = 0;
  std::shared_ptr<FrameConnection> conn;
  Timer connect_timer;
  Timer redial_timer;
  PeerStats stats;
  MemberOperation<Peer, &Peer::on_connect_done> connect_op{this};
};

PeerTransport::PeerTransport(Reactor& reactor, PeerTransportOptions options, Callbacks callbacks)
    : reactor_(reactor),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      rng_(options_.seed) {
  options_.connection.overflow = OverflowPolicy::kDropFrame;
  options_.local.role = ConnectionRole::kPeer;
}

PeerTransport::~PeerTransport() {
  shutdown();
  for (auto& [id, p] : peers_) {
    RAFT_CHECK_MSG(!p->connect_op.in_flight(), "PeerTransport destroyed with a connect in flight");
  }
  for (auto& p : removed_) RAFT_CHECK(!p->connect_op.in_flight());
}

absl::Status PeerTransport::add_peer(uint64_t peer, std::string_view address,
                                     uint32_t target_shard) {
  RAFT_CHECK_MSG(peer != 0 && peer != options_.local.node_id, "bad peer id");
  auto parsed = split_host_port(address);
  if (!parsed.ok()) return parsed.status();
  auto& slot = peers_[peer];
  if (slot) {
    if (slot->address == address && slot->target_shard == target_shard) return absl::OkStatus();
    remove_peer(peer);
  }
  auto& fresh = peers_[peer];
  fresh = std::make_unique<Peer>(*this, peer);
  fresh->address = std::string(address);
  fresh->target = *std::move(parsed);
  if (auto literal = literal_address(fresh->target)) {
    fresh->literal = true;
    fresh->addresses = {*literal};
  }
  fresh->target_shard = target_shard;
  if (!shutting_down_) dial(*fresh);
  return absl::OkStatus();
}

void PeerTransport::remove_peer(uint64_t peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  std::unique_ptr<Peer> p = std::move(it->second);
  peers_.erase(it);
  p->state = Peer::State::kRemoved;
  p->connect_timer.cancel();
  p->redial_timer.cancel();
  if (p->connect_op.in_flight()) reactor_.cancel(p->connect_op);
  auto conn = p->conn;
  removed_.push_back(std::move(p));
  if (conn) conn->close(absl::CancelledError("peer removed"));
  reap_removed();
}

void PeerTransport::defer_reap() {
  // The transport may be gone when the task runs: hold only a weak token.
  reactor_.defer([this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.lock()) reap_removed();
  });
}

void PeerTransport::reap_removed() {
  removed_.erase(std::remove_if(removed_.begin(), removed_.end(),
                                [](const std::unique_ptr<Peer>& p) {
                                  return !p->connect_op.in_flight() && p->conn == nullptr;
                                }),
                 removed_.end());
}

void PeerTransport::dial(Peer& p) {
  if (shutting_down_ || p.state == Peer::State::kRemoved) return;
  p.next_address = 0;
  if (p.literal) return connect_next(p);
  // A name: looked up again on every dial, off the loop. The peer may be
  // removed or re-addressed meanwhile; the answer is then ignored.
  if (!resolver_) resolver_ = std::make_unique<AsyncResolver>(reactor_);
  p.state = Peer::State::kResolving;
  p.lookup = next_lookup_++;
  resolver_->resolve(p.target, [this, id = p.id, lookup = p.lookup](
                                   absl::StatusOr<std::vector<SocketAddress>> result) {
    auto it = peers_.find(id);
    if (it == peers_.end() || shutting_down_) return;
    Peer& peer = *it->second;
    if (peer.state != Peer::State::kResolving || peer.lookup != lookup) return;
    peer.lookup = 0;
    if (!result.ok()) {
      peer.stats.connect_failures++;
      reactor_.stats().connect_failures.add();
      return connection_lost(peer, result.status());
    }
    peer.addresses = *std::move(result);
    peer.next_address = 0;
    connect_next(peer);
  });
}

void PeerTransport::connect_next(Peer& p) {
  p.connecting = p.addresses.at(p.next_address++);
  auto fd = tcp_socket(p.connecting.family());
  if (!fd.ok()) return connection_lost(p, fd.status());
  p.fd = *fd;
  p.timed_out = false;
  p.state = Peer::State::kConnecting;
  io_uring_prep_connect(reactor_.prepare(p.connect_op), p.fd, p.connecting.get(),
                        p.connecting.length);
  p.connect_timer.arm_after(options_.connect_timeout);
}

std::string PeerTransport::describe(const Peer& p) const {
  if (p.literal || p.connecting.length == 0) return p.address;
  return absl::StrCat(p.address, " (", p.connecting.to_string(), ")");
}

void PeerTransport::on_connect_timeout(Peer& p) {
  if (p.connect_op.in_flight()) {
    p.timed_out = true;
    reactor_.cancel(p.connect_op);
  }
}

void PeerTransport::on_connect(Peer& p, int32_t result) {
  p.connect_timer.cancel();
  if (p.state == Peer::State::kRemoved || shutting_down_) {
    if (p.fd >= 0) ::close(p.fd);
    p.fd = -1;
    defer_reap();
    return;
  }
  if (result < 0) {
    ::close(p.fd);
    p.fd = -1;
    p.stats.connect_failures++;
    reactor_.stats().connect_failures.add();
    absl::Status status =
        p.timed_out
            ? absl::DeadlineExceededError(absl::StrCat("connect to ", describe(p), " timed out"))
            : absl::UnavailableError(
                  absl::StrCat("connect to ", describe(p), ": ", std::strerror(-result)));
    // A name with several addresses: the next one, before backing off.
    if (p.next_address < p.addresses.size()) {
      RAFT_NET_LOG_LIMITED(spdlog::level::info, absl::StrCat("peer/", p.id), "peer {}: {}", p.id,
                           status.ToString());
      return connect_next(p);
    }
    return connection_lost(p, status);
  }
  reactor_.stats().connections_dialed.add();
  int fd = p.fd;
  p.fd = -1;
  p.state = Peer::State::kHandshaking;
  ConnectionOptions co = options_.connection;
  if (auto it = options_.tls_peer_names.find(p.id); it != options_.tls_peer_names.end()) {
    co.tls_expected_name = it->second;
  }
  p.conn = FrameConnection::create(reactor_, fd, describe(p), co);
  p.conn->tag = p.id;
  FrameConnection::Callbacks cb;
  Peer* peer = &p;
  cb.on_handshake = [this, peer](FrameConnection&, const HandshakeInfo& remote) {
    absl::Status ok = check_reply_handshake(options_.local, peer->id, remote);
    if (!ok.ok()) return ok;
    peer->state = Peer::State::kConnected;
    peer->attempts = 0;
    peer->stats.connects++;
    if (callbacks_.on_connected) callbacks_.on_connected(peer->id);
    return absl::OkStatus();
  };
  cb.on_frame = [this, peer](FrameConnection&, const ReceivedFrame& f) {
    if (callbacks_.on_frame) callbacks_.on_frame(peer->id, f);
  };
  cb.on_close = [this, peer](FrameConnection& c, const absl::Status& status) {
    if (peer->conn.get() != &c) return;
    peer->conn.reset();
    if (peer->state == Peer::State::kRemoved || shutting_down_) {
      defer_reap();
      return;
    }
    connection_lost(*peer,
                    status.ok() ? absl::UnavailableError("peer closed the connection") : status);
  };
  p.conn->start(std::move(cb));
  HandshakeInfo hello = options_.local;
  hello.target_shard = p.target_shard;
  (void)p.conn->send(encode_handshake(hello));
}

void PeerTransport::connection_lost(Peer& p, const absl::Status& status) {
  p.state = Peer::State::kBackoff;
  RAFT_NET_LOG_LIMITED(spdlog::level::info, absl::StrCat("peer/", p.id), "peer {} ({}): {}", p.id,
                       describe(p), status.ToString());
  if (callbacks_.on_unreachable) callbacks_.on_unreachable(p.id, status);
  schedule_redial(p);
}

void PeerTransport::schedule_redial(Peer& p) {
  if (shutting_down_ || p.state == Peer::State::kRemoved) return;
  Clock::duration delay =
      redial_delay(options_.backoff_initial, options_.backoff_max, p.attempts, rng_);
  ++p.attempts;
  p.redial_timer.arm_after(delay);
}

absl::Status PeerTransport::send(uint64_t peer, OutFrame frame) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    reactor_.stats().raft_frames_dropped.add();
    return absl::NotFoundError(absl::StrCat("unknown peer ", peer));
  }
  Peer& p = *it->second;
  if (!p.conn || (p.state != Peer::State::kConnected && p.state != Peer::State::kHandshaking)) {
    p.stats.frames_dropped++;
    reactor_.stats().raft_frames_dropped.add();
    return absl::UnavailableError(absl::StrCat("peer ", peer, " not connected"));
  }
  absl::Status s = p.conn->send(std::move(frame));
  if (s.ok()) {
    p.stats.frames_queued++;
  } else {
    p.stats.frames_dropped++;
  }
  return s;
}

void PeerTransport::flush_now() {
  for (auto& [id, p] : peers_) {
    if (p->conn) p->conn->flush_now();
  }
}

void PeerTransport::peer_reachable(uint64_t peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || shutting_down_) return;
  Peer& p = *it->second;
  if (p.state != Peer::State::kBackoff) return;
  p.redial_timer.cancel();
  p.attempts = 0;
  p.stats.early_redials++;
  dial(p);
}

bool PeerTransport::connected(uint64_t peer) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second->state == Peer::State::kConnected;
}

PeerStats PeerTransport::stats(uint64_t peer) const {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return {};
  PeerStats s = it->second->stats;
  s.connected = it->second->state == Peer::State::kConnected;
  if (const auto& conn = it->second->conn) {
    s.queued_frames = conn->queued_frames();
    s.queued_bytes = conn->queued_bytes();
  }
  return s;
}

void PeerTransport::shutdown() {
  shutting_down_ = true;
  for (auto& [id, p] : peers_) {
    p->connect_timer.cancel();
    p->redial_timer.cancel();
    if (p->connect_op.in_flight()) reactor_.cancel(p->connect_op);
    if (auto conn = p->conn) conn->close(absl::CancelledError("transport shut down"));
  }
}

bool PeerTransport::idle() const {
  for (const auto& [id, p] : peers_) {
    if (p->connect_op.in_flight() || p->conn) return false;
  }
  for (const auto& p : removed_) {
    if (p->connect_op.in_flight() || p->conn) return false;
  }
  return true;
}

}  // namespace raft::net
