// Addresses (net/address.h, net/resolver.h): the accepted forms and the
// errors for bad ones, literal-only parse_address, blocking resolution and
// connects, the AsyncResolver, and the peer transport dialling a host name:
// looked up off the loop, every address tried, and looked up again on every
// redial (a test resolver maps made-up names to loopback listeners and moves
// a name from one to another). IPv6 cases skip when the host has no ::1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/address.h"
#include "net/listener.h"
#include "net/peer_transport.h"
#include "net/resolver.h"
#include "tests/net/net_test_util.h"

namespace raft::net {
namespace {

using namespace std::chrono_literals;
using testing::run_until;

bool have_ipv6_loopback() {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

// The test resolver: names map to literal addresses; counts lookups and
// remembers whether one ran on a loop thread. Its state is shared with the
// installed hook, so a resolver worker finishing a lookup late never reaches
// a destroyed object.
class FakeDns {
 public:
  FakeDns() : s_(std::make_shared<State>()) {
    set_resolver_for_testing(
        [s = s_](const std::string& host, uint16_t) { return s->lookup(host); });
  }
  ~FakeDns() {
    hold(false);
    set_resolver_for_testing(nullptr);
  }

  void set(const std::string& name, std::vector<std::string> literals) {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->names[name] = std::move(literals);
  }
  int lookups(const std::string& name) {
    std::lock_guard<std::mutex> lock(s_->mu);
    return s_->counts[name];
  }
  void set_loop_thread(std::thread::id id) {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->loop_thread = id;
  }
  bool looked_up_on_loop() const { return s_->on_loop.load(); }
  // While held, lookups wait (a slow DNS server).
  void hold(bool h) {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->held = h;
    s_->cv.notify_all();
  }
  bool waiting() {
    std::lock_guard<std::mutex> lock(s_->mu);
    return s_->waiting > 0;
  }

 private:
  struct State {
    absl::StatusOr<std::vector<SocketAddress>> lookup(const std::string& host) {
      std::unique_lock<std::mutex> lock(mu);
      if (std::this_thread::get_id() == loop_thread) on_loop = true;
      ++counts[host];
      ++waiting;
      cv.wait(lock, [&] { return !held; });
      --waiting;
      auto it = names.find(host);
      if (it == names.end()) return absl::UnavailableError("cannot resolve \"" + host + "\"");
      std::vector<SocketAddress> out;
      for (const std::string& l : it->second) out.push_back(*parse_address(l));
      return out;
    }
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::vector<std::string>> names;
    std::map<std::string, int> counts;
    bool held = false;
    int waiting = 0;
    std::thread::id loop_thread;
    std::atomic<bool> on_loop{false};
  };
  std::shared_ptr<State> s_;
};

TEST(Address, AcceptedForms) {
  auto v4 = split_host_port("10.1.2.3:7001");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->host, "10.1.2.3");
  EXPECT_EQ(v4->port, 7001);
  auto v6 = split_host_port("[::1]:7001");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  auto full = split_host_port("[2001:db8::17]:65535");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->port, 65535);
  auto name = split_host_port("db-3.example_zone.internal:80");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->host, "db-3.example_zone.internal");
  EXPECT_TRUE(split_host_port("localhost:1").ok());
  // Port 0 only where asked for (listeners).
  EXPECT_FALSE(split_host_port("[::]:0").ok());
  auto any = split_host_port("[::]:0", /*allow_port_zero=*/true);
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(any->host, "::");
}

