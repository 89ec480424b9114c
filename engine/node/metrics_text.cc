#include "engine/node/metrics_text.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/node/shard_runtime.h"
#include "storage/log_env.h"

namespace raft {
namespace {

uint64_t read_counter(const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); }

void add_shard_counters(const ShardMetrics& s, MetricsSnapshot& m) {
  m.proposals += read_counter(s.proposals);
  m.proposals_failed += read_counter(s.proposals_failed);
  m.reads += read_counter(s.reads);
  m.batches_submitted += read_counter(s.batches_submitted);
  m.entries_persisted += read_counter(s.entries_persisted);
  m.messages_sent += read_counter(s.messages_sent);
  m.messages_dropped += read_counter(s.messages_dropped);
  m.messages_received += read_counter(s.messages_received);
  m.snapshots_sent += read_counter(s.snapshots_sent);
  m.snapshots_received += read_counter(s.snapshots_received);
  m.snapshots_made += read_counter(s.snapshots_made);
  m.client_requests += read_counter(s.client_requests);
  m.client_cross_shard += read_counter(s.client_cross_shard);
  m.liveness_beats += read_counter(s.liveness_beats);
  m.heartbeats_coalesced += read_counter(s.heartbeats_coalesced);
  m.frames_sent += read_counter(s.frames_sent);
  m.groups_quiesced += read_counter(s.groups_quiesced);
  for (size_t i = 0; i < ShardMetrics::kPeerSlots; ++i) {
    m.peer_messages_sent[i] += read_counter(s.peer_messages_sent[i]);
    m.peer_frames_sent[i] += read_counter(s.peer_frames_sent[i]);
  }
  m.journal_writes += read_counter(s.journal_writes);
  m.journal_bytes += read_counter(s.journal_bytes);
  m.journal_write_us += read_counter(s.journal_write_us);
  m.journal_write_failures += read_counter(s.journal_write_failures);
  m.journal_full += read_counter(s.journal_full);
  m.journal_checkpoints += read_counter(s.journal_checkpoints);
  m.lmdb_commit_failures += read_counter(s.lmdb_commit_failures);
  m.lmdb_lag_batches += read_counter(s.lmdb_lag_batches);
  m.lmdb_lag_entries += read_counter(s.lmdb_lag_entries);
  m.lmdb_lag_bytes += read_counter(s.lmdb_lag_bytes);
  if (const uint64_t oldest = read_counter(s.lmdb_lag_oldest_ns); oldest != 0) {
    const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::steady_clock::now().time_since_epoch())
                                               .count());
    m.lmdb_lag_us = std::max(m.lmdb_lag_us, now > oldest ? (now - oldest) / 1000 : 0);
  }
  for (size_t b = 0; b < m.journal_write_latency.size() && b < s.journal_write_latency.size();
       ++b) {
    m.journal_write_latency[b] += read_counter(s.journal_write_latency[b]);
  }
  for (size_t b = 0; b < m.entries_per_batch.size(); ++b) {
    m.entries_per_batch[b] += read_counter(s.entries_per_batch[b]);
  }
}

void add_groups(const ShardRuntime& rt, MetricsSnapshot& m) {
  rt.visit_gauges([&m](GroupId gid, const GroupGauges& gg) {
    m.applied_entries += read_counter(gg.applied_entries);
    m.skipped_entries += read_counter(gg.skipped_entries);
    m.leader_hand_offs += read_counter(gg.leader_hand_offs);
    m.halted_groups += gg.halted.load(std::memory_order_relaxed) ? 1 : 0;
    m.groups_led += gg.is_leader.load(std::memory_order_relaxed) ? 1 : 0;
    m.groups.push_back(MetricsSnapshot::Group{
        gid, read_counter(gg.term), read_counter(gg.commit), read_counter(gg.applied),
        read_counter(gg.last_index), read_counter(gg.leader),
        static_cast<uint64_t>(gg.is_leader.load(std::memory_order_relaxed))});
  });
}

