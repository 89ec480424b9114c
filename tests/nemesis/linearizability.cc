#include "tests/nemesis/linearizability.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace raft::nemesis {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

std::string time_text(int64_t ns) {
  return ns == kNever ? "never" : absl::StrFormat("%.6fs", static_cast<double>(ns) / 1e9);
}

// One operation of the key being searched. Values are interned: 0 is
// "absent", every distinct value written or read gets its own id.
struct KeyOp {
  const Operation* op = nullptr;
  int32_t value = 0;            // kPut: written; kGet: read (0: absent).
  std::optional<bool> existed;  // kPut / kDelete: checked presence before.
  int64_t invoke = 0;
  int64_t ret = 0;       // kNever for an indeterminate write.
  int32_t rank = 0;      // KeySearch's numbering.
  int32_t call_pos = 0;  // KeySearch: the invoke's place in time order.
};

// The sequential model of one key: the state is the value id (0: absent).
bool step(const KeyOp& o, int32_t state, int32_t* next) {
  switch (o.op->kind) {
    case OpKind::kGet:
      *next = state;
      return state == o.value;
    case OpKind::kPut:
      *next = o.value;
      return !o.existed || *o.existed == (state != 0);
    case OpKind::kDelete:
      *next = 0;
      return !o.existed || *o.existed == (state != 0);
  }
  return false;
}

