// Key-value helpers for the multi-process tests: writes and reads of
// memstore KV commands through the client library, pipelined in chunks, and
// a background writer that records which writes were acknowledged.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/node/client.h"
#include "engine/node/errors.h"
#include "examples/memstore/kv_state_machine.h"
#include "protocol/client_codec.h"
#include "protocol/client_errors.h"

namespace raft::testing {

inline absl::Status kv_put(Client& client, GroupId group, const std::string& key,
                           const std::string& value) {
  auto r = client.propose(group, memstore::encode_put(key, value));
  if (!r.ok()) return r.status();
  if (r->result.rfind("error", 0) == 0) return absl::InternalError(r->result);
  return absl::OkStatus();
}

// Writes key -> value for every pair: the first through call() (which finds
// the leader), the rest pipelined on that connection in chunks; whatever a
// pipelined chunk could not write is retried one by one.
inline absl::Status kv_put_many(Client& client, GroupId group,
                                const std::vector<std::pair<std::string, std::string>>& kvs) {
  if (kvs.empty()) return absl::OkStatus();
  if (auto s = kv_put(client, group, kvs[0].first, kvs[0].second); !s.ok()) return s;
  constexpr size_t kChunk = 200;
  for (size_t begin = 1; begin < kvs.size(); begin += kChunk) {
    const size_t end = std::min(kvs.size(), begin + kChunk);
    std::vector<protocol::ClientRequest> batch;
    for (size_t i = begin; i < end; ++i) {
      protocol::ClientRequest req;
      req.kind = protocol::RequestKind::kPropose;
      req.group = group;
      req.data = Slice(memstore::encode_put(kvs[i].first, kvs[i].second));
      batch.push_back(std::move(req));
    }
    auto replies = client.call_pipelined(std::move(batch));
    for (size_t i = begin; i < end; ++i) {
      if (replies.ok() && protocol::response_status((*replies)[i - begin]).ok()) continue;
      // Puts are idempotent here: writing the same value again is harmless.
      if (auto s = kv_put(client, group, kvs[i].first, kvs[i].second); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

inline std::vector<std::pair<std::string, std::string>> make_kvs(const std::string& prefix, int n) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < n; ++i) out.emplace_back(absl::StrCat(prefix, i), absl::StrCat("v", i));
  return out;
}

// Reads every key (pipelined in chunks on the client's connection). Absent
// keys map to nullopt; any other error fails the whole read.
inline absl::StatusOr<std::map<std::string, std::optional<std::string>>> kv_read_many(
    Client& client, GroupId group, const std::vector<std::string>& keys, ReadConsistency mode) {
  std::map<std::string, std::optional<std::string>> out;
  constexpr size_t kChunk = 500;
  for (size_t begin = 0; begin < keys.size(); begin += kChunk) {
    const size_t end = std::min(keys.size(), begin + kChunk);
    std::vector<protocol::ClientRequest> batch;
    for (size_t i = begin; i < end; ++i) {
      protocol::ClientRequest req;
      req.kind = protocol::RequestKind::kRead;
      req.group = group;
      req.consistency = mode;
      req.data = Slice(keys[i]);
      batch.push_back(std::move(req));
    }
    auto replies = client.call_pipelined(std::move(batch));
    if (!replies.ok()) return replies.status();
    for (size_t i = begin; i < end; ++i) {
      const protocol::ClientResponse& r = (*replies)[i - begin];
      absl::Status s = protocol::response_status(r);
      if (s.ok()) {
        out[keys[i]] = r.result.to_string();
      } else if (absl::IsNotFound(s)) {
        out[keys[i]] = std::nullopt;
      } else {
        return s;
      }
    }
  }
  return out;
}

// How many of `kvs` node-side reads return with the expected value (-1 on
// a read error).
inline int64_t kv_count_matching(Client& client, GroupId group,
                                 const std::vector<std::pair<std::string, std::string>>& kvs,
                                 ReadConsistency mode) {
  std::vector<std::string> keys;
  for (const auto& kv : kvs) keys.push_back(kv.first);
  auto got = kv_read_many(client, group, keys, mode);
  if (!got.ok()) return -1;
  int64_t n = 0;
  for (const auto& [k, v] : kvs) {
    auto it = got->find(k);
    if (it != got->end() && it->second == v) ++n;
  }
  return n;
}

// Proposes unique keys "<prefix><n>" one after another from its own thread
// until stopped, and records the ones that were acknowledged.
class BackgroundWriter {
 public:
  BackgroundWriter(std::vector<std::string> addresses, GroupId group, std::string prefix,
                   uint64_t seed = 7)
      : group_(group), prefix_(std::move(prefix)) {
    ClientOptions o;
    o.seed = seed;
    o.connect_timeout = std::chrono::milliseconds(300);
    o.request_timeout = std::chrono::milliseconds(3000);
    o.max_attempts = 40;
    o.backoff_max = std::chrono::milliseconds(200);
    client_ = std::make_unique<Client>(std::move(addresses), o);
    thread_ = std::thread([this] { run(); });
  }
  ~BackgroundWriter() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t acked_count() const { return acked_n_.load(); }
  uint64_t failed_count() const { return failed_.load(); }
  std::vector<std::pair<std::string, std::string>> acked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }

 private:
  void run() {
    for (uint64_t n = 0; !stop_; ++n) {
      std::string key = absl::StrCat(prefix_, n);
      std::string value = absl::StrCat("w", n);
      if (kv_put(*client_, group_, key, value).ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        acked_.emplace_back(std::move(key), std::move(value));
        acked_n_.fetch_add(1);
      } else {
        failed_.fetch_add(1);  // Outcome unknown or refused: not counted.
      }
    }
  }

  GroupId group_;
  std::string prefix_;
  std::unique_ptr<Client> client_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_n_{0};
  std::atomic<uint64_t> failed_{0};
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> acked_;
  std::thread thread_;
};

}  // namespace raft::testing
