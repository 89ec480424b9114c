// raftctl: the operator's tool for a ringraft cluster.
//
//   raftctl describe logs <data-dir> [--group G] [--raw] [--from I] [--limit N]
//   raftctl describe metadata <data-dir>
//   raftctl describe journal <data-dir | shard-dir>
//   raftctl describe node <address> [--group G]
//   raftctl members list                      --cluster A[,B...] [--group G]
//   raftctl members add <id> <address> [--learner] --cluster ...
//   raftctl members remove <id>               --cluster ...
//   raftctl transfer-leader <id>              --cluster ...
//   raftctl snapshot                          --cluster ...   (on the node reached first)
//   raftctl group create <G> --members 1=A,2=B,3=C [--learners 4=D]
//   raftctl group remove <G> --members 1=A,... | --cluster A,B,...
//
// Output is a readable table; --json prints JSON for scripts. The describe
// logs/metadata commands open a data dir that no node is using (the node
// holds a lock on each shard env); a missing or damaged dir is an error that
// names it. describe journal only reads: the journal files, and LMDB's
// journal mark in a read-only env (no replay, no owner lock).
// Exit status: 0 ok, 1 failure, 2 usage.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/table.h"
#include "engine/core/conf_change.h"
#include "engine/node/client.h"
#include "engine/node/errors.h"
#include "storage/journal.h"
#include "storage/lmdb_env.h"
#include "storage/log_env.h"

namespace raft::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kUsage[] = R"(usage:
  raftctl describe logs <data-dir> [--group G] [--raw] [--from I] [--limit N] [--json]
  raftctl describe metadata <data-dir> [--json]
  raftctl describe journal <data-dir|shard-dir> [--json]
  raftctl describe node <address> [--group G] [--json]
  raftctl members list [--group G] --cluster <addr,...> [--json]
  raftctl members add <id> <address> [--learner] [--group G] --cluster <addr,...> [--json]
  raftctl members remove <id> [--group G] --cluster <addr,...> [--json]
  raftctl transfer-leader <id> [--group G] --cluster <addr,...> [--json]
  raftctl snapshot [--group G] --cluster <addr,...> [--json]
  raftctl group create <G> --members <id=addr,...> [--learners <id=addr,...>] [--json]
  raftctl group remove <G> (--members <id=addr,...> | --cluster <addr,...>) [--json]
Options:
  --cluster A,B   any members' addresses (the client follows the leader)
  --members L     group create/remove: the group's members as id=address,...;
                  each one is asked (create: all get the same list), and
                  each one's answer is reported; re-run to retry the others
  --learners L    group create: initial learners, id=address,...
  --group G       Raft group (default 1)
  --json          JSON output for scripts
  --cacert FILE   TLS: the CA the nodes' certificates chain to (turns TLS on)
  --cert FILE     TLS: a client certificate, for nodes that require one
  --key FILE      TLS: its private key
  --server-name N TLS: the name (DNS or IP) node certificates must be for
  --raw           describe logs: whole payloads in hex instead of a preview
  --from I        describe logs: first index (default: the first in the log)
  --limit N       describe logs: at most N entries (default 1000))";

int usage(const std::string& problem) {
  if (!problem.empty()) std::cerr << "raftctl: " << problem << "\n";
  std::cerr << kUsage << "\n";
  return 2;
}

int fail(const absl::Status& status) {
  std::cerr << "raftctl: " << status.message() << " (" << absl::StatusCodeToString(status.code())
            << ")\n";
  return 1;
}

struct Args {
  std::vector<std::string> positional;
  std::vector<std::string> cluster;
  std::vector<PeerConfig> members;  // --members (voters), then --learners.
  uint64_t group = 1;
  bool json = false, raw = false, learner = false;
  uint64_t from = 0, limit = 1000;
  ClientOptions::Tls tls;
};

// The client options of a command talking to a live cluster.
ClientOptions client_options(const Args& a, int max_attempts) {
  ClientOptions o;
  o.max_attempts = max_attempts;
  o.tls = a.tls;
  return o;
}

