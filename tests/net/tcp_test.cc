// Loopback TCP: a Listener (node 1) and a PeerTransport (node 2) on one
// reactor over 127.0.0.1 with ephemeral ports. Echo, coalescing, reconnect,
// handshake mismatch, queue overflow, half-close, and every bad input sent
// from a raw socket.
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "net/listener.h"
#include "net/log.h"
#include "net/peer_transport.h"
#include "tests/net/net_test_util.h"

namespace raft::net {
namespace {

using namespace std::chrono_literals;
using testing::first_index_of;
using testing::raft_frame;
using testing::remote_closed;
using testing::run_until;
using testing::write_all;

constexpr uint64_t kCluster = 42;

// Lines the "net" logger writes while this object lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    net_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = net_logger()->sinks();
    sinks.erase(std::find(sinks.begin(), sinks.end(), sink_));
  }
  // Lines containing `needle`.
  int lines_with(std::string_view needle) {
    sink_->flush();
    std::istringstream in(out_.str());
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
    return n;
  }
  std::string text() { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// A loopback source address not used before in this process (127.0.1.1,
// 127.0.1.2, ...): a host the per-host log rate limit has not seen.
std::string fresh_source_ip() {
  static int next = 0;
  int n = next++;
  return "127.0." + std::to_string(1 + n / 250) + "." + std::to_string(1 + n % 250);
}

// A 127.0.0.1 port that is bound but not listening: connects are refused.
struct RefusingPort {
  RefusingPort() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~RefusingPort() { ::close(fd); }
  int fd = -1;
  uint16_t port = 0;
};

class TcpTest : public ::testing::Test {
 protected:
  void SetUp() override { start_listener(0); }

  void TearDown() override {
    if (transport_) transport_->shutdown();
    if (listener_) listener_->stop();
    for (auto& c : accepted_) c->close(absl::CancelledError("test over"));
    ASSERT_TRUE(run_until(r_, [&] {
      return (!listener_ || !listener_->active()) && (!transport_ || transport_->idle());
    }));
    transport_.reset();
    listener_.reset();
    accepted_.clear();
    testing::run_turns(r_, 3);
  }

  ListenerOptions listener_options(uint16_t port) {
    ListenerOptions o;
    o.address = "127.0.0.1:" + std::to_string(port);
    o.local.cluster_id = kCluster;
    o.local.node_id = 1;
    o.peer_connection.idle_read_timeout = idle_timeout_;
    o.client_connection.idle_read_timeout = idle_timeout_;
    o.peer_connection.handshake_timeout = handshake_timeout_;
    o.peer_connection.max_frame_bytes = peer_max_frame_bytes_;
    o.client_connection.max_frame_bytes = client_max_frame_bytes_;
    o.handshake_timeout = handshake_timeout_;
    o.client_connection.max_send_queue_frames = client_queue_frames_;
    o.shard_count = shard_count_;
    return o;
  }

  void start_listener(uint16_t port) {
    Listener::Callbacks cb;
    auto on_conn = [this](std::shared_ptr<FrameConnection> c, const HandshakeInfo& hs) {
      handshakes_.push_back(hs);
      c->set_frame_handler([this](FrameConnection& conn, const ReceivedFrame& f) {
        received_.push_back(first_index_of(f));
        if (echo_) {
          // Echo: the same bytes go back, referenced, not copied.
          OutFrame out = frame_from_bytes(f.payload.view());
          (void)conn.send(std::move(out));
        }
      });
      c->set_close_handler(
          [this](FrameConnection&, const absl::Status& s) { server_closes_.push_back(s); });
      accepted_.push_back(std::move(c));
    };
    cb.on_peer = on_conn;
    cb.on_client = on_conn;
    listener_ = std::make_unique<Listener>(r_, listener_options(port), std::move(cb));
    ASSERT_TRUE(listener_->start().ok());
    port_ = listener_->port();
  }

  void start_transport(uint64_t cluster = kCluster, size_t queue_frames = 4096) {
    PeerTransportOptions o;
    o.local.cluster_id = cluster;
    o.local.node_id = 2;
    o.connection.max_send_queue_frames = queue_frames;
    o.connect_timeout = connect_timeout_;
    o.backoff_initial = backoff_initial_;
    o.backoff_max = backoff_max_;
    o.seed = kTransportSeed;
    PeerTransport::Callbacks cb;
    cb.on_unreachable = [this](uint64_t peer, const absl::Status& s) {
      unreachable_.emplace_back(peer, s);
      unreachable_at_.push_back(Clock::now());
    };
    cb.on_frame = [this](uint64_t, const ReceivedFrame& f) {
      echoed_.push_back(first_index_of(f));
    };
    transport_ = std::make_unique<PeerTransport>(r_, o, std::move(cb));
    std::string address =
        peer_address_.empty() ? "127.0.0.1:" + std::to_string(port_) : peer_address_;
    ASSERT_TRUE(transport_->add_peer(peer_id_, address, 0).ok());
  }

  static HandshakeInfo good_handshake() {
    HandshakeInfo hs;
    hs.cluster_id = kCluster;
    hs.node_id = 9;
    return hs;
  }

  // A raw blocking socket (from `source_ip` if given) that has sent `hs`.
  int raw_peer(const char* source_ip = nullptr, HandshakeInfo hs = good_handshake()) {
    int fd = testing::connect_blocking(port_, source_ip);
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(write_all(fd, frame_to_string(encode_handshake(hs))));
    return fd;
  }

  // Runs the loop until the remote closes `fd`; returns what it sent.
  std::string read_until_closed(int fd) {
    std::string got;
    EXPECT_TRUE(run_until(r_, [&] {
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
      return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }));
    return got;
  }

  // Sends `bytes` after a handshake and expects the server to close and
  // count one more in `counter`.
  void expect_bad_input(const std::string& bytes, Counter& counter, bool close_after = false) {
    uint64_t before = counter.get();
    int fd = raw_peer();
    ASSERT_TRUE(write_all(fd, bytes));
    if (close_after) ::shutdown(fd, SHUT_WR);
    EXPECT_TRUE(run_until(r_, [&] { return counter.get() == before + 1 && remote_closed(fd); }))
        << "counter " << counter.get() << " before " << before;
    ::close(fd);
  }

  static constexpr uint64_t kTransportSeed = 1234;
  Reactor r_;
  std::string peer_address_;  // Empty: the listener's.
  uint64_t peer_id_ = 1;
  Clock::duration connect_timeout_ = 1s;
  Clock::duration backoff_initial_ = 10ms;
  Clock::duration backoff_max_ = 100ms;
  Clock::duration idle_timeout_ = 10s;
  Clock::duration handshake_timeout_ = 5s;
  uint32_t peer_max_frame_bytes_ = kDefaultMaxFrameBytes;
  uint32_t client_max_frame_bytes_ = kDefaultMaxFrameBytes;
  size_t client_queue_frames_ = 4096;
  uint32_t shard_count_ = 1;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<PeerTransport> transport_;
  uint16_t port_ = 0;
  bool echo_ = true;
  std::vector<std::shared_ptr<FrameConnection>> accepted_;
  std::vector<HandshakeInfo> handshakes_;
  std::vector<uint64_t> received_;
  std::vector<uint64_t> echoed_;
  std::vector<absl::Status> server_closes_;
  std::vector<std::pair<uint64_t, absl::Status>> unreachable_;
  std::vector<Clock::time_point> unreachable_at_;
};

TEST_F(TcpTest, EchoOfManyFramesInOrderWithCoalescedWrites) {
  start_transport();
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
  ASSERT_EQ(handshakes_.size(), 1u);
  EXPECT_EQ(handshakes_[0].node_id, 2u);
  EXPECT_EQ(handshakes_[0].cluster_id, kCluster);
  constexpr int kFrames = 2000;
  uint64_t calls_before = r_.stats().send_calls.get();
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_TRUE(transport_->send(1, raft_frame(4, 32, 1 + 4 * i)).ok());
  }
  ASSERT_TRUE(run_until(r_, [&] { return echoed_.size() == kFrames; }));
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_EQ(received_[i], 1u + 4 * i);
    ASSERT_EQ(echoed_[i], 1u + 4 * i);
  }
  // 4000 frames went out (2000 each way); one sendmsg carries many of them.
  uint64_t calls = r_.stats().send_calls.get() - calls_before;
  EXPECT_LT(calls, 2u * kFrames / 10) << "writes were not coalesced";
  EXPECT_EQ(r_.stats().bad_frames(), 0u);
  EXPECT_EQ(transport_->stats(1).frames_dropped, 0u);
}