TEST(Address, BadFormsSayWhatIsWrong) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"7001", "no port"},
           {"localhost", "no port"},
           {"127.0.0.1:", "port must be 1..65535"},
           {"127.0.0.1:0", "port must be 1..65535"},
           {"127.0.0.1:65536", "port must be 1..65535"},
           {"127.0.0.1:80x", "port must be 1..65535"},
           {"127.0.0.1:-1", "port must be 1..65535"},
           {":80", "empty host"},
           {"::1:7001", "must be in brackets"},
           {"fe80::1:7001", "must be in brackets"},
           {"[::1]7001", "expected \"[ipv6]:port\""},
           {"[::1", "'[' without ']'"},
           {"[]:80", "empty IPv6 address"},
           {"[1.2.3.4]:80", "not an IPv6 address"},
           {"[::g]:80", "not an IPv6 address"},
           {"256.1.1.1:80", "not an IPv4 address"},
           {"1.2.3:80", "not an IPv4 address"},
           {"bad host:80", "character ' '"},
           {"host/x:80", "character '/'"},
           {"-host:80", "must start with a letter or digit"},
       }) {
    auto r = split_host_port(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    const std::string msg(r.status().message());
    EXPECT_NE(msg.find(c.text), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << c.text << ": " << msg;
  }
  EXPECT_FALSE(split_host_port(std::string(254, 'a') + ":80").ok());
}

TEST(Address, JoinAndLiterals) {
  EXPECT_EQ(join_host_port("::1", 7001), "[::1]:7001");
  EXPECT_EQ(join_host_port("10.0.0.1", 7), "10.0.0.1:7");
  EXPECT_EQ(join_host_port("node-1", 7), "node-1:7");
  auto v6 = literal_address(*split_host_port("[::1]:7001"));
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->to_string(), "[::1]:7001");
  EXPECT_EQ(literal_address(*split_host_port("127.0.0.1:9"))->to_string(), "127.0.0.1:9");
  EXPECT_FALSE(literal_address(*split_host_port("localhost:9")).has_value());
  // parse_address takes literals only; names go through a resolver.
  EXPECT_TRUE(parse_address("[::]:0").ok());
  auto named = parse_address("localhost:7001");
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.status().message().find("not an IP address"), absl::string_view::npos);
}

TEST(Address, BlockingResolution) {
  // The real resolver: "localhost" is in every /etc/hosts.
  auto local = resolve_blocking("localhost:7001");
  ASSERT_TRUE(local.ok()) << local.status();
  ASSERT_FALSE(local->empty());
  for (const SocketAddress& a : *local) EXPECT_EQ(a.port(), 7001);
  auto bad = resolve_blocking("no-such-host.invalid:1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(bad.status().message().find("no-such-host.invalid"), absl::string_view::npos);
  EXPECT_EQ(resolve_blocking("nope").status().code(), absl::StatusCode::kInvalidArgument);

  FakeDns dns;
  dns.set("made-up.test", {"127.0.0.1:1", "[::1]:1"});
  auto fake = resolve_blocking("made-up.test:5");
  ASSERT_TRUE(fake.ok()) << fake.status();
  ASSERT_EQ(fake->size(), 2u);
  EXPECT_EQ(dns.lookups("made-up.test"), 1);
  // Literals never reach the resolver.
  ASSERT_TRUE(resolve_blocking("127.0.0.1:5").ok());
  EXPECT_EQ(dns.lookups("127.0.0.1"), 0);
}

// A listener on a name, reached by connect_blocking through the name.
TEST(Address, ListenAndConnectByName) {
  auto fd = listen_host_port("localhost:0", 16, 0ms, "test");
  ASSERT_TRUE(fd.ok()) << fd.status();
  SocketAddress bound = local_address(*fd);
  auto c = connect_blocking("localhost:" + std::to_string(bound.port()), 1000ms);
  ASSERT_TRUE(c.ok()) << c.status();
  ::close(*c);
  ::close(*fd);
  // Nothing listens there any more: refused, naming the address.
  auto refused = connect_blocking("localhost:" + std::to_string(bound.port()), 1000ms);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("localhost:"), absl::string_view::npos);
}

TEST(Address, Ipv6ListenAndConnect) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback (::1) on this host";
  auto fd = listen_host_port("[::1]:0", 16, 0ms, "test");
  ASSERT_TRUE(fd.ok()) << fd.status();
  SocketAddress bound = local_address(*fd);
  EXPECT_EQ(bound.to_string(), "[::1]:" + std::to_string(bound.port()));
  auto c = connect_blocking(bound.to_string(), 1000ms);
  ASSERT_TRUE(c.ok()) << c.status();
  ::close(*c);
  ::close(*fd);
  auto any = listen_host_port("[::]:0", 16, 0ms, "test");
  ASSERT_TRUE(any.ok()) << any.status();
  ::close(*any);
}

