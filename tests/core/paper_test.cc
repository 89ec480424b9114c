// Raft paper conformance: one test per rule of the extended Raft paper's
// sections 5.1 to 5.4 (terms, leader election, log replication, the election
// restriction and committing only current-term entries), written against the
// public RawNode API. Each test builds a node from a MemoryLogStorage, drives
// it with step()/tick()/campaign()/propose(), runs a synchronous driver
// (persist, on_persisted, send both message lists, apply, advance) and checks
// the messages and state it produces against the sentence of the paper named
// in the test's comment.
//
// Paper semantics are tested with pre-vote and check-quorum off, as in the
// paper; the thesis §10.2.1 rules of our core (a leader counts itself only
// after on_persisted; terms and votes are durable before the messages that
// depend on them leave) have their own tests at the end.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/core/raw_node.h"
#include "gtest/gtest.h"
#include "tests/core/sync_ready.h"

namespace raft {
namespace {

constexpr GroupId kGroup = 7;
constexpr int kElectionTicks = 10;
constexpr int kHeartbeatTicks = 1;

std::vector<NodeId> ids_upto(int n) {
  std::vector<NodeId> ids;
  for (int i = 1; i <= n; ++i) ids.push_back(static_cast<NodeId>(i));
  return ids;
}

Entry ent(Index index, Term term, std::string data = "") {
  Entry e;
  e.index = index;
  e.term = term;
  e.type = EntryType::kNormal;
  e.data = Slice(std::move(data));
  return e;
}

// Entries with consecutive indexes from `first`, one per term given.
std::vector<Entry> ents(Index first, std::vector<Term> terms) {
  std::vector<Entry> out;
  for (Term t : terms) out.push_back(ent(first++, t));
  return out;
}

Message msg(MessageType type, NodeId from, NodeId to, Term term) {
  Message m;
  m.type = type;
  m.group = kGroup;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

Message append_msg(NodeId from, NodeId to, Term term, Term log_term, Index index,
                   std::vector<Entry> entries = {}, Index commit = 0) {
  Message m = msg(MessageType::kAppend, from, to, term);
  m.log_term = log_term;
  m.index = index;
  m.entries = std::move(entries);
  m.commit = commit;
  return m;
}

Message vote_request(NodeId from, NodeId to, Term term, Term log_term, Index index) {
  Message m = msg(MessageType::kVote, from, to, term);
  m.log_term = log_term;
  m.index = index;
  return m;
}

Message vote_response(NodeId from, NodeId to, Term term, bool granted) {
  Message m = msg(MessageType::kVoteResponse, from, to, term);
  m.reject = !granted;
  return m;
}

// A follower's positive answer to append `m`: it now holds everything up to
// the last entry the message carried.
Message accept(const Message& m) {
  EXPECT_EQ(m.type, MessageType::kAppend);
  Message r = msg(MessageType::kAppendResponse, m.to, m.from, m.term);
  r.index = m.index + m.entries.size();
  return r;
}

Config paper_config(NodeId id, uint64_t seed) {
  Config c;
  c.id = id;
  c.group = kGroup;
  c.election_ticks = kElectionTicks;
  c.heartbeat_ticks = kHeartbeatTicks;
  c.pre_vote = false;
  c.check_quorum = false;
  c.seed = seed;
  return c;
}

void sort_by_destination(std::vector<Message>& msgs) {
  std::stable_sort(msgs.begin(), msgs.end(), [](const Message& a, const Message& b) {
    if (a.to != b.to) return a.to < b.to;
    return static_cast<int>(a.type) < static_cast<int>(b.type);
  });
}

std::vector<Message> of_type(const std::vector<Message>& msgs, MessageType type) {
  std::vector<Message> out;
  for (const Message& m : msgs) {
    if (m.type == type) out.push_back(m);
  }
  return out;
}

// One node under test with a synchronous driver: every Ready is persisted at
// once, reported with on_persisted, its messages (both lists) collected into
// an outbox, its committed entries collected and advanced.
class PaperNode {
 public:
  PaperNode(NodeId id, std::vector<NodeId> voters, std::vector<Entry> log = {},
            HardState hard_state = {}, uint64_t seed = 0)
      : storage_(std::make_unique<MemoryLogStorage>()) {
    ConfState cs;
    cs.voters = std::move(voters);
    storage_->set_conf_state(cs);
    if (!log.empty()) {
      EXPECT_TRUE(storage_->append(log).ok());
    }
    storage_->set_hard_state(hard_state);
    node_ = std::make_unique<RawNode>(paper_config(id, seed == 0 ? id : seed), storage_.get());
  }

  RawNode& raw() { return *node_; }
  MemoryLogStorage& storage() { return *storage_; }

  // Runs the driver until the core has no more work.
  void drain() {
    for (int rounds = 0; node_->has_ready(); ++rounds) {
      ASSERT_LT(rounds, 1000) << "the core keeps producing Readies";
      core_test::ReadyHooks hooks;
      hooks.appended = [this](const std::vector<Entry>& entries) {
        unstable_.insert(unstable_.end(), entries.begin(), entries.end());
      };
      hooks.send = [this](Message&& m) { outbox_.push_back(std::move(m)); };
      hooks.committed = [this](const Entry& e) { committed_.push_back(e); };
      hooks.read_state = [this](const ReadState& r) { read_states_.push_back(r); };
      ASSERT_TRUE(core_test::take_ready(*node_, *storage_, hooks).ok());
    }
  }

  void step(const Message& m) {
    absl::Status s = node_->step(m);
    EXPECT_TRUE(s.ok()) << s;
    drain();
  }

  void tick(int n = 1) {
    for (int i = 0; i < n; ++i) {
      node_->tick();
      drain();
    }
  }

  std::vector<Message> take_messages() {
    drain();
    std::vector<Message> out;
    out.swap(outbox_);
    return out;
  }
  std::vector<Entry> take_committed() {
    drain();
    std::vector<Entry> out;
    out.swap(committed_);
    return out;
  }
  // Read states the core produced since the last call.
  std::vector<ReadState> take_read_states() {
    drain();
    std::vector<ReadState> out;
    out.swap(read_states_);
    return out;
  }
  // Entries the core handed out for persisting since the last call.
  std::vector<Entry> take_unstable() {
    drain();
    std::vector<Entry> out;
    out.swap(unstable_);
    return out;
  }

  // The whole durable log (the driver persisted everything).
  std::vector<Entry> log() const {
    if (storage_->last_index() < storage_->first_index()) return {};
    auto e = storage_->entries(storage_->first_index(), storage_->last_index() + 1, kNoLimit);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : std::vector<Entry>{};
  }

  // Campaigns and collects granted votes from `granters` at the new term.
  void elect(const std::vector<NodeId>& granters) {
    ASSERT_TRUE(node_->campaign().ok());
    drain();
    take_messages();  // The vote requests.
    const Term term = node_->term();
    for (NodeId id : granters) step(vote_response(id, node_->id(), term, true));
  }

  // Leader only: answers every append to `followers` positively until the
  // leader sends no more appends, so that everything it has is replicated.
  void replicate_to(const std::set<NodeId>& followers) {
    for (int round = 0; round < 100; ++round) {
      bool any = false;
      for (const Message& m : take_messages()) {
        if (m.type == MessageType::kAppend && followers.count(m.to)) {
          step(accept(m));
          any = true;
        }
      }
      if (!any) return;
    }
    ADD_FAILURE() << "replication did not settle";
  }

  // Leader only: commits the leader's no-op with every follower's help and
  // forgets what that produced.
  void commit_noop(const std::set<NodeId>& followers) {
    ASSERT_EQ(node_->role(), Role::kLeader);
    replicate_to(followers);
    ASSERT_EQ(node_->commit_index(), node_->last_index());
    take_messages();
    take_committed();
    take_unstable();
  }

 private:
  std::unique_ptr<MemoryLogStorage> storage_;
  std::unique_ptr<RawNode> node_;
  std::vector<Message> outbox_;
  std::vector<Entry> committed_;
  std::vector<Entry> unstable_;
  std::vector<ReadState> read_states_;
};

// Makes `n` a follower of `leader` at `term` by a heartbeat, and forgets the
// answer.
void follow(PaperNode& n, NodeId leader, Term term) {
  Message hb = msg(MessageType::kHeartbeat, leader, n.raw().id(), term);
  hb.commit = 0;
  n.step(hb);
  n.take_messages();
  ASSERT_EQ(n.raw().role(), Role::kFollower);
  ASSERT_EQ(n.raw().term(), term);
}

// ---------------------------------------------------------------------------
// §5.1 Terms
// ---------------------------------------------------------------------------

enum class Start { kFollower, kCandidate, kLeader };

// "If one server's current term is smaller than the other's, then it updates
// its current term to the larger value. If a candidate or leader discovers
// that its term is out of date, it immediately reverts to follower state."
void check_update_term_from_message(Start start) {
  for (MessageType type : {MessageType::kAppend, MessageType::kHeartbeat, MessageType::kVote}) {
    SCOPED_TRACE(static_cast<int>(type));
    PaperNode n(1, ids_upto(3));
    switch (start) {
      case Start::kFollower:
        follow(n, 2, 1);
        break;
      case Start::kCandidate:
        ASSERT_TRUE(n.raw().campaign().ok());
        n.drain();
        ASSERT_EQ(n.raw().role(), Role::kCandidate);
        break;
      case Start::kLeader:
        n.elect({2});
        ASSERT_EQ(n.raw().role(), Role::kLeader);
        break;
    }
    ASSERT_EQ(n.raw().term(), 1u);
    n.step(msg(type, 3, 1, 2));
    EXPECT_EQ(n.raw().term(), 2u);
    EXPECT_EQ(n.raw().role(), Role::kFollower);
    n.drain();
    EXPECT_EQ(n.storage().hard_state().term, 2u) << "the new term is persisted";
  }
}

TEST(PaperTerms, FollowerUpdatesTermFromMessage) {
  check_update_term_from_message(Start::kFollower);
}
TEST(PaperTerms, CandidateUpdatesTermFromMessage) {
  check_update_term_from_message(Start::kCandidate);
}
TEST(PaperTerms, LeaderUpdatesTermFromMessage) { check_update_term_from_message(Start::kLeader); }

// "If a server receives a request with a stale term number, it rejects the
// request." The entries of a stale append are not taken, nothing moves, and
// any answer carries the receiver's newer term so that the sender steps down.
TEST(PaperTerms, RejectsStaleTermMessage) {
  PaperNode n(1, ids_upto(3), ents(1, {1}), HardState{2, kNoNode, 0});
  n.step(append_msg(2, 1, 1, 1, 1, {ent(2, 1, "stale")}, 1));
  EXPECT_EQ(n.raw().term(), 2u);
  EXPECT_EQ(n.raw().last_index(), 1u);
  EXPECT_EQ(n.raw().commit_index(), 0u);
  EXPECT_TRUE(n.take_unstable().empty());
  for (const Message& m : n.take_messages()) {
    EXPECT_EQ(m.term, 2u) << "an answer to a stale request names the newer term";
    EXPECT_FALSE(m.type == MessageType::kAppendResponse && !m.reject && m.index >= 2)
        << "stale entries were acknowledged";
  }

  // A stale vote request is not granted either.
  n.step(vote_request(3, 1, 1, 5, 10));
  for (const Message& m : n.take_messages()) {
    EXPECT_FALSE(m.type == MessageType::kVoteResponse && !m.reject);
  }
  EXPECT_EQ(n.raw().status().hard_state.vote, kNoNode);
}

// ---------------------------------------------------------------------------
// §5.2 Leader election
// ---------------------------------------------------------------------------

// "When servers start up, they begin as followers."
TEST(PaperElection, StartsAsFollower) {
  PaperNode n(1, ids_upto(3));
  EXPECT_EQ(n.raw().role(), Role::kFollower);
  EXPECT_EQ(n.raw().term(), 0u);
  EXPECT_EQ(n.raw().leader(), kNoNode);

  // Also after a restart with a durable term and vote.
  PaperNode restarted(1, ids_upto(3), ents(1, {1, 2}), HardState{3, 2, 1});
  EXPECT_EQ(restarted.raw().role(), Role::kFollower);
  EXPECT_EQ(restarted.raw().term(), 3u);
}

// "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log
// entries) to all followers in order to maintain their authority."
TEST(PaperElection, LeaderBroadcastsHeartbeat) {
  PaperNode n(1, ids_upto(3));
  n.elect({2});
  ASSERT_EQ(n.raw().role(), Role::kLeader);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(n.raw().propose(Slice("x")).ok());
  n.take_messages();

  n.tick(kHeartbeatTicks);
  std::vector<Message> msgs = n.take_messages();
  sort_by_destination(msgs);
  ASSERT_EQ(msgs.size(), 2u);
  for (size_t i = 0; i < msgs.size(); ++i) {
    EXPECT_EQ(msgs[i].type, MessageType::kHeartbeat);
    EXPECT_EQ(msgs[i].to, i + 2);
    EXPECT_EQ(msgs[i].from, 1u);
    EXPECT_EQ(msgs[i].term, 1u);
    EXPECT_EQ(msgs[i].group, kGroup);
    EXPECT_TRUE(msgs[i].entries.empty());
    // Nothing was acknowledged, so no follower may be told of a commit.
    EXPECT_EQ(msgs[i].commit, 0u);
  }
}

// "If a follower receives no communication over a period of time called the
// election timeout, then it ... begins an election ...: it increments its
// current term and transitions to candidate state. It then votes for itself
// and issues RequestVote RPCs in parallel to each of the other servers."
// "[If a candidate] times out [it] start[s] a new election by incrementing
// its term and initiating another round of RequestVote RPCs."
void check_nonleader_starts_election(Start start) {
  PaperNode n(1, ids_upto(3));
  if (start == Start::kFollower) {
    follow(n, 2, 1);
  } else {
    ASSERT_TRUE(n.raw().campaign().ok());
    n.take_messages();
    ASSERT_EQ(n.raw().role(), Role::kCandidate);
  }
  ASSERT_EQ(n.raw().term(), 1u);

  // The randomized timeout lies in [election, 2 * election): after
  // 2 * election - 1 ticks exactly one election has started.
  n.tick(2 * kElectionTicks - 1);
  EXPECT_EQ(n.raw().term(), 2u);
  EXPECT_EQ(n.raw().role(), Role::kCandidate);
  EXPECT_EQ(n.raw().status().hard_state.vote, 1u) << "a candidate votes for itself";
  EXPECT_EQ(n.storage().hard_state().vote, 1u);
  EXPECT_EQ(n.storage().hard_state().term, 2u);

  std::vector<Message> msgs = n.take_messages();
  sort_by_destination(msgs);
  ASSERT_EQ(msgs.size(), 2u);
  for (size_t i = 0; i < msgs.size(); ++i) {
    EXPECT_EQ(msgs[i].type, MessageType::kVote);
    EXPECT_EQ(msgs[i].to, i + 2);
    EXPECT_EQ(msgs[i].term, 2u);
    EXPECT_EQ(msgs[i].index, 0u);
    EXPECT_EQ(msgs[i].log_term, 0u);
  }
}

TEST(PaperElection, FollowerStartsElection) { check_nonleader_starts_election(Start::kFollower); }
TEST(PaperElection, CandidateStartsNewElection) {
  check_nonleader_starts_election(Start::kCandidate);
}

// Figure 2, Followers: "If election timeout elapses without receiving
// AppendEntries RPC from current leader or granting vote to candidate:
// convert to candidate." Refusing a vote (to a candidate with a stale log,
// in a newer term) is neither, so it does not restart the timer; otherwise a
// candidate that can never win keeps the one that could from ever trying
// (found by the simulator: two nodes duelled for 25 election timeouts).
TEST(PaperElection, RefusingAVoteDoesNotRestartElectionTimer) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    PaperNode n(1, ids_upto(3), ents(1, {1, 1}), HardState{1, kNoNode, 0}, seed);
    follow(n, 2, 1);
    // Before any timeout can elapse (it is at least election_ticks).
    n.tick(kElectionTicks - 1);
    ASSERT_TRUE(of_type(n.take_messages(), MessageType::kVote).empty());
    n.step(vote_request(3, 1, 2, 1, 1));  // Newer term, shorter log: refused.
    std::vector<Message> resp = of_type(n.take_messages(), MessageType::kVoteResponse);
    ASSERT_EQ(resp.size(), 1u);
    ASSERT_TRUE(resp[0].reject);
    // The timeout drawn when the leader was last heard from still holds:
    // it elapses within 2 * election_ticks - 1 ticks of that moment.
    int ticks = 0;
    while (of_type(n.take_messages(), MessageType::kVote).empty() && ticks < 3 * kElectionTicks) {
      n.tick();
      ++ticks;
    }
    EXPECT_LE(kElectionTicks - 1 + ticks, 2 * kElectionTicks - 1)
        << "the refused vote restarted the election timer";
  }
}

// The three outcomes of one round of RequestVote RPCs: "(a) it wins the
// election [with votes from a majority], (b) another server establishes
// itself as leader [here: a majority denies the vote, so the candidate gives
// up], or (c) a period of time goes by with no winner [it stays candidate]."
TEST(PaperElection, LeaderElectionInOneRoundRpc) {
  struct Case {
    int size;
    std::map<NodeId, bool> votes;
    Role want;
  };
  const std::vector<Case> cases = {
      // Wins with votes from a majority.
      {1, {}, Role::kLeader},
      {3, {{2, true}, {3, true}}, Role::kLeader},
      {3, {{2, true}}, Role::kLeader},
      {5, {{2, true}, {3, true}, {4, true}, {5, true}}, Role::kLeader},
      {5, {{2, true}, {3, true}, {4, true}}, Role::kLeader},
      {5, {{2, true}, {3, true}}, Role::kLeader},
      // A majority denies: the candidate gives up.
      {3, {{2, false}, {3, false}}, Role::kFollower},
      {5, {{2, false}, {3, false}, {4, false}, {5, false}}, Role::kFollower},
      {5, {{2, true}, {3, false}, {4, false}, {5, false}}, Role::kFollower},
      // No majority either way: still a candidate.
      {3, {}, Role::kCandidate},
      {5, {{2, true}}, Role::kCandidate},
      {5, {{2, false}, {3, false}}, Role::kCandidate},
      {5, {}, Role::kCandidate},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const Case& c = cases[i];
    PaperNode n(1, ids_upto(c.size));
    ASSERT_TRUE(n.raw().campaign().ok());
    n.drain();
    for (const auto& [id, granted] : c.votes) n.step(vote_response(id, 1, 1, granted));
    EXPECT_EQ(n.raw().role(), c.want);
    EXPECT_EQ(n.raw().term(), 1u);
  }
}

// "Each server will vote for at most one candidate in a given term, on a
// first-come-first-served basis."
TEST(PaperElection, FollowerVotesFirstComeFirstServed) {
  struct Case {
    NodeId voted_for;
    NodeId candidate;
    bool want_reject;
  };
  const std::vector<Case> cases = {
      {kNoNode, 2, false}, {kNoNode, 3, false}, {2, 2, false},
      {3, 3, false},       {2, 3, true},        {3, 2, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const Case& c = cases[i];
    PaperNode n(1, ids_upto(3), {}, HardState{1, c.voted_for, 0});
    n.step(vote_request(c.candidate, 1, 1, 0, 0));
    std::vector<Message> msgs = n.take_messages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].type, MessageType::kVoteResponse);
    EXPECT_EQ(msgs[0].from, 1u);
    EXPECT_EQ(msgs[0].to, c.candidate);
    EXPECT_EQ(msgs[0].term, 1u);
    EXPECT_EQ(msgs[0].reject, c.want_reject);
    EXPECT_EQ(n.storage().hard_state().vote, c.voted_for == kNoNode ? c.candidate : c.voted_for);
  }

