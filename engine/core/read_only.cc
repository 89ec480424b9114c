// ReadOnly: leadership confirmation bookkeeping for ReadIndex.
#include "engine/core/read_only.h"

#include "common/check.h"

namespace raft {

void ReadOnly::add(Index index, NodeId from, Slice context) {
  std::string key(context.view());
  RAFT_CHECK(pending_.count(key) == 0);
  pending_.emplace(key, Pending{ReadIndexRequest{index, from, std::move(context)}, {}});
  queue_.push_back(std::move(key));
}

const std::set<NodeId>* ReadOnly::ack(NodeId id, std::string_view ctx) {
  auto it = pending_.find(ctx);
  if (it == pending_.end()) return nullptr;
  it->second.acks.insert(id);
  return &it->second.acks;
}

std::vector<ReadIndexRequest> ReadOnly::advance(std::string_view ctx) {
  std::vector<ReadIndexRequest> out;
  if (pending_.find(ctx) == pending_.end()) return out;
  while (!queue_.empty()) {
    std::string key = std::move(queue_.front());
    queue_.pop_front();
    auto it = pending_.find(key);
    RAFT_CHECK(it != pending_.end());
    out.push_back(std::move(it->second.request));
    pending_.erase(it);
    if (key == ctx) break;
  }
  return out;
}

Slice ReadOnly::last_context() const {
  if (queue_.empty()) return Slice();
  return pending_.find(queue_.back())->second.request.context;
}

}  // namespace raft
