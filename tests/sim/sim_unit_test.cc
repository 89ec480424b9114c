// Tests of the simulator itself: its generator, its network's faults (drops,
// duplicates, delays, symmetric and asymmetric partitions), its shadow log,
// crash semantics, replay determinism (the same seed gives the same event
// trace), and that its checks do catch a broken history.
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/sim/cluster.h"
#include "tests/sim/network.h"
#include "tests/sim/prng.h"
#include "tests/sim/shadow_log.h"
#include "tests/sim/sim_util.h"

namespace raft::sim {
namespace {

Message make_message(NodeId from, NodeId to, Index index) {
  Message m;
  m.type = MessageType::kAppend;
  m.group = 1;
  m.from = from;
  m.to = to;
  m.index = index;
  return m;
}

// Delivers everything queued, at whatever time it is due.
std::vector<Delivery> flush(SimNetwork& net, uint64_t* now) {
  std::vector<Delivery> out;
  while (auto t = net.next_delivery()) {
    *now = std::max(*now, *t);
    while (auto d = net.pop_due(*now)) out.push_back(std::move(*d));
  }
  return out;
}

TEST(SimPrng, SameSeedSameStreamAndBounds) {
  Prng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    if (x != c.next()) differs = true;
  }
  EXPECT_TRUE(differs);
  std::set<uint64_t> seen;
  for (int i = 0; i < 10000; ++i) {
    const uint64_t v = a.range(3, 9);
    ASSERT_GE(v, 3u);
    ASSERT_LE(v, 9u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 7u);
}

TEST(SimNetwork, DeliversWithinDelayBounds) {
  SimNetwork net(1);
  NetworkFaults f;
  f.min_delay = 5;
  f.max_delay = 9;
  net.set_faults(f);
  for (Index i = 0; i < 200; ++i) ASSERT_TRUE(net.send(100, make_message(1, 2, i)));
  std::vector<Delivery> got;
  for (uint64_t t = 100; t <= 120; ++t) {
    while (auto d = net.pop_due(t)) {
      EXPECT_GE(t, 105u);
      EXPECT_LE(t, 109u);
      got.push_back(std::move(*d));
    }
  }
  EXPECT_EQ(got.size(), 200u);
  // Different delays reorder messages.
  bool reordered = false;
  for (size_t i = 1; i < got.size(); ++i) {
    if (got[i].message.index < got[i - 1].message.index) reordered = true;
  }
  EXPECT_TRUE(reordered);
  EXPECT_EQ(net.stats().delivered, 200u);
  EXPECT_EQ(net.in_flight(), 0u);
}

TEST(SimNetwork, SymmetricPartitionBlocksBothWaysUntilHealed) {
  SimNetwork net(2);
  net.partition({1, 2}, {3});
  EXPECT_TRUE(net.is_blocked(1, 3));
  EXPECT_TRUE(net.is_blocked(3, 1));
  EXPECT_TRUE(net.is_blocked(2, 3));
  EXPECT_FALSE(net.is_blocked(1, 2));
  net.send(0, make_message(1, 3, 1));
  net.send(0, make_message(3, 2, 2));
  net.send(0, make_message(1, 2, 3));
  uint64_t now = 0;
  std::vector<Delivery> got = flush(net, &now);
  ASSERT_EQ(got.size(), 3u);
  int delivered = 0;
  for (const Delivery& d : got) {
    if (!d.blocked) {
      ++delivered;
      EXPECT_EQ(d.message.index, 3u) << "only 1 -> 2 crosses no partition";
    }
  }
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(net.stats().blocked, 2u);

  net.heal();
  net.send(now, make_message(1, 3, 4));
  got = flush(net, &now);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].blocked);
}

TEST(SimNetwork, AsymmetricBlockIsOneWay) {
  SimNetwork net(3);
  net.block(1, 2);
  net.send(0, make_message(1, 2, 1));
  net.send(0, make_message(2, 1, 2));
  uint64_t now = 0;
  std::map<Index, bool> blocked;
  for (const Delivery& d : flush(net, &now)) blocked[d.message.index] = d.blocked;
  EXPECT_TRUE(blocked.at(1));
  EXPECT_FALSE(blocked.at(2));
}

