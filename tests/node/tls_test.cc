// TLS ([tls], net/tls.h) on real nodes: a 3-node cluster with mutual TLS
// (elections, replication, a snapshot streamed over TLS, client requests, a
// leader kill); every refusal a counted failure with the node still serving;
// certificate reload; and the config checks at start. Certificates are made
// by the test (tests/net/test_certs.h).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/node/client.h"
#include "engine/node/node.h"
#include "tests/net/test_certs.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

using testing::eventually;
using testing::MapStateMachine;
using testing::TestCa;

// Files of one test: CA 1 (the cluster's), CA 2 (a stranger's), node and
// client certificates.
struct Pki {
  explicit Pki(const std::string& dir) : dir(dir), ca("ringraft test CA"), other("other CA") {
    ca.write_ca(path("ca.pem"));
    other.write_ca(path("other-ca.pem"));
    for (int i = 1; i <= 3; ++i) {
      ca.issue(path(absl::StrCat("n", i, ".pem")), path(absl::StrCat("n", i, ".key")),
               absl::StrCat("node", i));
    }
    ca.issue(path("client.pem"), path("client.key"), "client");
    other.issue(path("stranger.pem"), path("stranger.key"), "stranger");
    ca.issue(path("expired.pem"), path("expired.key"), "expired", "IP:127.0.0.1", -2 * 86400,
             -86400);
  }
  std::string path(const std::string& name) const { return dir + "/" + name; }
  TlsConfig node_tls(int id) const {
    TlsConfig t;
    t.ca_file = path("ca.pem");
    t.cert_file = path(absl::StrCat("n", id, ".pem"));
    t.key_file = path(absl::StrCat("n", id, ".key"));
    t.handshake_timeout_ms = 500;
    return t;
  }
  ClientOptions client(const std::string& cert = "client") const {
    ClientOptions o;
    o.tls.ca_file = path("ca.pem");
    if (!cert.empty()) {
      o.tls.cert_file = path(cert + ".pem");
      o.tls.key_file = path(cert + ".key");
    }
    o.request_timeout = std::chrono::milliseconds(3000);
    o.max_attempts = 3;
    return o;
  }

  std::string dir;
  TestCa ca;
  TestCa other;
};

class TlsCluster {
 public:
  TlsCluster(int n, const std::string& name)
      : dir_(testing::temp_dir(name)), pki_(std::make_unique<Pki>(dir_)) {
    for (int i = 1; i <= n; ++i) {
      peers_.push_back(PeerConfig{static_cast<uint64_t>(i),
                                  absl::StrCat("127.0.0.1:", testing::free_port()),
                                  PeerRole::kVoter, "127.0.0.1"});
    }
    fsms_.resize(n + 1, nullptr);
    nodes_.resize(n + 1);
  }
  ~TlsCluster() {
    for (auto& n : nodes_) n.reset();
    std::filesystem::remove_all(dir_);
  }

  std::function<void(NodeConfig&)> tweak;

