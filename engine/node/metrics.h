// Per-shard counters of the runtime. Written by the shard thread only
// (relaxed atomics, so other threads may read them for status and
// Prometheus text without locks); summed over shards on demand.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace raft {

struct ShardMetrics {
  using Counter = std::atomic<uint64_t>;

  Counter proposals{0};         // Accepted by a leader here.
  Counter proposals_failed{0};  // Refused or failed (not leader, backpressure, timeout...).
  Counter reads{0};
  Counter batches_submitted{0};  // Write transactions handed to the storage writer.
  Counter entries_persisted{0};
  Counter messages_sent{0};
  Counter messages_dropped{0};
  Counter messages_received{0};
  Counter frames_sent{0};
  Counter heartbeats_coalesced{0};  // Sent as compact records (protocol/raft_codec.h).
  Counter snapshots_sent{0};
  Counter snapshots_received{0};
  Counter snapshots_made{0};
  Counter client_requests{0};
  // Requests that came in on a client connection of this shard for a group
  // of another shard (one hop there and one back): a client that routes by
  // group (group % shards) makes none.
  Counter client_cross_shard{0};
  // Node-level liveness and quiescence (node_liveness.h): beats sent (a
  // frame to a peer in a tick that sent nothing else), and a gauge of the
  // groups that are quiesced (not ticked) now.
  Counter liveness_beats{0};
  Counter groups_quiesced{0};
  // Per destination node (ids below kPeerSlots; others are not counted
  // here): Raft messages sent, and frames sent (liveness beats included).
  static constexpr size_t kPeerSlots = 16;
  std::array<Counter, kPeerSlots> peer_messages_sent{};
  std::array<Counter, kPeerSlots> peer_frames_sent{};
  // The journal (storage/journal.h): writes completed, their bytes and
  // summed latency (submit to durable completion), failures, times it was
  // full (proposals refused), checkpoints (segments released after LMDB
  // synced them), and failed LMDB commits behind it.
  Counter journal_writes{0};
  Counter journal_bytes{0};
  Counter journal_write_us{0};
  Counter journal_write_failures{0};
  Counter journal_full{0};
  Counter journal_checkpoints{0};
  Counter lmdb_commit_failures{0};
  // Journal write latency, per bucket of storage::commit_latency_bounds_us()
  // (the last counts the rest).
  std::array<Counter, 72> journal_write_latency{};
  // Gauges: what the journal holds that LMDB has not committed yet.
  Counter lmdb_lag_batches{0};
  Counter lmdb_lag_entries{0};
  Counter lmdb_lag_bytes{0};
  // When the oldest batch LMDB has not committed became durable in the
  // journal (steady clock, ns); 0: LMDB has everything.
  Counter lmdb_lag_oldest_ns{0};
  // Entries per write transaction, in power-of-two buckets: bucket i counts
  // batches with [2^i, 2^(i+1)) entries (bucket 0 also counts empty ones).
  std::array<Counter, 20> entries_per_batch{};

  void record_batch(uint64_t entries) {
    size_t b = 0;
    while (b + 1 < entries_per_batch.size() && (uint64_t{2} << b) <= entries) ++b;
    entries_per_batch[b].fetch_add(1, std::memory_order_relaxed);
  }
};

inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace raft
