#include "engine/node/config.h"

#include <toml++/toml.h>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "net/address.h"

namespace raft {
namespace {

// Debian's Abseil is built with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0), so std::string_view must be converted before it meets StrCat.
absl::string_view av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status invalid(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("config: ", av(field), ": ", av(why)));
}

// Reads the keys of one TOML table into typed fields, and remembers which keys
// were consumed so that unknown ones (typos) are reported instead of ignored.
class TableReader {
 public:
  TableReader(const toml::table* table, std::string prefix)
      : table_(table), prefix_(std::move(prefix)) {}

  template <typename T>
  void integer(std::string_view key, T* out) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    auto v = n->value<int64_t>();
    if (!v || !n->is_integer()) return fail(key, "must be an integer");
    if (*v < 0 || static_cast<uint64_t>(*v) > std::numeric_limits<T>::max()) {
      return fail(key, absl::StrCat("out of range: ", *v));
    }
    *out = static_cast<T>(*v);
  }

  void boolean(std::string_view key, bool* out) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    if (!n->is_boolean()) return fail(key, "must be true or false");
    *out = *n->value<bool>();
  }

  void string(std::string_view key, std::string* out) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    if (!n->is_string()) return fail(key, "must be a string");
    *out = *n->value<std::string>();
  }

  void integer_list(std::string_view key, std::vector<uint64_t>* out) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    const toml::array* arr = n->as_array();
    if (arr == nullptr) return fail(key, "must be an array of integers");
    out->clear();
    for (const toml::node& item : *arr) {
      auto v = item.value<int64_t>();
      if (!item.is_integer() || *v < 0) return fail(key, "must hold non-negative integers");
      out->push_back(static_cast<uint64_t>(*v));
    }
  }

  void role(std::string_view key, PeerRole* out) {
    std::string text;
    bool had = table_ != nullptr && table_->contains(key);
    string(key, &text);
    if (!had || !status_.ok()) return;
    if (text == "voter") {
      *out = PeerRole::kVoter;
    } else if (text == "learner") {
      *out = PeerRole::kLearner;
    } else {
      fail(key, absl::StrCat("must be \"voter\" or \"learner\", not \"", text, "\""));
    }
  }

  // Call after reading every known key: reports the first unknown one.
  absl::Status finish() {
    if (!status_.ok() || table_ == nullptr) return status_;
    for (const auto& [k, v] : *table_) {
      if (!seen_.contains(std::string(k.str()))) {
        return invalid(absl::StrCat(prefix_, av(k.str())), "unknown key");
      }
    }
    return absl::OkStatus();
  }

 private:
  const toml::node* find(std::string_view key) {
    seen_.insert(std::string(key));
    if (table_ == nullptr || !status_.ok()) return nullptr;
    return table_->get(key);
  }
  void fail(std::string_view key, std::string_view why) {
    if (status_.ok()) status_ = invalid(absl::StrCat(prefix_, av(key)), why);
  }

  const toml::table* table_;
  std::string prefix_;
  std::set<std::string> seen_;
  absl::Status status_;
};

const toml::table* sub_table(const toml::table& root, std::string_view name, absl::Status* status) {
  const toml::node* n = root.get(name);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) *status = invalid(name, "must be a table");
  return n->as_table();
}

}  // namespace

absl::Status parse_host_port(std::string_view address, std::string* host, uint16_t* port) {
  auto hp = net::split_host_port(address);
  if (!hp.ok()) return hp.status();
  *host = std::move(hp->host);
  *port = hp->port;
  return absl::OkStatus();
}

