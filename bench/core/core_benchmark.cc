// Cost per entry of the pure core on a 3-node in-memory cluster:
// propose -> ready -> persisted (MemoryLogStorage) -> replicated ->
// committed -> applied on every node, with a synchronous driver and no
// network. Reported as ns per entry (items/s is the inverse) for batch sizes
// 1, 64 and 1024.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "common/check.h"
#include "engine/core/raw_node.h"
#include "tests/core/sync_ready.h"

namespace raft {
namespace {

class BenchCluster {
 public:
  BenchCluster() {
    ConfState cs;
    cs.voters = {1, 2, 3};
    for (NodeId id = 1; id <= 3; ++id) {
      storages_.push_back(std::make_unique<MemoryLogStorage>());
      storages_.back()->set_conf_state(cs);
      Config c;
      c.id = id;
      c.group = 1;
      c.max_inflight_msgs = 4096;
      c.max_size_per_msg = 64 << 20;
      nodes_.push_back(std::make_unique<RawNode>(c, storages_.back().get()));
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      core_test::ReadyHooks hooks;
      hooks.send = [this](Message&& m) { queue_.push_back(std::move(m)); };
      hooks.committed = [this, i](const Entry&) { ++applied_[i]; };
      hooks_.push_back(std::move(hooks));
    }
    RAFT_CHECK(leader().campaign().ok());
    settle();
    RAFT_CHECK(leader().role() == Role::kLeader);
  }

  RawNode& leader() { return *nodes_[0]; }

  // Runs every node's Ready and delivers every message until quiet.
  void settle() {
    for (;;) {
      bool moved = false;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        RawNode& n = *nodes_[i];
        if (!n.has_ready()) continue;
        moved = true;
        RAFT_CHECK(core_test::take_ready(n, *storages_[i], hooks_[i]).ok());
      }
      if (!queue_.empty()) {
        moved = true;
        inbox_.swap(queue_);
        for (Message& m : inbox_) {
          RAFT_CHECK(nodes_[m.to - 1]->step(std::move(m)).ok());
        }
        inbox_.clear();
      }
      if (!moved) return;
    }
  }

  // Keeps the in-memory logs short.
  void compact_if_large() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      MemoryLogStorage& s = *storages_[i];
      const Index applied = nodes_[i]->applied_index();
      if (applied - s.first_index() > (1 << 16)) RAFT_CHECK(s.compact(applied).ok());
    }
  }

  uint64_t applied(size_t i) const { return applied_[i]; }

 private:
  std::vector<std::unique_ptr<MemoryLogStorage>> storages_;
  std::vector<std::unique_ptr<RawNode>> nodes_;
  std::vector<Message> queue_;
  std::vector<Message> inbox_;
  uint64_t applied_[3] = {0, 0, 0};
  std::vector<core_test::ReadyHooks> hooks_;  // One per node, made once.
};

void BM_ProposeToCommit(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  BenchCluster cluster;
  // One payload, shared: the core copies Slices (a refcount), never bytes.
  const Slice payload = Slice(std::string(64, 'x'));
  int64_t entries = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      if (!cluster.leader().propose(payload).ok()) state.SkipWithError("propose failed");
    }
    cluster.settle();
    entries += batch;
    // Cheap check; compaction is rare and part of a node's steady cost.
    cluster.compact_if_large();
  }
  // Everything proposed was applied on all three nodes.
  for (size_t i = 0; i < 3; ++i) {
    if (cluster.applied(i) < static_cast<uint64_t>(entries)) state.SkipWithError("not applied");
  }
  state.SetItemsProcessed(entries);
  state.counters["ns_per_entry"] = benchmark::Counter(
      static_cast<double>(entries), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ProposeToCommit)->Arg(1)->Arg(64)->Arg(1024);

}  // namespace
}  // namespace raft

BENCHMARK_MAIN();