TEST_F(TcpTest, ReconnectAfterTheListenerRestarts) {
  start_transport();
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
  uint16_t port = port_;
  // "Restart" node 1: stop listening and drop its connections.
  listener_->stop();
  for (auto& c : accepted_) c->close(absl::CancelledError("restart"));
  ASSERT_TRUE(run_until(r_, [&] { return !listener_->active() && !transport_->connected(1); }));
  // Redials fail while nobody listens; each failure is reported.
  ASSERT_TRUE(run_until(r_, [&] { return unreachable_.size() >= 3; }));
  for (auto& [peer, status] : unreachable_) {
    EXPECT_EQ(peer, 1u);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  }
  EXPECT_FALSE(transport_->send(1, raft_frame(1, 8)).ok());  // Dropped while down.
  listener_.reset();
  start_listener(port);
  ASSERT_EQ(port_, port);
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
  received_.clear();
  ASSERT_TRUE(transport_->send(1, raft_frame(1, 8, 77)).ok());
  ASSERT_TRUE(run_until(r_, [&] { return received_.size() == 1; }));
  EXPECT_EQ(received_[0], 77u);
  EXPECT_GE(transport_->stats(1).connects, 2u);
}

TEST_F(TcpTest, HandshakeMismatchClosesAndReportsTheReason) {
  start_transport(/*cluster=*/999);
  ASSERT_TRUE(run_until(r_, [&] { return !unreachable_.empty(); }));
  EXPECT_FALSE(transport_->connected(1));
  EXPECT_NE(unreachable_[0].second.message().find("cluster id"), std::string::npos)
      << unreachable_[0].second;
  EXPECT_TRUE(handshakes_.empty());  // Never handed to the node.
  EXPECT_GE(r_.stats().handshake_rejected.get(), 1u);
}

