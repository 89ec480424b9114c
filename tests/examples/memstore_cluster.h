// Test helpers for the examples: memstore nodes started as real processes
// (by PID, on 127.0.0.1 with free ports and temp data dirs), a blocking
// HTTP/1.1 client, and running a command to capture its output.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/node/test_cluster.h"

namespace raft::examples_test {

// Ports, temp dirs and polling are shared with the node tests.
using raft::testing::eventually;
using raft::testing::free_port;
using raft::testing::temp_dir;

// The value of the Prometheus sample `name` (with its labels) in `text`, or -1.
inline double metric(const std::string& text, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, name + " ")) continue;
    double v = -1;
    return absl::SimpleAtod(line.substr(name.size() + 1), &v) ? v : -1;
  }
  return -1;
}

struct HttpResult {
  int status = 0;                              // 0: no answer (connect or read failed).
  std::map<std::string, std::string> headers;  // Lower-cased names.
  std::string body;
};

inline int connect_to(const std::string& host_port) {
  std::vector<std::string> hp = absl::StrSplit(host_port, ':');
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(hp[1])));
  ::inet_pton(AF_INET, hp[0].c_str(), &a.sin_addr);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Parses every complete response in `raw` (Content-Length framed).
inline std::vector<HttpResult> parse_responses(std::string raw) {
  std::vector<HttpResult> out;
  while (true) {
    size_t end = raw.find("\r\n\r\n");
    if (end == std::string::npos) break;
    HttpResult r;
    std::vector<std::string> lines = absl::StrSplit(raw.substr(0, end), "\r\n");
    std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
    if (first.size() < 2 || !absl::SimpleAtoi(first[1], &r.status)) break;
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      r.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    size_t length = 0;
    if (r.headers.contains("content-length")) {
      (void)absl::SimpleAtoi(r.headers["content-length"], &length);
    }
    if (raw.size() < end + 4 + length) break;
    r.body = raw.substr(end + 4, length);
    raw.erase(0, end + 4 + length);
    out.push_back(std::move(r));
  }
  return out;
}

// Sends raw bytes on a new connection and reads until the server closes it.
inline std::string exchange_raw(const std::string& address, std::string_view bytes) {
  int fd = connect_to(address);
  if (fd < 0) return "";
  std::string raw;
  if (send_all(fd, bytes)) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      raw.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return raw;
}

inline std::string request_bytes(const std::string& method, const std::string& path,
                                 const std::string& body, bool close) {
  return absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: test\r\nContent-Length: ", body.size(),
                      "\r\n", close ? "Connection: close\r\n" : "", "\r\n", body);
}

inline HttpResult http(const std::string& address, const std::string& method,
                       const std::string& path, const std::string& body = "") {
  auto responses =
      parse_responses(exchange_raw(address, request_bytes(method, path, body, /*close=*/true)));
  return responses.empty() ? HttpResult{} : responses[0];
}

