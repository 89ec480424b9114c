// ProcessCluster: clusters of real ringraft_test_node processes for the
// multi-process tests (and the soak driver). Each node is a child process
// (fork+exec) with its own TOML config, LMDB data dir and log file under one
// temporary directory; the helper tracks PIDs, kills with SIGKILL for
// crashes or SIGTERM for clean stops, always reaps, and removes the
// directory at the end (kept, with log tails printed, when a test failed).
//
// Everything the tests learn about the nodes comes through the client
// protocol (engine/node/client.h) or the files the node program writes
// (ready, status.json, metrics.txt). Waiting is polling with a deadline.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/node/client.h"
#include "engine/node/config.h"
#include "tests/node/test_cluster.h"

#ifndef RINGRAFT_TEST_NODE_PATH
#error "RINGRAFT_TEST_NODE_PATH must name the ringraft_test_node binary"
#endif

namespace raft::testing {

// Settings written into every node's config.
struct ProcessOptions {
  std::vector<uint64_t> groups = {1};
  uint32_t tick_interval_ms = 20;
  uint32_t election_ticks = 10;
  uint64_t snapshot_every_entries = 10000;
  uint64_t keep_entries = 1000;
  uint32_t request_timeout_ms = 5000;
  // Host of every node's address: "127.0.0.1", "[::1]", "localhost", ...
  std::string host = "127.0.0.1";
  // Extra lines for every node's [node] table (e.g. "promote_max_lag = 100").
  std::string node_extra;
};

// ---- Small readers of the node's JSON status and Prometheus text.

// The unsigned number after the first "key": in `json`, if any.
inline std::optional<uint64_t> json_uint(const std::string& json, const std::string& key) {
  const std::string k = absl::StrCat("\"", key, "\":");
  size_t pos = json.find(k);
  if (pos == std::string::npos) return std::nullopt;
  pos += k.size();
  size_t end = pos;
  while (end < json.size() && json[end] >= '0' && json[end] <= '9') ++end;
  uint64_t v = 0;
  if (!absl::SimpleAtoi(json.substr(pos, end - pos), &v)) return std::nullopt;
  return v;
}

// The string after the first "key": in `json`.
inline std::string json_string(const std::string& json, const std::string& key) {
  const std::string k = absl::StrCat("\"", key, "\":\"");
  size_t pos = json.find(k);
  if (pos == std::string::npos) return "";
  pos += k.size();
  return json.substr(pos, json.find('"', pos) - pos);
}

// The ids in the array after the first "key": in `json` (e.g. "voters").
inline std::set<uint64_t> json_ids(const std::string& json, const std::string& key) {
  std::set<uint64_t> out;
  const std::string k = absl::StrCat("\"", key, "\":[");
  size_t pos = json.find(k);
  if (pos == std::string::npos) return out;
  pos += k.size();
  size_t end = json.find(']', pos);
  std::string inner = json.substr(pos, end - pos);
  std::stringstream ss(inner);
  std::string item;
  while (std::getline(ss, item, ',')) {
    uint64_t v = 0;
    if (absl::SimpleAtoi(item, &v)) out.insert(v);
  }
  return out;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A client that talks to one node only and gives up quickly (probes).
inline std::unique_ptr<Client> probe_client(const std::string& address, int attempts = 1) {
  ClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(300);
  o.request_timeout = std::chrono::milliseconds(3000);
  o.max_attempts = attempts;
  o.backoff_initial = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(100);
  return std::make_unique<Client>(std::vector<std::string>{address}, o);
}

class ProcessCluster {
 public:
  struct Proc {
    uint64_t id = 0;  // 0 until a joiner learned its id.
    std::string address;
    std::string dir;  // Data dir.
    std::string config_path;
    std::string log_path;
    std::string join_address;  // Non-empty: a joiner without an id.
    std::string node_extra;    // Extra lines for this node's [node] table.
    std::vector<PeerConfig> peers;
    pid_t pid = -1;
  };

  ProcessCluster(const std::string& name, ProcessOptions options = {})
      : root_(temp_dir(name)), options_(std::move(options)) {}

  ~ProcessCluster() {
    for (auto& [id, p] : procs_) kill9(id);
    for (auto& p : joiners_) {
      if (p.pid > 0) {
        ::kill(p.pid, SIGKILL);
        ::waitpid(p.pid, nullptr, 0);
      }
    }
    if (keep_dir_) {
      print_logs();
      std::fprintf(stderr, "process cluster kept at %s\n", root_.c_str());
    } else {
      std::filesystem::remove_all(root_);
    }
  }
  ProcessCluster(const ProcessCluster&) = delete;
  ProcessCluster& operator=(const ProcessCluster&) = delete;

  // Call with true when the test failed: the directory is kept and the log
  // tails are printed.
  void keep_on_failure(bool failed) { keep_dir_ = keep_dir_ || failed; }

  // Defines nodes 1..n as a static cluster of voters (not started).
  void define_static(int n) {
    std::vector<PeerConfig> peers;
    for (int i = 1; i <= n; ++i) {
      peers.push_back(PeerConfig{static_cast<uint64_t>(i), new_address(), PeerRole::kVoter});
    }
    for (const PeerConfig& p : peers) {
      Proc proc = make_proc(p.id, p.address);
      proc.peers = peers;
      procs_[p.id] = std::move(proc);
    }
  }
  // Defines a node with a known id and no peer list, pointed at a member
  // ([node] join) to learn the peers' addresses: it waits to be added by a
  // membership change (not started).
  void define_spare(uint64_t id, const std::string& member_address) {
    procs_[id] = make_proc(id, new_address());
    procs_[id].join_address = member_address;
  }

  // Starts (or restarts) a defined node and waits until it serves.
  absl::Status start(uint64_t id) {
    Proc& p = procs_.at(id);
    if (p.pid > 0) return absl::FailedPreconditionError(absl::StrCat("node ", id, " runs"));
    write_config(p);
    if (auto s = spawn(p); !s.ok()) return s;
    auto ready = wait_ready(p);
    if (!ready.ok()) return ready.status();
    return absl::OkStatus();
  }
  absl::Status start_all() {
    // Spawn every node first so that they come up together.
    for (auto& [id, p] : procs_) {
      if (p.pid > 0) continue;
      write_config(p);
      if (auto s = spawn(p); !s.ok()) return s;
    }
    for (auto& [id, p] : procs_) {
      auto ready = wait_ready(p);
      if (!ready.ok()) return ready.status();
    }
    return absl::OkStatus();
  }

  // Spawns a joiner (no id, [node] join = join_address) without waiting;
  // returns its index for finish_join().
  absl::StatusOr<size_t> spawn_joiner(const std::string& join_address,
                                      const std::string& node_extra = "") {
    Proc p = make_proc(0, new_address());
    p.join_address = join_address;
    p.node_extra = node_extra;
    write_config(p);
    if (auto s = spawn(p); !s.ok()) return s;
    joiners_.push_back(std::move(p));
    return joiners_.size() - 1;
  }
  // Waits for joiner `index` to serve and returns the id it was assigned; it
  // becomes a regular node under that id.
  absl::StatusOr<uint64_t> finish_join(size_t index) {
    Proc& p = joiners_.at(index);
    auto id = wait_ready(p);
    if (!id.ok()) return id.status();
    if (procs_.contains(*id)) return absl::AlreadyExistsError(absl::StrCat("id ", *id, " twice"));
    p.id = *id;
    procs_[*id] = std::move(p);
    p = Proc{};
    return *id;
  }

  // Extra lines for node `id`'s [node] table from its next start on.
  void set_node_extra(uint64_t id, const std::string& lines) { procs_.at(id).node_extra = lines; }

  // SIGSTOP / SIGCONT: the node freezes (its peers see it as unreachable).
  void pause(uint64_t id) { ::kill(procs_.at(id).pid, SIGSTOP); }
  void resume(uint64_t id) { ::kill(procs_.at(id).pid, SIGCONT); }

  // SIGKILL and reap. No-op if not running.
  void kill9(uint64_t id) {
    Proc& p = procs_.at(id);
    if (p.pid <= 0) return;
    ::kill(p.pid, SIGKILL);
    ::waitpid(p.pid, nullptr, 0);
    p.pid = -1;
  }
  // SIGTERM, then waits for a clean exit (status 0).
  absl::Status terminate(uint64_t id,
                         std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    Proc& p = procs_.at(id);
    if (p.pid <= 0) return absl::OkStatus();
    ::kill(p.pid, SIGTERM);
    int status = 0;
    pid_t got = 0;
    bool exited = eventually(
        [&] {
          got = ::waitpid(p.pid, &status, WNOHANG);
          return got == p.pid;
        },
        timeout);
    if (!exited) {
      ::kill(p.pid, SIGKILL);
      ::waitpid(p.pid, nullptr, 0);
      p.pid = -1;
      return absl::DeadlineExceededError(absl::StrCat("node ", id, " ignored SIGTERM"));
    }
    p.pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return absl::InternalError(absl::StrCat("node ", id, " exited with status ", status));
    }
    return absl::OkStatus();
  }

  // Reaps the nodes that exited on their own (a crash: an assertion, a
  // failed restore) since the last call; returns "id: status" for each. They
  // count as not running afterwards.
  std::vector<std::string> reap_exited() {
    std::vector<std::string> out;
    for (auto& [id, p] : procs_) {
      if (p.pid <= 0) continue;
      int status = 0;
      if (::waitpid(p.pid, &status, WNOHANG) != p.pid) continue;
      p.pid = -1;
      keep_dir_ = true;
      out.push_back(absl::StrCat("node ", id, ": ",
                                 WIFSIGNALED(status)
                                     ? absl::StrCat("killed by signal ", WTERMSIG(status))
                                     : absl::StrCat("exited with status ", WEXITSTATUS(status))));
    }
    return out;
  }

  bool running(uint64_t id) const {
    auto it = procs_.find(id);
    return it != procs_.end() && it->second.pid > 0;
  }
  std::vector<uint64_t> running_ids() const {
    std::vector<uint64_t> out;
    for (const auto& [id, p] : procs_) {
      if (p.pid > 0) out.push_back(id);
    }
    return out;
  }
  const std::string& address(uint64_t id) const { return procs_.at(id).address; }
  const std::string& dir(uint64_t id) const { return procs_.at(id).dir; }
  std::vector<std::string> addresses(const std::vector<uint64_t>& ids) const {
    std::vector<std::string> out;
    for (uint64_t id : ids) out.push_back(address(id));
    return out;
  }
  std::vector<std::string> running_addresses() const { return addresses(running_ids()); }

  // Everything node `id` logged so far (all its runs).
  std::string log(uint64_t id) const { return read_file(procs_.at(id).log_path); }

  // A client over every running node, patient enough to ride out elections.
  std::unique_ptr<Client> client(uint64_t seed = 1) const {
    ClientOptions o;
    o.seed = seed;
    o.connect_timeout = std::chrono::milliseconds(300);
    o.max_attempts = 60;
    o.backoff_max = std::chrono::milliseconds(300);
    return std::make_unique<Client>(running_addresses(), o);
  }

  // The leader of `group` that every node in `among` (default: every running
  // node) agrees on, if it is among them; else 0.
  uint64_t leader(GroupId group = 1, std::vector<uint64_t> among = {}) const {
    if (among.empty()) among = running_ids();
    uint64_t seen = 0;
    for (uint64_t id : among) {
      if (!running(id)) return 0;
      auto l = probe_client(address(id))->leader(group);
      if (!l.ok() || l->leader_id == 0) return 0;
      if (seen != 0 && seen != l->leader_id) return 0;
      seen = l->leader_id;
    }
    return std::find(among.begin(), among.end(), seen) != among.end() ? seen : 0;
  }
  uint64_t wait_leader(GroupId group = 1, std::vector<uint64_t> among = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    uint64_t l = 0;
    eventually([&] { return (l = leader(group, among)) != 0; }, timeout);
    return l;
  }

  // The group's status JSON from node `id` ("" if unreachable).
  std::string status(uint64_t id, GroupId group = 1) const {
    auto s = probe_client(address(id))->status(group);
    return s.ok() ? *s : std::string();
  }

  // Asks node `id` to dump its node status and metrics (SIGUSR1) and returns
  // the metrics text once written.
  std::string metrics(uint64_t id) const {
    const Proc& p = procs_.at(id);
    const std::string path = p.dir + "/metrics.txt";
    std::filesystem::remove(path);
    ::kill(p.pid, SIGUSR1);
    std::string text;
    eventually([&] { return !(text = read_file(path)).empty(); }, std::chrono::seconds(5));
    return text;
  }

  void print_logs(size_t tail_lines = 25) const {
    auto print = [&](const Proc& p) {
      std::ifstream in(p.log_path);
      std::vector<std::string> lines;
      std::string line;
      while (std::getline(in, line)) lines.push_back(line);
      std::fprintf(stderr, "---- node %lu (%s) log tail ----\n", static_cast<unsigned long>(p.id),
                   p.address.c_str());
      for (size_t i = lines.size() > tail_lines ? lines.size() - tail_lines : 0; i < lines.size();
           ++i) {
        std::fprintf(stderr, "%s\n", lines[i].c_str());
      }
    };
    for (const auto& [id, p] : procs_) print(p);
    for (const Proc& p : joiners_) {
      if (!p.log_path.empty()) print(p);
    }
  }

  const ProcessOptions& options() const { return options_; }

 private:
  std::string new_address() { return absl::StrCat(options_.host, ":", free_port()); }

  Proc make_proc(uint64_t id, std::string address) {
    Proc p;
    p.id = id;
    p.address = std::move(address);
    const std::string name =
        absl::StrCat("n", id == 0 ? absl::StrCat("j", ++joiner_seq_) : absl::StrCat(id));
    p.dir = absl::StrCat(root_, "/", name);
    p.config_path = absl::StrCat(root_, "/", name, ".toml");
    p.log_path = absl::StrCat(root_, "/", name, ".log");
    return p;
  }

  void write_config(const Proc& p) const {
    std::string t = "[node]\n";
    if (p.id != 0) absl::StrAppend(&t, "id = ", p.id, "\n");
    absl::StrAppend(&t, "address = \"", p.address, "\"\n", "data_dir = \"", p.dir, "\"\n",
                    "groups = [", absl::StrJoin(options_.groups, ", "), "]\n");
    if (!p.join_address.empty()) absl::StrAppend(&t, "join = \"", p.join_address, "\"\n");
    absl::StrAppend(&t, options_.node_extra, options_.node_extra.empty() ? "" : "\n");
    absl::StrAppend(&t, p.node_extra, p.node_extra.empty() ? "" : "\n");
    absl::StrAppend(&t, "\n[raft]\ntick_interval_ms = ", options_.tick_interval_ms,
                    "\nelection_ticks = ", options_.election_ticks, "\n\n[snapshot]\n",
                    "every_entries = ", options_.snapshot_every_entries,
                    "\nkeep_entries = ", options_.keep_entries,
                    "\n\n[client]\nrequest_timeout_ms = ", options_.request_timeout_ms, "\n");
    for (const PeerConfig& peer : p.peers) {
      absl::StrAppend(&t, "\n[[peers]]\nid = ", peer.id, "\naddress = \"", peer.address,
                      "\"\nrole = \"", peer.role == PeerRole::kVoter ? "voter" : "learner", "\"\n");
    }
    std::ofstream out(p.config_path, std::ios::trunc);
    out << t;
  }

  absl::Status spawn(Proc& p) {
    std::filesystem::create_directories(p.dir);
    std::filesystem::remove(p.dir + "/ready");
    // Everything the child needs is prepared before fork: it only calls
    // async-signal-safe functions.
    std::string bin = RINGRAFT_TEST_NODE_PATH;
    std::string flag = "--config";
    std::vector<char*> argv = {bin.data(), flag.data(), p.config_path.data(), nullptr};
    int log_fd = ::open(p.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return absl::InternalError(absl::StrCat("cannot open ", p.log_path));
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
      ::close(log_fd);
      return absl::InternalError("fork failed");
    }
    if (pid == 0) {
      // Die with the test process, whatever kills it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      int null_fd = ::open("/dev/null", O_RDONLY);
      if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log_fd);
    p.pid = pid;
    return absl::OkStatus();
  }

  // Waits for the node's ready file; returns its id. Fails early if the
  // process exited.
  absl::StatusOr<uint64_t> wait_ready(Proc& p) {
    const std::string path = p.dir + "/ready";
    std::string text;
    bool died = false;
    bool ok = eventually(
        [&] {
          int status = 0;
          if (::waitpid(p.pid, &status, WNOHANG) == p.pid) {
            died = true;
            p.pid = -1;
            return true;
          }
          text = read_file(path);
          return !text.empty() && text.back() == '\n';
        },
        std::chrono::seconds(20));
    if (died || !ok) {
      keep_dir_ = true;
      return absl::UnavailableError(
          absl::StrCat("node at ", p.address, died ? " exited" : " did not get ready",
                       "; log: ", p.log_path, "\n", read_file(p.log_path)));
    }
    uint64_t id = 0;
    if (!absl::SimpleAtoi(text.substr(0, text.find(' ')), &id) || id == 0) {
      return absl::DataLossError(absl::StrCat("bad ready file: ", text));
    }
    return id;
  }

  std::string root_;
  ProcessOptions options_;
  std::map<uint64_t, Proc> procs_;
  std::vector<Proc> joiners_;  // Spawned, id not known yet.
  int joiner_seq_ = 0;
  bool keep_dir_ = false;
};

}  // namespace raft::testing