TEST_F(TcpTest, SendQueueOverflowDropsRaftFramesWithoutBlocking) {
  start_transport(kCluster, /*queue_frames=*/8);
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
  uint64_t dropped_before = r_.stats().raft_frames_dropped.get();
  int accepted = 0;
  for (int i = 0; i < 100; ++i) {
    absl::Status s = transport_->send(1, raft_frame(1, 16, 1 + i));
    if (s.ok()) {
      ++accepted;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
    }
  }
  EXPECT_EQ(accepted, 8);
  EXPECT_EQ(transport_->stats(1).frames_dropped, 92u);
  EXPECT_EQ(r_.stats().raft_frames_dropped.get() - dropped_before, 92u);
  ASSERT_TRUE(run_until(r_, [&] { return received_.size() == 8; }));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(received_[i], 1u + i);  // The first 8, in order.
  EXPECT_TRUE(transport_->connected(1));
}

TEST_F(TcpTest, ClientResponsesOverTheBoundCloseTheConnection) {
  client_queue_frames_ = 4;
  listener_->stop();
  ASSERT_TRUE(run_until(r_, [&] { return !listener_->active(); }));
  listener_.reset();
  start_listener(0);
  echo_ = false;
  int fd = testing::connect_blocking(port_);
  HandshakeInfo hs;
  hs.role = ConnectionRole::kClient;
  ASSERT_TRUE(write_all(fd, frame_to_string(encode_handshake(hs))));
  ASSERT_TRUE(run_until(r_, [&] { return accepted_.size() == 1; }));
  FrameConnection& conn = *accepted_[0];
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    if (!conn.send(raft_frame(1, 16)).ok()) ++refused;
  }
  EXPECT_GT(refused, 0);
  ASSERT_TRUE(run_until(r_, [&] { return server_closes_.size() == 1 && remote_closed(fd); }));
  EXPECT_EQ(server_closes_[0].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(r_.stats().client_connections_overflowed.get(), 1u);
  EXPECT_EQ(r_.stats().raft_frames_dropped.get(), 0u);  // Nothing dropped silently.
  ::close(fd);
}

