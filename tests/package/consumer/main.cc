// A program built against the installed ringraft only (tests/package):
// #include <ringraft/ringraft.h> and the library, through find_package or
// pkg-config. A one-node cluster with its data in argv[1]: start, propose
// through the node and through raft::Client, read, stop, start again on the
// same data dir and read the same state back, then one more write.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <ringraft/ringraft.h>

namespace {

// Sums the decimal numbers proposed.
class Sum : public raft::StateMachine {
 public:
  std::string apply(uint64_t, std::string_view data) override {
    value_ += std::stoll(std::string(data));
    return std::to_string(value_);
  }
  absl::StatusOr<std::string> query(std::string_view) const override {
    return std::to_string(value_);
  }
  absl::Status snapshot(raft::SnapshotWriter& writer) override {
    return writer.write(std::to_string(value_));
  }
  absl::Status restore(raft::SnapshotReader& reader) override {
    std::string text;
    char buffer[64];
    for (;;) {
      absl::StatusOr<size_t> n = reader.read(buffer);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      text.append(buffer, *n);
    }
    value_ = std::stoll(text);
    return absl::OkStatus();
  }

 private:
  long long value_ = 0;
};

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

[[noreturn]] void fail(const std::string& what) {
  std::cerr << "consumer: FAIL: " << what << "\n";
  std::exit(1);
}

template <typename T>
T must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) fail(std::string(what) + ": " + v.status().ToString());
  return std::move(*v);
}

constexpr raft::GroupId kGroup = 1;

std::unique_ptr<raft::Node> start(const raft::NodeConfig& config) {
  auto node = must(raft::Node::start(config, [](raft::GroupId) { return std::make_unique<Sum>(); }),
                   "Node::start");
  // One voter: it elects itself; poll with a deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (must(node->leader(kGroup), "leader").leader_id != config.node_id) {
    if (std::chrono::steady_clock::now() > deadline) fail("no leader after 20 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return node;
}

void expect(const std::string& got, const std::string& want, const char* what) {
  if (got != want) fail(std::string(what) + ": got '" + got + "', want '" + want + "'");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer DATA_DIR\n";
    return 2;
  }
  raft::NodeConfig config;
  config.node_id = 1;
  config.address = "127.0.0.1:" + std::to_string(free_port());
  config.data_dir = argv[1];
  config.peers = {raft::PeerConfig{1, config.address, raft::PeerRole::kVoter}};
  config.tick_interval_ms = 10;
  if (absl::Status s = config.validate(); !s.ok()) fail("NodeConfig::validate: " + s.ToString());

  auto node = start(config);
  must(node->propose(kGroup, "40"), "Node::propose");
  {
    raft::Client client({config.address});
    expect(must(client.propose(kGroup, "1"), "Client::propose").result, "41", "Client::propose");
  }
  expect(must(node->read(kGroup, ""), "Node::read"), "41", "read before the restart");
  node->stop();
  node.reset();

  node = start(config);  // The same data dir: the log is replayed.
  expect(must(node->read(kGroup, ""), "Node::read"), "41", "read after the restart");
  expect(must(node->propose(kGroup, "1"), "Node::propose").result, "42",
         "propose after the restart");
  if (raft::is_not_leader(absl::OkStatus())) fail("is_not_leader(OK)");
  node->stop();
  std::cout << "consumer: ok (41 before and after the restart, then 42)\n";
  return 0;
}