  NodeConfig config_for(uint64_t id) const {
    NodeConfig c;
    c.node_id = id;
    c.address = peers_[id - 1].address;
    c.data_dir = absl::StrCat(dir_, "/n", id);
    c.peers = peers_;
    c.tick_interval_ms = 10;
    c.election_ticks = 20;
    c.tls = pki_->node_tls(static_cast<int>(id));
    if (tweak) tweak(c);
    return c;
  }
  void start(uint64_t id) {
    auto node = Node::start(config_for(id), [this, id](GroupId) {
      auto fsm = std::make_unique<MapStateMachine>();
      fsms_[id] = fsm.get();
      return fsm;
    });
    ASSERT_TRUE(node.ok()) << node.status();
    nodes_[id] = std::move(*node);
  }
  void start_all() {
    for (uint64_t id = 1; id < nodes_.size(); ++id) start(id);
  }
  void stop(uint64_t id) {
    nodes_[id].reset();
    fsms_[id] = nullptr;
  }
  uint64_t leader() {
    uint64_t seen = 0;
    for (uint64_t id = 1; id < nodes_.size(); ++id) {
      if (!nodes_[id]) continue;
      auto l = nodes_[id]->leader(1);
      if (!l.ok() || l->leader_id == 0) return 0;
      if (seen != 0 && seen != l->leader_id) return 0;
      seen = l->leader_id;
    }
    return seen != 0 && nodes_[seen] ? seen : 0;
  }
  uint64_t wait_leader() {
    uint64_t l = 0;
    EXPECT_TRUE(eventually([&] { return (l = leader()) != 0; })) << "no leader elected";
    return l;
  }
  Node* node(uint64_t id) { return nodes_[id].get(); }
  MapStateMachine* fsm(uint64_t id) { return fsms_[id]; }
  std::vector<std::string> addresses() const {
    std::vector<std::string> out;
    for (const PeerConfig& p : peers_) out.push_back(p.address);
    return out;
  }
  uint16_t port(uint64_t id) const {
    const std::string& a = peers_[id - 1].address;
    return static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
  }
  Pki& pki() { return *pki_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<Pki> pki_;
  std::vector<PeerConfig> peers_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<MapStateMachine*> fsms_;
};

// A metric's value in Prometheus text ("name" or "name{labels}"), 0 if absent.
uint64_t metric(const Node& node, const std::string& name) {
  const std::string text = node.metrics_text();
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(at + name.size() + 2));
}
uint64_t tls_failures(const Node& node, const std::string& reason) {
  return metric(node,
                absl::StrCat("ringraft_tls_handshake_failures_total{reason=\"", reason, "\"}"));
}

int raw_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

// The node answers a TLS client: it is still serving.
void expect_serves(TlsCluster& c, uint64_t leader, const std::string& key) {
  Client client({c.addresses()[leader - 1]}, c.pki().client());
  auto r = client.propose(1, key + "=1");
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST(NodeTls, MutualTlsClusterElectsReplicatesSnapshotsAndSurvivesALeaderKill) {
  TlsCluster c(3, "tls3");
  c.tweak = [](NodeConfig& n) {
    // Group 1 on shard 1: the listener (shard 0) hands each TLS connection,
    // session included, to shard 1.
    n.shards = 2;
    n.snapshot_every_entries = 20;
    n.keep_entries_after_snapshot = 5;
  };
  c.start_all();
  uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  {
    Client client(c.addresses(), c.pki().client());
    for (int i = 0; i < 10; ++i) {
      auto r = client.propose(1, absl::StrCat("k", i, "=v", i));
      ASSERT_TRUE(r.ok()) << r.status();
    }
    auto v = client.read(1, "k3");
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, "v3");
  }
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(eventually([&] { return c.fsm(id)->contents().size() == 10; })) << id;
    EXPECT_GE(metric(*c.node(id), "ringraft_tls_handshakes_total"), 2u) << id;
    EXPECT_GT(metric(*c.node(id), "ringraft_tls_bytes_sent_total"), 0u) << id;
    EXPECT_EQ(metric(*c.node(id), "ringraft_bad_frames_total"), 0u) << id;
  }
  // A follower misses enough entries that it needs a snapshot, streamed over TLS.
  uint64_t lagging = leader == 3 ? 2 : 3;
  c.stop(lagging);
  for (int i = 0; i < 100; ++i) {
    auto r = c.node(leader)->propose(1, absl::StrCat("s", i, "=x"));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  c.start(lagging);
  EXPECT_TRUE(eventually([&] { return c.fsm(lagging)->contents().size() == 110; }));
  EXPECT_GE(c.fsm(lagging)->restores(), 1u) << "the follower should have caught up by snapshot";
  EXPECT_GE(metric(*c.node(leader), "ringraft_snapshots_sent_total"), 1u);
  // The leader dies: the others elect one over TLS and go on.
  c.stop(leader);
  uint64_t next = c.wait_leader();
  ASSERT_NE(next, 0u);
  ASSERT_NE(next, leader);
  Client client(c.addresses(), c.pki().client());
  auto r = client.propose(1, "after=kill");
  ASSERT_TRUE(r.ok()) << r.status();
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id == leader) continue;
    EXPECT_TRUE(eventually([&] { return c.fsm(id)->contents().count("after") == 1; })) << id;
  }
}