  // Two candidates in one term: only the first is granted.
  PaperNode n(1, ids_upto(3));
  n.step(vote_request(2, 1, 1, 0, 0));
  n.step(vote_request(3, 1, 1, 0, 0));
  std::vector<Message> msgs = of_type(n.take_messages(), MessageType::kVoteResponse);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].to, 2u);
  EXPECT_FALSE(msgs[0].reject);
  EXPECT_EQ(msgs[1].to, 3u);
  EXPECT_TRUE(msgs[1].reject);
}

// "While waiting for votes, a candidate may receive an AppendEntries RPC from
// another server claiming to be leader. If the leader's term ... is at least
// as large as the candidate's current term, then the candidate recognizes the
// leader as legitimate and returns to follower state."
TEST(PaperElection, CandidateFallsBackToLeaderOfSameOrNewerTerm) {
  for (Term term : {Term{1}, Term{2}}) {
    SCOPED_TRACE(term);
    PaperNode n(1, ids_upto(3));
    ASSERT_TRUE(n.raw().campaign().ok());
    n.drain();
    ASSERT_EQ(n.raw().role(), Role::kCandidate);
    n.step(append_msg(2, 1, term, 0, 0));
    EXPECT_EQ(n.raw().role(), Role::kFollower);
    EXPECT_EQ(n.raw().term(), term);
    EXPECT_EQ(n.raw().leader(), 2u);
  }
}

