#include "engine/node/metrics_text.h"

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
  for (size_t b = 0; b < m.entries_per_batch.size(); ++b) {
    m.entries_per_batch[b] += read_counter(s.entries_per_batch[b]);
  }
}

void add_groups(const ShardRuntime& rt, MetricsSnapshot& m) {
  for (const auto& [gid, g] : rt.groups()) {
    const GroupGauges& gg = g->gauges();
    m.applied_entries += read_counter(gg.applied_entries);
    m.leader_hand_offs += read_counter(gg.leader_hand_offs);
    m.groups.push_back(MetricsSnapshot::Group{
        gid, read_counter(gg.term), read_counter(gg.commit), read_counter(gg.applied),
        read_counter(gg.last_index), read_counter(gg.leader),
        static_cast<uint64_t>(gg.is_leader.load(std::memory_order_relaxed))});
  }
}

void add_net_and_env(ShardRuntime& rt, MetricsSnapshot& m) {
  m.bad_frames += rt.reactor().stats().bad_frames();
  m.handshake_timeouts += rt.reactor().stats().handshake_timeouts.get();
  const storage::EnvStats es = rt.env().stats();
  m.commits += es.commits;
  m.failed_commits += es.failed_commits;
  m.commit_ns += es.txn_commit_ns;
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
  append_counter(out, "leader_hand_offs_total",
                 "Leadership hand-offs started because this leader's writes kept failing.",
                 m.leader_hand_offs);
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
  append_counter(out, "bad_frames_total",
                 "Frames rejected (garbage, too large, checksum, verifier).", m.bad_frames);
  append_counter(out, "handshake_timeouts_total",
                 "Accepted connections closed for sending no handshake in time.",
                 m.handshake_timeouts);
  append_counter(out, "fsync_commits_total", "LMDB write transactions committed with full sync.",
                 m.commits);
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
  append_help_type(out, "commit_latency_seconds",
                   "LMDB commit (page writes and syncs) of each write transaction.", "histogram");
  cumulative = 0;
  const std::vector<uint32_t>& bounds = m.commit_latency_bounds_us;
  for (size_t b = 0; b < m.commit_latency.size(); ++b) {
    cumulative += m.commit_latency[b];
    const std::string le =
        b < bounds.size() ? absl::StrCat(static_cast<double>(bounds[b]) / 1e6) : "+Inf";
    absl::StrAppend(&out, "ringraft_commit_latency_seconds_bucket{le=\"", le, "\"} ", cumulative,
                    "\n");
  }
  absl::StrAppend(&out, "ringraft_commit_latency_seconds_sum ",
                  static_cast<double>(m.commit_ns) / 1e9, "\n",
                  "ringraft_commit_latency_seconds_count ", cumulative, "\n");
}

}  // namespace

MetricsSnapshot collect_metrics(const std::vector<ShardRuntime*>& runtimes) {
  MetricsSnapshot m;
  m.commit_latency_bounds_us = storage::commit_latency_bounds_us();
  m.commit_latency.assign(m.commit_latency_bounds_us.size() + 1, 0);
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