absl::StatusOr<Args> parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto number = [&](uint64_t* out) -> absl::Status {
      if (i + 1 >= argc || !absl::SimpleAtoi(argv[i + 1], out)) {
        return absl::InvalidArgumentError(s + " needs a number");
      }
      ++i;
      return absl::OkStatus();
    };
    absl::Status st;
    if (s == "--json") {
      a.json = true;
    } else if (s == "--raw") {
      a.raw = true;
    } else if (s == "--learner") {
      a.learner = true;
    } else if (s == "--group") {
      st = number(&a.group);
    } else if (s == "--from") {
      st = number(&a.from);
    } else if (s == "--limit") {
      st = number(&a.limit);
    } else if (s == "--cacert" || s == "--cert" || s == "--key" || s == "--server-name") {
      if (i + 1 >= argc) return absl::InvalidArgumentError(s + " needs a value");
      std::string& field = s == "--cacert" ? a.tls.ca_file
                           : s == "--cert" ? a.tls.cert_file
                           : s == "--key"  ? a.tls.key_file
                                           : a.tls.server_name;
      field = argv[++i];
    } else if (s == "--members" || s == "--learners") {
      if (i + 1 >= argc) return absl::InvalidArgumentError(s + " needs id=address,...");
      for (absl::string_view piece : absl::StrSplit(argv[++i], ',', absl::SkipEmpty())) {
        const std::string item(piece);
        const size_t eq = item.find('=');
        PeerConfig p;
        if (eq == std::string::npos || !absl::SimpleAtoi(item.substr(0, eq), &p.id) || p.id == 0 ||
            eq + 1 == item.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat(s, ": \"", item, "\" is not id=address (id > 0)"));
        }
        p.address = item.substr(eq + 1);
        p.role = s == "--members" ? PeerRole::kVoter : PeerRole::kLearner;
        a.members.push_back(std::move(p));
      }
    } else if (s == "--cluster") {
      if (i + 1 >= argc) return absl::InvalidArgumentError("--cluster needs addresses");
      a.cluster = absl::StrSplit(argv[++i], ',', absl::SkipEmpty());
    } else if (s.starts_with("--")) {
      return absl::InvalidArgumentError("unknown option " + s);
    } else {
      a.positional.push_back(s);
    }
    if (!st.ok()) return st;
  }
  return a;
}

// ---------------------------------------------------------------------------
// Data dirs.

struct DataDir {
  std::optional<uint64_t> node_id;
  std::vector<std::unique_ptr<storage::LogEnv>> shards;
};

absl::StatusOr<DataDir> open_data_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(dir + ": no such data dir");
  uint32_t count = 0;
  while (fs::exists(absl::StrCat(dir, "/shard-", count, "/data.mdb"), ec)) ++count;
  if (count == 0) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": not a ringraft data dir (no shard-0/data.mdb)"));
  }
  DataDir out;
  std::ifstream id_file(dir + "/node_id");
  if (id_file) {
    uint64_t id = 0;
    std::string text;
    id_file >> text;
    if (!absl::SimpleAtoi(text, &id)) {
      return absl::DataLossError(absl::StrCat(dir, "/node_id: not a node id: \"", text, "\""));
    }
    out.node_id = id;
  }
  for (uint32_t s = 0; s < count; ++s) {
    storage::EnvOptions o;
    o.dir = absl::StrCat(dir, "/shard-", s);
    o.shard = s;
    o.shard_count = count;
    // A node's shard has a journal: opening replays what LMDB lacks (as the
    // node would at its next start), with the segments it has (none added).
    std::error_code ec;
    o.journal = std::filesystem::exists(o.dir + "/journal", ec);
    o.journal_segments = 0;
    auto env = storage::LogEnv::open(o);
    if (!env.ok()) {
      return absl::Status(env.status().code(),
                          absl::StrCat("cannot open ", o.dir,
                                       " (is a node running on it?): ", env.status().message()));
    }
    out.shards.push_back(std::move(*env));
  }
  return out;
}

std::string ids(const std::vector<NodeId>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i ? "," : "", v[i]);
  return out;
}

std::string ids_json(const std::vector<NodeId>& v) { return "[" + ids(v) + "]"; }

std::string conf_json(const ConfState& cs) {
  return absl::StrCat("{\"voters\":", ids_json(cs.voters), ",\"learners\":", ids_json(cs.learners),
                      ",\"voters_outgoing\":", ids_json(cs.voters_outgoing), "}");
}

