// SimNetwork: the simulator's seeded, in-memory network. Every message gets a
// delivery time drawn from the current fault settings; it may be dropped,
// duplicated or delayed (which reorders it), and a directed link may be
// blocked to model symmetric and asymmetric partitions. A blocked link drops
// what would cross it at delivery time, so a partition also cuts off what is
// already in flight. Deterministic: the same seed and the same calls give the
// same deliveries.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "engine/core/types.h"
#include "tests/sim/prng.h"

namespace raft::sim {

// Time is counted in abstract units; the cluster ticks every node every
// kTickUnits units.
inline constexpr uint64_t kTickUnits = 10;

struct NetworkFaults {
  uint32_t drop_per_mille = 0;       // Lost at send time.
  uint32_t duplicate_per_mille = 0;  // Delivered twice (independent delays).
  uint64_t min_delay = 1;            // Units; delays are uniform in [min, max].
  uint64_t max_delay = 10;
  uint32_t long_delay_per_mille = 0;  // A further delay in [0, long_delay_max].
  uint64_t long_delay_max = 0;
};

// What pop_due hands out: a message that arrived, or one that a blocked link
// swallowed (so that the sender can be told, as a real transport would).
struct Delivery {
  Message message;
  bool blocked = false;
};

class SimNetwork {
 public:
  explicit SimNetwork(uint64_t seed) : prng_(seed) {}

  void set_faults(const NetworkFaults& faults) { faults_ = faults; }
  const NetworkFaults& faults() const { return faults_; }

  // Queues `m` for delivery. Returns false if it was dropped at once.
  bool send(uint64_t now, Message m);

  void block(NodeId from, NodeId to) { blocked_.insert({from, to}); }
  void unblock(NodeId from, NodeId to) { blocked_.erase({from, to}); }
  bool is_blocked(NodeId from, NodeId to) const { return blocked_.count({from, to}) > 0; }
  // Blocks every link between the two sides, both ways.
  void partition(const std::vector<NodeId>& side_a, const std::vector<NodeId>& side_b);
  // Unblocks every link.
  void heal() { blocked_.clear(); }
  size_t blocked_links() const { return blocked_.size(); }

  // Time of the earliest queued message, if any.
  std::optional<uint64_t> next_delivery() const;
  // The earliest message due at or before `now` (ties in send order).
  std::optional<Delivery> pop_due(uint64_t now);
  size_t in_flight() const { return queue_.size(); }

  struct Stats {
    uint64_t sent = 0;
    uint64_t dropped = 0;
    uint64_t duplicated = 0;
    uint64_t blocked = 0;
    uint64_t delivered = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Envelope {
    uint64_t due;
    uint64_t seq;
    Message message;
  };
  struct Later {
    bool operator()(const Envelope& a, const Envelope& b) const {
      return a.due != b.due ? a.due > b.due : a.seq > b.seq;
    }
  };

  uint64_t draw_delay();
  void enqueue(uint64_t due, Message m);

  Prng prng_;
  NetworkFaults faults_;
  std::set<std::pair<NodeId, NodeId>> blocked_;
  std::vector<Envelope> queue_;  // A min-heap on (due, seq).
  uint64_t next_seq_ = 0;
  Stats stats_;
};

}  // namespace raft::sim
