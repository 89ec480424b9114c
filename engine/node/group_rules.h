// Rules the files of the group driver share (group.cc, group_requests.cc,
// group_apply.cc): read contexts, membership tests, the replaced-entry
// error. Private to the driver.
#pragma once

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "common/slice.h"
#include "engine/core/types.h"
#include "engine/node/errors.h"

namespace raft::group_rules {

// A ReadIndex context: (node, incarnation, read id), unique across the
// nodes of a group and across restarts of one node.
inline constexpr size_t kReadContextBytes = 24;

inline Slice read_context(NodeId self, uint64_t incarnation, uint64_t id) {
  std::string ctx(kReadContextBytes, '\0');
  std::memcpy(ctx.data(), &self, 8);
  std::memcpy(ctx.data() + 8, &incarnation, 8);
  std::memcpy(ctx.data() + 16, &id, 8);
  return Slice(std::move(ctx));
}

// The read id of a context this node (in this incarnation) made, if it is one.
inline std::optional<uint64_t> read_id_of(const Slice& ctx, NodeId self, uint64_t incarnation) {
  if (ctx.size() != kReadContextBytes) return std::nullopt;
  uint64_t node = 0, inc = 0, id = 0;
  std::memcpy(&node, ctx.data(), 8);
  std::memcpy(&inc, ctx.data() + 8, 8);
  std::memcpy(&id, ctx.data() + 16, 8);
  if (node != self || inc != incarnation) return std::nullopt;
  return id;
}

inline bool contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

inline bool is_member(const ConfState& cs, NodeId id) {
  return contains(cs.voters, id) || contains(cs.learners, id) || contains(cs.voters_outgoing, id) ||
         contains(cs.learners_next, id);
}

// A committed entry of another term holds the index of a pending proposal:
// the proposal's entry is gone from every log that matters and will never
// be applied.
inline absl::Status replaced_error() {
  return failed(absl::AbortedError("entry was replaced by a newer leader's; it was not applied"));
}

}  // namespace raft::group_rules
