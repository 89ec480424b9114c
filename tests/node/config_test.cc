#include "engine/node/config.h"

#include <gtest/gtest.h>

#include <string>

namespace raft {
namespace {

constexpr const char* kGood = R"(
[node]
id = 2
address = "127.0.0.1:7002"
data_dir = "/tmp/n2"
groups = [1, 2]
shards = 2

[raft]
tick_interval_ms = 50
election_ticks = 20
read_mode = "lease"

[[peers]]
id = 1
address = "127.0.0.1:7001"

[[peers]]
id = 2
address = "127.0.0.1:7002"

[[peers]]
id = 3
address = "127.0.0.1:7003"
role = "learner"
)";

TEST(Config, DefaultsAreDocumentedValues) {
  NodeConfig c;
  EXPECT_EQ(c.tick_interval_ms, 100u);
  EXPECT_EQ(c.election_ticks, 10u);
  EXPECT_EQ(c.heartbeat_ticks, 1u);
  EXPECT_TRUE(c.pre_vote);
  EXPECT_TRUE(c.check_quorum);
  EXPECT_EQ(c.max_frame_bytes, 64ull << 20);
  EXPECT_EQ(c.groups, std::vector<uint64_t>{1});
}

TEST(Config, ParsesAFullFile) {
  auto c = parse_config_toml(kGood);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_id, 2u);
  EXPECT_EQ(c->address, "127.0.0.1:7002");
  EXPECT_EQ(c->groups, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(c->shards, 2u);
  EXPECT_EQ(c->tick_interval_ms, 50u);
  EXPECT_EQ(c->election_ticks, 20u);
  EXPECT_EQ(c->read_mode, ReadMode::kLease);
  ASSERT_EQ(c->peers.size(), 3u);
  EXPECT_EQ(c->peers[2].role, PeerRole::kLearner);
  EXPECT_EQ(c->peers[0].role, PeerRole::kVoter);
}

// Each bad config must be refused with an error that names the field.
struct BadCase {
  const char* name;
  std::string text;
  const char* expected_in_message;
};

TEST(Config, RefusesBadInputWithAClearMessage) {
  const std::string node = "[node]\nid = 1\naddress = \"127.0.0.1:7001\"\ndata_dir = \"/d\"\n";
  const BadCase cases[] = {
      {"syntax", "[node\nid=1", "TOML syntax error at line 1"},
      {"unknown section", node + "[rafts]\n", "rafts: unknown section"},
      {"unknown key", node + "electon_ticks = 3\n", "node.electon_ticks: unknown key"},
      {"wrong type", "[node]\nid = \"one\"\n", "node.id: must be an integer"},
      {"negative", "[node]\nid = -1\n", "node.id: out of range"},
      {"missing address", "[node]\nid = 1\ndata_dir = \"/d\"\n", "node.address: required"},
      {"bad port", "[node]\nid = 1\naddress = \"127.0.0.1:0\"\ndata_dir = \"/d\"\n", "port"},
      {"bad host", "[node]\nid = 1\naddress = \"exa mple.com:80\"\ndata_dir = \"/d\"\n",
       "node.address: address \"exa mple.com:80\": host name with character ' '"},
      {"no id", "[node]\naddress = \"127.0.0.1:7001\"\ndata_dir = \"/d\"\n", "node.id: required"},
      {"timing", node + "[raft]\nelection_ticks = 1\nheartbeat_ticks = 1\n", "raft.election_ticks"},
      {"lease without check quorum", node + "[raft]\nread_mode = \"lease\"\ncheck_quorum = false\n",
       "lease reads need"},
      {"bad read mode", node + "[raft]\nread_mode = \"fast\"\n", "raft.read_mode"},
      {"self missing", node + "[[peers]]\nid = 2\naddress = \"127.0.0.1:7002\"\n",
       "must include this node"},
      {"duplicate id",
       node + "[[peers]]\nid = 1\naddress = \"127.0.0.1:7001\"\n[[peers]]\nid = 1\naddress = "
              "\"127.0.0.1:7002\"\n",
       "duplicate id 1"},
      {"bad role", node + "[[peers]]\nid = 1\naddress = \"127.0.0.1:7001\"\nrole = \"boss\"\n",
       "peers.role"},
      {"self address differs", node + "[[peers]]\nid = 1\naddress = \"127.0.0.1:7009\"\n",
       "node.address is"},
      {"join and peers",
       node + "join = \"127.0.0.1:7002\"\n[[peers]]\nid = 1\naddress = \"127.0.0.1:7001\"\n",
       "not both"},
      {"zero shards", node + "shards = 0\n", "node.shards"},
      {"frame too small", node + "[network]\nmax_frame_bytes = 100\n", "network.max_frame_bytes"},
      {"balance period zero", node + "[balance]\nperiod_ticks = 0\n", "balance.period_ticks"},
      {"balance no transfers", node + "[balance]\nmax_transfers_per_period = 0\n",
       "balance.max_transfers_per_period"},
      {"balance margin negative", node + "[balance]\nmargin = -1\n",
       "balance.margin: out of range"},
      {"balance leaders not bool", node + "[balance]\nleaders = 1\n",
       "balance.leaders: must be true or false"},
      {"balance unknown key", node + "[balance]\nleader = true\n", "balance.leader: unknown key"},
      {"sessions unknown key", node + "[sessions]\nmax = 3\n", "sessions.max: unknown key"},
  };
  for (const BadCase& c : cases) {
    auto parsed = parse_config_toml(c.text);
    ASSERT_FALSE(parsed.ok()) << c.name;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(parsed.status().message().find(c.expected_in_message), std::string::npos)
        << c.name << ": " << parsed.status().message();
  }
}

TEST(Config, BalanceAndSessionsSections) {
  NodeConfig d;
  EXPECT_FALSE(d.balance.leaders);
  EXPECT_EQ(d.balance.margin, 1u);
  EXPECT_EQ(d.balance.period_ticks, 10u);
  EXPECT_EQ(d.balance.max_transfers_per_period, 8u);
  auto c = parse_config_toml(std::string(kGood) +
                             "\n[balance]\nleaders = true\nmargin = 3\nperiod_ticks = 25\n"
                             "max_transfers_per_period = 2\n"
                             "[sessions]\nmax_sessions = 7\nexpiry_ms = 1000\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->balance.leaders);
  EXPECT_EQ(c->balance.margin, 3u);
  EXPECT_EQ(c->balance.period_ticks, 25u);
  EXPECT_EQ(c->balance.max_transfers_per_period, 2u);
  EXPECT_EQ(c->max_sessions, 7u);
  EXPECT_EQ(c->session_expiry_ms, 1000u);
}

TEST(Config, JoinWithoutIdIsValid) {
  auto c = parse_config_toml(
      "[node]\naddress = \"127.0.0.1:7004\"\ndata_dir = \"/d\"\njoin = \"localhost:7001\"\n"
      "join_as = \"learner\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_id, 0u);
  EXPECT_EQ(c->join_as, PeerRole::kLearner);
}

TEST(Config, MissingFileIsNotFound) {
  auto c = load_config_toml("/nonexistent/cluster.toml");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
}

TEST(Config, HostPortParsing) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(parse_host_port("localhost:65535", &host, &port).ok());
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 65535);
  ASSERT_TRUE(parse_host_port("[::1]:7001", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 7001);
  ASSERT_TRUE(parse_host_port("db-3.example.com:80", &host, &port).ok());
  EXPECT_EQ(host, "db-3.example.com");
  ASSERT_TRUE(parse_host_port("10.1.2.3:1", &host, &port).ok());
  EXPECT_EQ(host, "10.1.2.3");
  EXPECT_FALSE(parse_host_port("127.0.0.1:65536", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("127.0.0.1:", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("127.0.0.1:0", &host, &port).ok());
  EXPECT_FALSE(parse_host_port(":80", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("127.0.0.1:80x", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("::1:7001", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("[::1]7001", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("[]:7001", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("[1.2.3.4]:7001", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("999.1.1.1:7001", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("bad host:7001", &host, &port).ok());
  EXPECT_FALSE(parse_host_port("7001", &host, &port).ok());
}

// A bad address is refused at load, with the key it came from in the error.
TEST(Config, BadAddressesNameTheirKey) {
  auto expect_error = [](const std::string& toml, const std::string& key,
                         const std::string& detail) {
    auto c = parse_config_toml(toml);
    ASSERT_FALSE(c.ok()) << toml;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(c.status().message());
    EXPECT_NE(msg.find(key), std::string::npos) << msg;
    EXPECT_NE(msg.find(detail), std::string::npos) << msg;
  };
  expect_error("[node]\nid = 1\naddress = \"::1:7001\"\ndata_dir = \"/tmp/x\"\n", "node.address",
               "brackets");
  expect_error("[node]\nid = 1\naddress = \"[::1]:70000\"\ndata_dir = \"/tmp/x\"\n", "node.address",
               "port must be 1..65535");
  expect_error("[node]\naddress = \"[::1]:7001\"\ndata_dir = \"/tmp/x\"\njoin = \"[fe80::zz]:1\"\n",
               "node.join", "not an IPv6 address");
  expect_error(
      "[node]\nid = 1\naddress = \"[::1]:7001\"\ndata_dir = \"/tmp/x\"\n"
      "[[peers]]\nid = 1\naddress = \"[::1]:7001\"\n"
      "[[peers]]\nid = 2\naddress = \"no_port.example\"\n",
      "peers[id=2].address", "no port");
}

TEST(Config, NamesAndIpv6AreAccepted) {
  auto c = parse_config_toml(
      "[node]\nid = 1\naddress = \"[::1]:7001\"\ndata_dir = \"/tmp/x\"\n"
      "promote_max_lag = 50\n"
      "[[peers]]\nid = 1\naddress = \"[::1]:7001\"\n"
      "[[peers]]\nid = 2\naddress = \"node-2.cluster.internal:7001\"\n"
      "[[peers]]\nid = 3\naddress = \"localhost:7003\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->promote_max_lag, 50u);
  EXPECT_EQ(c->peers[1].address, "node-2.cluster.internal:7001");
  NodeConfig defaults;
  EXPECT_EQ(defaults.promote_max_lag, 1000u);
}

}  // namespace
}  // namespace raft
