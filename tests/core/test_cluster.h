// A small in-test network of RawNodes over MemoryLogStorage, driven
// synchronously (persist, on_persisted, send, apply, advance) for the core
// scenario tests. Messages travel through one FIFO queue; a filter can drop
// them (partitions, lost messages).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/core/raw_node.h"
#include "gtest/gtest.h"
#include "tests/core/sync_ready.h"

namespace raft::test {

struct TestNode {
  std::unique_ptr<MemoryLogStorage> storage;
  std::unique_ptr<RawNode> node;
  // Payloads of applied normal entries (no-ops skipped), in order.
  std::vector<std::string> applied;
  std::vector<Entry> applied_entries;
  std::vector<ReadState> read_states;
  Index snapshot_index = 0;  // Last snapshot installed through a Ready.
  bool down = false;
  // When false, this node's Readies are persisted but on_persisted is not
  // called (a slow disk); persisted_messages are held back.
  bool auto_persist = true;
};

class TestCluster {
 public:
  using ConfigTweak = std::function<void(Config&)>;

  // Bootstraps `voters` (and `learners`) with that membership in every
  // storage. Node ids are the given ones.
  explicit TestCluster(std::vector<NodeId> voters, ConfigTweak tweak = nullptr,
                       std::vector<NodeId> learners = {})
      : tweak_(std::move(tweak)) {
    ConfState cs;
    cs.voters = voters;
    cs.learners = learners;
    for (NodeId id : voters) add_node(id, cs);
    for (NodeId id : learners) add_node(id, cs);
  }

  Config config_for(NodeId id) const {
    Config c;
    c.id = id;
    c.group = 7;
    c.election_ticks = 10;
    c.heartbeat_ticks = 1;
    c.seed = 42;
    if (tweak_) tweak_(c);
    return c;
  }

  // Adds a node with its own storage holding `cs` (empty for a joiner that
  // will get a snapshot or the log from the leader).
  void add_node(NodeId id, const ConfState& cs) {
    auto n = std::make_unique<TestNode>();
    n->storage = std::make_unique<MemoryLogStorage>();
    n->storage->set_conf_state(cs);
    n->node = std::make_unique<RawNode>(config_for(id), n->storage.get());
    nodes_[id] = std::move(n);
  }

  // Adds a node over a storage the test prepared (any log, hard state and
  // conf state).
  void add_node_with_storage(NodeId id, std::unique_ptr<MemoryLogStorage> storage) {
    auto n = std::make_unique<TestNode>();
    n->storage = std::move(storage);
    n->node = std::make_unique<RawNode>(config_for(id), n->storage.get());
    nodes_[id] = std::move(n);
  }

  // Called for every message before delivery (after drops are decided).
  void set_observer(std::function<void(const Message&)> observer) {
    observer_ = std::move(observer);
  }

  // Recreates the node from its storage (a crash that lost nothing durable).
  void restart(NodeId id) {
    TestNode& n = *nodes_.at(id);
    Config c = config_for(id);
    c.applied = n.node->applied_index();
    n.node = std::make_unique<RawNode>(c, n.storage.get());
    n.down = false;
  }

  RawNode& node(NodeId id) { return *nodes_.at(id)->node; }
  TestNode& test_node(NodeId id) { return *nodes_.at(id); }
  MemoryLogStorage& storage(NodeId id) { return *nodes_.at(id)->storage; }
  std::vector<NodeId> ids() const {
    std::vector<NodeId> out;
    for (const auto& [id, n] : nodes_) out.push_back(id);
    return out;
  }

