#include "engine/node/session_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/node/errors.h"
#include "protocol/records/le_bytes.h"

namespace raft {
namespace {

constexpr uint8_t kSessionTableVersion = 1;
// Bounds a decoder trusts before allocating: a malformed count or length
// must not make it allocate what the bytes cannot hold.
constexpr size_t kSessionRecordBytes = 8 * 3 + 4;
constexpr size_t kResultRecordBytes = 8 + 4;

using protocol::put_u32;
using protocol::put_u64;
using SessionReader = protocol::LeReader;

}  // namespace

void SessionTable::advance(uint64_t leader_time_ms, std::vector<uint64_t>* expired) {
  if (leader_time_ms > log_time_) log_time_ = leader_time_ms;
  if (log_time_ <= limits_.expiry_ms) return;
  const uint64_t idle_since = log_time_ - limits_.expiry_ms;
  while (!by_activity_.empty() && by_activity_.begin()->first < idle_since) {
    const uint64_t id = by_activity_.begin()->second;
    by_activity_.erase(by_activity_.begin());
    sessions_.erase(id);
    if (expired != nullptr) expired->push_back(id);
  }
}

void SessionTable::touch(uint64_t id, Session& s) {
  if (s.last_active == log_time_) return;
  by_activity_.erase({s.last_active, id});
  s.last_active = log_time_;
  by_activity_.insert({s.last_active, id});
}

absl::Status SessionTable::open(uint64_t id) {
  if (sessions_.contains(id)) {
    return failed(absl::AlreadyExistsError(absl::StrCat("session ", id, " is already open")));
  }
  if (sessions_.size() >= limits_.max_sessions) {
    return refused(absl::ResourceExhaustedError(
        absl::StrCat("too many sessions (", limits_.max_sessions,
                     "); close some or wait for idle ones to expire")));
  }
  Session& s = sessions_[id];
  s.last_active = log_time_;
  by_activity_.insert({s.last_active, id});
  return absl::OkStatus();
}

absl::Status SessionTable::close(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return failed(absl::NotFoundError(absl::StrCat("session ", id, " is unknown or expired")));
  }
  by_activity_.erase({it->second.last_active, id});
  sessions_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<SessionTable::Check> SessionTable::check(uint64_t id, uint64_t sequence,
                                                        uint64_t floor) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return failed(absl::NotFoundError(absl::StrCat("session ", id, " is unknown or expired")));
  }
  if (sequence == 0) {
    return failed(absl::InvalidArgumentError("session sequence numbers start at 1"));
  }
  Session& s = it->second;
  touch(id, s);
  if (floor > s.floor) {
    s.floor = floor;
    // Acknowledged: the client will not ask for these again.
    while (!s.results.empty() && s.results.front().sequence < floor) {
      s.result_bytes -= s.results.front().bytes.size();
      s.results.pop_front();
    }
  }
  if (sequence < s.floor) {
    return failed(absl::OutOfRangeError(
        absl::StrCat("session ", id, ": sequence ", sequence, " is below the floor ", s.floor,
                     " the client acknowledged; its result is no longer kept")));
  }
  // A pipelined client's next sequence is above every stored one: no search.
  if (!s.results.empty() && sequence <= s.results.back().sequence) {
    if (auto r = result_at(s, sequence); r->sequence == sequence) {
      return Check{Verdict::kDuplicate, &r->bytes};
    }
  }
  if (s.result_bytes >= limits_.max_result_bytes) {
    return refused(absl::ResourceExhaustedError(absl::StrCat(
        "session ", id, " keeps ", s.result_bytes, " bytes of unacknowledged results (cap ",
        limits_.max_result_bytes, "); raise the floor before proposing more")));
  }
  return Check{Verdict::kApply, nullptr};
}

void SessionTable::record(uint64_t id, uint64_t sequence, std::string result) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& s = it->second;
  if (sequence < s.floor) return;  // Acknowledged already: nobody asks again.
  if (s.results.empty() || s.results.back().sequence < sequence) {
    s.result_bytes += result.size();
    s.results.push_back(StoredResult{sequence, std::move(result)});
    return;
  }
  // Not above the last stored sequence: lower_bound finds one at or above it.
  auto r = result_at(s, sequence);
  if (r->sequence == sequence) return;  // Kept the first.
  s.result_bytes += result.size();
  s.results.insert(r, StoredResult{sequence, std::move(result)});
}

std::deque<SessionTable::StoredResult>::iterator SessionTable::result_at(Session& s,
                                                                         uint64_t sequence) {
  return std::lower_bound(s.results.begin(), s.results.end(), sequence,
                          [](const StoredResult& r, uint64_t seq) { return r.sequence < seq; });
}

uint64_t SessionTable::result_bytes(uint64_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? 0 : it->second.result_bytes;
}

void SessionTable::clear() {
  log_time_ = 0;
  sessions_.clear();
  by_activity_.clear();
}

//   u8 version | u64 log time | u32 sessions
//   | per session: u64 id | u64 last active | u64 floor | u32 results
//                  | per result: u64 sequence | u32 length | bytes
std::string SessionTable::encode() const {
  std::string out;
  out.push_back(static_cast<char>(kSessionTableVersion));
  put_u64(&out, log_time_);
  put_u32(&out, static_cast<uint32_t>(sessions_.size()));
  for (const auto& [id, s] : sessions_) {
    put_u64(&out, id);
    put_u64(&out, s.last_active);
    put_u64(&out, s.floor);
    put_u32(&out, static_cast<uint32_t>(s.results.size()));
    for (const StoredResult& result : s.results) {
      put_u64(&out, result.sequence);
      put_u32(&out, static_cast<uint32_t>(result.bytes.size()));
      out.append(result.bytes);
    }
  }
  return out;
}

absl::Status SessionTable::decode(std::string_view bytes) {
  clear();
  if (bytes.empty()) return absl::OkStatus();
  auto bad = [this](const char* why) {
    clear();
    return absl::DataLossError(absl::StrCat("session table: ", why));
  };
  if (static_cast<uint8_t>(bytes[0]) != kSessionTableVersion) return bad("unknown version");
  SessionReader r{bytes.substr(1)};
  log_time_ = r.u64();
  const uint32_t count = r.u32();
  if (!r.ok || count > r.in.size() / kSessionRecordBytes) return bad("truncated");
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t id = r.u64();
    Session s;
    s.last_active = r.u64();
    s.floor = r.u64();
    const uint32_t results = r.u32();
    if (!r.ok || results > r.in.size() / kResultRecordBytes) return bad("truncated session");
    for (uint32_t j = 0; j < results; ++j) {
      const uint64_t seq = r.u64();
      const uint32_t len = r.u32();
      if (!r.ok || r.in.size() < len) return bad("truncated result");
      if (seq < s.floor) return bad("a result below its session's floor");
      if (!s.results.empty() && s.results.back().sequence >= seq) {
        return bad("results out of order");
      }
      s.result_bytes += len;
      s.results.push_back(StoredResult{seq, std::string(r.in.substr(0, len))});
      r.in.remove_prefix(len);
    }
    if (s.last_active > log_time_) return bad("a session active after the log time");
    if (!sessions_.emplace(id, std::move(s)).second) return bad("a session twice");
    by_activity_.insert({sessions_[id].last_active, id});
  }
  if (!r.in.empty()) return bad("trailing bytes");
  return absl::OkStatus();
}

}  // namespace raft
