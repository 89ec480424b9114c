// Logging for net/: one spdlog logger ("net") and a per-thread rate limiter
// for everything a peer or a client can trigger (bad frames, handshake
// mismatches, resets): at most one line per key (peer + event) per interval.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <string_view>

namespace raft::net {

std::shared_ptr<spdlog::logger> net_logger();

inline constexpr std::chrono::seconds kLogInterval{10};

// True when a line for `key` may be logged now (then not again for `interval`).
bool log_allowed(std::string_view key, std::chrono::steady_clock::duration interval = kLogInterval);

}  // namespace raft::net

#define RAFT_NET_LOG_LIMITED(level, key, ...)             \
  do {                                                    \
    if (::raft::net::log_allowed(key)) {                  \
      ::raft::net::net_logger()->log(level, __VA_ARGS__); \
    }                                                     \
  } while (0)