TEST_F(TcpTest, HalfCloseStillDeliversTheReplies) {
  int fd = raw_peer();
  ASSERT_TRUE(write_all(fd, frame_to_string(raft_frame(1, 16, 5))));
  ::shutdown(fd, SHUT_WR);  // Done sending; still reading.
  std::string got;
  ASSERT_TRUE(run_until(r_, [&] {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    return n == 0;  // The server closed after replying.
  }));
  FrameDecoder d;
  std::vector<fbs::FrameBody> types;
  std::vector<uint64_t> firsts;
  ASSERT_EQ(d.feed(got,
                   [&](const ReceivedFrame& f) {
                     types.push_back(f.frame->body_type());
                     firsts.push_back(first_index_of(f));
                     return true;
                   }),
            FrameError::kNone);
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(types[0], fbs::FrameBody::Handshake);
  EXPECT_EQ(types[1], fbs::FrameBody::RaftBatch);
  EXPECT_EQ(firsts[1], 5u);
  ASSERT_EQ(server_closes_.size(), 1u);
  EXPECT_TRUE(server_closes_[0].ok()) << server_closes_[0];
  ::close(fd);
}

TEST_F(TcpTest, PeerClosingMidFrameIsCountedAndClosed) {
  std::string frame = frame_to_string(raft_frame(2, 100));
  expect_bad_input(frame.substr(0, frame.size() / 2), r_.stats().bad_frame_truncated,
                   /*close_after=*/true);
  EXPECT_TRUE(received_.empty());
}

TEST_F(TcpTest, HalfAFrameThenStallTimesOut) {
  idle_timeout_ = 100ms;
  handshake_timeout_ = 1h;  // Only the idle read timeout can end this connection.
  listener_->stop();
  ASSERT_TRUE(run_until(r_, [&] { return !listener_->active(); }));
  listener_.reset();
  start_listener(0);
  std::string frame = frame_to_string(raft_frame(2, 100));
  expect_bad_input(frame.substr(0, frame.size() / 2), r_.stats().bad_frame_stalled);
}

// A connection that does not complete its handshake in time is closed and
// counted (not as a bad frame): sending nothing, or half a handshake frame.
TEST_F(TcpTest, NoHandshakeWithinTheTimeoutCloses) {
  handshake_timeout_ = 300ms;
  listener_->stop();
  ASSERT_TRUE(run_until(r_, [&] { return !listener_->active(); }));
  listener_.reset();
  start_listener(0);
  const uint64_t bad_before = r_.stats().bad_frames();
  const std::string hs = frame_to_string(encode_handshake(good_handshake()));
  const auto t0 = Clock::now();
  int silent = testing::connect_blocking(port_);
  int half = testing::connect_blocking(port_);
  ASSERT_GE(silent, 0);
  ASSERT_GE(half, 0);
  ASSERT_TRUE(write_all(half, hs.substr(0, hs.size() / 2)));
  ASSERT_TRUE(run_until(r_, [&] { return remote_closed(silent) && remote_closed(half); }));
  const auto elapsed = Clock::now() - t0;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 3s);  // 300 ms, with room for a busy machine.
  EXPECT_EQ(r_.stats().handshake_timeouts.get(), 2u);
  EXPECT_EQ(r_.stats().bad_frames(), bad_before);
  EXPECT_TRUE(accepted_.empty());  // Never handed to the node.
  // A connection that does shake hands in time stays open past the timeout.
  int fd = raw_peer();
  ASSERT_TRUE(run_until(r_, [&] { return accepted_.size() == 1; }));
  testing::run_turns(r_, 1);
  const auto until = Clock::now() + 600ms;
  ASSERT_TRUE(run_until(r_, [&] { return Clock::now() >= until; }));
  EXPECT_FALSE(remote_closed(fd));
  EXPECT_EQ(r_.stats().handshake_timeouts.get(), 2u);
  ::close(silent);
  ::close(half);
  ::close(fd);
}

