// Issue 13, end to end: idle connections cannot lock clients out of a real
// memstore process. 2,000 connections that each sent one request line and
// nothing more do not keep a new client from being answered within 1 s (the
// connection cap evicts the oldest waiting connection), and half-sent
// requests are closed by the header timeout set in the config's [http] table.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "tests/examples/memstore_cluster.h"

namespace raft::examples_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kHalfRequest[] = "GET /store/x HTTP/1.1\r\n";

double closed_metric(const std::string& text, const std::string& reason) {
  return metric(text, "memstore_http_connections_closed_total{reason=\"" + reason + "\"}");
}

// Sends `request` on a new connection and waits for one complete response
// until `deadline`. Status 0 if none came in time.
HttpResult request_until(const std::string& address, const std::string& request,
                         Clock::time_point deadline) {
  int fd = connect_to(address);
  if (fd < 0) return {};
  std::string raw;
  HttpResult result;
  if (send_all(fd, request)) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[65536];
      ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) break;  // Closed (or reset) before a complete answer.
      raw.append(buf, static_cast<size_t>(n));
      auto responses = parse_responses(raw);
      if (!responses.empty()) {
        result = responses[0];
        break;
      }
    }
  }
  ::close(fd);
  return result;
}

// One memstore node (a group of one) with its own TOML file, [http] included.
class MemstoreLockoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The test holds 2,000 sockets; memstore inherits the limits.
    if (::getrlimit(RLIMIT_NOFILE, &limit_) != 0 || limit_.rlim_max < 4096) {
      GTEST_SKIP() << "needs a hard open file limit of at least 4096";
    }
    dir_ = temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    raft_ = absl::StrCat("127.0.0.1:", free_port());
    http_ = absl::StrCat("127.0.0.1:", free_port());
  }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    if (proc_ && proc_->running()) {
      if (HasFailure()) std::cerr << proc_->log();
      proc_->kill(SIGTERM);
      EXPECT_EQ(proc_->wait_exit(15s), std::optional<int>(0));
    }
    proc_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    if (limit_.rlim_max != 0) ::setrlimit(RLIMIT_NOFILE, &limit_);
  }

  // Starts memstore with `http_table` as its [http] table and a soft open
  // file limit of `soft_limit` (the hard one unchanged): memstore must raise
  // it itself.
  void start(const std::string& http_table, rlim_t soft_limit) {
    const std::string path = dir_ + "/n1.toml";
    std::ofstream(path) << "[node]\nid = 1\naddress = \"" << raft_ << "\"\ndata_dir = \"" << dir_
                        << "/data\"\n[raft]\ntick_interval_ms = 20\nelection_ticks = 10\n"
                        << "[[peers]]\nid = 1\naddress = \"" << raft_ << "\"\n"
                        << "[http]\n"
                        << http_table;
    rlimit low = limit_;
    low.rlim_cur = std::min(soft_limit, limit_.rlim_max);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    proc_ =
        std::make_unique<Process>(std::vector<std::string>{MEMSTORE_BIN, "--config", path, "--http",
                                                           http_, "--log-level", "warn"},
                                  dir_ + "/n1.log");
    rlimit high = limit_;
    high.rlim_cur = limit_.rlim_max;  // For the test's own sockets.
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &high), 0);
    ASSERT_TRUE(eventually([&] { return http(http_, "PUT", "/store/x", "v").status == 201; }))
        << proc_->log();
  }

  // `n` connections that each sent half a request.
  void open_half_requests(int n) {
    for (int i = 0; i < n; ++i) {
      int fd = connect_to(http_);
      ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
      fds_.push_back(fd);
      ASSERT_TRUE(send_all(fd, kHalfRequest)) << "connection " << i;
    }
  }

  rlimit limit_{};
  std::string dir_;
  std::string raft_;
  std::string http_;
  std::unique_ptr<Process> proc_;
  std::vector<int> fds_;
};

TEST_F(MemstoreLockoutTest, TwoThousandHalfRequestsDoNotLockOutANewClient) {
  // Timeouts far away: only the connection cap (1024) can make room. A soft
  // limit of 1024 descriptors would not hold 1024 connections: memstore
  // raises it to the hard limit.
  start("header_timeout_ms = 600000\nidle_timeout_ms = 600000\n", 1024);
  constexpr int kIdle = 2000;
  open_half_requests(kIdle);
  const auto t0 = Clock::now();
  HttpResult r = request_until(
      http_, "GET /store/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", t0 + 1s);
  EXPECT_EQ(r.status, 200) << "no answer within 1 s behind " << kIdle << " idle connections";
  EXPECT_EQ(r.body, "v");
  EXPECT_LT(Clock::now() - t0, 1s);

  HttpResult m = request_until(http_, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
                               Clock::now() + 10s);
  ASSERT_EQ(m.status, 200);
  EXPECT_GE(metric(m.body, "ringraft_proposals_total"), 1) << m.body;  // The runtime's, still.
  // Every half-sent request beyond the cap was evicted, by nothing else.
  EXPECT_GE(closed_metric(m.body, "evicted"), kIdle - 1024) << m.body;
  EXPECT_EQ(closed_metric(m.body, "header_timeout"), 0) << m.body;
  EXPECT_EQ(closed_metric(m.body, "idle_timeout"), 0) << m.body;
  EXPECT_EQ(closed_metric(m.body, "refused"), 0) << m.body;
  EXPECT_LE(metric(m.body, "memstore_http_connections_open"), 1024) << m.body;
}

TEST_F(MemstoreLockoutTest, HalfSentRequestsAreClosedByTheConfiguredHeaderTimeout) {
  start("header_timeout_ms = 500\n", limit_.rlim_max);
  constexpr int kHalf = 50;
  const auto t0 = Clock::now();
  open_half_requests(kHalf);
  // Each is answered 408 and closed: bounded by the timeout plus one sweep
  // period, with room for a busy machine.
  for (int fd : fds_) {
    std::string got;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);  // SO_RCVTIMEO: 10 s.
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 408 ")) << got;
  }
  const auto elapsed = Clock::now() - t0;
  EXPECT_GE(elapsed, 500ms);
  EXPECT_LT(elapsed, 5s);
  HttpResult m = http(http_, "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(closed_metric(m.body, "header_timeout"), kHalf) << m.body;
  EXPECT_EQ(closed_metric(m.body, "evicted"), 0) << m.body;
}

TEST_F(MemstoreLockoutTest, BadHttpTableIsRefusedAtStart) {
  for (const char* table :
       {"header_timeout_ms = 0\n", "idle_timeout_ms = \"5s\"\n", "max_connection = 10\n"}) {
    const std::string path = dir_ + "/bad.toml";
    std::ofstream(path) << "[node]\nid = 1\naddress = \"" << raft_ << "\"\ndata_dir = \"" << dir_
                        << "/data\"\n[[peers]]\nid = 1\naddress = \"" << raft_ << "\"\n[http]\n"
                        << table;
    Process p({MEMSTORE_BIN, "--config", path, "--http", http_}, dir_ + "/bad.log");
    EXPECT_EQ(p.wait_exit(30s), std::optional<int>(2)) << table;
    EXPECT_NE(p.log().find("[http]"), std::string::npos) << p.log();
  }
}

}  // namespace
}  // namespace raft::examples_test
