#include "net/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

#include "absl/container/flat_hash_map.h"

namespace raft::net {

std::shared_ptr<spdlog::logger> net_logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto existing = spdlog::get("net");
    return existing ? existing : spdlog::stderr_color_mt("net");
  }();
  return logger;
}

bool log_allowed(std::string_view key, std::chrono::steady_clock::duration interval) {
  // Per thread (each shard logs alone), bounded: a flood of distinct keys
  // resets the table rather than growing it.
  thread_local absl::flat_hash_map<std::string, std::chrono::steady_clock::time_point> last;
  auto now = std::chrono::steady_clock::now();
  if (last.size() > 4096) last.clear();
  auto [it, inserted] = last.try_emplace(std::string(key), now);
  if (inserted) return true;
  if (now - it->second < interval) return false;
  it->second = now;
  return true;
}

}  // namespace raft::net
