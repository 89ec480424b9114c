// Configuration of a node process: identity, peers, Raft timing and limits,
// storage and network bounds. Every field has a documented default; a config
// is checked by validate() before anything starts, and load_config_toml()
// reads the same struct from a TOML file for the node programs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/export.h"
#include "engine/node/api_types.h"

namespace raft {

struct PeerConfig {
  uint64_t id = 0;      // Non-zero and unique in the cluster.
  std::string address;  // "host:port" ("[ipv6]:port", "name:port") of the peer's listener.
  PeerRole role = PeerRole::kVoter;  // kVoter or kLearner (api_types.h).
  // With [tls]: the name (DNS or IP) this peer's certificate must be for
  // when we dial it; empty: any certificate from the CA.
  std::string tls_name;
};

// [tls]: TLS on the node's port, for peers and clients alike. Off (plain
// TCP) while every file is empty; with any set, all three must be.
struct TlsConfig {
  std::string ca_file;    // PEM: the CA that signs every node's (and client's) certificate.
  std::string cert_file;  // PEM: this node's certificate (chain).
  std::string key_file;   // PEM: its private key.
  // Mutual TLS between nodes: each side checks the other's certificate
  // against ca_file; a peer connection without a client certificate is refused.
  bool verify_peer = true;
  // Clients must present a certificate from ca_file too (else optional).
  bool client_cert_required = false;
  bool allow_tls12 = false;  // TLS 1.3 only unless set.
  uint32_t handshake_timeout_ms = 5000;

  bool enabled() const { return !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};

// [balance]: leader balance (engine/node/leader_balancer.h). Every
// period_ticks ticks each node looks at who leads its groups and, if it
// leads more than its share (ceil(groups led / live nodes)) by more than
// `margin`, transfers leadership of some of its groups, at most
// max_transfers_per_period, to the least-loaded live, caught-up voters.
// Off by default; Node::set_leader_balance turns it on and off at runtime.
struct BalanceConfig {
  bool leaders = false;
  uint32_t margin = 1;
  uint32_t period_ticks = 10;
  uint32_t max_transfers_per_period = 8;
};

enum class ReadMode : uint8_t {
  kReadIndex,  // Linearizable: a heartbeat round confirms leadership (default).
  kLease,      // Linearizable under bounded clock drift; needs check_quorum.
};

struct RINGRAFT_API NodeConfig {
  // --- identity ---
  uint64_t node_id = 0;  // Required unless joining (then assigned by the cluster).
  // Required: "host:port" this node listens on and is known by: an IPv4
  // literal, "[ipv6]:port" or a host name (resolved when bound and when
  // peers dial it; see net/address.h).
  std::string address;
  std::string data_dir;     // Required: holds shard-<n>/ LMDB envs and snapshots.
  uint64_t cluster_id = 1;  // Connections from another cluster id are refused.

  // --- membership at bootstrap: either a static peer list (including this
  // node) or an address to join through. Ignored on restart from a data dir.
  std::vector<PeerConfig> peers;
  std::string join_address;  // Any member; the node asks it for an id, then joins.
  // A joiner always enters as a learner. kLearner: it stays one. kVoter: once
  // it is a learner, it asks the leader (every election timeout) to make it
  // a voter; the leader does so only when its progress for the joiner has
  // matched within `promote_max_lag` entries of the leader's last index
  // without a break for an election timeout (Group::promote_learner).
  PeerRole join_as = PeerRole::kVoter;
  uint64_t promote_max_lag = 1000;

  // --- groups and threads ---
  std::vector<uint64_t> groups = {1};  // Raft groups hosted, spread over shards.
  uint32_t shards = 1;                 // Reactor threads, one io_uring each.
  bool pin_shards = false;             // Pin shard n to core n % nproc.