// The membership a restart would rebuild: the stored conf state (or the
// snapshot's), then every conf change entry of the log on top of it.
// Simple changes only; a joint config shows its incoming voters.
ConfState membership(const storage::LogEnv& env, GroupId g, const storage::GroupState& st) {
  ConfState cs = st.conf_state;
  if (cs.voters.empty() && cs.learners.empty() && st.snapshot) cs = st.snapshot->meta.conf_state;
  auto erase = [](std::vector<NodeId>& v, NodeId n) { std::erase(v, n); };
  Index lo = st.first_index();
  while (lo <= st.last_index) {
    auto entries = env.entries(g, lo, st.last_index + 1, 4 << 20);
    if (!entries.ok() || entries->empty()) break;
    for (const Entry& e : *entries) {
      lo = e.index + 1;
      if (e.type != EntryType::kConfChange) continue;
      auto cc = decode_conf_change(
          std::string_view(reinterpret_cast<const char*>(e.data.data()), e.data.size()));
      if (!cc.ok()) continue;
      for (const ConfChangeSingle& c : cc->changes) {
        erase(cs.voters, c.node);
        erase(cs.learners, c.node);
        if (c.type == ConfChangeType::kAddVoter) cs.voters.push_back(c.node);
        if (c.type == ConfChangeType::kAddLearner) cs.learners.push_back(c.node);
      }
    }
  }
  std::sort(cs.voters.begin(), cs.voters.end());
  std::sort(cs.learners.begin(), cs.learners.end());
  return cs;
}

int describe_metadata(const Args& a) {
  auto dd = open_data_dir(a.positional[2]);
  if (!dd.ok()) return fail(dd.status());
  Table t({"shard", "group", "term", "vote", "commit", "first", "last", "voters", "learners",
           "snapshot"});
  std::string json =
      absl::StrCat("{\"data_dir\":", quote(a.positional[2]),
                   ",\"node_id\":", dd->node_id ? absl::StrCat(*dd->node_id) : "null",
                   ",\"shards\":", dd->shards.size(), ",\"groups\":[");
  bool first = true;
  for (size_t s = 0; s < dd->shards.size(); ++s) {
    storage::LogEnv& env = *dd->shards[s];
    for (GroupId g : env.groups()) {
      storage::GroupState st = env.group_state(g);
      st.conf_state = membership(env, g, st);
      std::string snap = "-";
      std::string snap_json = "null";
      if (st.snapshot) {
        snap = absl::StrCat(st.snapshot->meta.index, "@", st.snapshot->meta.term, " (",
                            st.snapshot->file_bytes, " B)");
        snap_json = absl::StrCat("{\"index\":", st.snapshot->meta.index,
                                 ",\"term\":", st.snapshot->meta.term,
                                 ",\"file_bytes\":", st.snapshot->file_bytes,
                                 ",\"conf_state\":", conf_json(st.snapshot->meta.conf_state), "}");
      }
      t.add({absl::StrCat(s), absl::StrCat(g), absl::StrCat(st.hard_state.term),
             absl::StrCat(st.hard_state.vote), absl::StrCat(st.hard_state.commit),
             absl::StrCat(st.first_index()), absl::StrCat(st.last_index), ids(st.conf_state.voters),
             ids(st.conf_state.learners), snap});
      absl::StrAppend(&json, first ? "" : ",", "{\"shard\":", s, ",\"group\":", g,
                      ",\"term\":", st.hard_state.term, ",\"vote\":", st.hard_state.vote,
                      ",\"commit\":", st.hard_state.commit, ",\"first_index\":", st.first_index(),
                      ",\"last_index\":", st.last_index,
                      ",\"conf_state\":", conf_json(st.conf_state), ",\"snapshot\":", snap_json,
                      "}");
      first = false;
    }
  }
  json += "]}";
  if (a.json) {
    std::cout << json << "\n";
  } else {
    std::cout << "data dir " << a.positional[2] << ": node "
              << (dd->node_id ? absl::StrCat(*dd->node_id) : "?") << ", " << dd->shards.size()
              << " shard(s)\n";
    t.print(std::cout);
  }
  return 0;
}

std::string hex(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// Printable characters as they are, the rest as \xNN; cut at `max` chars.
std::string preview(std::string_view bytes, size_t max) {
  std::string out;
  for (unsigned char c : bytes) {
    if (out.size() >= max) return out + "...";
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "\\x", hex(std::string_view(reinterpret_cast<char*>(&c), 1)));
    }
  }
  return out;
}

