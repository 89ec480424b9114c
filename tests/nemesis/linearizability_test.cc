// The linearizability checker on hand-made histories (linearizable and not)
// and on random histories made from a real sequential execution, with and
// without one read's answer changed. LINEARIZABILITY_SEED fixes the random
// ones (default: random, printed).
#include "tests/nemesis/linearizability.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"

namespace raft::nemesis {
namespace {

Operation put(int client, const std::string& key, const std::string& value, int64_t invoke,
              int64_t ret, Outcome outcome = Outcome::kOk, std::optional<bool> existed = {}) {
  Operation op;
  op.client = client;
  op.kind = OpKind::kPut;
  op.key = key;
  op.value = value;
  op.existed = existed;
  op.invoke_ns = invoke;
  op.return_ns = ret;
  op.outcome = outcome;
  return op;
}

Operation get(int client, const std::string& key, std::optional<std::string> value, int64_t invoke,
              int64_t ret, Outcome outcome = Outcome::kOk) {
  Operation op;
  op.client = client;
  op.kind = OpKind::kGet;
  op.key = key;
  op.found = value.has_value();
  op.value = value.value_or("");
  op.invoke_ns = invoke;
  op.return_ns = ret;
  op.outcome = outcome;
  return op;
}

Operation del(int client, const std::string& key, int64_t invoke, int64_t ret,
              Outcome outcome = Outcome::kOk, std::optional<bool> existed = {}) {
  Operation op;
  op.client = client;
  op.kind = OpKind::kDelete;
  op.key = key;
  op.existed = existed;
  op.invoke_ns = invoke;
  op.return_ns = ret;
  op.outcome = outcome;
  return op;
}

Verdict verdict(const std::vector<Operation>& h) { return check_linearizability(h).verdict; }

TEST(Linearizability, EmptyHistory) { EXPECT_EQ(verdict({}), Verdict::kLinearizable); }

TEST(Linearizability, SequentialPutsAndReads) {
  std::vector<Operation> h = {get(1, "x", std::nullopt, 0, 5),
                              put(1, "x", "1", 10, 20, Outcome::kOk, false),
                              get(2, "x", "1", 30, 40),
                              put(2, "x", "2", 50, 60, Outcome::kOk, true),
                              get(1, "x", "2", 70, 80),
                              del(1, "x", 90, 100, Outcome::kOk, true),
                              get(2, "x", std::nullopt, 110, 120),
                              del(2, "x", 130, 140, Outcome::kOk, false)};
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
}

TEST(Linearizability, StaleReadAfterCompletedWrite) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10), put(1, "x", "2", 20, 30),
                              get(2, "x", "1", 40, 50)};
  CheckResult r = check_linearizability(h);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(r.key, "x");
  EXPECT_EQ(r.key_ops.size(), 3u);
  EXPECT_NE(r.explanation.find("c2 get x -> 1"), std::string::npos) << r.explanation;
}

TEST(Linearizability, ReadConcurrentWithWriteMaySeeEitherValue) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10), put(1, "x", "2", 20, 100),
                              get(2, "x", "2", 30, 40), get(3, "x", "1", 25, 35)};
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
}

TEST(Linearizability, ValueUnseenAfterBeingSeenIsNotLinearizable) {
  // Reader 2 sees the new value, then reader 3 (strictly later) the old one.
  std::vector<Operation> h = {put(1, "x", "1", 0, 10), put(1, "x", "2", 20, 100),
                              get(2, "x", "2", 30, 40), get(3, "x", "1", 50, 60)};
  EXPECT_EQ(verdict(h), Verdict::kNotLinearizable);
}

TEST(Linearizability, ConcurrentWritesSeenInOppositeOrders) {
  // a and b are written concurrently; reader 3 sees a then b, reader 4 b then a.
  std::vector<Operation> h = {put(1, "x", "a", 0, 100), put(2, "x", "b", 0, 100),
                              get(3, "x", "a", 10, 20), get(3, "x", "b", 30, 40),
                              get(4, "x", "b", 10, 20), get(4, "x", "a", 30, 40)};
  EXPECT_EQ(verdict(h), Verdict::kNotLinearizable);
  // Both readers seeing the same order is fine.
  h[4] = get(4, "x", "a", 10, 20);
  h[5] = get(4, "x", "b", 30, 40);
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
}

TEST(Linearizability, ReadOfNeverWrittenValue) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10), get(2, "x", "7", 20, 30)};
  CheckResult r = check_linearizability(h);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_NE(r.explanation.find("never written"), std::string::npos) << r.explanation;
}

