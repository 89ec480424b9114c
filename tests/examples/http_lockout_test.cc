// HttpServer in process, on a Reactor driven by the test: idle connections
// cannot lock clients out. A request whose headers do not arrive within
// header_timeout is answered 408 and closed; a keep-alive connection idle
// for idle_timeout is closed; a connection whose request is with the handler
// is never timed out or evicted; at max_connections a new client evicts the
// connection waiting the longest, and is refused only when all are busy.
// Waits poll with a deadline; the bounds are generous (2 shared cores).
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "examples/memstore/http_server.h"
#include "net/address.h"
#include "tests/net/net_test_util.h"

namespace raft::memstore {
namespace {

using namespace std::chrono_literals;
using net::Clock;
using net::testing::connect_blocking;
using net::testing::run_until;
using net::testing::write_all;

constexpr char kHalfRequest[] = "GET /store/x HTTP/1.1\r\n";
constexpr char kRequest[] = "GET /ok HTTP/1.1\r\nHost: t\r\n\r\n";

class HttpLockoutTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    if (server_) {
      server_->stop();
      EXPECT_TRUE(run_until(r_, [&] { return server_->idle(); }));
    }
    held_.clear();
    server_.reset();
    net::testing::run_turns(r_, 3);
  }

  // "/slow..." requests are held (answered by the test); others get 200 "ok".
  void start(HttpServerOptions options) {
    options.address = address_;
    server_ = std::make_unique<HttpServer>(r_, options, [this](HttpRequest req, Responder r) {
      if (req.path.rfind("/slow", 0) == 0) {
        held_.push_back(std::move(r));
        return;
      }
      r(HttpReply{200, "text/plain", "ok", ""});
    });
    ASSERT_TRUE(server_->start().ok());
    port_ = static_cast<uint16_t>(
        std::stoi(server_->address().substr(server_->address().rfind(':') + 1)));
  }

  // A new client connection, accepted by the server before this returns.
  int connect() {
    const size_t before = server_->stats().accepted.get();
    int fd = connect_blocking(port_);
    EXPECT_GE(fd, 0);
    fds_.push_back(fd);
    EXPECT_TRUE(run_until(r_, [&] { return server_->stats().accepted.get() == before + 1; }));
    return fd;
  }

  // Reads what is there without blocking into `got`; true once the server
  // closed the connection (EOF or reset).
  static bool closed(int fd, std::string* got) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) {
        got->append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) return true;
      return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }

  // Runs the loop until `fd` got a complete "ok" response (or was closed).
  bool answered(int fd, std::string* got) {
    return run_until(r_,
                     [&] {
                       bool eof = closed(fd, got);
                       return got->find("\r\n\r\nok") != std::string::npos || eof;
                     }) &&
           got->find("\r\n\r\nok") != std::string::npos;
  }

  // Runs the loop for `d` (to check that something does NOT happen).
  void run_for(Clock::duration d) {
    const auto until = Clock::now() + d;
    run_until(r_, [&] { return Clock::now() >= until; });
  }

  net::Reactor r_;
  std::unique_ptr<HttpServer> server_;
  std::vector<Responder> held_;
  std::vector<int> fds_;
  uint16_t port_ = 0;
  std::string address_ = "127.0.0.1:0";  // The server's listen address.
};

// memstore's HTTP listener takes the address forms the node does: an IPv6
// literal (bound and reported in brackets) and a host name.
TEST_F(HttpLockoutTest, ListensOnIpv6) {
  int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool v6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  if (probe >= 0) ::close(probe);
  if (!v6) GTEST_SKIP() << "no IPv6 loopback (::1) on this host";
  address_ = "[::1]:0";
  start(HttpServerOptions{});
  ASSERT_EQ(server_->address().rfind("[::1]:", 0), 0u) << server_->address();
  auto fd = net::connect_blocking(server_->address(), 1000ms);
  ASSERT_TRUE(fd.ok()) << fd.status();
  fds_.push_back(*fd);
  ASSERT_TRUE(write_all(*fd, kRequest));
  std::string got;
  EXPECT_TRUE(answered(*fd, &got)) << got;
}

TEST_F(HttpLockoutTest, ListensOnAHostName) {
  address_ = "localhost:0";
  start(HttpServerOptions{});
  auto fd = net::connect_blocking("localhost:" + std::to_string(port_), 1000ms);
  ASSERT_TRUE(fd.ok()) << fd.status();
  fds_.push_back(*fd);
  ASSERT_TRUE(write_all(*fd, kRequest));
  std::string got;
  EXPECT_TRUE(answered(*fd, &got)) << got;
}

TEST(HttpServerAddress, BadAddressIsRefused) {
  net::Reactor r;
  HttpServerOptions o;
  o.address = "::1:8080";
  HttpServer server(r, o, [](HttpRequest, Responder) {});
  absl::Status s = server.start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("brackets"), absl::string_view::npos) << s;
}

