// The replicated table of client sessions (Raft thesis §6.3), kept by the
// group driver next to the user's state machine. The apply loop consults it
// before the state machine for every entry of type kSession
// (protocol/records/session_command.h):
//
//   open(index)              a new session whose id is the entry's index;
//   check(id, seq, floor)    kApply for a sequence number never applied,
//                            kDuplicate (with the stored result) for one that
//                            was, an error for an unknown session or one below
//                            the floor the client acknowledged;
//   record(id, seq, result)  after the state machine applied it.
//
// Everything it does follows from the entries alone, so every replica holds
// the same table at the same index: log time is the highest leader clock
// carried by the entries applied so far, and a session expires once it was
// idle for `expiry_ms` of log time. The table goes into snapshots
// (encode/decode, with a format version) and is restored with them.
//
// Bounded: at most max_sessions sessions (open refuses more, after expiring
// the idle ones), and a session whose stored, unacknowledged results reach
// max_result_bytes refuses new sequence numbers until the client raises its
// floor. Errors carry their outcome (errors.h): nothing is applied on any.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace raft {

struct SessionLimits {
  uint64_t max_sessions = 10000;
  uint64_t max_result_bytes = 1 << 20;  // Per session: results kept until acknowledged.
  uint64_t expiry_ms = 10 * 60 * 1000;  // Idle time, in log time, before a session expires.
};

class SessionTable {
 public:
  explicit SessionTable(SessionLimits limits = {}) : limits_(limits) {}

  // Log time moves to `leader_time_ms` if that is later, and the sessions
  // idle for longer than expiry_ms are dropped (their ids into `expired`).
  void advance(uint64_t leader_time_ms, std::vector<uint64_t>* expired = nullptr);

  // ResourceExhausted (refused) at max_sessions; AlreadyExists if `id` is open.
  absl::Status open(uint64_t id);
  // NotFound (failed) for an unknown session.
  absl::Status close(uint64_t id);

  enum class Verdict : uint8_t { kApply, kDuplicate };
  struct Check {
    Verdict verdict = Verdict::kApply;
    const std::string* result = nullptr;  // kDuplicate: valid until the table changes.
  };
  // Raises the session's floor to `floor` (freeing the results below it),
  // then says what to do with `sequence`. Errors (nothing is applied):
  // NotFound for an unknown or expired session, OutOfRange for a sequence
  // below the floor (already acknowledged; its result is gone), InvalidArgument
  // for sequence 0, ResourceExhausted when the session's results are at
  // their cap.
  absl::StatusOr<Check> check(uint64_t id, uint64_t sequence, uint64_t floor);
  // Stores the result of a sequence check() said to apply.
  void record(uint64_t id, uint64_t sequence, std::string result);

  size_t size() const { return sessions_.size(); }
  bool contains(uint64_t id) const { return sessions_.contains(id); }
  uint64_t log_time() const { return log_time_; }
  uint64_t result_bytes(uint64_t id) const;
  const SessionLimits& limits() const { return limits_; }

  // The table as bytes for a snapshot, and back. decode replaces the whole
  // table; DataLoss on malformed bytes (the table is left empty). Empty bytes
  // decode to an empty table (a snapshot from before sessions).
  std::string encode() const;
  absl::Status decode(std::string_view bytes);

  bool operator==(const SessionTable& other) const {
    return log_time_ == other.log_time_ && sessions_ == other.sessions_;
  }

 private:
  struct StoredResult {
    uint64_t sequence = 0;
    std::string bytes;
    bool operator==(const StoredResult&) const = default;
  };
  struct Session {
    uint64_t last_active = 0;  // Log time of its latest command.
    uint64_t floor = 1;        // Every sequence below it was acknowledged.
    uint64_t result_bytes = 0;
    // Ascending by sequence, every one at or above floor. A pipelined
    // client adds one at the back and frees one at the front per proposal
    // (a map's node per result was most of the table's cost); a retry
    // applied late goes in the middle.
    std::deque<StoredResult> results;
    bool operator==(const Session&) const = default;
  };
  void touch(uint64_t id, Session& s);
  // The first result at or above `sequence`.
  static std::deque<StoredResult>::iterator result_at(Session& s, uint64_t sequence);
  void clear();

  SessionLimits limits_;
  uint64_t log_time_ = 0;
  std::map<uint64_t, Session> sessions_;
  std::set<std::pair<uint64_t, uint64_t>> by_activity_;  // (last_active, id)
};

}  // namespace raft