TEST(Linearizability, ReadBeforeTheWriteBegan) {
  std::vector<Operation> h = {get(2, "x", "1", 0, 10), put(1, "x", "1", 20, 30)};
  CheckResult r = check_linearizability(h);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_NE(r.explanation.find("began only after"), std::string::npos) << r.explanation;
}

TEST(Linearizability, IndeterminateWriteSeenLater) {
  // The write timed out, but it was applied: later reads see it.
  std::vector<Operation> h = {
      put(1, "x", "1", 0, 10), put(1, "x", "2", 20, 30, Outcome::kIndeterminate),
      get(2, "x", "1", 40, 50), get(2, "x", "2", 1000, 1010), get(3, "x", "2", 2000, 2010)};
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
}

TEST(Linearizability, IndeterminateWriteNeverSeen) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10),
                              put(1, "x", "2", 20, 30, Outcome::kIndeterminate),
                              get(2, "x", "1", 40, 50), get(2, "x", "1", 1000, 1010)};
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
}

TEST(Linearizability, IndeterminateWriteSeenThenUnseen) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10),
                              put(1, "x", "2", 20, 30, Outcome::kIndeterminate),
                              get(2, "x", "2", 40, 50), get(2, "x", "1", 60, 70)};
  EXPECT_EQ(verdict(h), Verdict::kNotLinearizable);
}

TEST(Linearizability, IndeterminateWriteCannotTakeEffectBeforeItsInvoke) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10), get(2, "x", "2", 20, 30),
                              put(1, "x", "2", 40, 50, Outcome::kIndeterminate)};
  EXPECT_EQ(verdict(h), Verdict::kNotLinearizable);
}

TEST(Linearizability, IndeterminateDeleteMayExplainAnAbsentRead) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10), del(1, "x", 20, 30, Outcome::kIndeterminate),
                              get(2, "x", std::nullopt, 500, 510)};
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
  // Its answer is unknown, so "absent" claimed for it is not checked.
  h[1].existed = false;
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
  // Without it the read is wrong.
  h[1].outcome = Outcome::kFailed;
  EXPECT_EQ(verdict(h), Verdict::kNotLinearizable);
}

TEST(Linearizability, FailedWritesAreDropped) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10), put(1, "x", "2", 20, 30, Outcome::kFailed),
                              get(2, "x", "1", 40, 50)};
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
  h.push_back(get(2, "x", "2", 60, 70));
  EXPECT_EQ(verdict(h), Verdict::kNotLinearizable);
}

TEST(Linearizability, ReadsWithoutAnAnswerAreDropped) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10),
                              get(2, "x", "garbage", 20, 30, Outcome::kIndeterminate),
                              get(2, "x", "junk", 40, 50, Outcome::kFailed)};
  CheckResult r = check_linearizability(h);
  EXPECT_EQ(r.verdict, Verdict::kLinearizable);
  EXPECT_EQ(r.ops_dropped, 2u);
  EXPECT_EQ(r.ops_checked, 1u);
}

TEST(Linearizability, AbsentReads) {
  // Absent before any write, absent after a delete; not absent after a put.
  std::vector<Operation> h = {get(1, "x", std::nullopt, 0, 5), put(1, "x", "1", 10, 20),
                              del(2, "x", 30, 40), get(1, "x", std::nullopt, 50, 60)};
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
  h.push_back(put(1, "x", "2", 70, 80));
  h.push_back(get(3, "x", std::nullopt, 90, 100));
  EXPECT_EQ(verdict(h), Verdict::kNotLinearizable);
}

TEST(Linearizability, CreatedAndUpdatedAreChecked) {
  std::vector<Operation> h = {put(1, "x", "1", 0, 10, Outcome::kOk, false),
                              put(2, "x", "2", 20, 30, Outcome::kOk, false)};
  EXPECT_EQ(verdict(h), Verdict::kNotLinearizable);  // "created" while present.
  h[1].existed = true;
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
  // A delete's "absent" on a present key.
  h.push_back(del(3, "x", 40, 50, Outcome::kOk, false));
  EXPECT_EQ(verdict(h), Verdict::kNotLinearizable);
  h[2].existed = true;
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
  // Two concurrent creates: only one can say "created".
  std::vector<Operation> c = {put(1, "y", "1", 0, 10, Outcome::kOk, false),
                              put(2, "y", "2", 0, 10, Outcome::kOk, false)};
  EXPECT_EQ(verdict(c), Verdict::kNotLinearizable);
  c[1].existed = true;
  EXPECT_EQ(verdict(c), Verdict::kLinearizable);
}