// The frame cap is configured per role: a listener applies its peer options
// to a connection once the handshake says it is a peer.
TEST_F(TcpTest, ConfiguredFrameCapsApplyPerRole) {
  peer_max_frame_bytes_ = 1024;
  client_max_frame_bytes_ = 64 * 1024;
  listener_->stop();
  ASSERT_TRUE(run_until(r_, [&] { return !listener_->active(); }));
  listener_.reset();
  start_listener(0);
  echo_ = false;
  const std::string big = frame_to_string(raft_frame(1, 2000, 61));  // Over 1 KiB.
  // A client may send it.
  HandshakeInfo client;
  client.role = ConnectionRole::kClient;
  int cfd = raw_peer(nullptr, client);
  ASSERT_TRUE(write_all(cfd, big));
  ASSERT_TRUE(run_until(r_, [&] { return received_.size() == 1; }));
  EXPECT_EQ(received_[0], 61u);
  // A peer may not.
  expect_bad_input(big, r_.stats().bad_frame_too_large);
  EXPECT_EQ(received_.size(), 1u);
  ::close(cfd);
}

// The acceptor's reply names the node's shard count: a client learns from
// its first connection which shard owns which group.
TEST_F(TcpTest, ReplyHandshakeCarriesTheShardCount) {
  listener_->stop();
  ASSERT_TRUE(run_until(r_, [&] { return !listener_->active(); }));
  listener_.reset();
  shard_count_ = 3;
  start_listener(0);
  HandshakeInfo client;
  client.role = ConnectionRole::kClient;
  int fd = raw_peer(nullptr, client);
  FrameDecoder d;
  std::optional<HandshakeInfo> reply;
  ASSERT_TRUE(run_until(r_, [&] {
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      d.feed(std::string_view(buf, static_cast<size_t>(n)), [&](const ReceivedFrame& f) {
        if (f.frame->body_type() == fbs::FrameBody::Handshake) {
          reply = decode_handshake(*f.frame->body_as_Handshake());
        }
        return true;
      });
    }
    return reply.has_value();
  }));
  EXPECT_EQ(reply->node_id, 1u);
  EXPECT_EQ(reply->role, ConnectionRole::kClient);
  EXPECT_EQ(reply->shard_count, 3u);
  ::close(fd);
}