TEST(NodeTls, RefusalsAreCountedAndTheNodeKeepsServing) {
  TlsCluster c(1, "tlsrefuse");
  c.start_all();
  ASSERT_EQ(c.wait_leader(), 1u);
  Node& n = *c.node(1);
  const uint16_t port = c.port(1);

  // A plaintext client on the TLS port.
  {
    ClientOptions plain;
    plain.request_timeout = std::chrono::milliseconds(1500);
    plain.max_attempts = 2;
    Client client(c.addresses(), plain);
    EXPECT_FALSE(client.propose(1, "plain=1").ok());
  }
  EXPECT_TRUE(eventually([&] { return tls_failures(n, "not_tls") >= 1; }));
  expect_serves(c, 1, "after_plain");

  // Garbage instead of a ClientHello (seeded; never starts with 0x16).
  {
    const uint32_t seed = 18;
    std::mt19937 rng(seed);
    std::string junk(200, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    junk[0] = 0x7f;
    const uint64_t before = tls_failures(n, "not_tls");
    int fd = raw_connect(port);
    ASSERT_EQ(::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(junk.size()));
    EXPECT_TRUE(eventually([&] { return tls_failures(n, "not_tls") > before; })) << "seed " << seed;
    char buf[256];
    EXPECT_LE(::recv(fd, buf, sizeof(buf), 0), 0) << "the node should close it";
    ::close(fd);
  }
  expect_serves(c, 1, "after_garbage");

  // A handshake that never comes: closed at tls.handshake_timeout_ms.
  {
    int fd = raw_connect(port);
    EXPECT_TRUE(
        eventually([&] { return tls_failures(n, "timeout") >= 1; }, std::chrono::seconds(10)));
    char buf[16];
    EXPECT_LE(::recv(fd, buf, sizeof(buf), 0), 0);
    ::close(fd);
  }
  expect_serves(c, 1, "after_stall");

  // A client certificate from another CA, then an expired one.
  {
    Client client(c.addresses(), c.pki().client("stranger"));
    EXPECT_FALSE(client.propose(1, "stranger=1").ok());
  }
  EXPECT_TRUE(eventually([&] { return tls_failures(n, "bad_certificate") >= 1; }));
  {
    Client client(c.addresses(), c.pki().client("expired"));
    EXPECT_FALSE(client.propose(1, "expired=1").ok());
  }
  EXPECT_TRUE(eventually([&] { return tls_failures(n, "expired_certificate") >= 1; }));
  // A client that does not trust the node's CA refuses the node.
  {
    ClientOptions o = c.pki().client("");
    o.tls.ca_file = c.pki().path("other-ca.pem");
    Client client(c.addresses(), o);
    EXPECT_FALSE(client.propose(1, "distrust=1").ok());
  }
  // A client whose files cannot be loaded says so at once.
  {
    ClientOptions o = c.pki().client();
    o.tls.key_file = c.pki().path("missing.key");
    Client client(c.addresses(), o);
    auto r = client.propose(1, "nokey=1");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::StrContains(r.status().message(), "missing.key")) << r.status();
  }
  expect_serves(c, 1, "after_certs");
  EXPECT_EQ(c.fsm(1)->contents().count("plain"), 0u);
  EXPECT_EQ(c.fsm(1)->contents().count("stranger"), 0u);
  EXPECT_EQ(c.fsm(1)->contents().count("expired"), 0u);
}

TEST(NodeTls, TlsClientOnAPlaintextPortIsCounted) {
  TlsCluster c(1, "tlsplainport");
  c.tweak = [](NodeConfig& n) { n.tls = TlsConfig{}; };
  c.start_all();
  ASSERT_EQ(c.wait_leader(), 1u);
  {
    ClientOptions o = c.pki().client();
    o.request_timeout = std::chrono::milliseconds(1500);
    o.max_attempts = 2;
    Client client(c.addresses(), o);
    EXPECT_FALSE(client.propose(1, "tls=1").ok());
  }
  EXPECT_TRUE(
      eventually([&] { return metric(*c.node(1), "ringraft_tls_on_plaintext_port_total") >= 1; }));
  Client plain(c.addresses());
  EXPECT_TRUE(plain.propose(1, "plain=1").ok());
}