std::string describe_conf_change(std::string_view data) {
  auto cc = decode_conf_change(data);
  if (!cc.ok()) return "undecodable conf change: " + std::string(cc.status().message());
  if (cc->is_leave_joint()) return "leave joint config";
  std::string out;
  for (const ConfChangeSingle& c : cc->changes) {
    const char* what = c.type == ConfChangeType::kAddVoter     ? "add_voter"
                       : c.type == ConfChangeType::kAddLearner ? "add_learner"
                                                               : "remove";
    absl::StrAppend(&out, out.empty() ? "" : ", ", what, " ", c.node);
  }
  return out;
}

int describe_logs(const Args& a) {
  auto dd = open_data_dir(a.positional[2]);
  if (!dd.ok()) return fail(dd.status());
  storage::LogEnv* env = nullptr;
  for (auto& e : dd->shards) {
    for (GroupId g : e->groups()) {
      if (g == a.group) env = e.get();
    }
  }
  if (env == nullptr) {
    return fail(
        absl::NotFoundError(absl::StrCat("group ", a.group, " has no log in ", a.positional[2])));
  }
  const Index first = env->first_index(a.group);
  const Index last = env->last_index(a.group);
  Index lo = std::max<Index>(first, a.from);
  const Index hi = std::min<Index>(last + 1, lo + a.limit);
  Table t({"index", "term", "type", "bytes", a.raw ? "data (hex)" : "data"});
  std::string json = absl::StrCat("{\"group\":", a.group, ",\"first_index\":", first,
                                  ",\"last_index\":", last, ",\"entries\":[");
  bool first_entry = true;
  while (lo < hi) {
    auto entries = env->entries(a.group, lo, hi, 4 << 20);
    if (!entries.ok()) return fail(entries.status());
    for (const Entry& e : *entries) {
      std::string_view data(reinterpret_cast<const char*>(e.data.data()), e.data.size());
      const bool conf = e.type == EntryType::kConfChange;
      std::string shown = a.raw          ? hex(data)
                          : conf         ? describe_conf_change(data)
                          : data.empty() ? "(leader no-op)"
                                         : preview(data, 60);
      t.add({absl::StrCat(e.index), absl::StrCat(e.term), conf ? "conf" : "normal",
             absl::StrCat(data.size()), shown});
      absl::StrAppend(&json, first_entry ? "" : ",", "{\"index\":", e.index, ",\"term\":", e.term,
                      ",\"type\":\"", conf ? "conf" : "normal", "\",\"bytes\":", data.size(),
                      ",\"data_hex\":\"", hex(data), "\"",
                      conf ? absl::StrCat(",\"change\":", quote(describe_conf_change(data))) : "",
                      "}");
      first_entry = false;
      lo = e.index + 1;
    }
    if (entries->empty()) break;
  }
  json += "]}";
  if (a.json) {
    std::cout << json << "\n";
  } else {
    std::cout << "group " << a.group << ": entries " << first << ".." << last << " ("
              << (last + 1 - first) << ")\n";
    t.print(std::cout);
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Journals.

// The shard dirs whose journal `dir` names: `dir` itself when it holds a
// journal/ (a shard dir), else its shard-0, shard-1, ... (a node's data dir,
// as describe logs takes).
absl::StatusOr<std::vector<std::string>> journal_shard_dirs(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(dir + ": no such directory");
  if (fs::is_directory(dir + "/journal", ec)) return std::vector<std::string>{dir};
  std::vector<std::string> out;
  for (uint32_t s = 0; fs::is_directory(absl::StrCat(dir, "/shard-", s), ec); ++s) {
    out.push_back(absl::StrCat(dir, "/shard-", s));
  }
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat(
        dir, ": neither a shard dir (no journal/) nor a ringraft data dir (no shard-0/)"));
  }
  return out;
}

// LMDB's journal mark of a shard dir (the newest journal record LMDB holds),
// read in a read-only env: no owner lock, no replay, a running node may hold
// the env. nullopt without a data.mdb.
absl::StatusOr<std::optional<uint64_t>> lmdb_journal_mark(const std::string& shard_dir) {
  std::error_code ec;
  if (!fs::exists(shard_dir + "/data.mdb", ec)) return std::optional<uint64_t>();
  storage::EnvOptions o;
  o.dir = shard_dir;
  o.read_only = true;
  storage::LmdbEnv env(o);
  if (auto s = env.open(); !s.ok()) return s;
  auto mark = env.read_journal_mark();
  if (!mark.ok()) return mark.status();
  return std::optional<uint64_t>(*mark);
}