// "Raft uses randomized election timeouts ... chosen randomly from a fixed
// interval": every value of [election, 2 * election) occurs, nothing else.
TEST(PaperElection, FollowerElectionTimeoutIsRandomized) {
  PaperNode n(1, ids_upto(3));
  std::set<int> seen;
  for (int round = 0; round < 50 * kElectionTicks; ++round) {
    follow(n, 2, n.raw().term() + 1);
    int ticks = 0;
    while (of_type(n.take_messages(), MessageType::kVote).empty()) {
      ASSERT_LT(ticks, 4 * kElectionTicks);
      n.tick();
      ++ticks;
    }
    seen.insert(ticks);
  }
  for (int d = kElectionTicks; d < 2 * kElectionTicks; ++d) {
    EXPECT_TRUE(seen.count(d)) << "no timeout of " << d << " ticks";
  }
  EXPECT_GE(*seen.begin(), kElectionTicks);
  EXPECT_LT(*seen.rbegin(), 2 * kElectionTicks);
}

TEST(PaperElection, CandidateElectionTimeoutIsRandomized) {
  PaperNode n(1, ids_upto(3));
  ASSERT_TRUE(n.raw().campaign().ok());
  n.take_messages();
  std::set<int> seen;
  for (int round = 0; round < 50 * kElectionTicks; ++round) {
    const Term before = n.raw().term();
    int ticks = 0;
    while (of_type(n.take_messages(), MessageType::kVote).empty()) {
      ASSERT_LT(ticks, 4 * kElectionTicks);
      n.tick();
      ++ticks;
    }
    EXPECT_EQ(n.raw().term(), before + 1);
    seen.insert(ticks);
  }
  for (int d = kElectionTicks; d < 2 * kElectionTicks; ++d) {
    EXPECT_TRUE(seen.count(d)) << "no timeout of " << d << " ticks";
  }
  EXPECT_GE(*seen.begin(), kElectionTicks);
  EXPECT_LT(*seen.rbegin(), 2 * kElectionTicks);
}