TEST(NodeTls, APeerWithACertificateFromAnotherCaIsRefused) {
  TlsCluster c(3, "tlsstranger");
  c.tweak = [&c](NodeConfig& n) {
    if (n.node_id == 3) {
      n.tls.cert_file = c.pki().path("stranger.pem");
      n.tls.key_file = c.pki().path("stranger.key");
    }
  };
  c.start_all();
  // Nodes 1 and 2 form the quorum; node 3 hears nothing.
  EXPECT_TRUE(eventually([&] {
    auto l = c.node(1)->leader(1);
    return l.ok() && (l->leader_id == 1 || l->leader_id == 2);
  }));
  uint64_t l12 = c.node(1)->leader(1)->leader_id;
  ASSERT_TRUE(c.node(l12)->propose(1, "k=v").ok());
  EXPECT_TRUE(eventually([&] {
    return tls_failures(*c.node(1), "bad_certificate") +
               tls_failures(*c.node(2), "bad_certificate") >=
           1;
  }));
  EXPECT_EQ(c.fsm(3)->contents().size(), 0u);
}

TEST(NodeTls, APeerWhoseCertificateIsNotForItsTlsNameIsRefused) {
  TlsCluster c(3, "tlsname");
  c.tweak = [](NodeConfig& n) { n.peers[2].tls_name = "node3.example"; };  // Its cert: 127.0.0.1.
  c.start_all();
  EXPECT_TRUE(eventually([&] {
    return tls_failures(*c.node(1), "name_mismatch") >= 1 &&
           tls_failures(*c.node(2), "name_mismatch") >= 1;
  }));
  // 1 and 2 still form a quorum between themselves.
  EXPECT_TRUE(eventually([&] {
    auto l = c.node(1)->leader(1);
    return l.ok() && l->leader_id != 0;
  }));
  EXPECT_EQ(tls_failures(*c.node(3), "name_mismatch"), 0u);
}

TEST(NodeTls, ReloadRotatesCertificatesUnderARunningCluster) {
  TlsCluster c(3, "tlsreload");
  c.start_all();
  uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  Client old_client(c.addresses(), c.pki().client());
  ASSERT_TRUE(old_client.propose(1, "before=1").ok());

  // New certificates from a new CA; the CA files trust both during the change.
  TestCa next("ringraft next CA");
  const std::string bundle = c.pki().path("bundle.pem");
  c.pki().ca.write_ca(bundle);
  next.write_ca(bundle, /*append=*/true);
  next.write_ca(c.pki().path("next-ca.pem"));
  ClientOptions next_only = c.pki().client("");
  next_only.tls.ca_file = c.pki().path("next-ca.pem");
  {
    Client probe(c.addresses(), next_only);
    EXPECT_FALSE(probe.propose(1, "too_early=1").ok()) << "nodes still show the old certificates";
  }
  for (uint64_t id = 1; id <= 3; ++id) {
    // A failed reload keeps the old files and says why.
    const std::string pem = c.pki().path(absl::StrCat("n", id, ".pem"));
    const std::string key = c.pki().path(absl::StrCat("n", id, ".key"));
    next.issue(pem, c.pki().path("unmatched.key"), absl::StrCat("node", id, " v2"));
    absl::Status bad = c.node(id)->reload_tls();
    EXPECT_FALSE(bad.ok());
    EXPECT_TRUE(absl::StrContains(bad.message(), "does not match")) << bad;
    next.issue(pem, key, absl::StrCat("node", id, " v2"));
    std::filesystem::copy_file(bundle, c.pki().path("ca.pem"),
                               std::filesystem::copy_options::overwrite_existing);
    ASSERT_TRUE(c.node(id)->reload_tls().ok());
  }
  // Old connections keep working (the client's, the peers').
  ASSERT_TRUE(old_client.propose(1, "during=1").ok());
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(eventually([&] { return c.fsm(id)->contents().count("during") == 1; })) << id;
  }
  // New connections get the new certificates: a client trusting only the new CA.
  Client probe(c.addresses(), next_only);
  auto r = probe.propose(1, "after=1");
  EXPECT_TRUE(r.ok()) << r.status();
  // A restarted node dials and is dialled with the new certificates.
  uint64_t follower = leader == 1 ? 2 : 1;
  c.stop(follower);
  c.start(follower);
  EXPECT_TRUE(eventually([&] { return c.fsm(follower)->contents().count("after") == 1; }));
}

