// TLS frame connections (net/tls.h) on one reactor over loopback: a TLS
// Listener and a TLS PeerTransport echo small and large frames in order; and
// the TLS-wrapped frame path keeps the frame decoder's guarantees: seeded
// bad frames inside valid TLS records close the connection and are counted,
// nothing crashes. Certificates are made by the test (test_certs.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "net/listener.h"
#include "net/peer_transport.h"
#include "net/tls.h"
#include "tests/net/net_test_util.h"
#include "tests/net/test_certs.h"

namespace raft::net {
namespace {

using testing::first_index_of;
using testing::raft_frame;
using testing::run_until;

constexpr uint64_t kTlsCluster = 77;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path().string() + "/ringraft-net-tls-" +
           std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    raft::testing::TestCa ca("net tls test CA");
    ca.write_ca(dir_ + "/ca.pem");
    ca.issue(dir_ + "/a.pem", dir_ + "/a.key", "a");
    ca.issue(dir_ + "/b.pem", dir_ + "/b.key", "b");
    TlsOptions o;
    o.ca_file = dir_ + "/ca.pem";
    o.cert_file = dir_ + "/a.pem";
    o.key_file = dir_ + "/a.key";
    auto server = TlsContext::create(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_tls_ = *server;
    o.cert_file = dir_ + "/b.pem";
    o.key_file = dir_ + "/b.key";
    auto client = TlsContext::create(o);
    ASSERT_TRUE(client.ok()) << client.status();
    client_tls_ = *client;

    ListenerOptions lo;
    lo.local.cluster_id = kTlsCluster;
    lo.local.node_id = 1;
    lo.peer_connection.tls = server_tls_;
    lo.client_connection.tls = server_tls_;
    lo.require_peer_certificate = true;
    Listener::Callbacks cb;
    auto on_conn = [this](std::shared_ptr<FrameConnection> c, const HandshakeInfo&) {
      c->set_frame_handler([this](FrameConnection& conn, const ReceivedFrame& f) {
        received_.push_back(first_index_of(f));
        (void)conn.send(frame_from_bytes(f.payload.view()));
      });
      c->set_close_handler([](FrameConnection&, const absl::Status&) {});
      accepted_.push_back(std::move(c));
    };
    cb.on_peer = on_conn;
    cb.on_client = on_conn;
    listener_ = std::make_unique<Listener>(r_, lo, std::move(cb));
    ASSERT_TRUE(listener_->start().ok());
  }