// "Election timeouts are chosen randomly ... This spreads out the servers so
// that in most cases only a single server will time out." Five nodes with
// their own seeds: in at most 30% of the rounds does more than one server
// time out in the first tick at which any does.
void check_election_timeouts_rarely_conflict(Start start) {
  constexpr int kRounds = 1000;
  constexpr int kSize = 5;
  int conflicts = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::unique_ptr<PaperNode>> nodes;
    for (NodeId id = 1; id <= kSize; ++id) {
      nodes.push_back(std::make_unique<PaperNode>(id, ids_upto(kSize), std::vector<Entry>{},
                                                  HardState{}, round * kSize + id));
      if (start == Start::kCandidate) {
        ASSERT_TRUE(nodes.back()->raw().campaign().ok());
        nodes.back()->take_messages();
      }
    }
    int timed_out = 0;
    for (int ticks = 0; timed_out == 0; ++ticks) {
      ASSERT_LT(ticks, 4 * kElectionTicks);
      for (auto& n : nodes) {
        n->tick();
        if (!of_type(n->take_messages(), MessageType::kVote).empty()) ++timed_out;
      }
    }
    if (timed_out > 1) ++conflicts;
  }
  EXPECT_LE(conflicts, kRounds * 3 / 10);
}

TEST(PaperElection, FollowersElectionTimeoutsRarelyConflict) {
  check_election_timeouts_rarely_conflict(Start::kFollower);
}
TEST(PaperElection, CandidatesElectionTimeoutsRarelyConflict) {
  check_election_timeouts_rarely_conflict(Start::kCandidate);
}

// ---------------------------------------------------------------------------
// §5.3 Log replication
// ---------------------------------------------------------------------------

// "The leader appends the command to its log as a new entry, then issues
// AppendEntries RPCs in parallel to each of the other servers to replicate
// the entry." "When sending an AppendEntries RPC, the leader includes the
// index and term of the entry in its log that immediately precedes the new
// entries." The new entry is also handed out to be written to stable storage.
TEST(PaperReplication, LeaderStartsReplication) {
  PaperNode n(1, ids_upto(3));
  n.elect({2});
  n.commit_noop({2, 3});
  const Index li = n.raw().last_index();

  ASSERT_TRUE(n.raw().propose(Slice("some data")).ok());
  EXPECT_EQ(n.raw().last_index(), li + 1);
  std::vector<Message> msgs = n.take_messages();
  EXPECT_EQ(n.raw().commit_index(), li);
  sort_by_destination(msgs);
  const std::vector<Entry> want = {ent(li + 1, 1, "some data")};
  ASSERT_EQ(msgs.size(), 2u);
  for (size_t i = 0; i < msgs.size(); ++i) {
    EXPECT_EQ(msgs[i].type, MessageType::kAppend);
    EXPECT_EQ(msgs[i].to, i + 2);
    EXPECT_EQ(msgs[i].term, 1u);
    EXPECT_EQ(msgs[i].index, li);
    EXPECT_EQ(msgs[i].log_term, 1u);
    EXPECT_EQ(msgs[i].entries, want);
    EXPECT_EQ(msgs[i].commit, li);
  }
  EXPECT_EQ(n.take_unstable(), want);
}

// "When the entry has been safely replicated, the leader applies the entry to
// its state machine." "The leader keeps track of the highest index it knows
// to be committed, and it includes that index in future AppendEntries RPCs
// (including heartbeats) so that the other servers eventually find out."
TEST(PaperReplication, LeaderCommitsEntry) {
  PaperNode n(1, ids_upto(3));
  n.elect({2});
  n.commit_noop({2, 3});
  const Index li = n.raw().last_index();
  ASSERT_TRUE(n.raw().propose(Slice("some data")).ok());

  for (const Message& m : n.take_messages()) n.step(accept(m));
  EXPECT_EQ(n.raw().commit_index(), li + 1);
  EXPECT_EQ(n.take_committed(), std::vector<Entry>{ent(li + 1, 1, "some data")});

  // The followers learn the new commit index from the next messages the
  // leader sends them: at once, or with the next heartbeat at the latest.
  std::set<NodeId> told;
  for (int ticks = 0; ticks <= kHeartbeatTicks && told.size() < 2; ++ticks) {
    if (ticks > 0) n.tick();
    for (const Message& m : n.take_messages()) {
      if ((m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat) &&
          m.commit == li + 1) {
        told.insert(m.to);
      }
    }
  }
  EXPECT_EQ(told, (std::set<NodeId>{2, 3}));
}

