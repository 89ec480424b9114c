// SimNetwork: seeded delivery with drops, duplicates, delays and blocked links.
#include "tests/sim/network.h"

#include <algorithm>

namespace raft::sim {

uint64_t SimNetwork::draw_delay() {
  uint64_t delay = prng_.range(faults_.min_delay, std::max(faults_.min_delay, faults_.max_delay));
  if (faults_.long_delay_max > 0 && prng_.chance(faults_.long_delay_per_mille)) {
    delay += prng_.range(0, faults_.long_delay_max);
  }
  return delay;
}

void SimNetwork::enqueue(uint64_t due, Message m) {
  queue_.push_back(Envelope{due, next_seq_++, std::move(m)});
  std::push_heap(queue_.begin(), queue_.end(), Later{});
}

bool SimNetwork::send(uint64_t now, Message m) {
  ++stats_.sent;
  if (prng_.chance(faults_.drop_per_mille)) {
    ++stats_.dropped;
    return false;
  }
  if (prng_.chance(faults_.duplicate_per_mille)) {
    ++stats_.duplicated;
    enqueue(now + draw_delay(), m);
  }
  enqueue(now + draw_delay(), std::move(m));
  return true;
}

void SimNetwork::partition(const std::vector<NodeId>& side_a, const std::vector<NodeId>& side_b) {
  for (NodeId a : side_a) {
    for (NodeId b : side_b) {
      block(a, b);
      block(b, a);
    }
  }
}

std::optional<uint64_t> SimNetwork::next_delivery() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.front().due;
}

std::optional<Delivery> SimNetwork::pop_due(uint64_t now) {
  if (queue_.empty() || queue_.front().due > now) return std::nullopt;
  std::pop_heap(queue_.begin(), queue_.end(), Later{});
  Delivery d{std::move(queue_.back().message), false};
  queue_.pop_back();
  d.blocked = is_blocked(d.message.from, d.message.to);
  if (d.blocked) {
    ++stats_.blocked;
  } else {
    ++stats_.delivered;
  }
  return d;
}

}  // namespace raft::sim