TEST(Linearizability, EqualTimesCountAsConcurrent) {
  // The read is invoked at the instant the write returns: it may precede it.
  std::vector<Operation> h = {put(1, "x", "1", 0, 10), put(1, "x", "2", 20, 30),
                              get(2, "x", "1", 30, 40)};
  EXPECT_EQ(verdict(h), Verdict::kLinearizable);
}

TEST(Linearizability, KeysAreIndependentAndTheBadOneIsNamed) {
  std::vector<Operation> h = {put(1, "a", "1", 0, 10),  put(1, "b", "1", 0, 10),
                              get(2, "a", "1", 20, 30), put(1, "b", "2", 20, 30),
                              get(2, "b", "1", 40, 50), get(3, "a", "1", 40, 50)};
  CheckResult r = check_linearizability(h);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(r.key, "b");
  ASSERT_EQ(r.keys.size(), 2u);
  EXPECT_EQ(r.keys[0].verdict, Verdict::kLinearizable);
  EXPECT_EQ(r.keys[1].verdict, Verdict::kNotLinearizable);
  for (const Operation& op : r.key_ops) EXPECT_EQ(op.key, "b");
}

TEST(Linearizability, StepCapGivesUnknown) {
  // 24 concurrent writes, then reads that force the search through the
  // orders of many of them before it can fail: with a small cap, unknown.
  std::vector<Operation> h;
  for (int i = 0; i < 24; ++i) h.push_back(put(i, "x", absl::StrCat("v", i), 0, 1000));
  for (int i = 0; i < 24; ++i) {
    h.push_back(get(100, "x", absl::StrCat("v", i), 2000 + 20 * i, 2010 + 20 * i));
  }
  CheckOptions small;
  small.max_steps_per_key = 10000;
  CheckResult r = check_linearizability(h, small);
  EXPECT_EQ(r.verdict, Verdict::kUnknown);
  EXPECT_EQ(r.key, "x");
  EXPECT_NE(r.explanation.find("gave up"), std::string::npos) << r.explanation;
}

// --- Random histories from a real sequential execution. ---