// Porcupine's search over a doubly linked list of call and return entries in
// time order (entry 0 is the head). Linearizing an operation lifts its call
// and return entries out of the list; backtracking puts them back.
//
// Writes with an unknown outcome are not in the list: as candidates at every
// point from their invoke on (they never return) they would make the search
// exponential in their number. The search only considers orders in a normal
// form instead: such a write W is linearized only right before an operation
// D with a known answer that needs it (D's answer is wrong in the state
// before W and right after it), as one move (W, D); and once only such
// writes are left, the rest is linearizable (they take effect at the end, or
// never). Every linearization can be put in that form: a W followed by
// anything that does not need it (another such write, a write whose answer
// is not checked, an operation that sees the same either way) can be moved to
// the end, since nothing must come after it (it never returned) and its
// answer is not checked. Which W: for a read of value x, each write of x;
// for a read of "absent" or a checked write that needs the key absent, any
// one delete (they are alike once they are candidates, and a candidate stays
// one); for a checked write that needs the key present, one put whose value
// nobody read if there is one (it is good for nothing else), else each put.
//
// The cache key is (state, set of linearized operations). The set is stored
// compactly: operations with a known answer are numbered in invoke order and
// their part of the set is {0..m} minus the holes (those below m not
// linearized yet), which stay few because the search linearizes early
// operations first; those with an unknown outcome are a bitset.
class KeySearch {
 public:
  KeySearch(std::vector<KeyOp> ops, uint64_t max_steps)
      : ops_(std::move(ops)), max_steps_(max_steps) {
    struct Event {
      int64_t time;
      bool is_return;
      int32_t op;
    };
    std::vector<Event> events;
    events.reserve(2 * ops_.size());
    absl::flat_hash_set<int32_t> read_values;
    for (size_t i = 0; i < ops_.size(); ++i) {
      const KeyOp& k = ops_[i];
      events.push_back({k.invoke, false, static_cast<int32_t>(i)});
      if (k.ret != kNever) events.push_back({k.ret, true, static_cast<int32_t>(i)});
      if (k.op->kind == OpKind::kGet && k.value != 0) read_values.insert(k.value);
    }
    // At equal times calls come first: the two operations count as
    // concurrent, which can only allow more orders, never fewer.
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      return std::tie(a.time, a.is_return, a.op) < std::tie(b.time, b.is_return, b.op);
    });
    entries_.resize(1);
    std::vector<int32_t> call_of(ops_.size(), -1);
    for (size_t i = 0; i < events.size(); ++i) {
      KeyOp& k = ops_[events[i].op];
      if (!events[i].is_return) k.call_pos = static_cast<int32_t>(i);
      if (k.ret == kNever) continue;
      const auto at = static_cast<int32_t>(entries_.size());
      Entry e;
      e.op = events[i].op;
      e.call = !events[i].is_return;
      e.pos = static_cast<int32_t>(i);
      e.prev = at - 1;
      entries_[at - 1].next = at;
      if (e.call) {
        call_of[e.op] = at;
      } else {
        e.match = call_of[e.op];
        entries_[e.match].match = at;
      }
      entries_.push_back(e);
    }
    // Numbering in invoke order (ops_ is sorted by invoke): known answers by
    // rank, unknown outcomes by bit.
    for (size_t i = 0; i < ops_.size(); ++i) {
      KeyOp& k = ops_[i];
      const auto op = static_cast<int32_t>(i);
      if (k.ret != kNever) {
        k.rank = static_cast<int32_t>(known_left_++);
        continue;
      }
      k.rank = static_cast<int32_t>(unknown_count_++);
      if (k.op->kind == OpKind::kDelete) {
        deletes_.push_back(op);
      } else if (read_values.contains(k.value)) {
        read_puts_.push_back(op);
        puts_of_value_[k.value].push_back(op);
      } else {
        unread_puts_.push_back(op);
      }
    }
    unknown_bits_.assign((unknown_count_ + 63) / 64, 0);
  }

  Verdict run() {
    int32_t state = 0;
    int32_t cur = entries_[0].next;
    while (known_left_ > 0) {
      if (++steps_ > max_steps_) return Verdict::kUnknown;
      const Entry& e = entries_[cur];
      if (e.call) {
        cur = try_moves(cur, 0, &state) ? entries_[0].next : e.next;
        continue;
      }
      // A return entry: its operation could not be linearized in time.
      if (stack_.size() == best_depth_ && blocked_op_ < 0) {
        blocked_op_ = e.op;
        best_tail_.clear();
        for (size_t i = stack_.size() > 8 ? stack_.size() - 8 : 0; i < stack_.size(); ++i) {
          if (stack_[i].unknown >= 0) best_tail_.push_back(stack_[i].unknown);
          best_tail_.push_back(entries_[stack_[i].entry].op);
        }
      }
      if (stack_.empty()) return Verdict::kNotLinearizable;
      const Move top = stack_.back();
      stack_.pop_back();
      state = top.state;
      unlift(top.entry);
      known_left_++;
      if (top.unknown >= 0) set_bit(ops_[top.unknown].rank, false);
      cur = try_moves(top.entry, top.option + 1, &state) ? entries_[0].next
                                                         : entries_[top.entry].next;
    }
    return Verdict::kLinearizable;
  }

  uint64_t steps() const { return steps_; }
  size_t best_depth() const { return best_depth_; }
  int32_t best_state() const { return best_state_; }
  int32_t blocked_op() const { return blocked_op_; }
  const std::vector<int32_t>& best_tail() const { return best_tail_; }

 private:
  struct Entry {
    int32_t op = -1;
    bool call = false;
    int32_t pos = 0;  // In the time order of all events.
    int32_t prev = -1;
    int32_t next = -1;
    int32_t match = -1;
  };
  // A move: the operation of list entry `entry`, after the unknown-outcome
  // write `unknown` (-1: none), chosen as option `option` of that entry.
  struct Move {
    int32_t entry;
    int32_t option;
    int32_t unknown;
    int32_t state;      // Before the move.
    int32_t max_known;  // The highest rank linearized so far, this move included (-1: none).
  };

  // Tries the moves of list entry `at` from option `first` on; on the first
  // one that is new, makes it and returns true.
  bool try_moves(int32_t at, int32_t first, int32_t* state) {
    const int32_t op = entries_[at].op;
    const KeyOp& d = ops_[op];
    int32_t next = 0;
    if (step(d, *state, &next)) {
      return first == 0 && make_move(at, 0, -1, next, state);
    }
    needed_by(d, *state, &options_);
    const std::vector<int32_t> options = options_;
    for (size_t i = static_cast<size_t>(first); i < options.size(); ++i) {
      int32_t mid = 0;
      step(ops_[options[i]], *state, &mid);
      if (!step(d, mid, &next)) continue;
      if (make_move(at, static_cast<int32_t>(i), options[i], next, state)) return true;
    }
    return false;
  }

  bool make_move(int32_t at, int32_t option, int32_t unknown, int32_t next, int32_t* state) {
    const KeyOp& d = ops_[entries_[at].op];
    const int32_t max_known = std::max(stack_.empty() ? -1 : stack_.back().max_known, d.rank);
    if (!remember(entries_[at].op, unknown, max_known, next)) return false;
    stack_.push_back({at, option, unknown, *state, max_known});
    *state = next;
    lift(at);
    known_left_--;
    if (unknown >= 0) set_bit(ops_[unknown].rank, true);
    if (stack_.size() > best_depth_) {
      best_depth_ = stack_.size();
      best_state_ = next;
      blocked_op_ = -1;
    }
    return true;
  }

  // The unknown-outcome writes, candidates now, after which `d` (wrong in
  // `state`) may be right.
  void needed_by(const KeyOp& d, int32_t state, std::vector<int32_t>* out) {
    out->clear();
    // Candidates: invoked before the first return of an operation not
    // linearized yet.
    int32_t first_return = std::numeric_limits<int32_t>::max();
    for (int32_t at = entries_[0].next; at != -1; at = entries_[at].next) {
      if (!entries_[at].call) {
        first_return = entries_[at].pos;
        break;
      }
    }
    auto pending = [&](int32_t op) {
      return ops_[op].call_pos < first_return && !bit(ops_[op].rank);
    };
    auto first_of = [&](const std::vector<int32_t>& list) {
      for (int32_t op : list) {
        if (ops_[op].call_pos >= first_return) break;
        if (pending(op)) {
          out->push_back(op);
          return true;
        }
      }
      return false;
    };
    if (d.op->kind == OpKind::kGet) {
      if (d.value == 0) {
        if (state != 0) first_of(deletes_);
        return;
      }
      auto it = puts_of_value_.find(d.value);
      if (it == puts_of_value_.end()) return;
      for (int32_t op : it->second) {
        if (pending(op)) out->push_back(op);
      }
      return;
    }
    if (!d.existed) return;
    if (*d.existed && state == 0) {
      if (first_of(unread_puts_)) return;
      for (int32_t op : read_puts_) {
        if (pending(op)) out->push_back(op);
      }
    } else if (!*d.existed && state != 0) {
      first_of(deletes_);
    }
  }

  bool bit(int32_t rank) const { return (unknown_bits_[rank / 64] >> (rank % 64)) & 1; }
  void set_bit(int32_t rank, bool on) {
    const uint64_t mask = uint64_t{1} << (rank % 64);
    if (on) {
      unknown_bits_[rank / 64] |= mask;
    } else {
      unknown_bits_[rank / 64] &= ~mask;
    }
  }

  // Adds (state, linearized set + `op` + `unknown`) to the cache; false if
  // it was there.
  bool remember(int32_t op, int32_t unknown, int32_t max_known, int32_t state) {
    key_.clear();
    key_.push_back(state);
    key_.push_back(max_known);
    for (int32_t at = entries_[0].next; at != -1; at = entries_[at].next) {
      const Entry& e = entries_[at];
      if (!e.call) continue;
      if (ops_[e.op].rank > max_known) break;
      if (e.op != op) key_.push_back(ops_[e.op].rank);
    }
    key_.push_back(-1);
    const size_t bits_at = key_.size();
    for (uint64_t w : unknown_bits_) {
      key_.push_back(static_cast<int32_t>(w));
      key_.push_back(static_cast<int32_t>(w >> 32));
    }
    if (unknown >= 0) {
      const int32_t r = ops_[unknown].rank;
      key_[bits_at + static_cast<size_t>(r / 32)] |= static_cast<int32_t>(uint32_t{1} << (r % 32));
    }
    return cache_.insert(key_).second;
  }

  void lift(int32_t at) {
    Entry& e = entries_[at];
    entries_[e.prev].next = e.next;
    if (e.next != -1) entries_[e.next].prev = e.prev;
    Entry& m = entries_[e.match];
    entries_[m.prev].next = m.next;
    if (m.next != -1) entries_[m.next].prev = m.prev;
  }

  void unlift(int32_t at) {
    Entry& e = entries_[at];
    Entry& m = entries_[e.match];
    entries_[m.prev].next = e.match;
    if (m.next != -1) entries_[m.next].prev = e.match;
    entries_[e.prev].next = at;
    if (e.next != -1) entries_[e.next].prev = at;
  }

  std::vector<KeyOp> ops_;
  uint64_t max_steps_;
  std::vector<Entry> entries_;
  int64_t known_left_ = 0;  // Operations with a known answer not linearized yet.
  size_t unknown_count_ = 0;
  std::vector<uint64_t> unknown_bits_;  // Unknown-outcome writes linearized.
  // Unknown-outcome writes, in invoke order.
  std::vector<int32_t> deletes_;
  std::vector<int32_t> read_puts_;    // Puts of a value some read returned.
  std::vector<int32_t> unread_puts_;  // Puts of a value no read returned.
  absl::flat_hash_map<int32_t, std::vector<int32_t>> puts_of_value_;
  std::vector<int32_t> options_;
  std::vector<Move> stack_;
  absl::flat_hash_set<std::vector<int32_t>> cache_;
  std::vector<int32_t> key_;
  uint64_t steps_ = 0;
  size_t best_depth_ = 0;
  int32_t best_state_ = 0;
  int32_t blocked_op_ = -1;
  std::vector<int32_t> best_tail_;
};