// "A log entry is committed once the leader that created the entry has
// replicated it on a majority of the servers."
TEST(PaperReplication, LeaderAcknowledgesCommitOnMajority) {
  struct Case {
    int size;
    std::set<NodeId> acceptors;
    bool want_commit;
  };
  const std::vector<Case> cases = {
      {1, {}, true},     {3, {}, false},       {3, {2}, true},
      {3, {2, 3}, true}, {5, {}, false},       {5, {2}, false},
      {5, {2, 3}, true}, {5, {2, 3, 4}, true}, {5, {2, 3, 4, 5}, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const Case& c = cases[i];
    PaperNode n(1, ids_upto(c.size));
    std::vector<NodeId> granters;
    for (int id = 2; id <= c.size; ++id) granters.push_back(id);
    n.elect(granters);
    ASSERT_EQ(n.raw().role(), Role::kLeader);
    std::set<NodeId> all(granters.begin(), granters.end());
    n.commit_noop(all);
    const Index li = n.raw().last_index();
    ASSERT_TRUE(n.raw().propose(Slice("some data")).ok());
    for (const Message& m : n.take_messages()) {
      if (m.type == MessageType::kAppend && c.acceptors.count(m.to)) n.step(accept(m));
    }
    EXPECT_EQ(n.raw().commit_index() > li, c.want_commit);
  }
}

// "When the leader commits [an entry], it also commits all preceding entries
// in the leader's log, including entries created by previous leaders", and
// they are applied in log order.
TEST(PaperReplication, LeaderCommitsPrecedingEntries) {
  const std::vector<std::vector<Entry>> cases = {
      {},
      ents(1, {2}),
      ents(1, {1, 2}),
      ents(1, {1}),
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    PaperNode n(1, ids_upto(3), cases[i], HardState{2, kNoNode, 0});
    n.elect({2, 3});
    ASSERT_EQ(n.raw().role(), Role::kLeader);
    ASSERT_EQ(n.raw().term(), 3u);
    ASSERT_TRUE(n.raw().propose(Slice("some data")).ok());
    n.replicate_to({2, 3});

    const Index li = cases[i].size();
    std::vector<Entry> want = cases[i];
    want.push_back(ent(li + 1, 3));
    want.push_back(ent(li + 2, 3, "some data"));
    EXPECT_EQ(n.take_committed(), want);
  }
}

// "Once a follower learns that a log entry is committed, it applies the entry
// to its local state machine (in log order)."
TEST(PaperReplication, FollowerCommitsEntry) {
  struct Case {
    std::vector<Entry> entries;
    Index commit;
  };
  const std::vector<Case> cases = {
      {{ent(1, 1, "some data")}, 1},
      {{ent(1, 1, "some data"), ent(2, 1, "some data2")}, 2},
      {{ent(1, 1, "some data2"), ent(2, 1, "some data")}, 2},
      {{ent(1, 1, "some data"), ent(2, 1, "some data2")}, 1},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const Case& c = cases[i];
    PaperNode n(1, ids_upto(3));
    follow(n, 2, 1);
    n.step(append_msg(2, 1, 1, 0, 0, c.entries, c.commit));
    EXPECT_EQ(n.raw().commit_index(), c.commit);
    std::vector<Entry> want(c.entries.begin(), c.entries.begin() + c.commit);
    EXPECT_EQ(n.take_committed(), want);
  }
}

// "When sending an AppendEntries RPC, the leader includes the index and term
// of the entry in its log that immediately precedes the new entries. If the
// follower does not find an entry in its log with the same index and term,
// then it refuses the new entries." A refusal carries a hint (an index and
// its term) from which the leader can skip a whole term at a time.
TEST(PaperReplication, FollowerChecksAppendConsistency) {
  const std::vector<Entry> log = ents(1, {1, 2});
  struct Case {
    Term log_term;
    Index index;
    Index want_index;
    bool want_reject;
    Index want_hint;
    Term want_hint_term;
  };
  const std::vector<Case> cases = {
      // Matches a committed entry (or the empty prefix).
      {0, 0, 1, false, 0, 0},
      {1, 1, 1, false, 0, 0},
      // Matches an uncommitted entry.
      {2, 2, 2, false, 0, 0},
      // The entry at the index has another term: the hint names the last
      // entry of a term no newer than the leader's.
      {1, 2, 2, true, 1, 1},
      // No entry at the index: the hint names the follower's last entry.
      {3, 3, 3, true, 2, 2},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const Case& c = cases[i];
    PaperNode n(1, ids_upto(3), log, HardState{2, kNoNode, 1});
    n.step(append_msg(2, 1, 2, c.log_term, c.index));
    std::vector<Message> msgs = of_type(n.take_messages(), MessageType::kAppendResponse);
    ASSERT_EQ(msgs.size(), 1u);
    const Message& m = msgs[0];
    EXPECT_EQ(m.from, 1u);
    EXPECT_EQ(m.to, 2u);
    EXPECT_EQ(m.term, 2u);
    EXPECT_EQ(m.reject, c.want_reject);
    EXPECT_EQ(m.index, c.want_index);
    if (c.want_reject) {
      EXPECT_EQ(m.reject_hint, c.want_hint);
      EXPECT_EQ(m.log_term, c.want_hint_term);
    }
    EXPECT_EQ(n.log(), log) << "a consistency check alone never changes the log";
  }
}

// "If an existing entry conflicts with a new one (same index but different
// terms), delete the existing entry and all that follow it; append any new
// entries not already in the log." New entries are handed out to be written
// to stable storage; entries already present are not written again.
TEST(PaperReplication, FollowerAppendsEntries) {
  struct Case {
    Index index;
    Term log_term;
    std::vector<Entry> entries;
    std::vector<Entry> want_log;
    std::vector<Entry> want_unstable;
  };
  const std::vector<Case> cases = {
      {2, 2, ents(3, {3}), ents(1, {1, 2, 3}), ents(3, {3})},
      {1, 1, ents(2, {3, 4}), ents(1, {1, 3, 4}), ents(2, {3, 4})},
      {0, 0, ents(1, {1}), ents(1, {1, 2}), {}},
      {0, 0, ents(1, {3}), ents(1, {3}), ents(1, {3})},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const Case& c = cases[i];
    PaperNode n(1, ids_upto(3), ents(1, {1, 2}), HardState{2, kNoNode, 0});
    n.step(append_msg(2, 1, 2, c.log_term, c.index, c.entries));
    EXPECT_EQ(n.log(), c.want_log);
    EXPECT_EQ(n.take_unstable(), c.want_unstable);
    std::vector<Message> resp = of_type(n.take_messages(), MessageType::kAppendResponse);
    ASSERT_EQ(resp.size(), 1u);
    EXPECT_FALSE(resp[0].reject);
    EXPECT_EQ(resp[0].index, c.index + c.entries.size());
  }
}

// A small synchronous network of PaperNodes: delivers every message until
// none is left; messages to nodes it does not hold are dropped.
class PaperNetwork {
 public:
  void add(PaperNode* n) { nodes_[n->raw().id()] = n; }
  // Delivers until quiet; `extra` lets a test inject answers on behalf of
  // absent nodes.
  void settle(const std::function<std::vector<Message>(const Message&)>& absent = nullptr) {
    for (int round = 0; round < 1000; ++round) {
      std::vector<Message> all;
      for (auto& [id, n] : nodes_) {
        for (Message& m : n->take_messages()) all.push_back(std::move(m));
      }
      if (all.empty()) return;
      for (const Message& m : all) {
        auto it = nodes_.find(m.to);
        if (it != nodes_.end()) {
          it->second->step(m);
        } else if (absent) {
          for (const Message& r : absent(m)) {
            auto from = nodes_.find(r.to);
            if (from != nodes_.end()) from->second->step(r);
          }
        }
      }
    }
    ADD_FAILURE() << "the network did not settle";
  }

 private:
  std::map<NodeId, PaperNode*> nodes_;
};

// Figure 7: "the leader handles inconsistencies by forcing the followers'
// logs to duplicate its own": whatever a follower's log (missing entries,
// extra uncommitted entries, both), after replication it equals the leader's.
TEST(PaperReplication, LeaderBringsFollowerLogsInLine) {
  const std::vector<Term> leader_terms = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  const Term term = 8;
  const std::vector<std::vector<Term>> followers = {
      {1, 1, 1, 4, 4, 5, 5, 6, 6},           // (a) missing one entry
      {1, 1, 1, 4},                          // (b) missing many
      {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},     // (c) one extra uncommitted
      {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},  // (d) extra entries of a newer term
      {1, 1, 1, 4, 4, 4, 4},                 // (e) missing and extra
      {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3},     // (f) a long divergent suffix
  };
  for (size_t i = 0; i < followers.size(); ++i) {
    SCOPED_TRACE(i);
    PaperNode lead(1, ids_upto(3), ents(1, leader_terms),
                   HardState{term, kNoNode, static_cast<Index>(leader_terms.size())});
    PaperNode follower(2, ids_upto(3), ents(1, followers[i]), HardState{term - 1, kNoNode, 0});
    PaperNetwork net;
    net.add(&lead);
    net.add(&follower);
    // Node 3 is not simulated; it grants its vote (the follower may refuse
    // when its log is more up to date than the leader's) and ignores the rest.
    auto node3 = [](const Message& m) -> std::vector<Message> {
      if (m.type == MessageType::kVote) return {vote_response(3, m.from, m.term, true)};
      return {};
    };
    ASSERT_TRUE(lead.raw().campaign().ok());
    net.settle(node3);
    ASSERT_EQ(lead.raw().role(), Role::kLeader);
    ASSERT_TRUE(lead.raw().propose(Slice("")).ok());
    net.settle(node3);
    EXPECT_EQ(follower.log(), lead.log());
    EXPECT_EQ(follower.raw().commit_index(), lead.raw().commit_index());
  }
}

// ---------------------------------------------------------------------------
// §5.4.1 Election restriction
// ---------------------------------------------------------------------------

// "The RequestVote RPC ... includes information about the candidate's log"
// (the index and term of its last entry), and is sent to all other servers.
TEST(PaperSafety, VoteRequestCarriesLastLogEntry) {
  struct Case {
    std::vector<Entry> entries;
    Term want_term;
  };
  const std::vector<Case> cases = {{ents(1, {1}), 2}, {ents(1, {1, 2}), 3}};
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const Case& c = cases[i];
    PaperNode n(1, ids_upto(3));
    n.step(append_msg(2, 1, c.want_term - 1, 0, 0, c.entries));
    n.take_messages();
    n.tick(2 * kElectionTicks - 1);
    std::vector<Message> msgs = of_type(n.take_messages(), MessageType::kVote);
    sort_by_destination(msgs);
    ASSERT_EQ(msgs.size(), 2u);
    for (size_t j = 0; j < msgs.size(); ++j) {
      EXPECT_EQ(msgs[j].to, j + 2);
      EXPECT_EQ(msgs[j].term, c.want_term);
      EXPECT_EQ(msgs[j].index, c.entries.back().index);
      EXPECT_EQ(msgs[j].log_term, c.entries.back().term);
    }
  }
}