uint64_t base_seed() {
  static const uint64_t seed = [] {
    uint64_t s = 0;
    if (const char* env = std::getenv("LINEARIZABILITY_SEED")) s = std::strtoull(env, nullptr, 10);
    if (s == 0) s = std::random_device{}() | 1;
    std::printf("linearizability_test: LINEARIZABILITY_SEED=%llu\n",
                static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

struct Generated {
  std::vector<Operation> history;
  std::vector<size_t> reads;  // Indices of ok gets.
};

// Operations happen one at a time at distinct instants (a real sequential
// run of a map); each gets an interval around its instant, so many overlap.
// Some writes time out (indeterminate, applied or not), some fail (not
// applied), some reads get no answer. Values are unique per write.
Generated generate(std::mt19937_64& rng, int ops, int keys, int64_t spread) {
  Generated g;
  std::map<std::string, std::string> state;
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  for (int i = 0; i < ops; ++i) {
    const int64_t at = 100 * (i + 1);
    const int64_t invoke = at - static_cast<int64_t>(rng() % static_cast<uint64_t>(spread));
    const int64_t ret = at + static_cast<int64_t>(rng() % static_cast<uint64_t>(spread));
    const std::string key = absl::StrCat("k", pick(keys));
    const int client = pick(8);
    const int kind = pick(10);
    const int fate = pick(20);
    if (kind < 5) {
      auto it = state.find(key);
      Operation op = get(client, key,
                         it == state.end() ? std::nullopt : std::optional<std::string>(it->second),
                         invoke, ret);
      if (fate == 0) {
        op.outcome = Outcome::kIndeterminate;
        op.value = "lost";
      } else {
        g.reads.push_back(g.history.size());
      }
      g.history.push_back(op);
      continue;
    }
    const bool existed = state.contains(key);
    Operation op = kind < 9 ? put(client, key, absl::StrCat("v", i), invoke, ret)
                            : del(client, key, invoke, ret);
    op.existed = existed;
    if (fate == 1) {
      // Failed: refused, not applied.
      op.outcome = Outcome::kFailed;
      g.history.push_back(op);
      continue;
    }
    if (fate == 2 || fate == 3) {
      op.outcome = Outcome::kIndeterminate;  // Applied, answer lost.
    }
    if (fate == 4) {
      // Timed out and never applied.
      op.outcome = Outcome::kIndeterminate;
      g.history.push_back(op);
      continue;
    }
    if (op.kind == OpKind::kPut) {
      state[key] = op.value;
    } else {
      state.erase(key);
    }
    g.history.push_back(op);
  }
  // Clients see the operations in no particular order.
  std::shuffle(g.history.begin(), g.history.end(), rng);
  g.reads.clear();
  for (size_t i = 0; i < g.history.size(); ++i) {
    const Operation& op = g.history[i];
    if (op.kind == OpKind::kGet && op.outcome == Outcome::kOk) g.reads.push_back(i);
  }
  return g;
}

TEST(LinearizabilityRandom, SequentialExecutionsAreLinearizable) {
  const uint64_t seed = base_seed();
  for (int round = 0; round < 300; ++round) {
    std::mt19937_64 rng(seed + static_cast<uint64_t>(round));
    const int ops = 20 + static_cast<int>(rng() % 300);
    const int keys = 1 + static_cast<int>(rng() % 3);
    const int64_t spread = 50 + static_cast<int64_t>(rng() % 600);
    Generated g = generate(rng, ops, keys, spread);
    CheckResult r = check_linearizability(g.history);
    ASSERT_EQ(r.verdict, Verdict::kLinearizable)
        << "LINEARIZABILITY_SEED=" << seed << " round " << round << "\n"
        << r.explanation;
  }
}

// The checker with or without its quick checks (then only the search).
CheckResult check(const std::vector<Operation>& h, bool quick) {
  CheckOptions options;
  options.quick_checks = quick;
  return check_linearizability(h, options);
}

TEST(LinearizabilityRandom, MutatedReadsAreDetected) {
  const uint64_t seed = base_seed();
  int never_written = 0;
  int future_value = 0;
  int other_value = 0;
  int other_detected = 0;
  uint64_t max_steps = 0;
  for (int round = 0; round < 300; ++round) {
    std::mt19937_64 rng(seed + 1000003 + static_cast<uint64_t>(round));
    const int ops = 20 + static_cast<int>(rng() % 200);
    const int keys = 1 + static_cast<int>(rng() % 3);
    const int64_t spread = 50 + static_cast<int64_t>(rng() % 400);
    Generated g = generate(rng, ops, keys, spread);
    if (g.reads.empty()) continue;
    const size_t victim = g.reads[rng() % g.reads.size()];
    SCOPED_TRACE(absl::StrCat("LINEARIZABILITY_SEED=", seed, " round ", round, " read ",
                              to_string(g.history[victim])));

    // 1. A value nobody wrote: provably not linearizable, for the quick
    // checks and for the search alone.
    std::vector<Operation> h = g.history;
    h[victim].found = true;
    h[victim].value = "never-written";
    for (bool quick : {true, false}) {
      CheckResult r = check(h, quick);
      ASSERT_EQ(r.verdict, Verdict::kNotLinearizable) << "quick " << quick;
      EXPECT_EQ(r.key, h[victim].key);
      max_steps = std::max(max_steps, r.steps);
    }
    never_written++;

    // 2. The value of a write (the only one of that value) invoked after the
    // read returned: provably not linearizable.
    for (const Operation& w : g.history) {
      if (w.kind != OpKind::kPut || w.key != g.history[victim].key ||
          w.outcome == Outcome::kFailed || w.invoke_ns <= g.history[victim].return_ns) {
        continue;
      }
      h = g.history;
      h[victim].found = true;
      h[victim].value = w.value;
      for (bool quick : {true, false}) {
        CheckResult r = check(h, quick);
        ASSERT_EQ(r.verdict, Verdict::kNotLinearizable) << "quick " << quick << " " << to_string(w);
        max_steps = std::max(max_steps, r.steps);
      }
      future_value++;
      break;
    }

    // 3. Another value of the key (or absent): often, not always, wrong.
    std::vector<std::optional<std::string>> candidates = {std::nullopt};
    for (const Operation& w : g.history) {
      if (w.kind == OpKind::kPut && w.key == g.history[victim].key) candidates.push_back(w.value);
    }
    std::optional<std::string> v = candidates[rng() % candidates.size()];
    const Operation& orig = g.history[victim];
    if (v.has_value() == orig.found && (!v || *v == orig.value)) continue;
    h = g.history;
    h[victim].found = v.has_value();
    h[victim].value = v.value_or("");
    CheckResult r = check(h, true);
    ASSERT_NE(r.verdict, Verdict::kUnknown);
    max_steps = std::max(max_steps, r.steps);
    other_value++;
    if (r.verdict == Verdict::kNotLinearizable) other_detected++;
  }
  std::printf(
      "mutations: %d never-written values and %d future values, all detected (quick checks and "
      "search alone); %d/%d other values detected (some are still linearizable); at most %llu "
      "steps\n",
      never_written, future_value, other_detected, other_value,
      static_cast<unsigned long long>(max_steps));
  EXPECT_GT(never_written, 200);
  EXPECT_GT(future_value, 100);
  // Most random substitutions break a history with this much real-time order.
  EXPECT_GT(other_detected * 2, other_value);
}

// A reference: every order of the operations, without memoization or
// normal forms. Writes with an unknown outcome may be left out (they take
// effect at the end, or never).
bool brute_force(const std::vector<Operation>& ops, std::vector<bool>& used,
                 std::optional<std::string> state) {
  bool known_left = false;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!used[i] && ops[i].outcome == Outcome::kOk) known_left = true;
  }
  if (!known_left) return true;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (used[i]) continue;
    // i may come next unless an operation still left returned before i began.
    bool blocked = false;
    for (size_t j = 0; j < ops.size(); ++j) {
      blocked = blocked ||
                (!used[j] && ops[j].outcome == Outcome::kOk && ops[j].return_ns < ops[i].invoke_ns);
    }
    if (blocked) continue;
    const Operation& op = ops[i];
    const bool ok = op.outcome == Outcome::kOk;
    std::optional<std::string> next = state;
    if (op.kind == OpKind::kGet) {
      if (op.found != state.has_value() || (op.found && op.value != *state)) continue;
    } else {
      if (ok && op.existed && *op.existed != state.has_value()) continue;
      next = op.kind == OpKind::kPut ? std::optional<std::string>(op.value) : std::nullopt;
    }
    used[i] = true;
    const bool found = brute_force(ops, used, next);
    used[i] = false;
    if (found) return true;
  }
  return false;
}