struct KeyOutcome {
  Verdict verdict = Verdict::kLinearizable;
  std::string explanation;
};

// Checks one key. `ops` are sorted by invoke time.
KeyOutcome check_key(const std::string& key, const std::vector<const Operation*>& ops,
                     const CheckOptions& options, KeyReport* report) {
  absl::flat_hash_map<std::string, int32_t> ids;
  std::vector<std::string> names = {"<absent>"};
  auto intern = [&](const std::string& v) {
    auto [it, inserted] = ids.try_emplace(v, static_cast<int32_t>(names.size()));
    if (inserted) names.push_back(v);
    return it->second;
  };
  std::vector<KeyOp> key_ops;
  key_ops.reserve(ops.size());
  for (const Operation* op : ops) {
    KeyOp k;
    k.op = op;
    k.invoke = op->invoke_ns;
    const bool indeterminate = op->outcome == Outcome::kIndeterminate;
    k.ret = indeterminate ? kNever : std::max(op->return_ns, op->invoke_ns);
    if (op->kind == OpKind::kPut) k.value = intern(op->value);
    if (op->kind == OpKind::kGet && op->found) k.value = intern(op->value);
    if (op->kind != OpKind::kGet && !indeterminate) k.existed = op->existed;
    if (indeterminate) report->indeterminate++;
    key_ops.push_back(k);
  }
  auto value_text = [&](int32_t v) { return v == 0 ? std::string("<absent>") : names[v]; };

  // A read of a value that no write could have written by then is reported
  // directly: the search would find it too, but the explanation is clearer.
  absl::flat_hash_map<int32_t, int64_t> first_write;
  for (const KeyOp& k : key_ops) {
    if (k.op->kind != OpKind::kPut) continue;
    auto [it, inserted] = first_write.try_emplace(k.value, k.invoke);
    if (!inserted) it->second = std::min(it->second, k.invoke);
  }
  for (const KeyOp& k : key_ops) {
    if (!options.quick_checks) break;
    if (k.op->kind != OpKind::kGet || k.value == 0) continue;
    auto it = first_write.find(k.value);
    if (it == first_write.end() || it->second > k.ret) {
      KeyOutcome out{Verdict::kNotLinearizable, ""};
      out.explanation = absl::StrCat("key \"", key, "\": not linearizable: a read returned ",
                                     it == first_write.end()
                                         ? "a value never written"
                                         : "a value whose write began only after the read returned",
                                     ":\n  ", to_string(*k.op), "\n");
      if (it != first_write.end()) {
        for (const KeyOp& w : key_ops) {
          if (w.op->kind == OpKind::kPut && w.value == k.value) {
            absl::StrAppend(&out.explanation, "  the write: ", to_string(*w.op), "\n");
          }
        }
      }
      return out;
    }
  }

  const auto start = std::chrono::steady_clock::now();
  KeySearch search(key_ops, options.max_steps_per_key);
  KeyOutcome out;
  out.verdict = search.run();
  report->steps = search.steps();
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (out.verdict == Verdict::kUnknown) {
    out.explanation =
        absl::StrCat("key \"", key, "\": unknown: the search gave up after ", search.steps(),
                     " steps (", key_ops.size(), " ops, ", report->indeterminate,
                     " writes with an unknown outcome); the longest linearizable prefix found has ",
                     search.best_depth(), " ops\n");
  }
  if (out.verdict != Verdict::kNotLinearizable) return out;

  out.explanation = absl::StrCat("key \"", key, "\": not linearizable (", key_ops.size(), " ops, ",
                                 report->indeterminate, " writes with an unknown outcome, ",
                                 search.steps(), " search steps).\n");
  absl::StrAppend(&out.explanation, "The longest linearizable prefix found has ",
                  search.best_depth(), " ops", search.best_tail().empty() ? "" : "; it ends with",
                  ":\n");
  for (int32_t op : search.best_tail()) {
    absl::StrAppend(&out.explanation, "    ", to_string(*key_ops[op].op), "\n");
  }
  absl::StrAppend(&out.explanation, "  leaving the key = ", value_text(search.best_state()),
                  ". From there no operation can be linearized before this one returns:\n");
  const int32_t blocked = search.blocked_op();
  if (blocked >= 0) {
    const KeyOp& b = key_ops[blocked];
    absl::StrAppend(&out.explanation, "  >> ", to_string(*b.op), "\n");
    absl::StrAppend(&out.explanation,
                    "Operations of the key with a known answer overlapping it in time:\n");
    int shown = 0;
    std::vector<const KeyOp*> unknown;
    for (size_t i = 0; i < key_ops.size(); ++i) {
      const KeyOp& k = key_ops[i];
      if (static_cast<int32_t>(i) == blocked || k.invoke > b.ret || k.ret < b.invoke) continue;
      if (k.ret == kNever) {
        unknown.push_back(&k);
        continue;
      }
      if (++shown > 40) {
        absl::StrAppend(&out.explanation, "    ...\n");
        break;
      }
      absl::StrAppend(&out.explanation, "    ", to_string(*k.op), "\n");
    }
    if (shown == 0) absl::StrAppend(&out.explanation, "    (none)\n");
    // Writes with an unknown outcome overlap everything after their invoke.
    if (!unknown.empty()) {
      absl::StrAppend(&out.explanation, "and ", unknown.size(),
                      " writes with an unknown outcome invoked before it returned",
                      unknown.size() > 10 ? "; the last 10" : "", ":\n");
      for (size_t i = unknown.size() > 10 ? unknown.size() - 10 : 0; i < unknown.size(); ++i) {
        absl::StrAppend(&out.explanation, "    ", to_string(*unknown[i]->op), "\n");
      }
    }
  }
  return out;
}

}  // namespace