void add_net_and_env(ShardRuntime& rt, MetricsSnapshot& m) {
  m.bad_frames += rt.reactor().stats().bad_frames();
  const net::NetStats& ns = rt.reactor().stats();
  m.handshake_timeouts += ns.handshake_timeouts.get();
  static_assert(std::tuple_size_v<decltype(m.tls_handshake_failures)> == net::kTlsFailureKinds);
  m.tls_handshakes += ns.tls_handshakes.get();
  for (size_t i = 0; i < net::kTlsFailureKinds; ++i) {
    m.tls_handshake_failures[i] += ns.tls_handshake_failures[i].get();
  }
  m.tls_bytes_received += ns.tls_bytes_received.get();
  m.tls_bytes_sent += ns.tls_bytes_sent.get();
  m.tls_on_plaintext_port += ns.tls_on_plaintext_port.get();
  const storage::EnvStats es = rt.env().stats();
  m.commits += es.commits;
  m.failed_commits += es.failed_commits;
  m.commit_ns += es.txn_commit_ns;
  m.forced_syncs += es.forced_syncs;
  for (size_t i = 0; i < m.commit_latency.size() && i < es.commit_latency.size(); ++i) {
    m.commit_latency[i] += es.commit_latency[i];
  }
}

// Appends one metric's HELP and TYPE lines.
void append_help_type(std::string& out, const char* name, const char* help, const char* type) {
  absl::StrAppend(&out, "# HELP ringraft_", name, " ", help, "\n# TYPE ringraft_", name, " ", type,
                  "\n");
}

void append_counter(std::string& out, const char* name, const char* help, uint64_t v) {
  append_help_type(out, name, help, "counter");
  absl::StrAppend(&out, "ringraft_", name, " ", v, "\n");
}

