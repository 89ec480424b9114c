#include "engine/node/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace raft {
namespace {
constexpr char kNotLeaderUrl[] = "type.ringraft/not_leader";
constexpr char kOutcomeUrl[] = "type.ringraft/outcome";

Outcome outcome_from_code(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
      return Outcome::kRefused;
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kOk:
      return Outcome::kUnknown;
    default:
      return Outcome::kFailed;
  }
}
}  // namespace

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kRefused:
      return "refused";
    case Outcome::kUnknown:
      return "unknown";
    case Outcome::kFailed:
      return "failed";
  }
  return "unknown";
}

absl::Status with_outcome(absl::Status status, Outcome outcome) {
  if (status.ok()) return status;
  status.SetPayload(kOutcomeUrl, absl::Cord(outcome_name(outcome)));
  return status;
}

Outcome outcome_of(const absl::Status& status) {
  if (auto payload = status.GetPayload(kOutcomeUrl)) {
    for (Outcome o : {Outcome::kRefused, Outcome::kUnknown, Outcome::kFailed}) {
      if (*payload == outcome_name(o)) return o;
    }
  }
  if (is_not_leader(status)) return Outcome::kRefused;
  return outcome_from_code(status.code());
}

absl::Status not_leader_error(uint64_t leader_id, const std::string& address) {
  if (leader_id == 0) return refused(absl::UnavailableError("no leader"));
  absl::Status s = absl::FailedPreconditionError(
      absl::StrCat("not leader; leader is ", leader_id, address.empty() ? "" : " at ", address));
  s.SetPayload(kNotLeaderUrl, absl::Cord(absl::StrCat(leader_id, "|", address)));
  return refused(std::move(s));
}

std::optional<LeaderHint> not_leader_hint(const absl::Status& status) {
  auto payload = status.GetPayload(kNotLeaderUrl);
  if (!payload) return std::nullopt;
  std::string text(*payload);
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits('|', 1));
  LeaderHint hint;
  if (!absl::SimpleAtoi(parts.first, &hint.leader_id)) return std::nullopt;
  hint.address = parts.second;
  return hint;
}

bool is_not_leader(const absl::Status& status) { return not_leader_hint(status).has_value(); }

}  // namespace raft