std::string to_string(const Operation& op) {
  std::string out = absl::StrCat("c", op.client, " ");
  const bool ok = op.outcome == Outcome::kOk;
  auto existed = [&](const char* yes, const char* no) -> std::string {
    if (!ok) return "?";
    if (!op.existed) return "ok";
    return *op.existed ? yes : no;
  };
  switch (op.kind) {
    case OpKind::kPut:
      absl::StrAppend(&out, "put ", op.key, "=", op.value, " -> ", existed("updated", "created"));
      break;
    case OpKind::kGet:
      absl::StrAppend(&out, "get ", op.key, " -> ",
                      !ok ? "?" : (op.found ? op.value : std::string("<absent>")));
      break;
    case OpKind::kDelete:
      absl::StrAppend(&out, "delete ", op.key, " -> ", existed("deleted", "absent"));
      break;
  }
  const char* outcome = op.outcome == Outcome::kOk       ? "ok"
                        : op.outcome == Outcome::kFailed ? "failed"
                                                         : "indeterminate";
  absl::StrAppend(&out, " [", time_text(op.invoke_ns), ", ",
                  time_text(op.outcome == Outcome::kIndeterminate ? kNever : op.return_ns), "] ",
                  outcome);
  return out;
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kNotLinearizable:
      return "not linearizable";
    case Verdict::kUnknown:
      return "unknown";
  }
  return "?";
}