TEST(SimNetwork, PartitionCutsOffMessagesAlreadyInFlight) {
  SimNetwork net(4);
  net.send(0, make_message(1, 2, 1));
  net.partition({1}, {2});
  uint64_t now = 0;
  std::vector<Delivery> got = flush(net, &now);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].blocked);
}

TEST(SimNetwork, DropsAndDuplicates) {
  SimNetwork drop_all(5);
  NetworkFaults f;
  f.drop_per_mille = 1000;
  drop_all.set_faults(f);
  for (Index i = 0; i < 50; ++i) EXPECT_FALSE(drop_all.send(0, make_message(1, 2, i)));
  EXPECT_EQ(drop_all.in_flight(), 0u);
  EXPECT_EQ(drop_all.stats().dropped, 50u);

  SimNetwork dup_all(6);
  f = NetworkFaults{};
  f.duplicate_per_mille = 1000;
  dup_all.set_faults(f);
  for (Index i = 0; i < 50; ++i) EXPECT_TRUE(dup_all.send(0, make_message(1, 2, i)));
  uint64_t now = 0;
  std::map<Index, int> copies;
  for (const Delivery& d : flush(dup_all, &now)) ++copies[d.message.index];
  ASSERT_EQ(copies.size(), 50u);
  for (const auto& [index, n] : copies) EXPECT_EQ(n, 2) << index;

  // A drop rate in between drops some, not all, and deterministically.
  auto run = [](uint64_t seed) {
    SimNetwork net(seed);
    NetworkFaults g;
    g.drop_per_mille = 300;
    g.duplicate_per_mille = 100;
    g.long_delay_per_mille = 100;
    g.long_delay_max = 200;
    net.set_faults(g);
    for (Index i = 0; i < 1000; ++i) net.send(0, make_message(1, 2, i));
    uint64_t t = 0;
    std::vector<std::pair<uint64_t, Index>> order;
    while (auto due = net.next_delivery()) {
      t = *due;
      while (auto d = net.pop_due(t)) order.push_back({t, d->message.index});
    }
    return order;
  };
  const auto a = run(7);
  EXPECT_EQ(a, run(7));
  EXPECT_NE(a, run(8));
  EXPECT_GT(a.size(), 600u);
  EXPECT_LT(a.size(), 900u);
}

Entry entry(Index index, Term term, const std::string& data) {
  Entry e;
  e.index = index;
  e.term = term;
  e.data = Slice(data);
  return e;
}

TEST(SimShadowLog, PrefixHashesTruncationAndSnapshots) {
  ShadowLog a, b;
  ASSERT_TRUE(a.append({entry(1, 1, "x"), entry(2, 1, "y"), entry(3, 2, "z")}));
  ASSERT_TRUE(b.append({entry(1, 1, "x"), entry(2, 1, "y")}));
  EXPECT_EQ(a.hash_at(2), b.hash_at(2));
  ASSERT_TRUE(b.append({entry(3, 3, "z")}));
  EXPECT_NE(a.hash_at(3), b.hash_at(3));
  // A different payload anywhere in the prefix changes every later hash.
  ShadowLog c;
  ASSERT_TRUE(c.append({entry(1, 1, "X"), entry(2, 1, "y")}));
  EXPECT_NE(c.hash_at(2), a.hash_at(2));
  // Truncation from an existing index, as MemoryLogStorage does.
  ASSERT_TRUE(a.append({entry(2, 4, "w")}));
  EXPECT_EQ(a.last_index(), 2u);
  EXPECT_EQ(a.term_at(2), 4u);
  EXPECT_FALSE(a.append({entry(5, 4, "gap")}));
  // Compaction keeps the hash of the new base; a snapshot replaces all.
  const uint64_t h2 = b.hash_at(2);
  b.compact(2);
  EXPECT_EQ(b.base_index(), 2u);
  EXPECT_EQ(b.hash_at(2), h2);
  EXPECT_FALSE(b.has(1));
  b.install(10, 5, 1234);
  EXPECT_EQ(b.last_index(), 10u);
  EXPECT_EQ(b.hash_at(10), 1234u);
  ASSERT_TRUE(b.append({entry(9, 5, "old"), entry(10, 5, "old"), entry(11, 5, "new")}));
  EXPECT_EQ(b.last_index(), 11u);
}

