// Pending ReadIndex requests on the leader (safe mode): each waits for a
// heartbeat round acknowledged by a quorum, in request order.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/core/types.h"

namespace raft {

struct ReadIndexRequest {
  Index index = 0;        // Commit index when the request arrived.
  NodeId from = kNoNode;  // Requesting node (the leader itself for local reads).
  Slice context;
};

class ReadOnly {
 public:
  // Bound on pending requests; past it read_index() gets ResourceExhausted.
  static constexpr size_t kMaxPending = 4096;

  bool contains(std::string_view ctx) const { return pending_.count(std::string(ctx)) != 0; }
  // The pending request with this context, or nullptr.
  const ReadIndexRequest* find(std::string_view ctx) const {
    auto it = pending_.find(ctx);
    return it == pending_.end() ? nullptr : &it->second.request;
  }
  size_t size() const { return queue_.size(); }
  bool full() const { return queue_.size() >= kMaxPending; }

  // Requires a context not already pending.
  void add(Index index, NodeId from, Slice context);
  // Records id's ack of the heartbeat round carrying ctx; returns the set of
  // nodes that acked that request, or nullptr if it is unknown.
  const std::set<NodeId>* ack(NodeId id, std::string_view ctx);
  // The nodes that acked the request with this context, or nullptr.
  const std::set<NodeId>* acks(std::string_view ctx) const {
    auto it = pending_.find(ctx);
    return it == pending_.end() ? nullptr : &it->second.acks;
  }
  // Contexts of the pending requests, oldest first.
  const std::deque<std::string>& contexts() const { return queue_; }
  // Removes and returns every request up to and including ctx, in order.
  std::vector<ReadIndexRequest> advance(std::string_view ctx);
  // Context of the newest pending request (carried by heartbeats).
  Slice last_context() const;
  void clear() {
    pending_.clear();
    queue_.clear();
  }

 private:
  struct Pending {
    ReadIndexRequest request;
    std::set<NodeId> acks;
  };
  std::map<std::string, Pending, std::less<>> pending_;
  std::deque<std::string> queue_;
};

}  // namespace raft
