// The node's Prometheus text (Node::metrics_text): a snapshot of every
// counter and gauge the shards keep (ShardMetrics, each group's
// GroupGauges, the reactors' NetStats, the envs' EnvStats), summed over the
// shards, and its rendering as text. Collecting reads relaxed atomics and
// may run on any thread; rendering is a pure function of the snapshot.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "engine/core/types.h"
#include "engine/node/metrics.h"

namespace raft {

class ShardRuntime;

struct MetricsSnapshot {
  // ShardMetrics, summed over the shards.
  uint64_t proposals = 0;
  uint64_t proposals_failed = 0;
  uint64_t reads = 0;
  uint64_t batches_submitted = 0;
  uint64_t entries_persisted = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_dropped = 0;
  uint64_t messages_received = 0;
  uint64_t snapshots_sent = 0;
  uint64_t snapshots_received = 0;
  uint64_t snapshots_made = 0;
  uint64_t client_requests = 0;
  uint64_t client_cross_shard = 0;
  uint64_t liveness_beats = 0;
  uint64_t heartbeats_coalesced = 0;
  uint64_t frames_sent = 0;
  uint64_t groups_quiesced = 0;                                         // Gauge.
  std::array<uint64_t, ShardMetrics::kPeerSlots> peer_messages_sent{};  // By node id.
  std::array<uint64_t, ShardMetrics::kPeerSlots> peer_frames_sent{};
  uint64_t journal_writes = 0;
  uint64_t journal_bytes = 0;
  uint64_t journal_write_us = 0;
  uint64_t journal_write_failures = 0;
  uint64_t journal_full = 0;
  uint64_t journal_checkpoints = 0;
  uint64_t lmdb_commit_failures = 0;
  uint64_t lmdb_lag_batches = 0;  // Gauges.
  uint64_t lmdb_lag_entries = 0;
  uint64_t lmdb_lag_bytes = 0;
  uint64_t lmdb_lag_us = 0;  // Age of the oldest batch LMDB lacks, over all shards.
  std::vector<uint64_t> journal_write_latency;  // Buckets as commit_latency's.
  std::array<uint64_t, std::tuple_size_v<decltype(ShardMetrics::entries_per_batch)>>
      entries_per_batch{};  // Not cumulative.
  // The groups' counters (GroupGauges), summed over the groups.
  uint64_t applied_entries = 0;
  uint64_t skipped_entries = 0;  // Not re-applied: the state machine held them.
  uint64_t leader_hand_offs = 0;
  uint64_t halted_groups = 0;  // Gauge: groups whose state machine refused an entry.
  uint64_t groups_led = 0;     // Gauge: groups this node leads.
  // Leader balance (LeaderBalancer, filled in by Node::metrics_text).
  uint64_t leader_balance = 0;  // Gauge: 1 while on.
  uint64_t balance_transfers = 0;
  uint64_t balance_transfers_failed = 0;
  // The reactors' NetStats and the envs' EnvStats, summed over the shards.
  uint64_t bad_frames = 0;
  uint64_t handshake_timeouts = 0;
  // TLS (net/tls.h): failures indexed by net::TlsFailure.
  uint64_t tls_handshakes = 0;
  std::array<uint64_t, 8> tls_handshake_failures{};
  uint64_t tls_bytes_received = 0;
  uint64_t tls_bytes_sent = 0;
  uint64_t tls_on_plaintext_port = 0;
  uint64_t commits = 0;
  uint64_t failed_commits = 0;
  uint64_t commit_ns = 0;
  uint64_t forced_syncs = 0;
  std::vector<uint32_t> commit_latency_bounds_us;  // storage::commit_latency_bounds_us().
  std::vector<uint64_t> commit_latency;            // One per bound, then +Inf; not cumulative.
  // Each group's gauges, in shard order, then by group id.
  struct Group {
    GroupId group = 0;
    uint64_t term = 0;
    uint64_t commit = 0;
    uint64_t applied = 0;
    uint64_t last_index = 0;
    uint64_t leader = 0;
    uint64_t is_leader = 0;
  };
  std::vector<Group> groups;
};

// Reads the counters of `runtimes` (null entries, shards not started, are
// skipped).
MetricsSnapshot collect_metrics(const std::vector<ShardRuntime*>& runtimes);
// The Prometheus text exposition of `m` (metric names ringraft_*).
std::string render_metrics_text(const MetricsSnapshot& m);

}  // namespace raft