// "The voter denies its vote if its own log is more up-to-date than that of
// the candidate": a later last term wins; with equal last terms, the longer
// log wins.
TEST(PaperSafety, VoterDeniesCandidateWithOlderLog) {
  struct Case {
    std::vector<Entry> entries;
    Term log_term;
    Index index;
    bool want_reject;
  };
  const std::vector<Case> cases = {
      // Same last term.
      {ents(1, {1}), 1, 1, false},
      {ents(1, {1}), 1, 2, false},
      {ents(1, {1, 1}), 1, 1, true},
      // The candidate's last term is newer.
      {ents(1, {1}), 2, 1, false},
      {ents(1, {1}), 2, 2, false},
      {ents(1, {1, 1}), 2, 1, false},
      // The voter's last term is newer.
      {ents(1, {2}), 1, 1, true},
      {ents(1, {2}), 1, 2, true},
      {ents(1, {2, 2}), 1, 1, true},
      {ents(1, {1, 1}), 1, 1, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    const Case& c = cases[i];
    PaperNode n(1, ids_upto(2), c.entries);
    n.step(vote_request(2, 1, 3, c.log_term, c.index));
    std::vector<Message> msgs = n.take_messages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].type, MessageType::kVoteResponse);
    EXPECT_EQ(msgs[0].term, 3u);
    EXPECT_EQ(msgs[0].reject, c.want_reject);
  }
}

// ---------------------------------------------------------------------------
// §5.4.2 Committing entries from previous terms
// ---------------------------------------------------------------------------

// "Raft never commits log entries from previous terms by counting replicas.
// Only log entries from the leader's current term are committed by counting
// replicas."
TEST(PaperSafety, LeaderOnlyCommitsEntriesOfCurrentTermByCounting) {
  struct Case {
    Index acked;
    Index want_commit;
  };
  const std::vector<Case> cases = {{1, 0}, {2, 0}, {3, 3}};
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    PaperNode n(1, ids_upto(2), ents(1, {1, 2}), HardState{2, kNoNode, 0});
    n.elect({2});
    ASSERT_EQ(n.raw().role(), Role::kLeader);
    ASSERT_EQ(n.raw().term(), 3u);
    ASSERT_TRUE(n.raw().propose(Slice("")).ok());
    n.take_messages();
    Message ack = msg(MessageType::kAppendResponse, 2, 1, 3);
    ack.index = cases[i].acked;
    n.step(ack);
    EXPECT_EQ(n.raw().commit_index(), cases[i].want_commit);
  }
}

// Figure 8 (c)/(d): an entry of an earlier term stored on a majority is not
// committed by its presence alone, and may still be overwritten: S1 (leader
// of term 4) has index 2 of term 2 on S1, S2 and S3, yet must not commit it,
// because S5 (last entry of term 3) can still be elected by S2, S3 and S4.
TEST(PaperSafety, Figure8OldTermEntryOnMajorityIsNotCommitted) {
  PaperNode s1(1, ids_upto(5), ents(1, {1, 2}), HardState{3, kNoNode, 1});
  s1.elect({2, 3});
  ASSERT_EQ(s1.raw().role(), Role::kLeader);
  ASSERT_EQ(s1.raw().term(), 4u);
  for (NodeId id : {2, 3}) {
    Message ack = msg(MessageType::kAppendResponse, id, 1, 4);
    ack.index = 2;  // They hold (2, term 2) but not yet the leader's no-op.
    s1.step(ack);
  }
  EXPECT_EQ(s1.raw().commit_index(), 1u) << "index 2 (term 2) committed by counting replicas";
  EXPECT_EQ(s1.take_committed(), ents(1, {1})) << "only the entry committed before";

  // Indeed S5 may win: S2 (holding index 2 of term 2) grants its vote to a
  // candidate whose last entry is of term 3, and later loses that entry.
  PaperNode s2(2, ids_upto(5), ents(1, {1, 2}), HardState{4, kNoNode, 1});
  s2.step(vote_request(5, 2, 5, 3, 2));
  std::vector<Message> votes = of_type(s2.take_messages(), MessageType::kVoteResponse);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_FALSE(votes[0].reject);
  s2.step(append_msg(5, 2, 5, 1, 1, ents(2, {3}), 0));
  EXPECT_EQ(s2.log(), ents(1, {1, 3})) << "S5 overwrote index 2";
}