SimOptions short_options(uint64_t seed, int nodes) {
  SimOptions o;
  o.seed = seed;
  o.nodes = nodes;
  o.steps = 1500;
  return o;
}

TEST(SimCluster, SameSeedGivesIdenticalTrace) {
  for (int nodes : {3, 5}) {
    const SimResult a = run_simulation(short_options(11, nodes));
    const SimResult b = run_simulation(short_options(11, nodes));
    const SimResult c = run_simulation(short_options(12, nodes));
    ASSERT_TRUE(a.ok) << a.failure;
    EXPECT_EQ(a.trace_hash, b.trace_hash);
    EXPECT_EQ(a.events, b.events);
    EXPECT_EQ(a.max_commit, b.max_commit);
    EXPECT_NE(a.trace_hash, c.trace_hash);
  }
}

TEST(SimCluster, ElectsLeaderAndReplicatesWithoutFaults) {
  SimOptions o = short_options(3, 3);
  Cluster cluster(o);
  cluster.set_chaos(false);
  cluster.run_ticks(50);
  ASSERT_FALSE(cluster.failed()) << cluster.failure();
  auto leader = cluster.leader();
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(cluster.propose(*leader, "live-a").ok());
  cluster.run_ticks(10);
  for (NodeId id : {1, 2, 3}) EXPECT_EQ(cluster.applied_count(id, "live-a"), 1) << id;
  // Spare nodes are not members and learn nothing.
  EXPECT_EQ(cluster.applied_count(4, "live-a"), 0);
}

TEST(SimCluster, PartitionedNodeLearnsNothingUntilHealed) {
  Cluster cluster(short_options(5, 3));
  cluster.set_chaos(false);
  cluster.run_ticks(50);
  auto leader = cluster.leader();
  ASSERT_TRUE(leader.has_value());
  const NodeId isolated = *leader == 1 ? 2 : 1;
  std::vector<NodeId> rest;
  for (NodeId id : cluster.ids()) {
    if (id != isolated) rest.push_back(id);
  }
  cluster.network().partition({isolated}, rest);
  ASSERT_TRUE(cluster.propose(*leader, "live-b").ok());
  cluster.run_ticks(30);
  ASSERT_FALSE(cluster.failed()) << cluster.failure();
  EXPECT_EQ(cluster.applied_count(isolated, "live-b"), 0);
  auto now_leader = cluster.leader();
  ASSERT_TRUE(now_leader.has_value());
  EXPECT_NE(*now_leader, isolated);
  EXPECT_EQ(cluster.applied_count(*now_leader, "live-b"), 1);

  cluster.network().heal();
  cluster.run_ticks(40);
  ASSERT_FALSE(cluster.failed()) << cluster.failure();
  EXPECT_EQ(cluster.applied_count(isolated, "live-b"), 1);
}