  // --- Raft timing (ticks) ---
  uint32_t tick_interval_ms = 100;
  uint32_t election_ticks = 10;  // Election timeout drawn from [e, 2e) ticks.
  uint32_t heartbeat_ticks = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  ReadMode read_mode = ReadMode::kReadIndex;
  // A group's leader that has had nothing to do for this many ticks, with
  // every live follower holding the whole log, quiesces the group: its
  // members stop ticking and heartbeating until something wakes it (a
  // request, a message, a peer's node falling silent or coming back). 0
  // never quiesces. Needs election_ticks >= 2 (followers see a quiesced
  // leader's node fall silent after election_ticks ticks).
  uint32_t quiesce_ticks = 20;

  // --- Raft limits ---
  uint64_t max_size_per_msg_bytes = 1 << 20;     // Bytes of entries per append message.
  uint32_t max_inflight_msgs = 256;              // Appends in flight per follower.
  uint64_t max_uncommitted_bytes = 64ull << 20;  // Over it, proposals get ResourceExhausted.

  // --- snapshots ---
  uint64_t snapshot_every_entries = 10000;      // 0 disables automatic snapshots.
  uint64_t keep_entries_after_snapshot = 1000;  // Log kept for slow followers.
  uint32_t snapshot_chunk_bytes = 1 << 20;

  // --- storage and network bounds ---
  uint64_t lmdb_map_size_bytes = 1ull << 30;  // Grown on MDB_MAP_FULL while the disk allows.
  // Each shard's journal (storage/journal.h): `journal_segments` files of
  // `journal_segment_bytes`, written in full when created. Its size bounds
  // how far LMDB may fall behind; when full, proposals are refused.
  uint64_t journal_segment_bytes = 8ull << 20;
  uint32_t journal_segments = 4;
  // LMDB commits behind the journal at most once per this interval (µs).
  uint32_t lmdb_commit_interval_us = 5000;
  uint64_t max_frame_bytes = 64ull << 20;
  uint32_t peer_send_queue_frames = 4096;
  uint32_t connect_timeout_ms = 1000;
  // How long start() retries binding `address` while it is still in use
  // (a previous process of this node that just died); 0 fails at once.
  uint32_t bind_retry_ms = 10000;

  // --- client requests ---
  bool forward_to_leader = true;  // Else followers answer NotLeader with a hint.
  uint32_t request_timeout_ms = 5000;
  // Per group: proposals, reads and leader transfers waiting for their
  // answer on this node. Over it, new ones are refused (ResourceExhausted)
  // until some complete, so a flood cannot grow memory without bound.
  uint32_t max_pending_requests = 100000;

  // --- client sessions (exactly-once proposals; [sessions]) ---
  // Per group. Sessions expire after session_expiry_ms without a command,
  // measured in the leaders' clocks carried by the entries (log time).
  uint64_t max_sessions = 10000;
  uint64_t max_session_result_bytes = 1 << 20;  // Unacknowledged results kept per session.
  uint64_t session_expiry_ms = 10 * 60 * 1000;
  // --- leader balance ([balance], see BalanceConfig) ---
  BalanceConfig balance;
  // --- TLS (see TlsConfig; the files are read when the node starts) ---
  TlsConfig tls;

  // Returns the first problem found, naming the field, or OK.
  absl::Status validate() const;
};

// Parses "host:port": an IPv4 literal, "[ipv6]" in brackets, or a host name
// (not resolved here). Port must be 1..65535. `host` is without brackets.
RINGRAFT_API absl::Status parse_host_port(std::string_view address, std::string* host,
                                          uint16_t* port);

// Reads a NodeConfig from TOML text. Unknown keys are errors (a typo must not
// silently fall back to a default). The result is validated.
RINGRAFT_API absl::StatusOr<NodeConfig> parse_config_toml(std::string_view toml_text);

// Reads and parses a TOML file.
RINGRAFT_API absl::StatusOr<NodeConfig> load_config_toml(const std::string& path);

}  // namespace raft
