// Events (StateMachine::on_event, engine/node/events.h) in in-process
// clusters of real Nodes on 127.0.0.1: leadership across a transfer and
// across a stopped leader, membership changes, snapshots taken and
// installed; each node's events on the shard thread, in log order with its
// applies.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/node/events.h"
#include "engine/node/node.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

using testing::eventually;
using testing::MapStateMachine;

// What one state machine saw, in order: applies (as index-only records) and
// events, each with the thread it ran on.
struct Seen {
  bool is_event = false;
  Index index = 0;  // The applied index, or the event's.
  Event event;
  std::thread::id thread;
};

class RecordingMachine : public MapStateMachine {
 public:
  std::string apply(uint64_t index, std::string_view data) override {
    record(Seen{false, index, {}, std::this_thread::get_id()});
    return MapStateMachine::apply(index, data);
  }
  void on_event(const Event& event) override {
    record(Seen{true, event.index, event, std::this_thread::get_id()});
    if (hook) hook(event);
  }
  // Called from on_event (on the shard thread), set before the node starts.
  std::function<void(const Event&)> hook;

  std::vector<Seen> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  std::vector<Event> events(EventKind kind) const {
    std::vector<Event> out;
    for (const Seen& s : seen()) {
      if (s.is_event && s.event.kind == kind) out.push_back(s.event);
    }
    return out;
  }
  bool has(EventKind kind, const std::function<bool(const Event&)>& match) const {
    for (const Event& e : events(kind)) {
      if (match(e)) return true;
    }
    return false;
  }

 private:
  void record(Seen s) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(std::move(s));
  }
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
};

// Same members in each set, in any order.
bool same_members(ConfState a, ConfState b) {
  for (ConfState* cs : {&a, &b}) {
    std::sort(cs->voters.begin(), cs->voters.end());
    std::sort(cs->learners.begin(), cs->learners.end());
  }
  return a.voters == b.voters && a.learners == b.learners && b.voters_outgoing.empty() &&
         a.voters_outgoing.empty();
}

class EventCluster {
 public:
  EventCluster(int n, const std::string& name) : dir_(testing::temp_dir(name)) {
    for (int i = 1; i <= n; ++i) {
      peers_.push_back(PeerConfig{static_cast<uint64_t>(i),
                                  absl::StrCat("127.0.0.1:", testing::free_port()),
                                  PeerRole::kVoter});
    }
    nodes_.resize(n + 1);
    fsms_.resize(n + 1);
    for (int i = 0; i <= n; ++i) handles_.push_back(std::make_unique<std::atomic<Node*>>(nullptr));
  }
  ~EventCluster() {
    for (auto& n : nodes_) n.reset();
    std::filesystem::remove_all(dir_);
  }

  std::function<void(NodeConfig&)> tweak;

  void start(uint64_t id) {
    NodeConfig c;
    c.node_id = id;
    c.address = peers_[id - 1].address;
    c.data_dir = absl::StrCat(dir_, "/n", id);
    c.peers = peers_;
    c.tick_interval_ms = 10;
    c.election_ticks = 20;
    c.request_timeout_ms = 5000;
    if (tweak) tweak(c);
    // A fresh state machine per start; the old one's record is kept.
    auto fsm = std::make_shared<RecordingMachine>();
    fsms_[id] = fsm;
    // Leader-only work, started by the event: the new leader proposes
    // "lead<term>=<id>" through the asynchronous API, from on_event.
    std::atomic<Node*>* handle = handles_[id].get();
    fsm->hook = [handle, id](const Event& e) {
      Node* self = handle->load();
      if (e.kind != EventKind::kLeaderStart || self == nullptr) return;
      self->propose(1, absl::StrCat("lead", e.term, "=", id), [](absl::StatusOr<ProposeResult>) {});
    };
    auto node = Node::start(c, [fsm](GroupId) {
      struct Shared : StateMachine {
        explicit Shared(std::shared_ptr<RecordingMachine> m) : m_(std::move(m)) {}
        std::string apply(uint64_t i, std::string_view d) override { return m_->apply(i, d); }
        absl::StatusOr<std::string> query(std::string_view q) const override {
          return m_->query(q);
        }
        absl::Status snapshot(SnapshotWriter& w) override { return m_->snapshot(w); }
        absl::Status restore(SnapshotReader& r) override { return m_->restore(r); }
        void on_event(const Event& e) override { m_->on_event(e); }
        std::shared_ptr<RecordingMachine> m_;
      };
      return std::make_unique<Shared>(fsm);
    });
    ASSERT_TRUE(node.ok()) << node.status();
    nodes_[id] = std::move(*node);
    handles_[id]->store(nodes_[id].get());
  }
  void start_all() {
    for (uint64_t id = 1; id < nodes_.size(); ++id) start(id);
  }
  void stop(uint64_t id) {
    handles_[id]->store(nullptr);
    nodes_[id].reset();
  }