TEST(SimCluster, CrashLosesWhatIsNotDurable) {
  SimOptions o9 = short_options(9, 3);
  o9.verbose = getenv("SIM_VERBOSE") != nullptr;
  Cluster cluster(o9);
  cluster.set_chaos(false);
  cluster.run_ticks(50);
  auto leader = cluster.leader();
  ASSERT_TRUE(leader.has_value());
  const Index before = cluster.raw(*leader)->last_index();
  // Cut the leader off so that its appends reach no one, propose, and crash
  // in the same instant: its own write is still pending (persistence takes
  // simulated time) and does not survive, so the entry exists nowhere any
  // more.
  std::vector<NodeId> rest;
  for (NodeId id : cluster.ids()) {
    if (id != *leader) rest.push_back(id);
  }
  cluster.network().partition({*leader}, rest);
  ASSERT_TRUE(cluster.propose(*leader, "live-c").ok());
  EXPECT_EQ(cluster.raw(*leader)->last_index(), before + 1);
  cluster.crash(*leader, /*surviving_batches=*/0);
  EXPECT_FALSE(cluster.alive(*leader));
  cluster.restart(*leader);
  ASSERT_FALSE(cluster.failed()) << cluster.failure();
  EXPECT_EQ(cluster.raw(*leader)->last_index(), before);
  cluster.run_ticks(5);  // What was in flight meets the partition.
  cluster.network().heal();
  cluster.run_ticks(60);
  ASSERT_FALSE(cluster.failed()) << cluster.failure();
  for (NodeId id : {1, 2, 3}) EXPECT_EQ(cluster.applied_count(id, "live-c"), 0);
}

TEST(SimCluster, CheckerCatchesCorruptedDurableLog) {
  SimOptions o = short_options(13, 3);
  o.compaction = false;  // The corrupted entry must be re-applied from the log.
  Cluster cluster(o);
  cluster.set_chaos(false);
  cluster.run_ticks(50);
  auto leader = cluster.leader();
  ASSERT_TRUE(leader.has_value());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(cluster.propose(*leader, "payload").ok());
  cluster.run_ticks(20);
  ASSERT_FALSE(cluster.failed()) << cluster.failure();
  // The five payloads are the last entries (the first ones are the
  // bootstrap's conf changes and the leader's no-op).
  const Index payload = cluster.raw(*leader)->last_index() - 2;
  const NodeId victim = *leader == 1 ? 2 : 1;
  // A disk that silently changes an applied entry: after a restart the node
  // re-applies its log and the state machine safety check must notice.
  cluster.crash(victim);
  cluster.corrupt_durable_entry(victim, payload);
  cluster.restart(victim);
  cluster.run_ticks(20);
  ASSERT_TRUE(cluster.failed());
  EXPECT_NE(cluster.failure().find("safety"), std::string::npos) << cluster.failure();
}

TEST(SimCluster, RunsSeedsCleanOnFiveNodes) {
  for (uint64_t seed = 100; seed < 104; ++seed) {
    const SimResult r = run_simulation(short_options(seed, 5));
    EXPECT_TRUE(r.ok) << "seed " << seed << ": " << r.failure;
    EXPECT_GT(r.max_commit, 0u);
  }
}