  void TearDown() override {
    if (transport_) transport_->shutdown();
    listener_->stop();
    for (auto& c : accepted_) c->close(absl::CancelledError("test over"));
    ASSERT_TRUE(
        run_until(r_, [&] { return !listener_->active() && (!transport_ || transport_->idle()); }));
    transport_.reset();
    listener_.reset();
    accepted_.clear();
    testing::run_turns(r_, 3);
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  Reactor r_;
  std::shared_ptr<TlsContext> server_tls_, client_tls_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<PeerTransport> transport_;
  std::vector<std::shared_ptr<FrameConnection>> accepted_;
  std::vector<uint64_t> received_;
};

TEST_F(TlsTest, EchoOfSmallAndLargeFramesInOrder) {
  PeerTransportOptions o;
  o.local.cluster_id = kTlsCluster;
  o.local.node_id = 2;
  o.connection.tls = client_tls_;
  o.connection.tls_role = TlsRole::kClient;
  o.tls_peer_names[1] = "127.0.0.1";
  std::vector<uint64_t> echoed;
  PeerTransport::Callbacks cb;
  cb.on_frame = [&](uint64_t, const ReceivedFrame& f) { echoed.push_back(first_index_of(f)); };
  transport_ = std::make_unique<PeerTransport>(r_, o, std::move(cb));
  ASSERT_TRUE(transport_->add_peer(1, "127.0.0.1:" + std::to_string(listener_->port()), 0).ok());
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
  constexpr uint64_t kFrames = 600;
  for (uint64_t i = 1; i <= kFrames; ++i) {
    // Every 100th is 1 MiB: many records, several sends.
    size_t bytes = i % 100 == 0 ? (1u << 20) : 40;
    ASSERT_TRUE(transport_->send(1, raft_frame(1, bytes, i)).ok());
    if (i % 50 == 0) testing::run_turns(r_, 1);
  }
  ASSERT_TRUE(run_until(r_, [&] { return echoed.size() == kFrames; }));
  for (uint64_t i = 0; i < kFrames; ++i) ASSERT_EQ(echoed[i], i + 1);
  EXPECT_EQ(r_.stats().tls_handshakes.get(), 2u);  // Both ends, one reactor.
  EXPECT_GT(r_.stats().tls_bytes_sent.get(), 2u * 6 * (1u << 20));
  EXPECT_EQ(r_.stats().bad_frames(), 0u);
}

// At W=1 every TLS hop is on the write's path: a frame queued is encrypted
// and handed to the kernel in the same reactor turn, as one send, and the
// remote decodes it on the recv completion that brings it (and answers in
// that turn: one send back).
TEST_F(TlsTest, AFrameGoesOutInTheTurnItIsSentAsOneSend) {
  PeerTransportOptions o;
  o.local.cluster_id = kTlsCluster;
  o.local.node_id = 2;
  o.connection.tls = client_tls_;
  o.connection.tls_role = TlsRole::kClient;
  std::vector<uint64_t> echoed;
  PeerTransport::Callbacks cb;
  cb.on_frame = [&](uint64_t, const ReceivedFrame& f) { echoed.push_back(first_index_of(f)); };
  transport_ = std::make_unique<PeerTransport>(r_, o, std::move(cb));
  ASSERT_TRUE(transport_->add_peer(1, "127.0.0.1:" + std::to_string(listener_->port()), 0).ok());
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1) && accepted_.size() == 1; }));
  // Both handshakes (TLS and ours) done and nothing left to send.
  ASSERT_TRUE(run_until(r_, [&] { return accepted_[0]->is_open() && accepted_[0]->can_detach(); }));
  testing::run_turns(r_, 3);
  for (uint64_t i = 1; i <= 20; ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const uint64_t sends = r_.stats().send_calls.get();
    ASSERT_TRUE(transport_->send(1, raft_frame(1, 100, i)).ok());
    r_.run_once(true);
    EXPECT_EQ(r_.stats().send_calls.get(), sends + 1) << "sent in the turn it was queued";
    ASSERT_TRUE(run_until(r_, [&] { return echoed.size() == i; }));
    EXPECT_EQ(echoed.back(), i);
    EXPECT_EQ(r_.stats().send_calls.get(), sends + 2) << "one send each way";
  }
  EXPECT_EQ(received_.size(), 20u);
}

// TlsSession::read skips OpenSSL when nothing fed is left and nothing
// decrypted waits: it must still hand out a record's bytes that did not fit
// the buffer, and wait for the rest of a record that came in pieces.
TEST(TlsSessionTest, ReadDeliversEveryByteOfRecordsFedInPieces) {
  const std::string dir = std::filesystem::temp_directory_path().string() + "/ringraft-tlssess-" +
                          std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  raft::testing::TestCa ca("session CA");
  ca.write_ca(dir + "/ca.pem");
  ca.issue(dir + "/s.pem", dir + "/s.key", "s");
  auto server_ctx = TlsContext::create({dir + "/ca.pem", dir + "/s.pem", dir + "/s.key"});
  ASSERT_TRUE(server_ctx.ok()) << server_ctx.status();
  auto client_ctx = TlsContext::create({dir + "/ca.pem", "", ""});
  ASSERT_TRUE(client_ctx.ok()) << client_ctx.status();
  std::filesystem::remove_all(dir);
  auto client = (*client_ctx)->new_session(TlsRole::kClient);
  auto server = (*server_ctx)->new_session(TlsRole::kServer);
  std::vector<char> buf(64 * 1024);
  auto move = [&](TlsSession& from, TlsSession& to) {
    while (size_t n = from.take_output(buf.data(), buf.size())) to.feed(buf.data(), n);
  };
  for (int i = 0; i < 10 && !(client->established() && server->established()); ++i) {
    ASSERT_TRUE(client->handshake().ok());
    move(*client, *server);
    ASSERT_TRUE(server->handshake().ok());
    move(*server, *client);
  }
  ASSERT_TRUE(client->established() && server->established());
  char out[4096];
  auto r = server->read(out, sizeof(out));  // Nothing fed: nothing, no error.
  ASSERT_TRUE(r.ok() && *r == 0);

  std::mt19937 rng(20261204);
  for (int round = 0; round < 50; ++round) {
    SCOPED_TRACE("seed 20261204 round " + std::to_string(round));
    // One to three records, fed in random pieces, read in random chunks.
    std::string sent;
    const int records = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < records; ++k) {
      std::string data(1 + rng() % 3000, '\0');
      for (char& c : data) c = static_cast<char>(rng());
      ASSERT_TRUE(client->write(data.data(), data.size()).ok());
      sent += data;
    }
    std::string wire(client->pending_output(), '\0');
    ASSERT_EQ(client->take_output(wire.data(), wire.size()), wire.size());
    std::string got;
    size_t fed = 0;
    while (fed < wire.size()) {
      size_t piece = std::min<size_t>(wire.size() - fed, 1 + rng() % 1500);
      server->feed(wire.data() + fed, piece);
      fed += piece;
      for (;;) {
        size_t chunk = 1 + rng() % 700;
        auto n = server->read(out, chunk);
        ASSERT_TRUE(n.ok()) << n.status();
        if (*n == 0) break;
        got.append(out, *n);
      }
    }
    EXPECT_EQ(got, sent);
  }
}