  // The leader every running node agrees on, or 0.
  uint64_t leader() {
    uint64_t seen = 0;
    for (uint64_t id = 1; id < nodes_.size(); ++id) {
      if (!nodes_[id]) continue;
      auto l = nodes_[id]->leader(1);
      if (!l.ok() || l->leader_id == 0 || (seen != 0 && seen != l->leader_id)) return 0;
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
  RecordingMachine& fsm(uint64_t id) { return *fsms_[id]; }
  size_t size() const { return nodes_.size() - 1; }

 private:
  std::string dir_;
  std::vector<PeerConfig> peers_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::shared_ptr<RecordingMachine>> fsms_;
  std::vector<std::unique_ptr<std::atomic<Node*>>> handles_;
};

// The rules every node's record keeps: one thread for applies and events;
// events tied to an index come after the apply of that index and before the
// next one; kLeaderStart and kLeaderStop alternate, term by term. Returns
// the term the events say this node leads now (0: none).
Term expect_well_ordered(const RecordingMachine& fsm, uint64_t self) {
  const std::vector<Seen> seen = fsm.seen();
  Index last_apply = 0;
  Index last_tied = 0;
  Term leading = 0;
  Term last_started = 0;
  for (const Seen& s : seen) {
    EXPECT_EQ(s.thread, seen.front().thread) << "node " << self << ": another thread";
    if (!s.is_event) {
      EXPECT_GT(s.index, last_apply) << "node " << self;
      EXPECT_GT(s.index, last_tied)
          << "node " << self << ": apply " << s.index << " after an event at " << last_tied;
      last_apply = s.index;
      continue;
    }
    const Event& e = s.event;
    EXPECT_EQ(e.group, 1u);
    const std::string what = absl::StrCat("node ", self, ": ", event_kind_name(e.kind), " term ",
                                          e.term, " index ", e.index);
    switch (e.kind) {
      case EventKind::kLeaderStart:
        EXPECT_EQ(leading, 0u) << what;
        EXPECT_GT(e.term, last_started) << what;
        EXPECT_EQ(e.leader, self) << what;
        leading = last_started = e.term;
        break;
      case EventKind::kLeaderStop:
        EXPECT_EQ(leading, e.term) << what;
        leading = 0;
        break;
      default:
        break;
    }
    if (e.kind == EventKind::kLeaderStart || e.kind == EventKind::kMembershipApplied ||
        e.kind == EventKind::kSnapshotInstalled) {
      EXPECT_GE(e.index, last_apply) << what;
      EXPECT_GE(e.index, last_tied) << what;
      last_tied = e.index;
    }
  }
  return leading;
}

TEST(NodeEvents, LeadershipAcrossTransferAndStoppedLeader) {
  EventCluster c(3, "events-leader");
  c.start_all();
  const uint64_t first = c.wait_leader();
  ASSERT_NE(first, 0u);
  // The leader was told it leads once its term's first entry was applied:
  // before the proposal's answer, which comes after that entry.
  ASSERT_TRUE(c.node(first)->propose(1, "a=1").ok());
  const Term t1 = expect_well_ordered(c.fsm(first), first);
  ASSERT_GT(t1, 1u);  // The bootstrap entries are term 1; an election followed.
  // Every node learned the leader; only the leader leads.
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(eventually([&] {
      return c.fsm(id).has(EventKind::kLeaderChanged,
                           [&](const Event& e) { return e.leader == first && e.term == t1; });
    })) << "node "
        << id;
    if (id != first) {
      EXPECT_EQ(expect_well_ordered(c.fsm(id), id), 0u) << "node " << id;
    }
  }

  // Transfer: the old leader stops leading t1, the target starts in a newer term.
  const uint64_t target = first % 3 + 1;
  ASSERT_TRUE(c.node(first)->transfer_leader(1, target).ok());
  ASSERT_TRUE(eventually([&] {
    return c.fsm(first).has(EventKind::kLeaderStop, [&](const Event& e) { return e.term == t1; });
  }));
  Term t2 = 0;
  ASSERT_TRUE(eventually([&] {
    for (const Event& e : c.fsm(target).events(EventKind::kLeaderStart)) t2 = e.term;
    return t2 > t1;
  })) << "node "
      << target << " never got kLeaderStart after the transfer";
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(eventually([&] {
      return c.fsm(id).has(EventKind::kLeaderChanged,
                           [&](const Event& e) { return e.leader == target && e.term == t2; });
    })) << "node "
        << id;
  }
  ASSERT_TRUE(c.node(target)->propose(1, "b=2").ok());
  EXPECT_EQ(expect_well_ordered(c.fsm(first), first), 0u);
  EXPECT_EQ(expect_well_ordered(c.fsm(target), target), t2);