  // Drops every message for which the filter returns true.
  void set_drop(std::function<bool(const Message&)> drop) { drop_ = std::move(drop); }
  void heal() {
    drop_ = nullptr;
    cut_.clear();
  }
  // Cuts both directions between a and b.
  void cut(NodeId a, NodeId b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  // Cuts one direction only.
  void cut_one_way(NodeId from, NodeId to) { cut_.insert({from, to}); }
  void isolate(NodeId id) {
    for (const auto& [other, n] : nodes_) {
      if (other != id) cut(id, other);
    }
  }

  void tick(NodeId id) {
    if (!nodes_.at(id)->down) nodes_.at(id)->node->tick();
  }
  void tick_all() {
    for (auto& [id, n] : nodes_) {
      if (!n->down) n->node->tick();
    }
  }

  // Handles every pending Ready and delivers every queued message until
  // nothing moves (bounded: a livelock fails the test).
  void stabilize(int max_rounds = 10000) {
    for (int round = 0; round < max_rounds; ++round) {
      bool moved = false;
      for (auto& [id, n] : nodes_) {
        if (n->down) continue;
        if (n->node->has_ready()) {
          handle_ready(id);
          moved = true;
        }
      }
      if (!queue_.empty()) {
        deliver_all();
        moved = true;
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "cluster did not stabilize";
  }

  // Ticks every node `n` times, stabilizing after each tick.
  void run_ticks(int n) {
    for (int i = 0; i < n; ++i) {
      tick_all();
      stabilize();
    }
  }

  // Makes `id` campaign and lets the cluster settle.
  void elect(NodeId id) {
    ASSERT_TRUE(node(id).campaign().ok());
    stabilize();
  }

  // The node that every live node agrees is the leader, or kNoNode.
  NodeId leader() const {
    NodeId found = kNoNode;
    for (const auto& [id, n] : nodes_) {
      if (!n->down && n->node->role() == Role::kLeader) {
        if (found != kNoNode && node_term(found) == n->node->term()) return kNoNode;
        if (found == kNoNode || n->node->term() > node_term(found)) found = id;
      }
    }
    return found;
  }

  Term node_term(NodeId id) const { return nodes_.at(id)->node->term(); }

  // Proposes on `id` and stabilizes; returns the status.
  absl::Status propose(NodeId id, const std::string& data) {
    absl::Status s = node(id).propose(Slice::copy_of(data));
    stabilize();
    return s;
  }

  void handle_ready(NodeId id) {
    TestNode& n = *nodes_.at(id);
    ++readies_;
    core_test::ReadyHooks hooks;
    hooks.send = [this](Message&& m) { queue_.push_back(std::move(m)); };
    hooks.snapshot = [&n](const Snapshot& snapshot) {
      n.snapshot_index = snapshot.meta.index;
      // The state machine restores from the snapshot: its data holds the
      // applied payloads joined by '\n' (see snapshot_data()).
      n.applied = split_snapshot(snapshot.data.view());
    };
    hooks.committed = [&n](const Entry& e) {
      n.applied_entries.push_back(e);
      if (e.type == EntryType::kConfChange) {
        absl::StatusOr<ConfChange> cc = decode_conf_change(e.data.view());
        EXPECT_TRUE(cc.ok());
        if (cc.ok()) n.storage->set_conf_state(n.node->apply_conf_change(*cc));
      } else if (!e.data.empty()) {
        n.applied.push_back(e.data.to_string());
      }
    };
    hooks.read_state = [&n](const ReadState& r) { n.read_states.push_back(r); };
    if (!n.auto_persist) {
      hooks.hold = [this, id](bool must_persist, Index index, Term term,
                              std::vector<Message>&& messages) {
        held_.push_back({id, must_persist, index, term, std::move(messages)});
      };
    }
    absl::Status s = core_test::take_ready(*n.node, *n.storage, hooks);
    EXPECT_TRUE(s.ok()) << s;
  }

  // Releases the persistence held back for nodes with auto_persist off.
  void release_held(NodeId id) {
    std::vector<Held> keep;
    for (Held& h : held_) {
      if (h.id != id) {
        keep.push_back(std::move(h));
        continue;
      }
      if (h.must_persist) node(id).on_persisted(h.index, h.term);
      for (Message& m : h.messages) queue_.push_back(std::move(m));
    }
    held_ = std::move(keep);
  }

  // Delivers the queued messages (and those they cause, in later rounds of
  // stabilize()).
  void deliver_all() {
    std::deque<Message> batch;
    batch.swap(queue_);
    for (Message& m : batch) deliver(std::move(m));
  }

  // Takes the queued messages without delivering them.
  std::vector<Message> take_queue() {
    std::vector<Message> out(std::make_move_iterator(queue_.begin()),
                             std::make_move_iterator(queue_.end()));
    queue_.clear();
    return out;
  }

  void deliver(Message m) {
    ++sent_by_type_[m.type];
    if (m.reject) ++rejected_by_type_[m.type];
    if (observer_) observer_(m);
    if (drop_ && drop_(m)) return;
    if (cut_.count({m.from, m.to})) return;
    auto it = nodes_.find(m.to);
    if (it == nodes_.end() || it->second->down) return;
    ++delivered_;
    (void)it->second->node->step(std::move(m));
  }

  // Compacts `id`'s log: snapshot at its applied index, then drop entries.
  void compact(NodeId id) {
    TestNode& n = *nodes_.at(id);
    const Index applied = n.node->applied_index();
    absl::StatusOr<Snapshot> snap =
        n.storage->create_snapshot(applied, n.node->conf_state(), Slice(snapshot_data(n.applied)));
    ASSERT_TRUE(snap.ok()) << snap.status();
    ASSERT_TRUE(n.storage->compact(applied).ok());
  }

  static std::string snapshot_data(const std::vector<std::string>& applied) {
    std::string out;
    for (const std::string& s : applied) out += s + "\n";
    return out;
  }
  static std::vector<std::string> split_snapshot(std::string_view data) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < data.size()) {
      size_t end = data.find('\n', start);
      out.emplace_back(data.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }

  int sent_of_type(MessageType t) const {
    auto it = sent_by_type_.find(t);
    return it == sent_by_type_.end() ? 0 : it->second;
  }
  int rejected_of_type(MessageType t) const {
    auto it = rejected_by_type_.find(t);
    return it == rejected_by_type_.end() ? 0 : it->second;
  }
  void reset_counters() {
    sent_by_type_.clear();
    rejected_by_type_.clear();
    delivered_ = 0;
  }
  int delivered() const { return delivered_; }

 private:
  struct Held {
    NodeId id;
    bool must_persist;
    Index index;
    Term term;
    std::vector<Message> messages;
  };
  ConfigTweak tweak_;
  std::map<NodeId, std::unique_ptr<TestNode>> nodes_;
  std::deque<Message> queue_;
  std::vector<Held> held_;
  std::function<bool(const Message&)> drop_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::map<MessageType, int> sent_by_type_;
  std::map<MessageType, int> rejected_by_type_;
  std::function<void(const Message&)> observer_;
  int delivered_ = 0;
  int readies_ = 0;
};

}  // namespace raft::test