// A peer gets one connection (per shard pair): adding it again with the same
// address keeps that connection, and all frames travel on it.
TEST_F(TcpTest, OneConnectionPerPeer) {
  start_transport();
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
  ASSERT_TRUE(transport_->add_peer(1, "127.0.0.1:" + std::to_string(port_), 0).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(transport_->send(1, raft_frame(1, 8, 1 + i)).ok());
  ASSERT_TRUE(run_until(r_, [&] { return received_.size() == 10; }));
  testing::run_turns(r_, 5);
  EXPECT_EQ(accepted_.size(), 1u);
  EXPECT_EQ(r_.stats().connections_dialed.get(), 1u);
  EXPECT_EQ(transport_->stats(1).connects, 1u);
  EXPECT_TRUE(unreachable_.empty());
}

TEST_F(TcpTest, GarbageBytesClose) {
  expect_bad_input(std::string(64, '\x5a'), r_.stats().bad_frame_header);
}

TEST_F(TcpTest, LengthOverTheCapCloses) {
  std::string h(kFrameHeaderBytes, '\0');
  uint32_t length = (64u << 20) + 4;  // One step over the default cap.
  std::memcpy(h.data(), &length, 4);
  expect_bad_input(h, r_.stats().bad_frame_too_large);
}

TEST_F(TcpTest, ChecksumMismatchCloses) {
  std::string frame = frame_to_string(raft_frame(2, 100));
  frame[kFrameHeaderBytes + 40] ^= 0x40;
  expect_bad_input(frame, r_.stats().bad_frame_checksum);
}

TEST_F(TcpTest, VerifierFailureCloses) {
  std::string junk(60, '\0');
  junk[0] = '\x7f';
  junk[3] = '\x7f';
  expect_bad_input(frame_to_string(frame_from_bytes(junk)), r_.stats().bad_frame_verify);
}

TEST_F(TcpTest, FrameBeforeHandshakeCloses) {
  uint64_t before = r_.stats().bad_frame_protocol.get();
  int fd = testing::connect_blocking(port_);
  ASSERT_TRUE(write_all(fd, frame_to_string(raft_frame(1, 8))));
  EXPECT_TRUE(run_until(
      r_, [&] { return r_.stats().bad_frame_protocol.get() == before + 1 && remote_closed(fd); }));
  ::close(fd);
  EXPECT_TRUE(accepted_.empty());
}

// Kernels without multishot accept get one accept per completion; force that
// path and check that several connections still come through.
TEST_F(TcpTest, SingleShotAcceptFallbackAcceptsToo) {
  listener_->stop();
  ASSERT_TRUE(run_until(r_, [&] { return !listener_->active(); }));
  listener_.reset();
  r_.mutable_features().multishot_accept = false;
  start_listener(0);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(raw_peer());
  EXPECT_TRUE(run_until(r_, [&] { return accepted_.size() == 3; }));
  EXPECT_GE(listener_->accept_submissions(), 3u);  // One accept per connection.
  for (int fd : fds) ::close(fd);
}

// Where the kernel has multishot accept, one submitted accept serves every
// connection.
TEST_F(TcpTest, MultishotAcceptServesManyConnectionsWithOneSubmission) {
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(raw_peer());
  EXPECT_TRUE(run_until(r_, [&] { return accepted_.size() == 5; }));
  for (int fd : fds) ::close(fd);
  if (!r_.features().multishot_accept) GTEST_SKIP() << "kernel without multishot accept";
  EXPECT_EQ(listener_->accept_submissions(), 1u);
}

// A SYN nobody answers (the listener's accept queue is full, so the kernel
// drops it): the dial gives up after connect_timeout and reports the peer.
TEST_F(TcpTest, ConnectTimesOutAndThePeerIsReportedUnreachable) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);  // Room for one queued connection.
  socklen_t len = sizeof(a);
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  uint16_t port = ntohs(a.sin_port);
  int filler = testing::connect_blocking(port);  // Fills the accept queue.
  ASSERT_GE(filler, 0);
  peer_address_ = "127.0.0.1:" + std::to_string(port);
  connect_timeout_ = 200ms;
  backoff_initial_ = 1s;  // One attempt within the test.
  backoff_max_ = 1s;
  start_transport();
  ASSERT_TRUE(run_until(r_, [&] { return !unreachable_.empty(); }));
  EXPECT_EQ(unreachable_[0].first, 1u);
  EXPECT_EQ(unreachable_[0].second.code(), absl::StatusCode::kDeadlineExceeded)
      << unreachable_[0].second;
  EXPECT_FALSE(transport_->connected(1));
  EXPECT_EQ(transport_->stats(1).connect_failures, 1u);
  transport_->shutdown();
  ASSERT_TRUE(run_until(r_, [&] { return transport_->idle(); }));
  ::close(filler);
  ::close(lfd);
}

TEST(RedialDelay, DoublesFromTheInitialDelayUpToTheCapWithJitter) {
  const uint64_t seed = 99;
  std::mt19937_64 rng(seed);
  const Clock::duration initial = 10ms;
  const Clock::duration cap = 500ms;
  for (uint32_t attempts = 0; attempts < 40; ++attempts) {
    Clock::duration base = attempts < 6 ? initial * (1 << attempts) : cap;
    base = std::min(base, cap);
    Clock::duration lowest = base, highest = Clock::duration{0};
    for (int i = 0; i < 200; ++i) {
      Clock::duration d = redial_delay(initial, cap, attempts, rng);
      ASSERT_GE(d, base / 2) << "attempts " << attempts << ", seed " << seed;
      ASSERT_LE(d, base) << "attempts " << attempts << ", seed " << seed;
      lowest = std::min(lowest, d);
      highest = std::max(highest, d);
    }
    // Jitter: the 200 draws spread over most of [base/2, base].
    EXPECT_LT(lowest, base / 2 + base / 8) << "attempts " << attempts << ", seed " << seed;
    EXPECT_GT(highest, base - base / 8) << "attempts " << attempts << ", seed " << seed;
  }
}