TEST(AsyncResolverTest, ResultsArriveOnTheLoopWithoutBlockingIt) {
  Reactor r;
  FakeDns dns;
  dns.set("slow.test", {"127.0.0.1:9"});
  dns.hold(true);
  auto resolver = std::make_unique<AsyncResolver>(r);
  bool got = false;
  std::thread::id ran_on;
  resolver->resolve(HostPort{"slow.test", 9}, [&](absl::StatusOr<std::vector<SocketAddress>> res) {
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->at(0).to_string(), "127.0.0.1:9");
    got = true;
    ran_on = std::this_thread::get_id();
  });
  // The loop keeps turning (timers fire) while the lookup hangs.
  int fired = 0;
  Timer t(r, [&] { ++fired; });
  t.arm_periodic(2ms);
  ASSERT_TRUE(run_until(r, [&] { return fired >= 5 && dns.waiting(); }));
  EXPECT_FALSE(got);
  dns.hold(false);
  ASSERT_TRUE(run_until(r, [&] { return got; }));
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(resolver->pending(), 0u);

  // Destroyed while a lookup hangs: it finishes later, and nothing runs.
  dns.hold(true);
  bool late = false;
  resolver->resolve(HostPort{"slow.test", 9},
                    [&](absl::StatusOr<std::vector<SocketAddress>>) { late = true; });
  ASSERT_TRUE(run_until(r, [&] { return dns.waiting(); }));
  resolver.reset();
  dns.hold(false);
  testing::run_turns(r, 20);
  EXPECT_FALSE(late);
}

// Node 1 listens twice (two "hosts"); node 2's transport knows node 1 by a
// name only.
class NamedPeerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (transport_) transport_->shutdown();
    for (auto& l : listeners_) l->stop();
    for (auto& c : accepted_) c->close(absl::CancelledError("test over"));
    ASSERT_TRUE(run_until(r_, [&] {
      for (auto& l : listeners_) {
        if (l->active()) return false;
      }
      return !transport_ || transport_->idle();
    }));
    transport_.reset();
    listeners_.clear();
    accepted_.clear();
    testing::run_turns(r_, 3);
  }

  // A listener for node 1 on `address`; returns its index.
  size_t listen(const std::string& address) {
    ListenerOptions o;
    o.address = address;
    o.local.cluster_id = 7;
    o.local.node_id = 1;
    Listener::Callbacks cb;
    const size_t index = listeners_.size();
    auto on = [this, index](std::shared_ptr<FrameConnection> c, const HandshakeInfo&) {
      ++accepted_by_[index];
      accepted_.push_back(std::move(c));
    };
    cb.on_peer = on;
    cb.on_client = on;
    listeners_.push_back(std::make_unique<Listener>(r_, o, std::move(cb)));
    auto s = listeners_.back()->start();
    EXPECT_TRUE(s.ok()) << s;
    return index;
  }
  std::string literal(size_t listener) { return listeners_.at(listener)->address(); }

  void start_transport(const std::string& peer_address) {
    PeerTransportOptions o;
    o.local.cluster_id = 7;
    o.local.node_id = 2;
    o.backoff_initial = 10ms;
    o.backoff_max = 50ms;
    o.connect_timeout = 1s;
    PeerTransport::Callbacks cb;
    cb.on_unreachable = [this](uint64_t, const absl::Status& s) { unreachable_.push_back(s); };
    transport_ = std::make_unique<PeerTransport>(r_, o, std::move(cb));
    dns_.set_loop_thread(std::this_thread::get_id());
    auto s = transport_->add_peer(1, peer_address, 0);
    ASSERT_TRUE(s.ok()) << s;
  }
  // Drops every accepted connection (node 1 "moves").
  void drop_connections() {
    for (auto& c : accepted_) c->close(absl::CancelledError("moved"));
    accepted_.clear();
  }

  Reactor r_;
  FakeDns dns_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::map<size_t, int> accepted_by_;
  std::vector<std::shared_ptr<FrameConnection>> accepted_;
  std::unique_ptr<PeerTransport> transport_;
  std::vector<absl::Status> unreachable_;
};