// Figure 8 (e): once the leader has replicated an entry of its own term on a
// majority, it is committed together with the earlier entries, and a
// candidate with an older log can no longer collect the votes of that
// majority.
TEST(PaperSafety, Figure8CurrentTermEntryCommitsEarlierOnes) {
  PaperNode s1(1, ids_upto(5), ents(1, {1, 2}), HardState{3, kNoNode, 1});
  s1.elect({2, 3});
  ASSERT_EQ(s1.raw().role(), Role::kLeader);
  for (NodeId id : {2, 3}) {
    Message ack = msg(MessageType::kAppendResponse, id, 1, 4);
    ack.index = 3;  // The leader's no-op of term 4.
    s1.step(ack);
  }
  EXPECT_EQ(s1.raw().commit_index(), 3u);
  EXPECT_EQ(s1.take_committed(), ents(1, {1, 2, 4}));

  // A server of that majority refuses S5, whose last entry is (2, term 3).
  PaperNode s3(3, ids_upto(5), ents(1, {1, 2, 4}), HardState{4, kNoNode, 1});
  s3.step(vote_request(5, 3, 5, 3, 2));
  std::vector<Message> votes = of_type(s3.take_messages(), MessageType::kVoteResponse);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_TRUE(votes[0].reject);
}

// ---------------------------------------------------------------------------
// Durability rules of our core (thesis §10.2.1 and "persist before speaking")
// ---------------------------------------------------------------------------

// The leader writes its log in parallel with sending, and counts its own
// copy toward a majority only once on_persisted reports it durable.
TEST(PaperDurability, LeaderCountsItselfOnlyAfterPersisting) {
  PaperNode n(1, ids_upto(3));
  n.elect({2});
  n.commit_noop({2, 3});
  const Index li = n.raw().last_index();

  ASSERT_TRUE(n.raw().propose(Slice("x")).ok());
  ASSERT_TRUE(n.raw().has_ready());
  Ready rd = n.raw().ready();
  ASSERT_EQ(rd.entries.size(), 1u);
  ASSERT_EQ(rd.persist_index(), li + 1);
  // Appends leave at once, before the leader's own write is durable.
  std::vector<Message> appends = of_type(rd.messages, MessageType::kAppend);
  ASSERT_EQ(appends.size(), 2u);
  n.raw().advance(rd);

  // One follower's ack plus the leader's unpersisted copy is no majority.
  ASSERT_TRUE(n.raw().step(accept(appends[0])).ok());
  EXPECT_EQ(n.raw().commit_index(), li);

  // Once the leader's copy is durable it counts.
  ASSERT_TRUE(n.storage().append(rd.entries).ok());
  n.raw().on_persisted(rd.persist_index(), rd.persist_term());
  EXPECT_EQ(n.raw().commit_index(), li + 1);
}

// Two followers' acks commit without the leader's own write (a majority of
// durable copies exists elsewhere).
TEST(PaperDurability, FollowerMajorityCommitsBeforeLeaderPersists) {
  PaperNode n(1, ids_upto(3));
  n.elect({2});
  n.commit_noop({2, 3});
  const Index li = n.raw().last_index();
  ASSERT_TRUE(n.raw().propose(Slice("x")).ok());
  Ready rd = n.raw().ready();
  n.raw().advance(rd);
  for (const Message& m : of_type(rd.messages, MessageType::kAppend)) {
    ASSERT_TRUE(n.raw().step(accept(m)).ok());
  }
  EXPECT_EQ(n.raw().commit_index(), li + 1);
}

// "A term or vote leaves the node in no message before it is durable": the
// candidate's vote requests and a voter's grant travel in
// persisted_messages, in the same Ready as the hard state that records them;
// a follower's append acknowledgement waits for its entries.
TEST(PaperDurability, VotesAndAcksWaitForPersistence) {
  PaperNode candidate(1, ids_upto(3));
  ASSERT_TRUE(candidate.raw().campaign().ok());
  Ready rd = candidate.raw().ready();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, 1u);
  EXPECT_EQ(rd.hard_state->vote, 1u);
  EXPECT_TRUE(of_type(rd.messages, MessageType::kVote).empty());
  EXPECT_EQ(of_type(rd.persisted_messages, MessageType::kVote).size(), 2u);

  PaperNode voter(2, ids_upto(3));
  ASSERT_TRUE(voter.raw().step(vote_request(1, 2, 1, 0, 0)).ok());
  rd = voter.raw().ready();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote, 1u);
  EXPECT_TRUE(of_type(rd.messages, MessageType::kVoteResponse).empty());
  std::vector<Message> grants = of_type(rd.persisted_messages, MessageType::kVoteResponse);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_FALSE(grants[0].reject);

  PaperNode follower(3, ids_upto(3));
  ASSERT_TRUE(follower.raw().step(append_msg(1, 3, 1, 0, 0, ents(1, {1}), 0)).ok());
  rd = follower.raw().ready();
  EXPECT_EQ(rd.entries, ents(1, {1}));
  EXPECT_TRUE(of_type(rd.messages, MessageType::kAppendResponse).empty());
  std::vector<Message> acks = of_type(rd.persisted_messages, MessageType::kAppendResponse);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].reject);
  EXPECT_EQ(acks[0].index, 1u);
}

// A follower that learns a newer term from a heartbeat answers in that term,
// so the answer must wait until the term is durable -- also when a second
// heartbeat arrives while the first Ready (holding the new term) is still
// being written (found by the simulator: the second answer left in
// Ready.messages).
TEST(PaperDurability, HeartbeatAnswerInNewTermWaitsForPersistence) {
  PaperNode n(2, ids_upto(3), {}, HardState{1, kNoNode, 0});
  const Term durable_term = 1;
  std::vector<Message> early;
  for (int beat = 0; beat < 2; ++beat) {
    ASSERT_TRUE(n.raw().step(msg(MessageType::kHeartbeat, 1, 2, 2)).ok());
    ASSERT_TRUE(n.raw().has_ready());
    Ready rd = n.raw().ready();
    if (beat == 0) {
      ASSERT_TRUE(rd.hard_state.has_value());
      EXPECT_EQ(rd.hard_state->term, 2u);
    }
    for (const Message& m : rd.messages) {
      if (m.term > durable_term) early.push_back(m);
    }
    // The driver is still writing: nothing is reported durable.
    n.raw().advance(rd);
  }
  for (const Message& m : early) {
    ADD_FAILURE() << "message of type " << static_cast<int>(m.type) << " and term " << m.term
                  << " sent while the durable term is " << durable_term;
  }
}

// A candidate that wins by its own vote alone (the only voter, here with a
// learner) is leader at once, but its term and vote are not durable until
// the driver says so: while that write is pending, no message of the new
// term may leave (found by the simulator: the next tick's heartbeats did).
TEST(PaperDurability, SoleVoterLeaderSpeaksOnlyAfterTermIsDurable) {
  auto storage = std::make_unique<MemoryLogStorage>();
  ConfState cs;
  cs.voters = {1};
  cs.learners = {2};
  storage->set_conf_state(cs);
  RawNode n(paper_config(1, 1), storage.get());
  ASSERT_TRUE(n.campaign().ok());
  std::vector<Message> early;
  for (int i = 0; i < 3 * kHeartbeatTicks + 1; ++i) {
    if (i > 0) n.tick();
    if (!n.has_ready()) continue;
    Ready rd = n.ready();
    for (const Message& m : rd.messages) {
      if (m.term > 0) early.push_back(m);
    }
    n.advance(rd);  // The write of term 1 and the vote is still pending.
  }
  for (const Message& m : early) {
    ADD_FAILURE() << "message of type " << static_cast<int>(m.type) << ", term " << m.term << " to "
                  << m.to << " left before the term was durable";
  }
}