void render_counters(const MetricsSnapshot& m, std::string& out) {
  append_counter(out, "proposals_total", "Proposals accepted by a leader here.", m.proposals);
  append_counter(out, "proposals_failed_total", "Proposals refused or failed.", m.proposals_failed);
  append_counter(out, "applied_entries_total", "Entries applied to state machines.",
                 m.applied_entries);
  append_counter(out, "fsm_skipped_entries_total",
                 "Entries not re-applied at open: the state machine had persisted them "
                 "(StateMachine::applied_index).",
                 m.skipped_entries);
  append_counter(out, "leader_hand_offs_total",
                 "Leadership hand-offs started because this leader's writes kept failing "
                 "or its group halted.",
                 m.leader_hand_offs);
  append_counter(out, "balance_transfers_total",
                 "Leader transfers started by leader balance ([balance] leaders).",
                 m.balance_transfers);
  append_counter(out, "balance_transfers_failed_total",
                 "Leader transfers started by leader balance that did not happen (refused, or "
                 "not done in time).",
                 m.balance_transfers_failed);
  append_counter(out, "reads_total", "Reads served.", m.reads);
  append_counter(out, "write_batches_total", "Storage write transactions (each one full fsync).",
                 m.batches_submitted);
  append_counter(out, "entries_persisted_total", "Log entries written.", m.entries_persisted);
  append_counter(out, "raft_messages_sent_total", "Raft messages sent.", m.messages_sent);
  append_counter(out, "raft_messages_dropped_total",
                 "Raft messages dropped (peer down or queue full).", m.messages_dropped);
  append_counter(out, "raft_messages_received_total", "Raft messages received.",
                 m.messages_received);
  append_counter(out, "snapshots_sent_total", "Snapshots streamed to followers.", m.snapshots_sent);
  append_counter(out, "snapshots_received_total", "Snapshots received from a leader.",
                 m.snapshots_received);
  append_counter(out, "snapshots_made_total", "Snapshots taken.", m.snapshots_made);
  append_counter(out, "client_requests_total", "Client protocol requests.", m.client_requests);
  append_counter(out, "raft_frames_sent_total",
                 "Frames of Raft messages sent to peers (beats apart).", m.frames_sent);
  append_counter(out, "heartbeats_coalesced_total",
                 "Heartbeats and their answers sent as compact records of a peer batch.",
                 m.heartbeats_coalesced);
  append_counter(out, "client_cross_shard_total",
                 "Requests on a client connection to one shard for a group of another "
                 "(a hop there and back; a client routing by group % shards makes none).",
                 m.client_cross_shard);
  append_counter(out, "liveness_beats_total",
                 "Node-level liveness beats sent (a tick in which nothing else went to a peer).",
                 m.liveness_beats);
  // Per peer (only the peers anything was sent to).
  auto per_peer = [&](const char* name, const char* help,
                      const std::array<uint64_t, ShardMetrics::kPeerSlots>& v) {
    append_help_type(out, name, help, "counter");
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] != 0) absl::StrAppend(&out, "ringraft_", name, "{peer=\"", i, "\"} ", v[i], "\n");
    }
  };
  per_peer("peer_messages_sent_total", "Raft messages sent to each peer node (id < 16).",
           m.peer_messages_sent);
  per_peer("peer_frames_sent_total",
           "Frames sent to each peer node (id < 16): Raft message batches and liveness beats.",
           m.peer_frames_sent);
  append_counter(out, "bad_frames_total",
                 "Frames rejected (garbage, too large, checksum, verifier).", m.bad_frames);
  append_counter(out, "handshake_timeouts_total",
                 "Accepted connections closed for sending no handshake in time.",
                 m.handshake_timeouts);
  append_counter(out, "tls_handshakes_total", "TLS handshakes completed.", m.tls_handshakes);
  append_help_type(out, "tls_handshake_failures_total",
                   "TLS handshakes that failed, by reason (each closed its connection).",
                   "counter");
  for (size_t i = 0; i < net::kTlsFailureKinds; ++i) {
    absl::StrAppend(&out, "ringraft_tls_handshake_failures_total{reason=\"",
                    net::tls_failure_name(static_cast<net::TlsFailure>(i)), "\"} ",
                    m.tls_handshake_failures[i], "\n");
  }
  append_counter(out, "tls_bytes_received_total", "TLS ciphertext bytes received.",
                 m.tls_bytes_received);
  append_counter(out, "tls_bytes_sent_total", "TLS ciphertext bytes sent.", m.tls_bytes_sent);
  append_counter(out, "tls_on_plaintext_port_total",
                 "TLS ClientHellos that reached this node's plaintext port (refused).",
                 m.tls_on_plaintext_port);
  append_counter(out, "lmdb_commits_total",
                 "LMDB write transactions committed (behind the journal).", m.commits);
  append_counter(out, "lmdb_forced_syncs_total",
                 "Forced LMDB syncs, after which the journal may reuse segments.", m.forced_syncs);
  append_counter(out, "lmdb_commit_failures_total",
                 "Batches whose LMDB commit behind the journal failed (retried).",
                 m.lmdb_commit_failures);
  append_counter(out, "journal_writes_total", "Journal writes (one per durable batch part).",
                 m.journal_writes);
  append_counter(out, "journal_bytes_total", "Bytes written to the journal.", m.journal_bytes);
  append_counter(out, "journal_write_failures_total", "Journal writes that failed (retried).",
                 m.journal_write_failures);
  append_counter(out, "journal_full_total",
                 "Times the journal was full (LMDB behind; proposals refused).", m.journal_full);
  append_counter(out, "journal_checkpoints_total",
                 "Checkpoints: journal segments released once LMDB synced them.",
                 m.journal_checkpoints);
  // Per transaction, which may have held several batches; batches failed
  // untried behind a failure were in none.
  append_counter(out, "write_batches_failed_total", "Storage write transactions that failed.",
                 m.failed_commits);
}