absl::Status NodeConfig::validate() const {
  std::string host;
  uint16_t port = 0;
  if (address.empty()) return invalid("node.address", "required");
  if (auto s = parse_host_port(address, &host, &port); !s.ok()) {
    return invalid("node.address", std::string(s.message()));
  }
  if (data_dir.empty()) return invalid("node.data_dir", "required");
  if (cluster_id == 0) return invalid("node.cluster_id", "must be non-zero");
  if (node_id == 0 && join_address.empty()) {
    return invalid("node.id", "required (non-zero) unless node.join is set");
  }
  if (!join_address.empty()) {
    if (auto s = parse_host_port(join_address, &host, &port); !s.ok()) {
      return invalid("node.join", std::string(s.message()));
    }
  }
  if (join_as != PeerRole::kVoter && join_as != PeerRole::kLearner) {
    return invalid("node.join_as", "must be voter or learner");
  }
  if (!peers.empty() && !join_address.empty()) {
    return invalid("peers", "give either a static peer list or node.join, not both");
  }
  std::set<uint64_t> ids;
  std::set<std::string> addresses;
  bool self_listed = false;
  size_t voters = 0;
  for (const PeerConfig& p : peers) {
    if (p.id == 0) return invalid("peers.id", "must be non-zero");
    if (!ids.insert(p.id).second) return invalid("peers.id", absl::StrCat("duplicate id ", p.id));
    if (auto s = parse_host_port(p.address, &host, &port); !s.ok()) {
      return invalid(absl::StrCat("peers[id=", p.id, "].address"), std::string(s.message()));
    }
    if (!addresses.insert(p.address).second) {
      return invalid("peers.address", absl::StrCat("duplicate address ", p.address));
    }
    if (p.id == node_id) {
      self_listed = true;
      if (p.address != address) {
        return invalid("peers", absl::StrCat("entry for this node (id ", p.id, ") has address ",
                                             p.address, " but node.address is ", address));
      }
    }
    if (p.role != PeerRole::kVoter && p.role != PeerRole::kLearner) {
      return invalid(absl::StrCat("peers[id=", p.id, "].role"), "must be voter or learner");
    }
    if (p.role == PeerRole::kVoter) ++voters;
  }
  if (!peers.empty() && !self_listed) {
    return invalid("peers",
                   absl::StrCat("the static peer list must include this node (id ", node_id, ")"));
  }
  if (!peers.empty() && voters == 0) return invalid("peers", "needs at least one voter");
  if (groups.empty()) return invalid("node.groups", "needs at least one group");
  std::set<uint64_t> group_ids;
  for (uint64_t g : groups) {
    if (g == 0) return invalid("node.groups", "group ids must be non-zero");
    if (!group_ids.insert(g).second) return invalid("node.groups", absl::StrCat("duplicate ", g));
  }
  if (shards == 0 || shards > 256) return invalid("node.shards", "must be 1..256");
  if (tick_interval_ms == 0) return invalid("raft.tick_interval_ms", "must be positive");
  if (heartbeat_ticks == 0) return invalid("raft.heartbeat_ticks", "must be positive");
  if (election_ticks <= heartbeat_ticks) {
    return invalid("raft.election_ticks", "must be greater than raft.heartbeat_ticks");
  }
  if (read_mode == ReadMode::kLease && !check_quorum) {
    return invalid("raft.read_mode", "lease reads need raft.check_quorum = true");
  }
  if (max_inflight_msgs == 0) return invalid("raft.max_inflight_msgs", "must be positive");
  if (max_size_per_msg_bytes == 0)
    return invalid("raft.max_size_per_msg_bytes", "must be positive");
  if (max_frame_bytes < 4096) return invalid("network.max_frame_bytes", "must be at least 4096");
  if (max_size_per_msg_bytes + 4096 > max_frame_bytes) {
    return invalid("raft.max_size_per_msg_bytes", "must leave room below network.max_frame_bytes");
  }
  if (snapshot_chunk_bytes == 0 || snapshot_chunk_bytes + 4096 > max_frame_bytes) {
    return invalid("snapshot.chunk_bytes", "must be positive and below network.max_frame_bytes");
  }
  if (journal_segment_bytes < (64u << 10) || journal_segment_bytes % 4096 != 0) {
    return invalid("storage.journal_segment_bytes",
                   "must be a multiple of 4096 and at least 64 KiB");
  }
  if (journal_segments < 2) return invalid("storage.journal_segments", "must be at least 2");
  if (lmdb_map_size_bytes < (1u << 20)) {
    return invalid("storage.lmdb_map_size_bytes", "must be at least 1 MiB");
  }
  if (peer_send_queue_frames == 0)
    return invalid("network.peer_send_queue_frames", "must be positive");
  if (request_timeout_ms == 0) return invalid("client.request_timeout_ms", "must be positive");
  if (max_sessions == 0) return invalid("sessions.max_sessions", "must be positive");
  if (session_expiry_ms == 0) return invalid("sessions.expiry_ms", "must be positive");
  if (max_pending_requests == 0) {
    return invalid("client.max_pending_requests", "must be positive");
  }
  if (balance.period_ticks == 0) return invalid("balance.period_ticks", "must be positive");
  if (balance.max_transfers_per_period == 0) {
    return invalid("balance.max_transfers_per_period", "must be positive");
  }
  if (tls.enabled()) {
    for (auto [field, value] :
         {std::pair{"tls.ca_file", &tls.ca_file}, std::pair{"tls.cert_file", &tls.cert_file},
          std::pair{"tls.key_file", &tls.key_file}}) {
      if (value->empty()) {
        return invalid(field,
                       "missing: with [tls], ca_file, cert_file and key_file are all needed");
      }
    }
    if (tls.handshake_timeout_ms == 0)
      return invalid("tls.handshake_timeout_ms", "must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<NodeConfig> parse_config_toml(std::string_view toml_text) {
  // Debian's toml++ is built with exceptions, so a syntax error is thrown.
  toml::table root;
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error& err) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: TOML syntax error at line ", err.source().begin.line, ", column ",
                     err.source().begin.column, ": ", av(err.description())));
  }
  NodeConfig c;
  absl::Status status;
  for (const auto& [key, value] : root) {
    static const std::set<std::string> kSections = {"node",    "raft",   "snapshot", "storage",
                                                    "network", "client", "sessions", "balance",
                                                    "peers",   "tls"};
    if (!kSections.contains(std::string(key.str()))) return invalid(key.str(), "unknown section");
  }

  TableReader node(sub_table(root, "node", &status), "node.");
  node.integer("id", &c.node_id);
  node.string("address", &c.address);
  node.string("data_dir", &c.data_dir);
  node.integer("cluster_id", &c.cluster_id);
  node.string("join", &c.join_address);
  node.role("join_as", &c.join_as);
  node.integer("promote_max_lag", &c.promote_max_lag);
  node.integer_list("groups", &c.groups);
  node.integer("shards", &c.shards);
  node.boolean("pin_shards", &c.pin_shards);
  if (auto s = node.finish(); !s.ok()) return s;

  TableReader raft(sub_table(root, "raft", &status), "raft.");
  raft.integer("tick_interval_ms", &c.tick_interval_ms);
  raft.integer("election_ticks", &c.election_ticks);
  raft.integer("heartbeat_ticks", &c.heartbeat_ticks);
  raft.boolean("pre_vote", &c.pre_vote);
  raft.boolean("check_quorum", &c.check_quorum);
  raft.integer("quiesce_ticks", &c.quiesce_ticks);
  std::string read_mode;
  raft.string("read_mode", &read_mode);
  raft.integer("max_size_per_msg_bytes", &c.max_size_per_msg_bytes);
  raft.integer("max_inflight_msgs", &c.max_inflight_msgs);
  raft.integer("max_uncommitted_bytes", &c.max_uncommitted_bytes);
  if (auto s = raft.finish(); !s.ok()) return s;
  if (read_mode == "lease") {
    c.read_mode = ReadMode::kLease;
  } else if (!read_mode.empty() && read_mode != "read_index") {
    return invalid("raft.read_mode", "must be \"read_index\" or \"lease\"");
  }

  TableReader snap(sub_table(root, "snapshot", &status), "snapshot.");
  snap.integer("every_entries", &c.snapshot_every_entries);
  snap.integer("keep_entries", &c.keep_entries_after_snapshot);
  snap.integer("chunk_bytes", &c.snapshot_chunk_bytes);
  if (auto s = snap.finish(); !s.ok()) return s;

  TableReader storage(sub_table(root, "storage", &status), "storage.");
  storage.integer("lmdb_map_size_bytes", &c.lmdb_map_size_bytes);
  storage.integer("journal_segment_bytes", &c.journal_segment_bytes);
  storage.integer("journal_segments", &c.journal_segments);
  storage.integer("lmdb_commit_interval_us", &c.lmdb_commit_interval_us);
  if (auto s = storage.finish(); !s.ok()) return s;

  TableReader net(sub_table(root, "network", &status), "network.");
  net.integer("max_frame_bytes", &c.max_frame_bytes);
  net.integer("peer_send_queue_frames", &c.peer_send_queue_frames);
  net.integer("connect_timeout_ms", &c.connect_timeout_ms);
  net.integer("bind_retry_ms", &c.bind_retry_ms);
  if (auto s = net.finish(); !s.ok()) return s;

  TableReader client(sub_table(root, "client", &status), "client.");
  client.boolean("forward_to_leader", &c.forward_to_leader);
  client.integer("request_timeout_ms", &c.request_timeout_ms);
  client.integer("max_pending_requests", &c.max_pending_requests);
  if (auto s = client.finish(); !s.ok()) return s;

  TableReader sessions(sub_table(root, "sessions", &status), "sessions.");
  sessions.integer("max_sessions", &c.max_sessions);
  sessions.integer("max_result_bytes", &c.max_session_result_bytes);
  sessions.integer("expiry_ms", &c.session_expiry_ms);
  if (auto s = sessions.finish(); !s.ok()) return s;
  TableReader balance(sub_table(root, "balance", &status), "balance.");
  balance.boolean("leaders", &c.balance.leaders);
  balance.integer("margin", &c.balance.margin);
  balance.integer("period_ticks", &c.balance.period_ticks);
  balance.integer("max_transfers_per_period", &c.balance.max_transfers_per_period);
  if (auto s = balance.finish(); !s.ok()) return s;
  TableReader tls(sub_table(root, "tls", &status), "tls.");
  tls.string("ca_file", &c.tls.ca_file);
  tls.string("cert_file", &c.tls.cert_file);
  tls.string("key_file", &c.tls.key_file);
  tls.boolean("verify_peer", &c.tls.verify_peer);
  tls.boolean("client_cert_required", &c.tls.client_cert_required);
  tls.boolean("allow_tls12", &c.tls.allow_tls12);
  tls.integer("handshake_timeout_ms", &c.tls.handshake_timeout_ms);
  if (auto s = tls.finish(); !s.ok()) return s;
  if (!status.ok()) return status;

  if (const toml::node* peers = root.get("peers")) {
    const toml::array* arr = peers->as_array();
    if (arr == nullptr) return invalid("peers", "must be an array of tables ([[peers]])");
    for (const toml::node& item : *arr) {
      const toml::table* t = item.as_table();
      if (t == nullptr) return invalid("peers", "each entry must be a table");
      PeerConfig p;
      TableReader r(t, "peers.");
      r.integer("id", &p.id);
      r.string("address", &p.address);
      r.role("role", &p.role);
      r.string("tls_name", &p.tls_name);
      if (auto s = r.finish(); !s.ok()) return s;
      c.peers.push_back(std::move(p));
    }
  }
  if (auto s = c.validate(); !s.ok()) return s;
  return c;
}

absl::StatusOr<NodeConfig> load_config_toml(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config: cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  auto config = parse_config_toml(text.str());
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace raft