// A node added after the leader's latest snapshot gets that snapshot, whose
// membership does not list it yet; it must still install it (it learns that
// it was added from the entries that follow), else it can never catch up
// (found by the simulator: the cluster never made progress again).
TEST(PaperReplication, NewNodeInstallsSnapshotTakenBeforeItWasAdded) {
  PaperNode n(4, ids_upto(3));
  Snapshot snap;
  snap.meta.index = 10;
  snap.meta.term = 2;
  snap.meta.conf_state.voters = {1, 2, 3};
  Message m = msg(MessageType::kSnapshot, 1, 4, 2);
  m.snapshot = snap;
  n.step(m);
  EXPECT_EQ(n.raw().last_index(), 10u);
  EXPECT_EQ(n.raw().commit_index(), 10u);
  std::vector<Message> acks = of_type(n.take_messages(), MessageType::kAppendResponse);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].reject);
  EXPECT_EQ(acks[0].index, 10u);
}

// A leader learns the real commit index only by committing an entry of its
// own term (§8): until then read_index must not hand out a read state, also
// when it is the only voter. Found by the simulator: a sole-voter leader
// (voted in by TimeoutNow from a removed leader that had committed one more
// entry) answered at its stale commit index.
TEST(PaperReads, SoleVoterLeaderReadsOnlyAfterCommittingInItsTerm) {
  auto storage = std::make_unique<MemoryLogStorage>();
  ConfState cs;
  cs.voters = {1};
  cs.learners = {2};
  storage->set_conf_state(cs);
  ASSERT_TRUE(storage->append(ents(1, {1, 1})).ok());
  storage->set_hard_state(HardState{1, kNoNode, 1});
  RawNode n(paper_config(1, 1), storage.get());
  ASSERT_TRUE(n.campaign().ok());
  std::vector<Ready> unpersisted;
  std::vector<ReadState> reads;
  auto drain = [&] {
    while (n.has_ready()) {
      Ready rd = n.ready();
      reads.insert(reads.end(), rd.read_states.begin(), rd.read_states.end());
      n.advance(rd);
      unpersisted.push_back(std::move(rd));
    }
  };
  // Persist the campaign (term 2, vote for itself) so that it becomes
  // leader, but not the leader's no-op that follows.
  for (int i = 0; i < 10 && n.role() != Role::kLeader; ++i) {
    drain();
    for (Ready& rd : unpersisted) {
      if (rd.hard_state) storage->set_hard_state(*rd.hard_state);
      ASSERT_TRUE(rd.entries.empty() || n.role() == Role::kLeader);
      if (rd.must_persist()) n.on_persisted(rd.persist_index(), rd.persist_term());
    }
    unpersisted.clear();
  }
  drain();
  ASSERT_EQ(n.role(), Role::kLeader);
  ASSERT_EQ(n.term(), 2u);
  ASSERT_EQ(n.commit_index(), 1u) << "nothing of term 2 is durable yet";
  // Entry 2 (term 1) may well be committed already elsewhere: a read state
  // naming index 1 could miss it.
  absl::Status s = n.read_index(Slice("early"));
  drain();
  for (const ReadState& rs : reads) {
    ADD_FAILURE() << "read state at index " << rs.index
                  << " before the leader committed an entry of its term (status " << s << ")";
  }
  reads.clear();

  // Once the no-op of term 2 is durable it commits; reads are served at the
  // new commit index (a read parked meanwhile is answered too).
  for (Ready& rd : unpersisted) {
    if (!rd.entries.empty()) {
      ASSERT_TRUE(storage->append(rd.entries).ok());
    }
    if (rd.hard_state) storage->set_hard_state(*rd.hard_state);
    if (rd.must_persist()) n.on_persisted(rd.persist_index(), rd.persist_term());
  }
  unpersisted.clear();
  drain();
  ASSERT_EQ(n.commit_index(), 3u);
  ASSERT_TRUE(n.read_index(Slice("late")).ok());
  drain();
  ASSERT_FALSE(reads.empty());
  for (const ReadState& rs : reads) EXPECT_EQ(rs.index, 3u) << rs.context.to_string();
}

// A leader that has applied its own removal is no voter any more: even when
// the new configuration has a single voter, it may not answer a read from
// its own commit index without hearing from that voter, which may already
// lead a newer term (found by the simulator: a stale read at index 28 after
// the new leader had committed 36).
TEST(PaperReads, RemovedLeaderDoesNotAnswerReadsAlone) {
  PaperNode n(3, {1, 3});
  n.elect({1});
  ASSERT_EQ(n.raw().role(), Role::kLeader);
  n.commit_noop({1});
  n.raw().apply_conf_change(single_change(ConfChangeType::kRemoveNode, 3));
  n.drain();
  absl::Status s = n.raw().read_index(Slice("r"));
  EXPECT_TRUE(n.take_read_states().empty())
      << "read answered without a round trip to voter 1 (status " << s << ")";
}

// Seed 46507 of the simulator: the removed leader cannot hand off at once
// (voter 1 lacks its last entry and the catch-up append is lost), so it stays
// leader of a config whose only voter is someone else. A ReadIndex must not
// be answered on its own word: voter 1 may already lead a newer term.
TEST(PaperReads, RemovedLeaderStillHandingOffDoesNotAnswerReadsAlone) {
  PaperNode n(3, {1, 3});
  n.elect({1});
  ASSERT_EQ(n.raw().role(), Role::kLeader);
  n.commit_noop({1});
  ASSERT_TRUE(n.raw().propose(Slice("x")).ok());
  n.take_messages();  // The append to 1 is lost.
  n.raw().apply_conf_change(single_change(ConfChangeType::kRemoveNode, 3));
  n.take_messages();  // So is the catch-up append of the hand-off.
  ASSERT_EQ(n.raw().role(), Role::kLeader) << "the test needs a leader still handing off";
  ASSERT_TRUE(n.raw().read_index(Slice("r")).ok());
  EXPECT_TRUE(n.take_read_states().empty()) << "read answered without a round trip to voter 1";
}

// §5.1: a server that gets a request with a stale term rejects it and
// answers with its own term, so that a stale leader steps down -- also
// without check-quorum and pre-vote (paper_config has both off). Sim seed
// 10359: the stale leader was the only node the others could elect, and
// nobody ever told it about the newer term.
TEST(PaperTerms, StaleLeaderIsToldTheNewerTerm) {
  PaperNode n(1, {1, 2, 3});
  follow(n, 2, 5);
  for (MessageType type : {MessageType::kHeartbeat, MessageType::kAppend}) {
    Message stale = msg(type, 3, 1, 4);
    n.step(stale);
    std::vector<Message> out = n.take_messages();
    ASSERT_EQ(out.size(), 1u) << "no answer to a stale " << static_cast<int>(type);
    EXPECT_EQ(out[0].type, MessageType::kAppendResponse);
    EXPECT_EQ(out[0].to, 3u);
    EXPECT_EQ(out[0].term, 5u);
    EXPECT_EQ(n.raw().term(), 5u);
  }
}

}  // namespace
}  // namespace raft
