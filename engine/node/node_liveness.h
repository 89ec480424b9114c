// NodeLiveness: which peer nodes a shard hears from, one view shared by all
// the shard's groups. Quiesced groups send no heartbeats (the core's
// quiesce.cc), so a follower learns that a quiesced leader is gone from the
// leader's node falling silent, and a quiesced leader learns that a peer it
// left out is back from the peer's node speaking again. Every frame from a
// peer counts; the shard also sends each peer a beat every tick in which it
// sent nothing else (ShardRuntime::send_beats), so a live pair is never
// silent. Frames carry the sender's incarnation (a value new at every
// process start), so a restart is seen even when it was too quick to be
// silent. Time is counted in ticks, so the simulator runs the same code.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/core/types.h"

namespace raft {

class NodeLiveness {
 public:
  // A peer is silent after `silence_ticks` ticks without a frame from it.
  explicit NodeLiveness(uint64_t silence_ticks) : silence_ticks_(silence_ticks) {}

  struct Heard {
    // Live again: heard for the first time, after silence, or restarted.
    bool returned = false;
    // Its incarnation changed: it restarted (and lost its volatile state,
    // leadership included).
    bool restarted = false;
  };
  // A frame from `node`; `incarnation` 0 when the frame carries none.
  Heard heard(NodeId node, uint64_t incarnation);
  // Advances time by one tick; returns the peers that fell silent.
  std::vector<NodeId> tick();
  // Heard from within the silence window (never heard: not live).
  bool live(NodeId node) const;

 private:
  struct Peer {
    uint64_t last_heard = 0;  // Tick.
    uint64_t incarnation = 0;
    bool live = false;
  };
  uint64_t silence_ticks_;
  uint64_t now_ = 0;
  absl::flat_hash_map<NodeId, Peer> peers_;
};

}  // namespace raft
