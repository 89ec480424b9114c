// Regression test for commit 320f2b6: FrameConnection's send ring grows
// (is replaced) while an io_uring sendmsg is parked on a full socket with
// iovecs pointing at frame headers inside the old ring. The old ring must stay
// alive until that send completes; otherwise the kernel later sends whatever
// the allocator left in the freed ring and the peer sees corrupt frames.
//
// The kernel's read of freed memory is invisible to ASan's instrumentation, so
// this binary makes freed memory visibly different: glibc's M_PERTURB in
// normal builds, ASan's max_free_fill_size under ASan. A stale header then
// fails the length/checksum check on the receiving side.
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/ioctl.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "net/connection.h"
#include "tests/net/net_test_util.h"

#if defined(__SANITIZE_ADDRESS__)
// Fill freed blocks (ASan's default leaves them untouched in quarantine).
extern "C" const char* __asan_default_options() {
  return "max_free_fill_size=1048576:free_fill_byte=165";
}
#endif

namespace raft::net {
namespace {

using testing::first_index_of;
using testing::raft_frame;
using testing::run_until;

constexpr size_t kEntryBytes = 512;
constexpr size_t kFirstBatch = 64;    // The initial ring: the parked sendmsg points into it.
constexpr size_t kSecondBatch = 200;  // Grows the ring 64 -> 128 -> 256 while parked.

// A connected 127.0.0.1 TCP pair: `sender` (for the FrameConnection, small
// send buffer, non-blocking) and `receiver` (small receive buffer).
struct SocketPair {
  int sender = -1;
  int receiver = -1;
};

SocketPair make_pair() {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(lfd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(::listen(lfd, 1), 0);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);

  SocketPair p;
  p.receiver = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int small = 4096;
  // Before connect, so the advertised window stays small.
  ::setsockopt(p.receiver, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  EXPECT_EQ(::connect(p.receiver, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  p.sender = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  EXPECT_GE(p.sender, 0);
  ::setsockopt(p.sender, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  int one = 1;
  ::setsockopt(p.sender, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::close(lfd);
  return p;
}

// Writes filler bytes into the non-blocking `fd` until the kernel refuses
// more: from then on every send on it parks until the peer reads.
size_t fill_socket(int fd) {
  const std::string chunk(1024, 'F');
  size_t total = 0;
  for (;;) {
    ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
      return total;
    }
    total += static_cast<size_t>(n);
  }
}

TEST(SendRingGrowth, RingReplacedUnderAParkedSendKeepsEveryFrameIntactAndInOrder) {
#if defined(M_PERTURB) && !defined(__SANITIZE_ADDRESS__)
  // glibc: scribble freed memory, so a header read from a freed ring is garbage.
  ASSERT_EQ(::mallopt(M_PERTURB, 0xA5), 1);
#endif
  std::vector<absl::Status> closes;  // Outlives the reactor, whose shutdown may close.
  Reactor reactor;
  SocketPair p = make_pair();
  ASSERT_GE(p.sender, 0);
  ASSERT_GE(p.receiver, 0);
  struct CloseAtEnd {
    int fd;
    ~CloseAtEnd() { ::close(fd); }
  } close_receiver{p.receiver};
  const size_t filler = fill_socket(p.sender);
  ASSERT_GT(filler, 0u);

  ConnectionOptions options;
  options.max_send_queue_frames = 4096;
  auto conn = FrameConnection::create(reactor, p.sender, "127.0.0.1:test", options);
  FrameConnection::Callbacks cb;
  cb.on_handshake = [](FrameConnection&, const HandshakeInfo&) { return absl::OkStatus(); };
  cb.on_frame = [](FrameConnection&, const ReceivedFrame&) {};
  cb.on_close = [&](FrameConnection&, const absl::Status& s) { closes.push_back(s); };
  conn->start(std::move(cb), {}, HandshakeInfo{});  // Open at once: no handshake frames.

  // 1. Exactly one ring's worth of frames; the flush issues one sendmsg for
  //    all of them, which parks because the socket is full.
  const uint64_t send_calls_before = reactor.stats().send_calls.get();
  for (size_t i = 0; i < kFirstBatch; ++i) {
    ASSERT_TRUE(conn->send(raft_frame(1, kEntryBytes, 1 + i)).ok());
  }
  ASSERT_TRUE(
      run_until(reactor, [&] { return reactor.stats().send_calls.get() > send_calls_before; }));
  testing::run_turns(reactor, 5);
  ASSERT_GT(conn->queued_frames(), 0u) << "the send did not park: the socket was not full";
  ASSERT_TRUE(closes.empty());

  // 2. More frames while that sendmsg is parked: the ring is replaced (twice).
  for (size_t i = kFirstBatch; i < kFirstBatch + kSecondBatch; ++i) {
    ASSERT_TRUE(conn->send(raft_frame(1, kEntryBytes, 1 + i)).ok());
  }
  ASSERT_GT(conn->queued_frames(), 128u);  // The ring grew past two doublings.

  // 3. The receiver drains: the filler first, then every frame intact, in order.
  const size_t total_frames = kFirstBatch + kSecondBatch;
  size_t filler_left = filler;
  bool filler_ok = true;
  FrameDecoder decoder;
  FrameError error = FrameError::kNone;
  std::vector<uint64_t> indexes;
  std::vector<std::string> bad_entries;
  std::vector<char> buf(64 * 1024);
  bool done = run_until(reactor, [&] {
    for (;;) {
      ssize_t n = ::recv(p.receiver, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n <= 0) break;
      std::string_view got(buf.data(), static_cast<size_t>(n));
      size_t skip = std::min(filler_left, got.size());
      if (got.substr(0, skip).find_first_not_of('F') != std::string_view::npos) filler_ok = false;
      filler_left -= skip;
      got.remove_prefix(skip);
      if (got.empty() || error != FrameError::kNone) continue;
      error = decoder.feed(got, [&](const ReceivedFrame& f) {
        uint64_t index = first_index_of(f);
        indexes.push_back(index);
        const auto* entry = f.frame->body_as_RaftBatch()->messages()->Get(0)->entries()->Get(0);
        std::string data(reinterpret_cast<const char*>(entry->data()->data()),
                         entry->data()->size());
        std::string want(kEntryBytes, 'x');
        want[0] = static_cast<char>('a' + index % 26);
        if (data != want) bad_entries.push_back(std::to_string(index));
        return true;
      });
    }
    return error != FrameError::kNone || indexes.size() >= total_frames;
  });
  EXPECT_EQ(error, FrameError::kNone) << frame_error_name(error) << " after " << indexes.size()
                                      << " good frames: a frame header was sent from freed memory";
  ASSERT_TRUE(done) << "only " << indexes.size() << " of " << total_frames << " frames arrived";
  EXPECT_TRUE(filler_ok);
  ASSERT_EQ(indexes.size(), total_frames);
  for (size_t i = 0; i < total_frames; ++i) ASSERT_EQ(indexes[i], 1 + i) << "frame " << i;
  EXPECT_TRUE(bad_entries.empty()) << "corrupt entries: " << bad_entries.front();
  EXPECT_TRUE(run_until(reactor, [&] { return conn->queued_frames() == 0; }));
  EXPECT_TRUE(closes.empty());
  EXPECT_EQ(reactor.stats().frames_sent.get(), total_frames);

  conn->close(absl::CancelledError("test over"));
  ASSERT_TRUE(run_until(reactor, [&] { return closes.size() == 1; }));
  conn.reset();
  testing::run_turns(reactor, 3);
}

}  // namespace
}  // namespace raft::net