TEST(LinearizabilityRandom, AgreesWithBruteForceOnSmallHistories) {
  const uint64_t seed = base_seed();
  int linearizable = 0;
  int not_linearizable = 0;
  for (int round = 0; round < 20000; ++round) {
    std::mt19937_64 rng(seed + 5000011 + static_cast<uint64_t>(round));
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
    const int n = 2 + pick(6);
    std::vector<Operation> h;
    for (int i = 0; i < n; ++i) {
      const int64_t invoke = pick(100);
      const int64_t ret = invoke + pick(40);
      const std::string value = std::string(1, static_cast<char>('a' + pick(3)));
      const Outcome outcome = pick(4) == 0 ? Outcome::kIndeterminate : Outcome::kOk;
      const int existed = pick(3);  // unchecked, absent, present
      std::optional<bool> e;
      if (existed != 0) e.emplace(existed == 2);
      switch (pick(3)) {
        case 0:
          h.push_back(get(i, "x", pick(4) == 0 ? std::nullopt : std::optional<std::string>(value),
                          invoke, ret));
          break;
        case 1:
          h.push_back(put(i, "x", value, invoke, ret, outcome, e));
          break;
        default:
          h.push_back(del(i, "x", invoke, ret, outcome, e));
          break;
      }
    }
    std::vector<bool> used(h.size(), false);
    const bool expected = brute_force(h, used, std::nullopt);
    for (bool quick : {true, false}) {
      CheckResult r = check(h, quick);
      ASSERT_EQ(r.verdict, expected ? Verdict::kLinearizable : Verdict::kNotLinearizable)
          << "LINEARIZABILITY_SEED=" << seed << " round " << round << " quick " << quick << "\n"
          << [&] {
               std::string out;
               for (const Operation& op : h) out += to_string(op) + "\n";
               return out;
             }();
    }
    (expected ? linearizable : not_linearizable)++;
  }
  std::printf("brute force agrees on %d linearizable and %d non-linearizable histories\n",
              linearizable, not_linearizable);
  EXPECT_GT(linearizable, 2000);
  EXPECT_GT(not_linearizable, 2000);
}

TEST(LinearizabilityRandom, LargeHistoryIsFast) {
  // A nemesis-sized key: 20000 operations, ~5% writes with an unknown outcome.
  const uint64_t seed = base_seed();
  std::mt19937_64 rng(seed + 7);
  Generated g = generate(rng, 20000, 1, 400);
  const auto start = std::chrono::steady_clock::now();
  CheckResult r = check_linearizability(g.history);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("20000 ops: %s in %.3f s, %llu steps\n", to_string(r.verdict), s,
              static_cast<unsigned long long>(r.steps));
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << "LINEARIZABILITY_SEED=" << seed;
}

}  // namespace
}  // namespace raft::nemesis