  // Stop the leader: one of the other two starts leading a newer term, the
  // other learns it.
  c.stop(target);
  const uint64_t third = c.wait_leader();
  ASSERT_NE(third, 0u);
  ASSERT_NE(third, target);
  Term t3 = 0;
  ASSERT_TRUE(eventually([&] {
    for (const Event& e : c.fsm(third).events(EventKind::kLeaderStart)) t3 = e.term;
    return t3 > t2;
  })) << "node "
      << third << " never got kLeaderStart after the leader stopped";
  const uint64_t other = 6 - target - third;
  EXPECT_TRUE(eventually([&] {
    return c.fsm(other).has(EventKind::kLeaderChanged,
                            [&](const Event& e) { return e.leader == third && e.term == t3; });
  }));
  // A stopped node's state machine hears nothing at shutdown.
  EXPECT_TRUE(c.fsm(target).events(EventKind::kLeaderStop).empty());
  ASSERT_TRUE(c.node(third)->propose(1, "c=3").ok());
  // The proposals the leaders made from kLeaderStart (t1's leader may have
  // started before its node handle was published, so from t2 on).
  for (uint64_t id : {third, other}) {
    EXPECT_TRUE(eventually([&] {
      auto contents = c.fsm(id).contents();
      return contents[absl::StrCat("lead", t2)] == std::to_string(target) &&
             contents[absl::StrCat("lead", t3)] == std::to_string(third);
    })) << "node "
        << id;
  }
  EXPECT_EQ(expect_well_ordered(c.fsm(third), third), t3);
  EXPECT_EQ(expect_well_ordered(c.fsm(other), other), 0u);
  EXPECT_EQ(expect_well_ordered(c.fsm(target), target), t2);  // Stopped while leading.
}