// The transport waits redial_delay between failed dials (a timer never fires
// early, so each gap between two reports is at least that delay).
TEST_F(TcpTest, RedialsBackOffExponentially) {
  RefusingPort refusing;
  peer_address_ = "127.0.0.1:" + std::to_string(refusing.port);
  backoff_initial_ = 5ms;
  backoff_max_ = 40ms;
  start_transport();
  ASSERT_TRUE(run_until(r_, [&] { return unreachable_at_.size() >= 7; }));
  std::mt19937_64 rng(kTransportSeed);  // The transport's jitter, replayed.
  for (uint32_t i = 0; i + 1 < 7; ++i) {
    Clock::duration want = redial_delay(backoff_initial_, backoff_max_, i, rng);
    EXPECT_GE(unreachable_at_[i + 1] - unreachable_at_[i], want) << "after failure " << i + 1;
  }
  for (auto& [peer, status] : unreachable_)
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
}

TEST_F(TcpTest, ResetByTheRemoteClosesTheConnection) {
  int fd = raw_peer();
  ASSERT_TRUE(run_until(r_, [&] { return accepted_.size() == 1; }));
  linger reset{1, 0};  // close() now sends RST.
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
  ::close(fd);
  ASSERT_TRUE(run_until(r_, [&] { return server_closes_.size() == 1; }));
  EXPECT_EQ(server_closes_[0].code(), absl::StatusCode::kUnavailable) << server_closes_[0];
  EXPECT_TRUE(accepted_[0]->is_closed());
  EXPECT_EQ(r_.stats().bad_frames(), 0u);
  // The loop goes on serving.
  int again = raw_peer();
  EXPECT_TRUE(run_until(r_, [&] { return accepted_.size() == 2 && accepted_[1]->is_open(); }));
  ::close(again);
}

// Our half-close: queued frames go out, then FIN; we keep receiving until
// the remote closes too.
TEST_F(TcpTest, ShutdownWriteSendsQueuedFramesThenFinAndKeepsReceiving) {
  echo_ = false;
  int fd = raw_peer();
  ASSERT_TRUE(run_until(r_, [&] { return accepted_.size() == 1; }));
  FrameConnection& conn = *accepted_[0];
  ASSERT_TRUE(conn.send(raft_frame(1, 16, 21)).ok());
  conn.shutdown_write();
  EXPECT_FALSE(conn.send(raft_frame(1, 16, 22)).ok());  // Write side closing.
  std::string got;
  ASSERT_TRUE(run_until(r_, [&] {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    return n == 0;  // FIN.
  }));
  FrameDecoder d;
  std::vector<uint64_t> firsts;
  ASSERT_EQ(d.feed(got,
                   [&](const ReceivedFrame& f) {
                     firsts.push_back(first_index_of(f));
                     return true;
                   }),
            FrameError::kNone);
  EXPECT_EQ(firsts, (std::vector<uint64_t>{0, 21}));  // Handshake, then the frame.
  ASSERT_TRUE(conn.is_open());
  ASSERT_TRUE(write_all(fd, frame_to_string(raft_frame(1, 16, 23))));
  ASSERT_TRUE(run_until(r_, [&] { return received_.size() == 1; }));
  EXPECT_EQ(received_[0], 23u);
  ::shutdown(fd, SHUT_WR);
  ASSERT_TRUE(run_until(r_, [&] { return server_closes_.size() == 1; }));
  EXPECT_TRUE(server_closes_[0].ok()) << server_closes_[0];
  ::close(fd);
}

