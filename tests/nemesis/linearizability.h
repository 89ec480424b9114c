// A linearizability checker for key-value histories (the nemesis test's
// oracle): Wing & Gong's search with Porcupine's memoization, one key at a
// time.
//
// A history is what clients saw: each operation with the monotonic times at
// which it was invoked and returned, and its outcome. The keys are
// independent registers (P-compositionality: the history is linearizable iff
// each key's sub-history is), so each key is searched on its own. For a key,
// the search looks for a total order of its operations that respects real
// time (an operation that returned before another was invoked comes first)
// and in which every operation's answer is the one a sequential map gives.
// It walks the operations in time order and linearizes one whenever the model
// accepts it, backtracking when an operation returns before it could be
// linearized; a cache of (set of linearized operations, model state) already
// explored prunes the repeats (Porcupine, Athalye 2017; Lowe 2017).
//
// Outcomes:
//   ok            the answer is known; the operation took effect between its
//                 invoke and return.
//   failed        it definitely had no effect (refused before proposing, or
//                 never sent); dropped.
//   indeterminate the client got no usable answer (timeout, reset, 5xx): a
//                 write may have taken effect at any time after its invoke,
//                 or never (its return is taken as +infinity and its answer
//                 as unknown); a read is dropped.
//
// The search is exponential in the worst case: it is bounded by a step cap
// per key and then reports kUnknown instead of running on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace raft::nemesis {

enum class OpKind : uint8_t { kPut, kGet, kDelete };
enum class Outcome : uint8_t { kOk, kFailed, kIndeterminate };

struct Operation {
  int client = 0;
  OpKind kind = OpKind::kGet;
  std::string key;
  // kPut: the value written. kGet with found: the value read.
  std::string value;
  // kGet (ok): whether the key was present (false: read as absent).
  bool found = false;
  // kPut / kDelete (ok): whether the key was present before the operation
  // (memstore's created/updated and deleted/absent); nullopt: not checked.
  std::optional<bool> existed;
  int64_t invoke_ns = 0;
  int64_t return_ns = 0;  // Ignored for indeterminate operations.
  Outcome outcome = Outcome::kOk;
};

// One line: "c3 put k1=v7 -> created [1.002003s, 1.004005s] ok".
std::string to_string(const Operation& op);

enum class Verdict : uint8_t { kLinearizable, kNotLinearizable, kUnknown };
const char* to_string(Verdict verdict);

struct CheckOptions {
  // Search steps (list entries visited) per key before giving up with kUnknown.
  uint64_t max_steps_per_key = 20'000'000;
  // Report a read of a value that no write could have written by then
  // without searching (the search finds it too, but explains it less well).
  bool quick_checks = true;
};

struct KeyReport {
  std::string key;
  Verdict verdict = Verdict::kLinearizable;
  size_t ops = 0;            // Operations searched (after dropping).
  size_t indeterminate = 0;  // Of which writes with an unknown outcome.
  uint64_t steps = 0;
  double seconds = 0;
};

struct CheckResult {
  // kNotLinearizable if any key is, else kUnknown if any key hit the cap.
  Verdict verdict = Verdict::kLinearizable;
  // The first key (in key order) that is not linearizable (or, failing
  // that, whose search hit the cap), with its operations as searched
  // (sorted by invoke time) and a human-readable explanation.
  std::string key;
  std::vector<Operation> key_ops;
  std::string explanation;
  std::vector<KeyReport> keys;  // Every key, in key order.
  size_t ops_checked = 0;       // Operations searched, all keys.
  size_t ops_dropped = 0;       // Failed operations and reads without an answer.
  uint64_t steps = 0;
  double seconds = 0;
};

CheckResult check_linearizability(const std::vector<Operation>& history,
                                  const CheckOptions& options = {});

}  // namespace raft::nemesis