TEST(NodeEvents, MembershipChangesAreReported) {
  EventCluster c(3, "events-members");
  c.start_all();
  const uint64_t lead = c.wait_leader();
  ASSERT_NE(lead, 0u);
  // Every node applied the bootstrap membership (entries 1..3).
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(eventually([&] {
      return c.fsm(id).has(EventKind::kMembershipApplied, [](const Event& e) {
        return e.index == 3 && e.conf_state.voters.size() == 3;
      });
    })) << "node "
        << id;
  }
  // A learner that never starts: added, then removed.
  const std::string address = absl::StrCat("127.0.0.1:", testing::free_port());
  auto added = c.node(lead)->add_learner(1, 4, address);
  ASSERT_TRUE(added.ok()) << added.status();
  auto removed = c.node(lead)->remove(1, 4);
  ASSERT_TRUE(removed.ok()) << removed.status();
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(eventually([&] {
      return c.fsm(id).has(EventKind::kMembershipApplied, [&](const Event& e) {
        return same_members(e.conf_state, *added) &&
               e.conf_state.learners == std::vector<NodeId>{4};
      });
    })) << "node "
        << id << " saw no membership with learner 4";
    EXPECT_TRUE(eventually([&] {
      return c.fsm(id).has(EventKind::kMembershipApplied,
                           [&](const Event& e) { return same_members(e.conf_state, *removed); });
    })) << "node "
        << id << " saw no membership without learner 4";
  }
  // Removing a voter: the others are told the smaller membership.
  const uint64_t victim = lead % 3 + 1;
  auto smaller = c.node(lead)->remove(1, victim);
  ASSERT_TRUE(smaller.ok()) << smaller.status();
  EXPECT_EQ(smaller->voters.size(), 2u);
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id == victim) continue;
    EXPECT_TRUE(eventually([&] {
      return c.fsm(id).has(EventKind::kMembershipApplied,
                           [&](const Event& e) { return same_members(e.conf_state, *smaller); });
    })) << "node "
        << id;
  }
  // The events carry the conf change's own index: increasing, one per change.
  std::vector<Event> at_leader = c.fsm(lead).events(EventKind::kMembershipApplied);
  ASSERT_EQ(at_leader.size(), 6u);  // 3 bootstrap entries, add, remove, remove.
  for (size_t i = 1; i < at_leader.size(); ++i)
    EXPECT_GT(at_leader[i].index, at_leader[i - 1].index);
  for (uint64_t id = 1; id <= 3; ++id) expect_well_ordered(c.fsm(id), id);
}

TEST(NodeEvents, SnapshotTakenAndInstalled) {
  EventCluster c(3, "events-snapshot");
  c.tweak = [](NodeConfig& n) {
    n.snapshot_every_entries = 50;
    n.keep_entries_after_snapshot = 10;
  };
  c.start_all();
  uint64_t lead = c.wait_leader();
  ASSERT_NE(lead, 0u);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(c.node(lead)->propose(1, absl::StrCat("k", i, "=v")).ok());
  auto taken = c.node(lead)->make_snapshot(1);
  ASSERT_TRUE(taken.ok()) << taken.status();
  // Reported before make_snapshot answered, at the same index.
  EXPECT_TRUE(c.fsm(lead).has(EventKind::kSnapshotTaken,
                              [&](const Event& e) { return e.index == *taken; }));

  // A follower that misses enough to need the leader's snapshot.
  const uint64_t lagging = lead % 3 + 1;
  c.stop(lagging);
  for (int i = 0; i < 200; ++i) {
    auto r = c.node(lead)->propose(1, absl::StrCat("s", i, "=", i));
    ASSERT_TRUE(r.ok()) << "proposal " << i << ": " << r.status();
  }
  // The leader's automatic snapshots are reported too.
  EXPECT_TRUE(
      eventually([&] { return c.fsm(lead).events(EventKind::kSnapshotTaken).size() >= 2; }));
  c.start(lagging);
  ASSERT_TRUE(eventually([&] {
    return !c.fsm(lagging).events(EventKind::kSnapshotInstalled).empty();
  })) << "the lagging node installed no snapshot";
  const Event installed = c.fsm(lagging).events(EventKind::kSnapshotInstalled).front();
  EXPECT_GT(installed.index, *taken);
  EXPECT_EQ(installed.conf_state.voters.size(), 3u);
  EXPECT_TRUE(eventually([&] {
    auto contents = c.fsm(lagging).contents();
    return contents.count("k0") == 1 && contents.count("s199") == 1;
  }));
  // The install replaced the state: nothing at or below its index is
  // applied after it.
  bool after = false;
  for (const Seen& s : c.fsm(lagging).seen()) {
    if (s.is_event && s.event == installed) after = true;
    if (after && !s.is_event) {
      EXPECT_GT(s.index, installed.index);
    }
  }
  EXPECT_TRUE(after);
  for (uint64_t id = 1; id <= 3; ++id) expect_well_ordered(c.fsm(id), id);
}

}  // namespace
}  // namespace raft