// A raw TLS client on a non-blocking socket, pumped from the test's loop.
class RawTlsClient {
 public:
  RawTlsClient(TlsContext& ctx, uint16_t port)
      : fd_(testing::connect_blocking(port)), tls_(ctx.new_session(TlsRole::kClient)) {
    EXPECT_TRUE(tls_->handshake().ok());
  }
  ~RawTlsClient() { ::close(fd_); }
  // Sends pending ciphertext, takes what arrived. False once the server closed.
  bool pump() {
    char buf[16384];
    while (size_t n = tls_->take_output(buf, sizeof(buf))) {
      if (!testing::write_all(fd_, std::string_view(buf, n))) return false;
    }
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) return false;
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
      tls_->feed(buf, static_cast<size_t>(n));
      if (!tls_->handshake().ok()) return false;
      while (tls_->established()) {
        auto got = tls_->read(buf, sizeof(buf));
        if (!got.ok()) return false;
        if (*got == 0) break;
      }
    }
  }
  bool established() const { return tls_->established(); }
  void write(const std::string& bytes) {
    ASSERT_TRUE(tls_->write(bytes.data(), bytes.size()).ok());
  }

 private:
  int fd_;
  std::unique_ptr<TlsSession> tls_;
};

TEST_F(TlsTest, BadFramesInsideTlsCloseTheConnectionAndAreCounted) {
  const uint32_t seed = 20261203;
  std::mt19937 rng(seed);
  HandshakeInfo hs;
  hs.cluster_id = kTlsCluster;
  hs.node_id = 9;
  const std::string hello = frame_to_string(encode_handshake(hs));
  for (int round = 0; round < 40; ++round) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(round));
    RawTlsClient client(*client_tls_, listener_->port());
    ASSERT_TRUE(run_until(r_, [&] { return !client.pump() || client.established(); }));
    ASSERT_TRUE(client.established());
    const uint64_t bad_before = r_.stats().bad_frames();
    const size_t received_before = received_.size();
    std::string good = frame_to_string(raft_frame(1, 64, 1000 + round));
    std::string bad;
    switch (round % 4) {
      case 0: {  // Random bytes.
        bad.resize(1 + rng() % 300);
        for (char& c : bad) c = static_cast<char>(rng());
        bad[0] = static_cast<char>((bad[0] & ~7) | 1);  // Length not 4 mod 8.
        break;
      }
      case 1: {  // A valid frame with one payload byte flipped: checksum.
        bad = good;
        bad[12 + rng() % (bad.size() - 12)] ^= static_cast<char>(1 + rng() % 255);
        break;
      }
      case 2: {  // A length over the cap.
        bad = std::string("\xfc\xff\xff\x7f", 4) + std::string(8, '\0');
        break;
      }
      case 3: {  // Checksummed bytes that are no FlatBuffers frame: Verifier.
        std::string junk(40 + rng() % 200, '\0');
        for (char& c : junk) c = static_cast<char>(rng());
        bad = frame_to_string(frame_from_bytes(junk));
        break;
      }
    }
    client.write(hello + good + bad);
    ASSERT_TRUE(run_until(r_, [&] { return !client.pump(); })) << "the server should close";
    EXPECT_EQ(r_.stats().bad_frames(), bad_before + 1);
    EXPECT_EQ(received_.size(), received_before + 1) << "the good frame before it is delivered";
  }
  EXPECT_EQ(r_.stats().tls_failure(TlsFailure::kNoCertificate).get(), 0u);
}

