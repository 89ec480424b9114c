// Loopback TCP: a Listener (node 1) and a PeerTransport (node 2) on one
// reactor over 127.0.0.1 with ephemeral ports. Echo, coalescing, reconnect,
// handshake mismatch, queue overflow, half-close, and every bad input sent
// from a raw socket.
#include <gtest/gtest.h>

#include <memory>
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
    o.client_connection.max_send_queue_frames = client_queue_frames_;
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
    o.backoff_initial = 10ms;
    o.backoff_max = 100ms;
    o.seed = 1234;
    PeerTransport::Callbacks cb;
    cb.on_unreachable = [this](uint64_t peer, const absl::Status& s) {
      unreachable_.emplace_back(peer, s);
    };
    cb.on_frame = [this](uint64_t, const ReceivedFrame& f) {
      echoed_.push_back(first_index_of(f));
    };
    transport_ = std::make_unique<PeerTransport>(r_, o, std::move(cb));
    ASSERT_TRUE(transport_->add_peer(1, "127.0.0.1:" + std::to_string(port_), 0).ok());
  }

  // A raw blocking socket that has sent a valid peer handshake.
  int raw_peer() {
    int fd = testing::connect_blocking(port_);
    EXPECT_GE(fd, 0);
    HandshakeInfo hs;
    hs.cluster_id = kCluster;
    hs.node_id = 9;
    EXPECT_TRUE(write_all(fd, frame_to_string(encode_handshake(hs))));
    return fd;
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

  Reactor r_;
  Clock::duration idle_timeout_ = 10s;
  size_t client_queue_frames_ = 4096;
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
  for (auto& [peer, status] : unreachable_) EXPECT_EQ(peer, 1u);
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
  EXPECT_TRUE(run_until(r_, [&] { return server_closes_.size() == 1 && remote_closed(fd); }));
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
  listener_->stop();
  ASSERT_TRUE(run_until(r_, [&] { return !listener_->active(); }));
  listener_.reset();
  start_listener(0);
  std::string frame = frame_to_string(raft_frame(2, 100));
  expect_bad_input(frame.substr(0, frame.size() / 2), r_.stats().bad_frame_stalled);
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
  for (int fd : fds) ::close(fd);
}

TEST(NetLog, RateLimitedOncePerKeyPerInterval) {
  EXPECT_TRUE(log_allowed("10.0.0.1/bad", std::chrono::hours(1)));
  EXPECT_FALSE(log_allowed("10.0.0.1/bad", std::chrono::hours(1)));
  EXPECT_TRUE(log_allowed("10.0.0.2/bad", std::chrono::hours(1)));  // Another peer.
  EXPECT_TRUE(log_allowed("10.0.0.3/x", std::chrono::nanoseconds(0)));
  EXPECT_TRUE(log_allowed("10.0.0.3/x", std::chrono::nanoseconds(0)));  // Interval over.
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