TEST_F(HttpLockoutTest, HalfSentRequestIsAnswered408AndClosedWithinTheHeaderTimeout) {
  HttpServerOptions o;
  o.header_timeout = 300ms;
  o.idle_timeout = 60s;
  start(o);
  const auto t0 = Clock::now();
  int half = connect();
  ASSERT_TRUE(write_all(half, kHalfRequest));
  int silent = connect();  // Sends nothing at all: the first request is due too.
  std::string got_half, got_silent;
  ASSERT_TRUE(
      run_until(r_, [&] { return closed(half, &got_half) && closed(silent, &got_silent); }));
  const auto elapsed = Clock::now() - t0;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 5s);  // 300 ms + one sweep period, with room for a busy machine.
  EXPECT_EQ(got_half.rfind("HTTP/1.1 408 ", 0), 0u) << got_half;
  EXPECT_NE(got_half.find("Connection: close"), std::string::npos) << got_half;
  EXPECT_EQ(got_silent, "");  // Nothing of a request arrived: closed without a reply.
  EXPECT_EQ(server_->stats().header_timeouts.get(), 2u);
  EXPECT_EQ(server_->stats().idle_timeouts.get(), 0u);
  EXPECT_EQ(server_->stats().evicted.get(), 0u);
  EXPECT_TRUE(run_until(r_, [&] { return server_->open_connections() == 0; }));
}

TEST_F(HttpLockoutTest, HeaderTimeoutCountsFromTheRequestNotFromEachByte) {
  HttpServerOptions o;
  o.header_timeout = 500ms;
  o.idle_timeout = 60s;
  start(o);
  const auto t0 = Clock::now();  // The first request is due from accept.
  int fd = connect();
  // One header line every 100 ms keeps bytes coming, but the header section
  // is never finished: closed all the same.
  ASSERT_TRUE(write_all(fd, kHalfRequest));
  std::string got;
  auto next = Clock::now();
  ASSERT_TRUE(run_until(r_, [&] {
    if (got.empty() && Clock::now() >= next) {
      (void)write_all(fd, "X-Drip: 1\r\n");
      next = Clock::now() + 100ms;
    }
    return closed(fd, &got);
  }));
  EXPECT_GE(Clock::now() - t0, 500ms);
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
  EXPECT_EQ(server_->stats().header_timeouts.get(), 1u);
}

TEST_F(HttpLockoutTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  HttpServerOptions o;
  o.header_timeout = 60s;
  o.idle_timeout = 400ms;
  start(o);
  int fd = connect();
  ASSERT_TRUE(write_all(fd, kRequest));
  std::string got;
  ASSERT_TRUE(answered(fd, &got));
  EXPECT_NE(got.find("Connection: keep-alive"), std::string::npos) << got;
  const auto t0 = Clock::now();
  // Still usable while idle for less than the timeout.
  got.clear();
  ASSERT_TRUE(write_all(fd, kRequest));
  ASSERT_TRUE(answered(fd, &got));
  got.clear();
  ASSERT_TRUE(run_until(r_, [&] { return closed(fd, &got); }));
  EXPECT_GE(Clock::now() - t0, 400ms);
  EXPECT_EQ(got, "");  // An idle keep-alive connection ends without a reply.
  EXPECT_EQ(server_->stats().idle_timeouts.get(), 1u);
  EXPECT_EQ(server_->stats().header_timeouts.get(), 0u);
}