TEST_F(NamedPeerTest, ReResolvesOnEveryRedial) {
  const size_t a = listen("127.0.0.1:0");
  const size_t b = listen(have_ipv6_loopback() ? "[::1]:0" : "127.0.0.1:0");
  dns_.set("node-1.test", {literal(a)});
  start_transport("node-1.test:7001");
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
  EXPECT_EQ(accepted_by_[a], 1);
  EXPECT_EQ(dns_.lookups("node-1.test"), 1);

  // Node 1 moves to the other address: the name now says so, the old host
  // is gone, and the transport's redial finds the new one.
  dns_.set("node-1.test", {literal(b)});
  listeners_[a]->stop();
  drop_connections();
  ASSERT_TRUE(run_until(r_, [&] { return accepted_by_[b] == 1 && transport_->connected(1); }));
  EXPECT_GE(dns_.lookups("node-1.test"), 2);
  EXPECT_EQ(accepted_by_[a], 1);
  EXPECT_FALSE(dns_.looked_up_on_loop()) << "getaddrinfo ran on the reactor thread";
}

TEST_F(NamedPeerTest, TriesEveryAddressOfTheName) {
  const size_t a = listen("127.0.0.1:0");
  // The first address refuses (nothing listens on that port any more).
  const size_t gone = listen("127.0.0.1:0");
  const std::string dead = literal(gone);
  listeners_[gone]->stop();
  ASSERT_TRUE(run_until(r_, [&] { return !listeners_[gone]->active(); }));
  dns_.set("multi.test", {dead, literal(a)});
  start_transport("multi.test:1");
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
  EXPECT_EQ(accepted_by_[a], 1);
  EXPECT_TRUE(unreachable_.empty()) << unreachable_.front();
}

TEST_F(NamedPeerTest, AFailedLookupIsReportedAndRetried) {
  const size_t a = listen("127.0.0.1:0");
  start_transport("late.test:1");  // Not known yet.
  ASSERT_TRUE(run_until(r_, [&] { return unreachable_.size() >= 2; }));
  EXPECT_EQ(unreachable_[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(unreachable_[0].message().find("late.test"), absl::string_view::npos)
      << unreachable_[0];
  dns_.set("late.test", {literal(a)});
  ASSERT_TRUE(run_until(r_, [&] { return transport_->connected(1); }));
}

TEST_F(NamedPeerTest, SlowLookupDoesNotStallTheLoopAndRemovalDropsIt) {
  const size_t a = listen("127.0.0.1:0");
  dns_.set("slow.test", {literal(a)});
  dns_.hold(true);
  start_transport("slow.test:1");
  int fired = 0;
  Timer t(r_, [&] { ++fired; });
  t.arm_periodic(2ms);
  ASSERT_TRUE(run_until(r_, [&] { return fired >= 10 && dns_.waiting(); }));
  EXPECT_FALSE(transport_->connected(1));
  // Removed while its lookup hangs: the answer is ignored.
  transport_->remove_peer(1);
  dns_.hold(false);
  testing::run_turns(r_, 20);
  EXPECT_EQ(accepted_by_[a], 0);
  EXPECT_FALSE(transport_->connected(1));
}

TEST_F(NamedPeerTest, BadPeerAddressIsRefused) {
  PeerTransportOptions o;
  o.local.cluster_id = 7;
  o.local.node_id = 2;
  transport_ = std::make_unique<PeerTransport>(r_, o, PeerTransport::Callbacks{});
  auto s = transport_->add_peer(1, "::1:7001", 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("brackets"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace raft::net
