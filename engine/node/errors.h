// Errors the runtime returns, beyond plain absl codes: NotLeader carries the
// leader's id and address (as a Status payload) so that a caller can retry
// there; and every error says its Outcome (also a payload). Their form on
// the wire (fbs::Error) is the client protocol's business:
// protocol/client_errors.h maps them to and from it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "common/export.h"

namespace raft {

struct LeaderHint {
  uint64_t leader_id = 0;  // 0: no leader known.
  std::string address;     // Empty if unknown.
};

// What a failed request did, as far as this node can tell. The code says
// why it failed; the outcome says what a caller may do about it.
enum class Outcome : uint8_t {
  kRefused = 1,  // Nothing was proposed: safe to retry as is.
  kUnknown = 2,  // It may have been applied, or may still be: retrying may apply it twice.
  kFailed = 3,   // It was not and will not be applied; retrying as is fails again.
};

// "refused", "unknown", "failed".
RINGRAFT_API const char* outcome_name(Outcome outcome);

// `status` (not OK) with its outcome attached, replacing any earlier one.
RINGRAFT_API absl::Status with_outcome(absl::Status status, Outcome outcome);
inline absl::Status refused(absl::Status s) {
  return with_outcome(std::move(s), Outcome::kRefused);
}
inline absl::Status unknown(absl::Status s) {
  return with_outcome(std::move(s), Outcome::kUnknown);
}
inline absl::Status failed(absl::Status s) { return with_outcome(std::move(s), Outcome::kFailed); }

// The outcome attached to `status` (not OK). Without one (an error from a
// library, or from an older node) it follows from the code, erring toward
// kUnknown: Unavailable and ResourceExhausted are refusals, DeadlineExceeded,
// Cancelled, Unknown, Internal and DataLoss may hide an applied write, the
// rest (InvalidArgument, NotFound, FailedPrecondition, ...) are failures.
RINGRAFT_API Outcome outcome_of(const absl::Status& status);

// FailedPrecondition "not leader; leader is <id> at <address>" with the hint
// attached. With leader_id 0 it is Unavailable "no leader" instead. Both
// are refusals.
RINGRAFT_API absl::Status not_leader_error(uint64_t leader_id, const std::string& address);

// The hint carried by a not_leader_error, if `status` is one.
RINGRAFT_API std::optional<LeaderHint> not_leader_hint(const absl::Status& status);
RINGRAFT_API bool is_not_leader(const absl::Status& status);

}  // namespace raft