TEST_F(HttpLockoutTest, BusyConnectionIsNotTimedOut) {
  HttpServerOptions o;
  o.header_timeout = 200ms;
  o.idle_timeout = 200ms;
  start(o);
  int fd = connect();
  ASSERT_TRUE(write_all(fd, "GET /slow HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(run_until(r_, [&] { return held_.size() == 1; }));
  run_for(1500ms);  // Many times both timeouts, while the handler holds it.
  std::string got;
  EXPECT_FALSE(closed(fd, &got));
  EXPECT_EQ(got, "");
  EXPECT_EQ(server_->stats().header_timeouts.get(), 0u);
  EXPECT_EQ(server_->stats().idle_timeouts.get(), 0u);
  held_[0](HttpReply{200, "text/plain", "ok", ""});
  ASSERT_TRUE(answered(fd, &got));
  // Answered: idle now, and timed out as such.
  ASSERT_TRUE(run_until(r_, [&] { return closed(fd, &got); }));
  EXPECT_EQ(server_->stats().idle_timeouts.get(), 1u);
  EXPECT_EQ(server_->stats().header_timeouts.get(), 0u);
}

TEST_F(HttpLockoutTest, ASlowBodyIsUnderTheIdleTimeoutNotTheHeaderTimeout) {
  HttpServerOptions o;
  o.header_timeout = 250ms;
  o.idle_timeout = 60s;
  start(o);
  int fd = connect();
  ASSERT_TRUE(write_all(fd, "PUT /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345"));
  run_for(1s);  // Four header timeouts: the headers were complete.
  std::string got;
  EXPECT_FALSE(closed(fd, &got));
  ASSERT_TRUE(write_all(fd, "67890"));
  ASSERT_TRUE(answered(fd, &got)) << got;
  EXPECT_EQ(server_->stats().header_timeouts.get(), 0u);
}

TEST_F(HttpLockoutTest, AtTheCapTheOldestIdleConnectionMakesRoom) {
  HttpServerOptions o;
  o.max_connections = 8;
  o.header_timeout = 600s;  // Only the cap can close anything here.
  o.idle_timeout = 600s;
  start(o);
  // Connection 0 is busy (its request is with the handler); 1..7 sent half a
  // request, in that order.
  int busy = connect();
  ASSERT_TRUE(write_all(busy, "GET /slow HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(run_until(r_, [&] { return held_.size() == 1; }));
  std::vector<int> half;
  for (int i = 1; i < 8; ++i) {
    half.push_back(connect());
    ASSERT_TRUE(write_all(half.back(), kHalfRequest));
  }
  ASSERT_EQ(server_->open_connections(), 8u);
  // A new client is served; the oldest waiting connection (not the busy
  // one) was closed for it.
  int fresh = connect();
  ASSERT_TRUE(write_all(fresh, kRequest));
  std::string got;
  ASSERT_TRUE(answered(fresh, &got)) << got;
  std::string ignored;
  EXPECT_TRUE(run_until(r_, [&] { return closed(half[0], &ignored); }));
  EXPECT_FALSE(closed(busy, &ignored));
  for (size_t i = 1; i < half.size(); ++i) EXPECT_FALSE(closed(half[i], &ignored)) << i;
  EXPECT_EQ(server_->stats().evicted.get(), 1u);
  EXPECT_EQ(server_->stats().refused.get(), 0u);
  EXPECT_EQ(server_->open_connections(), 8u);
  // The next one evicts the next oldest: connection 2, not the fresh one.
  int another = connect();
  ASSERT_TRUE(write_all(another, kRequest));
  got.clear();
  ASSERT_TRUE(answered(another, &got)) << got;
  EXPECT_TRUE(run_until(r_, [&] { return closed(half[1], &ignored); }));
  EXPECT_FALSE(closed(fresh, &ignored));
  EXPECT_EQ(server_->stats().evicted.get(), 2u);
  // The busy connection still gets its answer.
  held_[0](HttpReply{200, "text/plain", "ok", ""});
  got.clear();
  EXPECT_TRUE(answered(busy, &got)) << got;
  EXPECT_EQ(server_->stats().header_timeouts.get() + server_->stats().idle_timeouts.get(), 0u);
  const std::string m = server_->metrics_text();
  EXPECT_NE(m.find("memstore_http_connections_closed_total{reason=\"evicted\"} 2\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("memstore_http_connections_closed_total{reason=\"header_timeout\"} 0\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("memstore_http_connections_open 8\n"), std::string::npos) << m;
}

TEST_F(HttpLockoutTest, AtTheCapWithEveryConnectionBusyTheNewOneIsRefused) {
  HttpServerOptions o;
  o.max_connections = 4;
  o.header_timeout = 600s;
  o.idle_timeout = 600s;
  start(o);
  std::vector<int> busy;
  for (int i = 0; i < 4; ++i) {
    busy.push_back(connect());
    ASSERT_TRUE(write_all(busy.back(), "GET /slow HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(run_until(r_, [&] { return held_.size() == static_cast<size_t>(i + 1); }));
  }
  int refused = connect();
  std::string got;
  ASSERT_TRUE(run_until(r_, [&] { return closed(refused, &got); }));
  EXPECT_EQ(got, "");
  EXPECT_EQ(server_->stats().refused.get(), 1u);
  EXPECT_EQ(server_->stats().evicted.get(), 0u);
  std::string ignored;
  for (int fd : busy) EXPECT_FALSE(closed(fd, &ignored));
  // Once one is answered and idle, it is the one that makes room.
  held_[2](HttpReply{200, "text/plain", "ok", ""});
  ASSERT_TRUE(answered(busy[2], &got));
  int fresh = connect();
  ASSERT_TRUE(write_all(fresh, kRequest));
  got.clear();
  ASSERT_TRUE(answered(fresh, &got)) << got;
  EXPECT_TRUE(run_until(r_, [&] { return closed(busy[2], &ignored); }));
  EXPECT_EQ(server_->stats().evicted.get(), 1u);
}

}  // namespace
}  // namespace raft::memstore
