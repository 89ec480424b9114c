// Compiled by public_headers_test.sh with only the assembled public include
// directory (and the system's and Abseil's) on the include path: the
// umbrella header must be self-contained and free of LMDB, liburing,
// FlatBuffers, spdlog, toml++ and of every non-public project header. Never
// linked; it only has to compile.
#include "ringraft/ringraft.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace {

// A state machine an embedder would write, against the public API only.
class Counter : public raft::StateMachine {
 public:
  std::string apply(uint64_t index, std::string_view data) override {
    (void)index;
    count_ += data.size();
    return std::to_string(count_);
  }
  absl::Status snapshot(raft::SnapshotWriter& writer) override {
    return writer.write(std::to_string(count_));
  }
  absl::Status restore(raft::SnapshotReader& reader) override {
    char buf[32];
    absl::StatusOr<size_t> n = reader.read(buf);
    if (!n.ok()) return n.status();
    count_ = std::stoull(std::string(buf, *n));
    return absl::OkStatus();
  }

 private:
  uint64_t count_ = 0;
};

[[maybe_unused]] absl::StatusOr<std::unique_ptr<raft::Node>> start_node() {
  raft::NodeConfig config;
  config.node_id = 1;
  return raft::Node::start(std::move(config), [](raft::GroupId) {
    return std::unique_ptr<raft::StateMachine>(std::make_unique<Counter>());
  });
}

[[maybe_unused]] absl::StatusOr<raft::ProposeResult> propose_through(raft::Client& client) {
  absl::StatusOr<raft::ProposeResult> r = client.propose(1, "x");
  if (!r.ok() && raft::is_not_leader(r.status())) {
    std::optional<raft::LeaderHint> hint = raft::not_leader_hint(r.status());
    (void)hint;
  }
  absl::StatusOr<std::string> v = client.read(1, "q");
  (void)v;
  return r;
}

[[maybe_unused]] void use_vocabulary(raft::Node& node) {
  raft::MemberChange change{raft::MemberChangeKind::kAddVoter, 2, "127.0.0.1:7002"};
  node.change_membership(1, {change}, [](absl::StatusOr<raft::ConfState> cs) { (void)cs; });
  raft::PeerAddresses peers{{1, "127.0.0.1:7001"}};
  raft::Slice data("abc");
  (void)peers;
  (void)data;
}

static_assert(std::is_abstract_v<raft::StateMachine>);
static_assert(std::is_same_v<raft::NodeId, uint64_t>);

}  // namespace
