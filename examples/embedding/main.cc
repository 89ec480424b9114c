// Embedding ringraft: a complete small program (README, "Embedding guide").
//
// It defines a replicated state machine (a counter), bootstraps a one-node
// cluster, lets a second node join it and become a voter, proposes through
// the leader and reads linearizably through the follower. Everything runs in
// this process on 127.0.0.1 with data under a temp dir (argv[1] if given).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/node/client.h"
#include "engine/node/node.h"

namespace {

// 1. The state machine: applied in log order on every replica, so apply()
//    must be deterministic. Commands are decimal increments.
class Counter : public raft::StateMachine {
 public:
  std::string apply(uint64_t, std::string_view data) override {
    int64_t delta = 0;
    if (!absl::SimpleAtoi(absl::string_view(data.data(), data.size()), &delta)) {
      return "error: not a number";
    }
    value_ += delta;
    return absl::StrCat(value_);
  }
  absl::StatusOr<std::string> query(std::string_view) const override {
    return absl::StrCat(value_);
  }
  // Snapshots come in two steps: here, on the shard thread, a point-in-time
  // view (for a counter, a copy of it: O(1)); then the runtime writes the
  // view into the snapshot file on a background thread while this machine
  // goes on applying. A large state would hand out a copy-on-write handle
  // instead (see examples/memstore/kv_state_machine.h).
  absl::StatusOr<std::unique_ptr<raft::SnapshotView>> snapshot_view() override {
    return std::unique_ptr<raft::SnapshotView>(new raft::BytesSnapshotView(absl::StrCat(value_)));
  }
  absl::Status restore(raft::SnapshotReader& reader) override {
    std::string text;
    char buffer[64];
    for (;;) {
      auto n = reader.read(buffer);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      text.append(buffer, *n);
    }
    if (!absl::SimpleAtoi(text, &value_)) return absl::DataLossError("bad counter snapshot");
    return absl::OkStatus();
  }

 private:
  int64_t value_ = 0;
};

// A port nobody listens on right now (the example needs fixed addresses for
// the peer list).
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

template <typename T>
T must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::cerr << what << ": " << v.status() << "\n";
    std::exit(1);
  }
  return std::move(*v);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1]
                                   : absl::StrCat(std::filesystem::temp_directory_path().string(),
                                                  "/ringraft-embedding-", ::getpid());
  std::filesystem::remove_all(dir);
  constexpr raft::GroupId kGroup = 1;  // NodeConfig::groups defaults to {1}.
  auto factory = [](raft::GroupId) { return std::make_unique<Counter>(); };

  // 2. Bootstrap: node 1 with a static peer list (just itself).
  raft::NodeConfig c1;
  c1.node_id = 1;
  c1.address = absl::StrCat("127.0.0.1:", free_port());
  c1.data_dir = dir + "/node1";
  c1.peers = {raft::PeerConfig{1, c1.address, raft::PeerRole::kVoter}};
  c1.tick_interval_ms = 20;
  auto n1 = must(raft::Node::start(c1, factory), "start node 1");

  // Wait for node 1 to elect itself (poll with a deadline; no fixed sleep).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (must(n1->leader(kGroup), "leader").leader_id != 1) {
    if (std::chrono::steady_clock::now() > deadline) return std::cerr << "no leader\n", 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // 3. Propose: blocking form (the asynchronous form takes a callback).
  raft::ProposeResult r = must(n1->propose(kGroup, "40"), "propose");
  std::cout << "proposed +40 at index " << r.index << ", counter = " << r.result << "\n";

  // 3b. Snapshot on demand (the runtime also takes them every
  //     snapshot_every_entries): Counter::snapshot_view on the shard thread,
  //     the file written in the background.
  raft::Index snap = must(n1->make_snapshot(kGroup), "snapshot");
  std::cout << "snapshot at index " << snap << "\n";

  // 4. Join: node 2 starts with join_address; the cluster gives it an id and
  //    adds it as a learner. With join_as = kVoter (the default) the runtime
  //    promotes it to voter once it has caught up with the leader.
  raft::NodeConfig c2;
  c2.address = absl::StrCat("127.0.0.1:", free_port());
  c2.data_dir = dir + "/node2";
  c2.join_address = c1.address;
  c2.tick_interval_ms = 20;
  auto n2 = must(raft::Node::start(c2, factory), "start node 2");
  raft::Client client({c1.address});
  auto is_voter = [&] {
    for (const raft::MemberInfo& m : must(n1->members(kGroup), "members")) {
      if (m.id == n2->id()) return m.voter;
    }
    return false;
  };
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!is_voter()) {
    if (std::chrono::steady_clock::now() > deadline) return std::cerr << "not promoted\n", 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::cout << "node " << n2->id() << " joined; members:";
  for (const raft::MemberInfo& m : must(n1->members(kGroup), "members")) {
    std::cout << " " << m.id << (m.voter ? " (voter)" : " (learner)");
  }
  std::cout << "\n";

  // 5. Propose through the client library (it finds the leader), then read
  //    linearizably on the follower: it sees every committed write.
  raft::ProposeResult r2 = must(client.propose(kGroup, "2"), "client propose");
  std::string value = must(n2->read(kGroup, "", raft::ReadConsistency::kLinearizable), "read");
  std::cout << "after +2 (index " << r2.index << "), node 2 reads counter = " << value << "\n";

  n2->stop();
  n1->stop();
  std::filesystem::remove_all(dir);
  if (value != "42") return std::cerr << "expected 42\n", 1;
  std::cout << "ok\n";
  return 0;
}
