// The leader's replication state for one follower: probe / replicate /
// snapshot, and the bounded window of append messages in flight.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/types.h"

namespace raft {

// A ring buffer of the last index carried by each append in flight. Full
// means the follower gets nothing more until an ack frees a slot.
class Inflights {
 public:
  explicit Inflights(size_t capacity) : capacity_(capacity) {}

  // Requires !full() and indexes added in increasing order.
  void add(Index last_index);
  // Frees every inflight whose last index is <= index (acknowledged).
  void free_le(Index index);
  // Frees the oldest inflight (a heartbeat response proves the peer alive).
  void free_first_one();
  void reset() {
    start_ = 0;
    count_ = 0;
  }
  bool full() const { return count_ == capacity_; }
  size_t count() const { return count_; }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  size_t start_ = 0;
  size_t count_ = 0;
  std::vector<Index> buffer_;  // Grows lazily up to capacity_.
};

struct Progress {
  explicit Progress(size_t max_inflight) : inflights(max_inflight) {}

  // Highest index known to be replicated on the peer.
  Index match = 0;
  // Next index to send.
  Index next = 1;
  ProgressState state = ProgressState::kProbe;
  // Probe: an append was sent and no answer yet; wait for a heartbeat
  // response or an append response before probing again.
  bool probe_sent = false;
  // Snapshot: index of the snapshot being sent.
  Index pending_snapshot = 0;
  // Heard from since the last check-quorum round.
  bool recent_active = false;
  bool is_learner = false;
  Inflights inflights;

  void reset_state(ProgressState new_state);
  void become_probe();
  void become_replicate();
  void become_snapshot(Index snapshot_index);

  // An ack for index n: raises match (and next). Returns true if match grew.
  bool maybe_update(Index n);
  // A rejection of the append whose previous index was `rejected`, with the
  // follower's hint that its log matches at most up to `match_hint`. Returns
  // false if the rejection is stale (ignored).
  bool maybe_decrease_to(Index rejected, Index match_hint);
  // Records an append carrying entries up to `last_index` (count > 0) or an
  // empty probe.
  void sent_entries(Index last_index, size_t count);
  // True if nothing may be sent now (a probe is outstanding, the window is
  // full, or a snapshot is in flight).
  bool is_paused() const;
};

}  // namespace raft
