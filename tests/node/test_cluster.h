// Helpers for node tests: free loopback ports, temporary data dirs, a small
// replicated state machine, and polling with a deadline (no sleeps as
// synchronisation).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <optional>
#include <sstream>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/node/state_machine.h"

namespace raft::testing {

// A port that was free a moment ago on 127.0.0.1, never handed out twice in
// this process. It is drawn below the kernel's ephemeral range (32768+): a
// port from bind(0) comes from that range, where an outgoing connection of a
// concurrent test can take it between this check and the node's own bind.
inline uint16_t free_port() {
  static std::mutex mu;
  static std::set<uint16_t> handed_out;
  static std::mt19937 rng(static_cast<uint32_t>(::getpid()) * 2654435761u);
  std::lock_guard<std::mutex> lock(mu);
  for (;;) {
    auto port = static_cast<uint16_t>(10000 + rng() % 22000);
    if (!handed_out.insert(port).second) continue;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    ::close(fd);
    if (ok) return port;
  }
}

inline std::string temp_dir(const std::string& name) {
  std::string dir = absl::StrCat(std::filesystem::temp_directory_path().string(), "/ringraft-",
                                 name, "-", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Polls `cond` until it holds or `timeout` passes. Returns whether it held.
inline bool eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

// "key=value" puts into a map; apply returns the previous value or "<none>".
class MapStateMachine : public StateMachine {
 public:
  std::string apply(uint64_t index, std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_applied_ = index;
    size_t eq = data.find('=');
    std::string key(data.substr(0, eq));
    std::string value(eq == std::string_view::npos ? "" : data.substr(eq + 1));
    auto it = map_.find(key);
    std::string previous = it == map_.end() ? "<none>" : it->second;
    map_[key] = value;
    ++applies_;
    return previous;
  }
  absl::StatusOr<std::string> query(std::string_view key) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(std::string(key));
    if (it == map_.end()) return absl::NotFoundError("no such key");
    return it->second;
  }
  absl::Status snapshot(SnapshotWriter& writer) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& [k, v] : map_) absl::StrAppend(&out, k, "=", v, "\n");
    return writer.write(out);
  }
  absl::Status restore(SnapshotReader& reader) override {
    std::string all;
    char buf[4096];
    for (;;) {
      auto n = reader.read(std::span<char>(buf, sizeof(buf)));
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      all.append(buf, *n);
    }
    std::lock_guard<std::mutex> lock(mu_);
    map_.clear();
    size_t pos = 0;
    while (pos < all.size()) {
      size_t nl = all.find('\n', pos);
      std::string line = all.substr(pos, nl - pos);
      size_t eq = line.find('=');
      map_[line.substr(0, eq)] = line.substr(eq + 1);
      pos = nl + 1;
    }
    ++restores_;
    return absl::OkStatus();
  }
  std::map<std::string, std::string> contents() const {
    std::lock_guard<std::mutex> lock(mu_);
    return map_;
  }
  uint64_t applies() const {
    std::lock_guard<std::mutex> lock(mu_);
    return applies_;
  }
  uint64_t restores() const {
    std::lock_guard<std::mutex> lock(mu_);
    return restores_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> map_;
  uint64_t last_applied_ = 0;
  uint64_t applies_ = 0;
  uint64_t restores_ = 0;
};

// The value of a counter line "name value" in Prometheus text.
inline std::optional<uint64_t> metric_value(const std::string& text, const std::string& name) {
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (line.rfind(name + " ", 0) == 0) {
      uint64_t v = 0;
      if (absl::SimpleAtoi(line.substr(name.size() + 1), &v)) return v;
    }
  }
  return std::nullopt;
}

}  // namespace raft::testing
