// Quorum arithmetic: the commit index and the election outcome of a simple
// majority configuration and of a joint one (both majorities needed).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/core/types.h"

namespace raft {

enum class VoteResult : uint8_t { kPending, kLost, kWon };

// A set of voters; a decision needs more than half of them. The empty set
// agrees to everything (so that a joint config with an empty outgoing half
// behaves like its incoming half alone).
class MajorityConfig {
 public:
  MajorityConfig() = default;
  explicit MajorityConfig(std::set<NodeId> ids) : ids_(std::move(ids)) {}

  const std::set<NodeId>& ids() const { return ids_; }
  std::set<NodeId>& mutable_ids() { return ids_; }
  bool contains(NodeId id) const { return ids_.count(id) != 0; }
  bool empty() const { return ids_.empty(); }
  size_t size() const { return ids_.size(); }

  // The highest index acknowledged by a majority, where acked(id) gives the
  // index voter id has acknowledged (0 if none). Max Index for the empty set.
  template <typename AckedFn>
  Index committed_index(const AckedFn& acked) const;

  // Outcome given the votes cast so far (absent = not yet voted).
  VoteResult vote_result(const std::map<NodeId, bool>& votes) const;

  std::vector<NodeId> sorted() const { return {ids_.begin(), ids_.end()}; }

 private:
  std::set<NodeId> ids_;
};

// Incoming and outgoing majorities. Outside a joint configuration the
// outgoing half is empty.
struct JointConfig {
  MajorityConfig incoming;
  MajorityConfig outgoing;

  bool is_joint() const { return !outgoing.empty(); }
  bool contains(NodeId id) const { return incoming.contains(id) || outgoing.contains(id); }
  std::set<NodeId> all_ids() const;

  template <typename AckedFn>
  Index committed_index(const AckedFn& acked) const {
    Index a = incoming.committed_index(acked);
    Index b = outgoing.committed_index(acked);
    return a < b ? a : b;
  }
  VoteResult vote_result(const std::map<NodeId, bool>& votes) const;
};

template <typename AckedFn>
Index MajorityConfig::committed_index(const AckedFn& acked) const {
  const size_t n = ids_.size();
  if (n == 0) return ~Index{0};
  // Small configurations stay on the stack: this runs on every ack.
  Index stack[16];
  std::vector<Index> heap;
  Index* values = stack;
  if (n > 16) {
    heap.resize(n);
    values = heap.data();
  }
  size_t i = 0;
  for (NodeId id : ids_) values[i++] = acked(id);
  // Insertion sort, descending; n is tiny.
  for (size_t a = 1; a < n; ++a) {
    Index v = values[a];
    size_t b = a;
    while (b > 0 && values[b - 1] < v) {
      values[b] = values[b - 1];
      --b;
    }
    values[b] = v;
  }
  // The (n/2 + 1)-th highest value is acknowledged by a majority.
  return values[n / 2];
}

}  // namespace raft