// An embedder's state machine: a key-value map whose commands are
// "key=value"; apply answers the previous value.
class KvMachine final : public StateMachine {
 public:
  std::string apply(uint64_t, std::string_view data) override {
    const size_t eq = data.find('=');
    std::string key(data.substr(0, eq));
    std::string previous = map_[key];
    map_[key] = std::string(eq == std::string_view::npos ? "" : data.substr(eq + 1));
    return previous;
  }
  absl::Status snapshot(SnapshotWriter& writer) override {
    for (const auto& [k, v] : map_) {
      if (absl::Status s = writer.write(absl::StrCat(k, "=", v, "\n")); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status restore(SnapshotReader& reader) override {
    map_.clear();
    std::string all;
    char buf[256];
    for (;;) {
      auto n = reader.read(std::span<char>(buf, sizeof buf));
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      all.append(buf, *n);
    }
    for (absl::string_view line : absl::StrSplit(all, '\n', absl::SkipEmpty())) {
      const size_t eq = line.find('=');
      map_[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
    return absl::OkStatus();
  }

  const std::map<std::string, std::string>& contents() const { return map_; }

 protected:
  std::map<std::string, std::string> map_;
};

// The same, but its answers depend on the replica: a bug the simulator
// must report.
class NondeterministicKv final : public StateMachine {
 public:
  explicit NondeterministicKv(uint64_t salt) : salt_(salt) {}
  std::string apply(uint64_t index, std::string_view) override {
    return absl::StrCat(index % 7 == 0 ? salt_ : 0);
  }
  absl::Status snapshot(SnapshotWriter&) override { return absl::OkStatus(); }
  absl::Status restore(SnapshotReader&) override { return absl::OkStatus(); }

 private:
  uint64_t salt_;
};

// The same map, with a broken snapshot view: it keeps a pointer to the live
// map and serialises it when written (in the background, after more
// applies), so the snapshot holds entries beyond its index. The
// simulator writes views late, as the shard's background thread does, and
// must report the replicas' disagreement this causes.
class LiveViewKv final : public StateMachine {
 public:
  std::string apply(uint64_t, std::string_view data) override {
    const size_t eq = data.find('=');
    std::string key(data.substr(0, eq));
    std::string previous = map_[key];
    map_[key] = absl::StrCat(previous, "+", std::string(data.substr(eq + 1)));
    return previous;
  }
  absl::StatusOr<std::unique_ptr<SnapshotView>> snapshot_view() override {
    return std::unique_ptr<SnapshotView>(new View(&map_));
  }
  absl::Status restore(SnapshotReader& reader) override {
    KvMachine plain;
    if (absl::Status s = plain.restore(reader); !s.ok()) return s;
    map_ = plain.contents();
    return absl::OkStatus();
  }

 private:
  class View final : public SnapshotView {
   public:
    explicit View(const std::map<std::string, std::string>* map) : map_(map) {}
    absl::Status write(SnapshotWriter& writer) override {
      for (const auto& [k, v] : *map_) {
        if (absl::Status s = writer.write(absl::StrCat(k, "=", v, "\n")); !s.ok()) return s;
      }
      return absl::OkStatus();
    }

   private:
    const std::map<std::string, std::string>* map_;
  };
  std::map<std::string, std::string> map_;
};

SimOptions embedder_options(uint64_t seed) {
  SimOptions o = short_options(seed, 3);
  o.state_machine = [] { return std::make_unique<KvMachine>(); };
  o.proposal = [](uint64_t n, Prng& prng) { return absl::StrCat("k", prng.below(8), "=v", n); };
  return o;
}

TEST(SimEmbedder, RunsTheUsersStateMachineUnderFaults) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const SimResult r = run_simulation(embedder_options(seed));
    ASSERT_TRUE(r.ok) << "seed " << seed << ": " << r.failure;
    EXPECT_GT(r.proposals_acked, 0u) << seed;
  }
}

TEST(SimEmbedder, ReportsANondeterministicStateMachine) {
  uint64_t salt = 0;
  SimOptions o = embedder_options(3);
  o.state_machine = [&salt] { return std::make_unique<NondeterministicKv>(++salt); };
  const SimResult r = run_simulation(o);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("not deterministic"), std::string::npos) << r.failure;
}

TEST(SimEmbedder, ReportsASnapshotViewThatIsNotPointInTime) {
  int caught = 0;
  for (uint64_t seed = 1; seed <= 20 && caught == 0; ++seed) {
    SimOptions o = embedder_options(seed);
    o.state_machine = [] { return std::make_unique<LiveViewKv>(); };
    const SimResult r = run_simulation(o);
    if (!r.ok) {
      EXPECT_NE(r.failure.find("not deterministic"), std::string::npos) << r.failure;
      ++caught;
    }
  }
  EXPECT_GT(caught, 0) << "a live (not point-in-time) snapshot view went unnoticed";
}

TEST(SimCluster, CountsWhatTheDriverWasPutThrough) {
  // A longer run with every fault: the driver's paths that matter for the
  // checks actually ran (acknowledged proposals, snapshots made and
  // installed, failed writes, crashes).
  SimResult total;
  int quiesced_runs = 0;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SimOptions o = short_options(seed, 3);
    o.steps = 5000;
    const SimResult r = run_simulation(o);
    ASSERT_TRUE(r.ok) << "seed " << seed << ": " << r.failure;
    total.proposals_acked += r.proposals_acked;
    total.snapshots_made += r.snapshots_made;
    total.snapshots_installed += r.snapshots_installed;
    total.write_failures += r.write_failures;
    total.crashes += r.crashes;
    total.torn_batches += r.torn_batches;
    total.reads_checked += r.reads_checked;
    total.leader_starts += r.leader_starts;
    total.leader_stops += r.leader_stops;
    total.leader_changes += r.leader_changes;
    total.membership_events += r.membership_events;
    total.snapshot_taken_events += r.snapshot_taken_events;
    total.snapshot_installed_events += r.snapshot_installed_events;
    total.quiesce_messages += r.quiesce_messages;
    if (r.quiescence) ++quiesced_runs;
  }
  EXPECT_GT(total.proposals_acked, 1000u);
  EXPECT_GT(total.snapshots_made, 10u);
  EXPECT_GT(total.snapshots_installed, 5u);
  EXPECT_GT(total.write_failures, 10u);
  EXPECT_GT(total.crashes, 50u);
  EXPECT_GT(total.torn_batches, 2u);
  // Quiescence was on in some runs (each of which checked that the healed
  // cluster quiesced and then woke to commit), and groups quiesced.
  EXPECT_GE(quiesced_runs, 5);
  EXPECT_GT(total.quiesce_messages, 20u);
  EXPECT_GT(total.reads_checked, 50u);
  // The state machines were told about leaderships (started and stopped),
  // leader changes, memberships and snapshots, and the checks ran on them.
  EXPECT_GT(total.leader_starts, 30u);
  EXPECT_GT(total.leader_stops, 10u);
  EXPECT_GT(total.leader_changes, total.leader_starts);
  EXPECT_GT(total.membership_events, 90u);  // 3 bootstrap entries per start, at least.
  EXPECT_GT(total.snapshot_taken_events, 10u);
  EXPECT_GT(total.snapshot_installed_events, 5u);
}

// Quiescence, one scripted history per seed (no random faults): the idle
// group quiesces on every member and stays quiet; the quiesced leader, cut
// off, is replaced by the others (their node-level liveness stops hearing
// its node) and, woken by that same silence, steps down by check-quorum;
// after the heal it follows and everything quiesces again; a follower
// crashed and restarted while the group is quiesced rejoins and a proposal
// commits everywhere.
TEST(SimQuiescence, PartitionedLeaderIsReplacedAndARestartedFollowerRejoins) {
  for (uint64_t seed : {21, 22, 23}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    SimOptions o = short_options(seed, 3);
    o.quiescence = true;
    o.check_quorum = true;
    Cluster cluster(o);
    cluster.set_chaos(false);
    auto all_quiesced = [&](const std::vector<NodeId>& ids) {
      for (NodeId id : ids) {
        if (!cluster.alive(id) || !cluster.raw(id)->quiesced()) return false;
      }
      return true;
    };
    auto run_until = [&](const std::function<bool()>& done, uint64_t max_ticks) {
      for (uint64_t t = 0; t < max_ticks && !cluster.failed(); ++t) {
        if (done()) return true;
        cluster.run_ticks(1);
      }
      return done();
    };
    ASSERT_TRUE(run_until([&] { return cluster.leader().has_value(); }, 100));
    const NodeId first = *cluster.leader();
    ASSERT_TRUE(cluster.propose(first, "live-q1").ok());
    ASSERT_TRUE(run_until([&] { return all_quiesced({1, 2, 3}); }, 200)) << cluster.failure();
    const Term term = cluster.raw(first)->term();
    cluster.run_ticks(100);
    EXPECT_TRUE(all_quiesced({1, 2, 3}));
    EXPECT_EQ(cluster.raw(first)->term(), term);

    std::vector<NodeId> rest;
    for (NodeId id : {1, 2, 3}) {
      if (id != first) rest.push_back(id);
    }
    cluster.network().partition({first}, rest);
    ASSERT_TRUE(run_until(
        [&] {
          auto l = cluster.leader();
          return l && *l != first && cluster.raw(first)->role() != Role::kLeader;
        },
        200))
        << cluster.failure();
    const NodeId second = *cluster.leader();
    ASSERT_TRUE(cluster.propose(second, "live-q2").ok());
    ASSERT_TRUE(run_until([&] { return cluster.applied_count(second, "live-q2") == 1; }, 50));
    EXPECT_EQ(cluster.applied_count(first, "live-q2"), 0);

    cluster.network().heal();
    ASSERT_TRUE(run_until([&] { return all_quiesced({1, 2, 3}); }, 400)) << cluster.failure();
    EXPECT_EQ(cluster.applied_count(first, "live-q2"), 1);

    NodeId follower = rest[0] == second ? rest[1] : rest[0];
    cluster.crash(follower);
    cluster.run_ticks(30);
    cluster.restart(follower);
    ASSERT_TRUE(cluster.propose(second, "live-q3").ok());
    ASSERT_TRUE(run_until(
        [&] {
          for (NodeId id : {1, 2, 3}) {
            if (cluster.applied_count(id, "live-q3") != 1) return false;
          }
          return true;
        },
        200))
        << cluster.failure();
    ASSERT_TRUE(run_until([&] { return all_quiesced({1, 2, 3}); }, 400)) << cluster.failure();
    ASSERT_FALSE(cluster.failed()) << cluster.failure();
  }
}

// Seeds of the 100,000-seed long run that once failed, each for a driver
// bug since fixed (a node removed and then added back through a snapshot
// kept refusing proposals as removed, even as leader).
TEST(SimRegressions, LongRunSeedsThatOnceFailed) {
  const std::pair<int, uint64_t> seeds[] = {{3, 11485}, {3, 18981}, {3, 20385},
                                            {3, 23373}, {3, 3074},  {3, 39488},
                                            {3, 43358}, {5, 2869},  {5, 49598}};
  for (const auto& [nodes, seed] : seeds) {
    SimOptions o;
    o.seed = seed;
    o.nodes = nodes;
    o.steps = 2000;
    const SimResult r = run_simulation(o);
    EXPECT_TRUE(r.ok) << "nodes " << nodes << " seed " << seed << ": " << r.failure;
  }
}

// A leader whose writes keep failing hands leadership to a caught-up voter
// after an election timeout. With CheckQuorum on, recent_active is cleared
// once per election timeout; the driver must not schedule its next try a
// whole timeout later when it found no target, or every try lands in that
// same gap and the leader keeps leadership for as long as the disk fails.
// The failure starts at every phase of the election timer.
TEST(SimCluster, LeaderWhoseDiskFailsHandsLeadershipOff) {
  for (int phase = 0; phase < kElectionTicks; ++phase) {
    SCOPED_TRACE(absl::StrCat("seed 21, phase ", phase));
    SimOptions o = short_options(21, 3);
    o.check_quorum = true;
    Cluster cluster(o);
    cluster.set_chaos(false);
    cluster.run_ticks(50 + phase);
    ASSERT_FALSE(cluster.failed()) << cluster.failure();
    auto leader = cluster.leader();
    ASSERT_TRUE(leader.has_value());
    cluster.fail_disk(*leader, 100 * kElectionTicks);
    ASSERT_TRUE(cluster.propose(*leader, "live-h").ok());
    cluster.run_ticks(4 * kElectionTicks);
    ASSERT_FALSE(cluster.failed()) << cluster.failure();
    auto now_leader = cluster.leader();
    ASSERT_TRUE(now_leader.has_value());
    EXPECT_NE(*now_leader, *leader) << "the leader kept leadership with a failing disk";
    EXPECT_NE(cluster.raw(*leader)->role(), Role::kLeader);
  }
}

}  // namespace
}  // namespace raft::sim