CheckResult check_linearizability(const std::vector<Operation>& history,
                                  const CheckOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  CheckResult result;
  std::map<std::string, std::vector<const Operation*>> by_key;
  for (const Operation& op : history) {
    const bool dropped = op.outcome == Outcome::kFailed ||
                         (op.kind == OpKind::kGet && op.outcome == Outcome::kIndeterminate);
    if (dropped) {
      result.ops_dropped++;
      continue;
    }
    by_key[op.key].push_back(&op);
  }
  for (auto& [key, ops] : by_key) {
    std::stable_sort(ops.begin(), ops.end(), [](const Operation* a, const Operation* b) {
      return a->invoke_ns < b->invoke_ns;
    });
    KeyReport report;
    report.key = key;
    report.ops = ops.size();
    KeyOutcome out = check_key(key, ops, options, &report);
    report.verdict = out.verdict;
    result.keys.push_back(report);
    result.ops_checked += ops.size();
    result.steps += report.steps;
    const bool worse =
        (out.verdict == Verdict::kNotLinearizable && result.verdict != Verdict::kNotLinearizable) ||
        (out.verdict == Verdict::kUnknown && result.verdict == Verdict::kLinearizable);
    if (worse) {
      result.verdict = out.verdict;
      result.key = key;
      result.explanation = std::move(out.explanation);
      result.key_ops.clear();
      for (const Operation* op : ops) result.key_ops.push_back(*op);
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace raft::nemesis