std::string seq_text(uint64_t seq) { return seq == 0 ? "-" : absl::StrCat(seq); }

// Whether LMDB holds a segment's records: all, none or some of them.
std::string in_lmdb(const storage::JournalDescription::Segment& seg,
                    const std::optional<uint64_t>& mark) {
  if (!mark || seg.records == 0) return "-";
  if (seg.last_seq <= *mark) return "yes";
  if (seg.first_seq > *mark) return "no";
  return "partly";
}

int describe_journal(const Args& a) {
  const std::string& arg = a.positional[2];
  auto shard_dirs = journal_shard_dirs(arg);
  if (!shard_dirs.ok()) return fail(shard_dirs.status());
  std::string text;
  std::string json = absl::StrCat("{\"dir\":", quote(arg), ",\"shards\":[");
  size_t journals = 0;
  absl::Status mark_error;  // Reported after the journals: they are still shown.
  for (size_t i = 0; i < shard_dirs->size(); ++i) {
    const std::string& shard = (*shard_dirs)[i];
    const std::string journal_dir = shard + "/journal";
    absl::StrAppend(&json, i ? "," : "", "{\"shard_dir\":", quote(shard), ",\"journal\":");
    std::error_code ec;
    if (!fs::is_directory(journal_dir, ec)) {
      absl::StrAppend(&text, "shard dir ", shard, ": no journal\n");
      json += "null}";
      continue;
    }
    ++journals;
    auto d = storage::describe_journal(journal_dir);
    if (!d.ok()) return fail(d.status());
    std::optional<uint64_t> mark;
    std::string mark_text = "no LMDB env (no data.mdb)";
    if (auto m = lmdb_journal_mark(shard); !m.ok()) {
      if (mark_error.ok()) mark_error = m.status();
      mark_text = absl::StrCat("unreadable: ", m.status().message());
    } else if (*m) {
      mark = *m;
      mark_text = **m == 0 ? "0 (none)" : absl::StrCat(**m);
    }
    uint64_t records = 0;
    Table segs({"segment", "first", "last", "records", "bytes", "in lmdb"});
    std::string segs_json;
    for (const storage::JournalDescription::Segment& seg : d->segments) {
      records += seg.records;
      segs.add({fs::path(seg.file).filename().string(), seq_text(seg.first_seq),
                seq_text(seg.last_seq), absl::StrCat(seg.records), absl::StrCat(seg.bytes),
                in_lmdb(seg, mark)});
      absl::StrAppend(&segs_json, segs_json.empty() ? "" : ",", "{\"file\":", quote(seg.file),
                      ",\"first_seq\":", seg.first_seq, ",\"last_seq\":", seg.last_seq,
                      ",\"records\":", seg.records, ",\"bytes\":", seg.bytes, "}");
    }
    Table groups({"group", "records"});
    std::string groups_json;
    for (const auto& [g, n] : d->records_per_group) {
      groups.add({absl::StrCat(g), absl::StrCat(n)});
      absl::StrAppend(&groups_json, groups_json.empty() ? "" : ",", "{\"group\":", g,
                      ",\"records\":", n, "}");
    }
    const uint64_t to_replay =
        mark && d->last_seq > *mark ? d->last_seq - std::max(*mark, d->first_seq - 1) : 0;
    absl::StrAppend(&json, "{\"dir\":", quote(journal_dir), ",\"segment_bytes\":", d->segment_bytes,
                    ",\"first_seq\":", d->first_seq, ",\"last_seq\":", d->last_seq,
                    ",\"records\":", records,
                    ",\"lmdb_journal_mark\":", mark ? absl::StrCat(*mark) : "null",
                    ",\"to_replay\":", mark ? absl::StrCat(to_replay) : "null", ",\"segments\":[",
                    segs_json, "],\"records_per_group\":[", groups_json, "]}}");
    std::ostringstream tables;
    segs.print(tables);
    groups.print(tables);
    absl::StrAppend(
        &text, "shard dir ", shard, ": journal ", journal_dir, ", ", d->segments.size(),
        " segment(s) of ", d->segment_bytes, " B\n", "records ",
        d->first_seq == 0
            ? "none"
            : absl::StrCat(seq_text(d->first_seq), "..", seq_text(d->last_seq), " (", records, ")"),
        "; LMDB journal mark: ", mark_text,
        mark ? absl::StrCat(" (", to_replay, " record(s) to replay at the next open)") : "", "\n",
        tables.str());
  }
  json += "]}";
  if (journals == 0) {
    return fail(
        absl::NotFoundError(absl::StrCat(arg, ": no journal (no shard has a journal/ dir)")));
  }
  std::cout << (a.json ? json + "\n" : text);
  return mark_error.ok() ? 0 : fail(mark_error);
}