TEST_F(TlsTest, APeerWithoutAClientCertificateIsRefused) {
  TlsOptions o;
  o.ca_file = dir_ + "/ca.pem";
  auto anonymous = TlsContext::create(o);
  ASSERT_TRUE(anonymous.ok());
  RawTlsClient client(**anonymous, listener_->port());
  ASSERT_TRUE(run_until(r_, [&] { return !client.pump() || client.established(); }));
  HandshakeInfo hs;
  hs.cluster_id = kTlsCluster;
  hs.node_id = 9;
  hs.role = ConnectionRole::kPeer;
  client.write(frame_to_string(encode_handshake(hs)));
  ASSERT_TRUE(run_until(r_, [&] { return !client.pump(); }));
  EXPECT_EQ(r_.stats().tls_failure(TlsFailure::kNoCertificate).get(), 1u);
  EXPECT_EQ(r_.stats().handshake_rejected.get(), 1u);
}

TEST_F(TlsTest, APeerWhoseCertificateIsNotForItsNameIsRefused) {
  // Rebuilt with names: node 9 must be node9.example; 8 is 127.0.0.1 (its cert).
  listener_->stop();
  ASSERT_TRUE(run_until(r_, [&] { return !listener_->active(); }));
  ListenerOptions lo;
  lo.local.cluster_id = kTlsCluster;
  lo.local.node_id = 1;
  lo.peer_connection.tls = server_tls_;
  lo.client_connection.tls = server_tls_;
  lo.require_peer_certificate = true;
  lo.tls_peer_names[9] = "node9.example";
  lo.tls_peer_names[8] = "127.0.0.1";
  Listener::Callbacks cb;
  cb.on_peer = [this](std::shared_ptr<FrameConnection> c, const HandshakeInfo&) {
    c->set_close_handler([](FrameConnection&, const absl::Status&) {});
    accepted_.push_back(std::move(c));
  };
  listener_ = std::make_unique<Listener>(r_, lo, std::move(cb));
  ASSERT_TRUE(listener_->start().ok());
  for (uint64_t id : {9, 8}) {
    RawTlsClient client(*client_tls_, listener_->port());
    ASSERT_TRUE(run_until(r_, [&] { return !client.pump() || client.established(); }));
    HandshakeInfo hs;
    hs.cluster_id = kTlsCluster;
    hs.node_id = id;
    hs.role = ConnectionRole::kPeer;
    client.write(frame_to_string(encode_handshake(hs)));
    if (id == 9) {
      ASSERT_TRUE(run_until(r_, [&] { return !client.pump(); }));
    } else {
      ASSERT_TRUE(run_until(r_, [&] { return client.pump() && !accepted_.empty(); }));
    }
  }
  EXPECT_EQ(r_.stats().tls_failure(TlsFailure::kNameMismatch).get(), 1u);
  EXPECT_EQ(accepted_.size(), 1u);
}

TEST(TlsContextTest, ReloadKeepsTheOldFilesOnFailure) {
  const std::string dir = std::filesystem::temp_directory_path().string() + "/ringraft-tlsctx-" +
                          std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  raft::testing::TestCa ca("ctx CA");
  ca.write_ca(dir + "/ca.pem");
  ca.issue(dir + "/n.pem", dir + "/n.key", "n");
  TlsOptions o{dir + "/ca.pem", dir + "/n.pem", dir + "/n.key"};
  auto ctx = TlsContext::create(o);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  std::filesystem::remove(dir + "/n.key");
  absl::Status s = (*ctx)->reload();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("n.key: cannot read"), std::string_view::npos) << s;
  EXPECT_EQ((*ctx)->generation(), 0u);
  EXPECT_NE((*ctx)->new_session(TlsRole::kServer), nullptr);  // Still the old files.
  ca.issue(dir + "/n.pem", dir + "/n.key", "n2");
  EXPECT_TRUE((*ctx)->reload().ok());
  EXPECT_EQ((*ctx)->generation(), 1u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace raft::net