// Each mismatch is answered with a HandshakeReject naming the reason, then
// the connection closes; the reason is logged.
TEST_F(TcpTest, IncomingHandshakeMismatchesAreRejectedWithTheReason) {
  struct Case {
    std::string source_ip;
    HandshakeInfo hs;
    std::string reason;
  };
  std::vector<Case> cases;
  auto add = [&](std::string reason) -> HandshakeInfo& {
    cases.push_back({fresh_source_ip(), good_handshake(), std::move(reason)});
    return cases.back().hs;
  };
  add("protocol version 2 != 1").protocol_version = 2;
  add("cluster id 43 != 42").cluster_id = 43;
  add("target shard 1 >= shard count 1").target_shard = 1;
  add("bad peer node id 0").node_id = 0;
  add("bad peer node id 1").node_id = 1;  // Our own id.
  LogCapture logs;
  for (const Case& c : cases) {
    uint64_t rejected = r_.stats().handshake_rejected.get();
    int fd = raw_peer(c.source_ip.c_str(), c.hs);
    ASSERT_GE(fd, 0);
    std::string got = read_until_closed(fd);
    ::close(fd);
    FrameDecoder d;
    std::vector<std::string> reasons;
    EXPECT_EQ(d.feed(got,
                     [&](const ReceivedFrame& f) {
                       const auto* r = f.frame->body_as_HandshakeReject();
                       if (r != nullptr && r->reason() != nullptr)
                         reasons.push_back(r->reason()->str());
                       return true;
                     }),
              FrameError::kNone);
    EXPECT_EQ(reasons, std::vector<std::string>{c.reason});
    EXPECT_EQ(r_.stats().handshake_rejected.get(), rejected + 1) << c.reason;
    EXPECT_EQ(logs.lines_with("handshake from " + c.source_ip + ":"), 1) << c.reason << "\n"
                                                                         << logs.text();
    EXPECT_EQ(logs.lines_with(c.reason), 1) << logs.text();
  }
  EXPECT_TRUE(handshakes_.empty());  // None reached the node.
}

// The dialer checks the reply: reaching another node than the one it meant
// closes and reports why.
TEST_F(TcpTest, DialerRefusesAReplyFromAnotherNode) {
  peer_id_ = 5;  // The listener is node 1.
  start_transport();
  ASSERT_TRUE(run_until(r_, [&] { return !unreachable_.empty(); }));
  EXPECT_EQ(unreachable_[0].first, 5u);
  EXPECT_NE(unreachable_[0].second.message().find("reached node 1, expected 5"), std::string::npos)
      << unreachable_[0].second;
  EXPECT_FALSE(transport_->connected(5));
}

// Bad input from one host is logged once per interval however often it
// repeats; every occurrence is counted and closes its connection.
TEST_F(TcpTest, BadInputIsCountedEachTimeAndLoggedOncePerPeerPerInterval) {
  LogCapture logs;
  uint64_t before = r_.stats().bad_frame_header.get();
  const std::string a = fresh_source_ip();
  const std::string b = fresh_source_ip();
  for (const std::string& ip : {a, a, a, b}) {
    int fd = raw_peer(ip.c_str());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(write_all(fd, std::string(64, '\x5a')));
    read_until_closed(fd);
    ::close(fd);
  }
  EXPECT_EQ(r_.stats().bad_frame_header.get(), before + 4);
  EXPECT_EQ(logs.lines_with("closing connection from " + a + ":"), 1) << logs.text();
  EXPECT_EQ(logs.lines_with("closing connection from " + b + ":"), 1) << logs.text();
}

TEST(NetLog, RateLimitedOncePerKeyPerInterval) {
  // Keys no earlier run in this process used (--gtest_repeat).
  static int run = 0;
  const std::string p = "run" + std::to_string(run++) + "/";
  EXPECT_TRUE(log_allowed(p + "10.0.0.1/bad", std::chrono::hours(1)));
  EXPECT_FALSE(log_allowed(p + "10.0.0.1/bad", std::chrono::hours(1)));
  EXPECT_TRUE(log_allowed(p + "10.0.0.2/bad", std::chrono::hours(1)));  // Another peer.
  EXPECT_TRUE(log_allowed(p + "10.0.0.3/x", std::chrono::nanoseconds(0)));
  EXPECT_TRUE(log_allowed(p + "10.0.0.3/x", std::chrono::nanoseconds(0)));  // Interval over.
}

TEST_F(TcpTest, GoodConnectionsSurviveABadOne) {
  start_transport();
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
  expect_bad_input(std::string(64, '\x01'), r_.stats().bad_frame_header);
  ASSERT_TRUE(transport_->send(1, raft_frame(1, 8, 11)).ok());
  ASSERT_TRUE(run_until(r_, [&] { return echoed_.size() == 1; }));
  EXPECT_EQ(echoed_[0], 11u);
}

}  // namespace
}  // namespace raft::net