// ---------------------------------------------------------------------------
// Live nodes.

int describe_node(const Args& a) {
  Client client({a.positional[2]}, client_options(a, 3));
  auto status = client.status(a.group);
  if (!status.ok()) return fail(status.status());
  if (a.json) {
    std::cout << *status << "\n";
    return 0;
  }
  Table t({"field", "value"});
  for (const char* key : {"id", "term", "vote", "leader", "commit", "applied", "first_index",
                          "last_index", "snapshot_index", "pending_proposals", "pending_reads"}) {
    if (auto v = json_field(*status, key)) t.add({key, *v});
  }
  if (auto v = json_field(*status, "role")) t.add({"role", *v});
  std::cout << "node " << a.positional[2] << ", group " << a.group << "\n";
  t.print(std::cout);
  return 0;
}

int members_list(Client& client, const Args& a) {
  auto peers = client.peers(a.group);
  if (!peers.ok()) return fail(peers.status());
  auto leader = client.leader(a.group);
  Table t({"id", "address", "leader"});
  std::string json = "{\"members\":[";
  bool first = true;
  for (const auto& [id, address] : *peers) {
    const bool is_leader = leader.ok() && leader->leader_id == id;
    t.add({absl::StrCat(id), address, is_leader ? "*" : ""});
    absl::StrAppend(&json, first ? "" : ",", "{\"id\":", id, ",\"address\":", quote(address),
                    ",\"leader\":", is_leader ? "true" : "false", "}");
    first = false;
  }
  json += "]}";
  if (a.json) {
    std::cout << json << "\n";
  } else {
    t.print(std::cout);
  }
  return 0;
}

int print_conf(const absl::StatusOr<ConfState>& cs, const Args& a) {
  if (!cs.ok()) return fail(cs.status());
  if (a.json) {
    std::cout << conf_json(*cs) << "\n";
  } else {
    Table t({"voters", "learners"});
    t.add({ids(cs->voters), ids(cs->learners)});
    t.print(std::cout);
  }
  return 0;
}

// group create / remove: asks every member itself (no leader is involved:
// each node creates or removes its own replica) and reports each answer.
// Exit 0 only if every member answered OK; running it again is safe (both
// are idempotent on a node).
int group_command(const Args& a) {
  const std::vector<std::string>& p = a.positional;
  uint64_t group = 0;
  if (p.size() != 3 || (p[1] != "create" && p[1] != "remove") || !absl::SimpleAtoi(p[2], &group) ||
      group == 0) {
    return usage("group create|remove <G> (G > 0)");
  }
  const bool create = p[1] == "create";
  std::vector<PeerConfig> targets = a.members;
  if (create) {
    if (targets.empty()) return usage("group create needs --members id=address,...");
  } else if (targets.empty()) {
    for (const std::string& address : a.cluster) targets.push_back(PeerConfig{0, address});
    if (targets.empty()) return usage("group remove needs --members or --cluster");
  }
  Table t({"node", "address", "result"});
  std::string json = absl::StrCat("{\"group\":", group, ",\"nodes\":[");
  size_t ok = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const PeerConfig& target = targets[i];
    ClientOptions o = client_options(a, 3);
    o.request_timeout = std::chrono::seconds(5);
    Client client({target.address}, o);
    absl::StatusOr<NodeId> answer =
        create ? client.create_group(group, a.members) : client.remove_group(group);
    const NodeId node = answer.ok() ? *answer : target.id;
    std::string result;
    if (answer.ok()) {
      ++ok;
      result = create ? "created" : "removed";
    } else if (absl::IsDeadlineExceeded(answer.status()) || absl::IsUnavailable(answer.status())) {
      result = absl::StrCat("no answer: ", answer.status().message());
    } else {
      result = absl::StrCat("error (", absl::StatusCodeToString(answer.status().code()),
                            "): ", answer.status().message());
    }
    t.add({node != 0 ? absl::StrCat(node) : "?", target.address, result});
    absl::StrAppend(&json, i == 0 ? "" : ",", "{\"node\":", node,
                    ",\"address\":", quote(target.address),
                    ",\"ok\":", answer.ok() ? "true" : "false", ",\"result\":", quote(result), "}");
  }
  absl::StrAppend(&json, "],\"ok\":", ok, ",\"failed\":", targets.size() - ok, "}");
  if (a.json) {
    std::cout << json << "\n";
  } else {
    t.print(std::cout);
    std::cout << "group " << group << ": " << (create ? "created on " : "removed from ") << ok
              << " of " << targets.size() << " node(s)"
              << (ok == targets.size() ? "" : "; run it again to retry the others") << "\n";
  }
  return ok == targets.size() ? 0 : 1;
}