// A child process whose output goes to a log file; killed by PID.
class Process {
 public:
  // `env`: NAME=VALUE settings added to the child's environment.
  Process(std::vector<std::string> argv, const std::string& log_path,
          const std::vector<std::string>& env = {})
      : log_(log_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Process() { kill(SIGKILL); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exited_; }
  void kill(int sig) {
    if (!running()) return;
    ::kill(pid_, sig);
    if (sig == SIGKILL) wait_exit(std::chrono::seconds(10));
  }
  // The exit status once it exited (within `timeout`), else nullopt.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    if (exited_) return status_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        exited_ = true;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_;
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::string log() const {
    std::ifstream in(log_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// Runs a shell command; returns its exit status, stdout and stderr.
struct CommandResult {
  int status = -1;
  std::string out;
  std::string err;
};

inline CommandResult run_command(const std::string& command, const std::string& scratch_dir) {
  const std::string out_path = scratch_dir + "/cmd.out";
  const std::string err_path = scratch_dir + "/cmd.err";
  int st = std::system((command + " >" + out_path + " 2>" + err_path).c_str());
  CommandResult r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  auto read = [](const std::string& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  r.out = read(out_path);
  r.err = read(err_path);
  return r;
}

// N memstore processes with static membership, one TOML file each.
class MemstoreCluster {
 public:
  MemstoreCluster(int n, const std::string& name) : dir_(temp_dir(name)) {
    for (int i = 1; i <= n; ++i) {
      raft_.push_back(absl::StrCat("127.0.0.1:", free_port()));
      http_.push_back(absl::StrCat("127.0.0.1:", free_port()));
    }
    procs_.resize(n);
  }
  ~MemstoreCluster() {
    for (auto& p : procs_) p.reset();
    std::filesystem::remove_all(dir_);
  }

  int size() const { return static_cast<int>(raft_.size()); }
  const std::string& dir() const { return dir_; }
  std::string data_dir(int id) const { return absl::StrCat(dir_, "/data-", id); }
  const std::string& raft_address(int id) const { return raft_[id - 1]; }
  const std::string& http_address(int id) const { return http_[id - 1]; }
  Process* process(int id) { return procs_[id - 1].get(); }

  void start(int id, std::vector<std::string> extra = {},
             const std::vector<std::string>& env = {}) {
    std::string toml =
        absl::StrCat("[node]\nid = ", id, "\naddress = \"", raft_address(id), "\"\ndata_dir = \"",
                     data_dir(id), "\"\n[raft]\ntick_interval_ms = 20\nelection_ticks = 10\n");
    for (int p = 1; p <= size(); ++p) {
      absl::StrAppend(&toml, "[[peers]]\nid = ", p, "\naddress = \"", raft_address(p), "\"\n");
    }
    const std::string path = absl::StrCat(dir_, "/n", id, ".toml");
    std::ofstream(path) << toml;
    std::vector<std::string> argv = {MEMSTORE_BIN,     "--config",    path,  "--http",
                                     http_address(id), "--log-level", "warn"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    procs_[id - 1] = std::make_unique<Process>(argv, absl::StrCat(dir_, "/n", id, ".log"), env);
  }
  void start_all() {
    for (int i = 1; i <= size(); ++i) start(i);
  }

  // Static members from one shared file that lists only the peers (with
  // their roles); each node gets its own id, address and data dir as flags.
  std::string write_cluster_file(const std::set<int>& learners) {
    std::string toml = "[raft]\ntick_interval_ms = 20\nelection_ticks = 10\n";
    for (int p = 1; p <= size(); ++p) {
      absl::StrAppend(&toml, "[[peers]]\nid = ", p, "\naddress = \"", raft_address(p),
                      "\"\nrole = \"", learners.contains(p) ? "learner" : "voter", "\"\n");
    }
    const std::string path = dir_ + "/cluster.toml";
    std::ofstream(path) << toml;
    return path;
  }
  void start_with_cluster_file(int id, const std::string& path) {
    std::vector<std::string> argv = {
        MEMSTORE_BIN,     "--config",       path,         "--id",       std::to_string(id),
        "--address",      raft_address(id), "--data-dir", data_dir(id), "--http",
        http_address(id), "--log-level",    "warn"};
    procs_[id - 1] = std::make_unique<Process>(argv, absl::StrCat(dir_, "/n", id, ".log"));
  }

  // The leader id as seen by node `id` (0 if none or no answer).
  int leader_seen_by(int id) {
    HttpResult r = http(http_address(id), "GET", "/leader");
    if (r.status != 200) return 0;
    size_t at = r.body.find("\"leader_id\":");
    int leader = 0;
    if (at == std::string::npos) return 0;
    (void)absl::SimpleAtoi(r.body.substr(at + 12, r.body.find(',', at) - at - 12), &leader);
    return leader;
  }
  // Waits until every running node agrees on one leader; returns it (0 on timeout).
  int wait_leader() {
    int leader = 0;
    eventually([&] {
      leader = 0;
      for (int i = 1; i <= size(); ++i) {
        if (!procs_[i - 1] || !procs_[i - 1]->running()) continue;
        int l = leader_seen_by(i);
        if (l == 0 || (leader != 0 && l != leader)) return false;
        leader = l;
      }
      return leader != 0 && leader <= size() && procs_[leader - 1] && procs_[leader - 1]->running();
    });
    return leader;
  }

 private:
  std::string dir_;
  std::vector<std::string> raft_;
  std::vector<std::string> http_;
  std::vector<std::unique_ptr<Process>> procs_;
};

}  // namespace raft::examples_test
