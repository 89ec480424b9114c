#include "storage/group_state.h"

#include <algorithm>

#include "common/check.h"

namespace raft::storage {

std::optional<Term> GroupState::term(Index i) const {
  if (i == compacted.index) return compacted.term;
  if (i < compacted.index || i > last_index) return std::nullopt;
  // The last run starting at or before i.
  auto it = std::upper_bound(runs.begin(), runs.end(), i,
                             [](Index x, const TermRun& r) { return x < r.start; });
  RAFT_CHECK(it != runs.begin());
  return std::prev(it)->term;
}

void GroupState::truncate_after(Index i) {
  RAFT_CHECK(compacted.index <= i && i <= last_index);
  while (!runs.empty() && runs.back().start > i) runs.pop_back();
  last_index = i;
}

void GroupState::push(Term t) {
  RAFT_CHECK(t >= last_term());
  if (runs.empty() || runs.back().term != t) runs.push_back(TermRun{last_index + 1, t});
  ++last_index;
}

void GroupState::compact_to(Index i, Term t) {
  RAFT_CHECK(compacted.index <= i && i <= last_index);
  // Runs that end at or before i go; the run containing i + 1 starts there.
  auto keep = std::upper_bound(runs.begin(), runs.end(), i + 1,
                               [](Index x, const TermRun& r) { return x < r.start; });
  if (keep != runs.begin()) --keep;  // The run holding i + 1 (if any).
  runs.erase(runs.begin(), keep);
  if (!runs.empty() && runs.front().start <= i) {
    if (i == last_index) {
      runs.clear();
    } else {
      runs.front().start = i + 1;
    }
  }
  compacted = CompactedMark{i, t};
}

void GroupState::reset_to(Index i, Term t) {
  runs.clear();
  compacted = CompactedMark{i, t};
  last_index = i;
}

}  // namespace raft::storage