int cluster_command(const Args& a) {
  if (!a.positional.empty() && a.positional[0] == "group") return group_command(a);
  if (a.cluster.empty()) return usage("--cluster <addr,...> is required");
  Client client(a.cluster, client_options(a, 10));
  const std::vector<std::string>& p = a.positional;
  const std::string& cmd = p[0];
  if (cmd == "members") {
    if (p.size() < 2) return usage("members list|add|remove");
    if (p[1] == "list" && p.size() == 2) return members_list(client, a);
    uint64_t id = 0;
    if (p.size() < 3 || !absl::SimpleAtoi(p[2], &id) || id == 0) {
      return usage("members add|remove needs a node id > 0");
    }
    if (p[1] == "add" && p.size() == 4) {
      MemberChange change{a.learner ? MemberChangeKind::kAddLearner : MemberChangeKind::kAddVoter,
                          id, p[3]};
      return print_conf(client.change_config(a.group, {change}), a);
    }
    if (p[1] == "remove" && p.size() == 3) {
      return print_conf(
          client.change_config(a.group, {MemberChange{MemberChangeKind::kRemove, id, ""}}), a);
    }
    return usage("members add <id> <address> [--learner] | members remove <id>");
  }
  if (cmd == "transfer-leader") {
    uint64_t id = 0;
    if (p.size() != 2 || !absl::SimpleAtoi(p[1], &id) || id == 0) {
      return usage("transfer-leader <id>");
    }
    // The transfer is started by the leader: find it first.
    auto leader = client.leader(a.group);
    if (!leader.ok()) return fail(leader.status());
    if (leader->leader_id == 0) return fail(absl::UnavailableError("no leader"));
    Client at_leader({leader->address}, client_options(a, 10));
    if (auto s = at_leader.transfer_leader(a.group, id); !s.ok()) return fail(s);
    if (a.json) {
      std::cout << "{\"leader_id\":" << id << "}\n";
    } else {
      std::cout << "leadership of group " << a.group << " moved to node " << id << "\n";
    }
    return 0;
  }
  if (cmd == "snapshot") {
    if (p.size() != 1) return usage("snapshot takes no argument");
    auto index = client.snapshot(a.group);
    if (!index.ok()) return fail(index.status());
    if (a.json) {
      std::cout << "{\"snapshot_index\":" << *index << ",\"node\":" << quote(client.connected_to())
                << "}\n";
    } else {
      std::cout << "snapshot of group " << a.group << " at index " << *index << " on "
                << client.connected_to() << "\n";
    }
    return 0;
  }
  return usage("unknown command " + cmd);
}

int run(int argc, char** argv) {
  auto args = parse(argc, argv);
  if (!args.ok()) return usage(std::string(args.status().message()));
  const std::vector<std::string>& p = args->positional;
  if (p.empty()) return usage("");
  if (p[0] == "help") {
    std::cout << kUsage << "\n";
    return 0;
  }
  if (p[0] == "describe") {
    if (p.size() != 3) {
      return usage("describe logs|metadata|journal <data-dir> | describe node <address>");
    }
    if (p[1] == "logs") return describe_logs(*args);
    if (p[1] == "metadata") return describe_metadata(*args);
    if (p[1] == "journal") return describe_journal(*args);
    if (p[1] == "node") return describe_node(*args);
    return usage("describe logs|metadata|journal|node");
  }
  return cluster_command(*args);
}

}  // namespace
}  // namespace raft::cli

int main(int argc, char** argv) { return raft::cli::run(argc, argv); }