void render_gauges(const MetricsSnapshot& m, std::string& out) {
  using G = MetricsSnapshot::Group;
  auto gauge = [&](const char* name, const char* help, uint64_t G::*field) {
    append_help_type(out, name, help, "gauge");
    for (const G& g : m.groups) {
      absl::StrAppend(&out, "ringraft_", name, "{group=\"", g.group, "\"} ", g.*field, "\n");
    }
  };
  gauge("term", "Current Raft term.", &G::term);
  gauge("commit_index", "Highest committed log index.", &G::commit);
  gauge("applied_index", "Highest index applied to the state machine.", &G::applied);
  gauge("last_index", "Last log index.", &G::last_index);
  gauge("leader_id", "Known leader (0: none).", &G::leader);
  gauge("is_leader", "1 if this node leads the group.", &G::is_leader);
  auto node_gauge = [&](const char* name, const char* help, uint64_t v) {
    append_help_type(out, name, help, "gauge");
    absl::StrAppend(&out, "ringraft_", name, " ", v, "\n");
  };
  node_gauge("lmdb_lag_batches", "Journaled batches LMDB has not committed yet.",
             m.lmdb_lag_batches);
  node_gauge("lmdb_lag_entries", "Journaled entries LMDB has not committed yet.",
             m.lmdb_lag_entries);
  node_gauge("lmdb_lag_bytes", "Journal bytes LMDB has not committed yet.", m.lmdb_lag_bytes);
  node_gauge("groups_quiesced", "Groups quiesced here (idle: not ticked, no heartbeats).",
             m.groups_quiesced);
  node_gauge("groups_led", "Groups this node leads.", m.groups_led);
  node_gauge("leader_balance", "1 while leader balance is on (Node::set_leader_balance).",
             m.leader_balance);
  node_gauge("fsm_halted_groups",
             "Groups halted here because their state machine could not apply an entry.",
             m.halted_groups);
  append_help_type(out, "lmdb_lag_seconds",
                   "Age of the oldest journaled batch LMDB has not committed yet.", "gauge");
  absl::StrAppend(&out, "ringraft_lmdb_lag_seconds ", static_cast<double>(m.lmdb_lag_us) / 1e6,
                  "\n");
}

// A latency histogram in seconds: `counts` per bucket of `bounds_us` (then
// +Inf), not cumulative.
void append_latency(std::string& out, const char* name, const char* help,
                    const std::vector<uint32_t>& bounds_us, const std::vector<uint64_t>& counts,
                    double sum_seconds) {
  append_help_type(out, name, help, "histogram");
  uint64_t cumulative = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    cumulative += counts[b];
    const std::string le =
        b < bounds_us.size() ? absl::StrCat(static_cast<double>(bounds_us[b]) / 1e6) : "+Inf";
    absl::StrAppend(&out, "ringraft_", name, "_bucket{le=\"", le, "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&out, "ringraft_", name, "_sum ", sum_seconds, "\n", "ringraft_", name, "_count ",
                  cumulative, "\n");
}

void render_histograms(const MetricsSnapshot& m, std::string& out) {
  append_help_type(out, "entries_per_batch", "Entries per write transaction.", "histogram");
  uint64_t cumulative = 0;
  for (size_t b = 0; b < m.entries_per_batch.size(); ++b) {
    cumulative += m.entries_per_batch[b];
    absl::StrAppend(&out, "ringraft_entries_per_batch_bucket{le=\"", (uint64_t{2} << b) - 1, "\"} ",
                    cumulative, "\n");
  }
  absl::StrAppend(&out, "ringraft_entries_per_batch_bucket{le=\"+Inf\"} ", cumulative, "\n",
                  "ringraft_entries_per_batch_sum ", m.entries_persisted, "\n",
                  "ringraft_entries_per_batch_count ", m.batches_submitted, "\n");
  append_latency(out, "commit_latency_seconds",
                 "LMDB commit (page writes and syncs) of each write transaction.",
                 m.commit_latency_bounds_us, m.commit_latency, m.commit_ns * 1e-9);
  append_latency(out, "journal_write_latency_seconds",
                 "Journal write, submit to durable completion.", m.commit_latency_bounds_us,
                 m.journal_write_latency, m.journal_write_us * 1e-6);
}

}  // namespace

MetricsSnapshot collect_metrics(const std::vector<ShardRuntime*>& runtimes) {
  MetricsSnapshot m;
  m.commit_latency_bounds_us = storage::commit_latency_bounds_us();
  m.commit_latency.assign(m.commit_latency_bounds_us.size() + 1, 0);
  m.journal_write_latency.assign(m.commit_latency_bounds_us.size() + 1, 0);
  for (ShardRuntime* rt : runtimes) {
    if (rt == nullptr) continue;
    add_shard_counters(rt->metrics(), m);
    add_groups(*rt, m);
    add_net_and_env(*rt, m);
  }
  return m;
}

std::string render_metrics_text(const MetricsSnapshot& m) {
  std::string out;
  render_counters(m, out);
  render_gauges(m, out);
  render_histograms(m, out);
  return out;
}

}  // namespace raft