// The output and exit status of a shell command.
std::pair<std::string, int> run(const std::string& command) {
  std::string out;
  std::FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

TEST(NodeTls, RaftctlTakesTlsOptions) {
  TlsCluster c(1, "tlsraftctl");
  c.start_all();
  ASSERT_EQ(c.wait_leader(), 1u);
  const std::string base = absl::StrCat(RAFTCTL_BIN, " members list --cluster ", c.addresses()[0]);
  auto [out, rc] = run(absl::StrCat(base, " --cacert ", c.pki().path("ca.pem"), " --cert ",
                                    c.pki().path("client.pem"), " --key ",
                                    c.pki().path("client.key"), " --server-name 127.0.0.1"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(absl::StrContains(out, c.addresses()[0])) << out;
  auto [bad, bad_rc] = run(absl::StrCat(base, " --cacert ", c.pki().path("missing.pem")));
  EXPECT_EQ(bad_rc, 1) << bad;
  EXPECT_TRUE(absl::StrContains(bad, "missing.pem: cannot read")) << bad;
}

TEST(NodeTls, StartRefusesABadTlsSection) {
  const std::string dir = testing::temp_dir("tlsconfig");
  Pki pki(dir);
  auto config = [&] {
    NodeConfig c;
    c.node_id = 1;
    c.address = absl::StrCat("127.0.0.1:", testing::free_port());
    c.data_dir = dir + "/n1";
    c.peers = {PeerConfig{1, c.address, PeerRole::kVoter}};
    c.tls = pki.node_tls(1);
    return c;
  };
  auto start = [](NodeConfig c) {
    return Node::start(c, [](GroupId) { return std::make_unique<MapStateMachine>(); });
  };
  NodeConfig half = config();
  half.tls.key_file.clear();
  auto s = start(half);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "tls.key_file")) << s.status();

  NodeConfig unreadable = config();
  unreadable.tls.key_file = dir + "/nope.key";
  s = start(unreadable);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "nope.key: cannot read")) << s.status();

  NodeConfig mismatch = config();
  mismatch.tls.key_file = pki.path("n2.key");
  s = start(mismatch);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "does not match")) << s.status();

  auto parsed = parse_config_toml(absl::StrCat(
      "[node]\nid = 1\naddress = \"127.0.0.1:7000\"\ndata_dir = \"/tmp/x\"\n"
      "[[peers]]\nid = 1\naddress = \"127.0.0.1:7000\"\ntls_name = \"node1.example\"\n"
      "[tls]\nca_file = \"a\"\ncert_file = \"b\"\nkey_file = \"c\"\nverify_peer = true\n"
      "client_cert_required = true\nhandshake_timeout_ms = 700\n"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->tls.key_file, "c");
  EXPECT_TRUE(parsed->tls.client_cert_required);
  EXPECT_EQ(parsed->tls.handshake_timeout_ms, 700u);
  EXPECT_EQ(parsed->peers[0].tls_name, "node1.example");
  auto halfparsed = parse_config_toml(
      "[node]\nid = 1\naddress = \"127.0.0.1:7000\"\ndata_dir = \"/tmp/x\"\n"
      "[[peers]]\nid = 1\naddress = \"127.0.0.1:7000\"\n[tls]\ncert_file = \"b\"\n");
  ASSERT_FALSE(halfparsed.ok());
  EXPECT_TRUE(absl::StrContains(halfparsed.status().message(), "tls.ca_file"))
      << halfparsed.status();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace raft
