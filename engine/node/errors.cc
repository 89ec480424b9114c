#include "engine/node/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "net/client_codec.h"

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

// The wire's outcome values are Outcome's, with 0 for "not said".
static_assert(static_cast<int>(net::ClientOutcome::kRefused) ==
              static_cast<int>(Outcome::kRefused));
static_assert(static_cast<int>(net::ClientOutcome::kUnknown) ==
              static_cast<int>(Outcome::kUnknown));
static_assert(static_cast<int>(net::ClientOutcome::kFailed) == static_cast<int>(Outcome::kFailed));
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

void set_response_error(net::ClientResponse& response, const absl::Status& status) {
  if (status.ok()) {
    response.error = net::ClientError::kOk;
    return;
  }
  response.message = std::string(status.message());
  response.outcome = static_cast<net::ClientOutcome>(outcome_of(status));
  if (std::optional<LeaderHint> hint = not_leader_hint(status)) {
    response.error = net::ClientError::kNotLeader;
    response.leader_id = hint->leader_id;
    response.leader_address = hint->address;
    return;
  }
  response.error = static_cast<net::ClientError>(status.code());
}

absl::Status response_status(const net::ClientResponse& response) {
  if (response.error == net::ClientError::kOk) return absl::OkStatus();
  if (response.error == net::ClientError::kNotLeader) {
    return not_leader_error(response.leader_id, response.leader_address);
  }
  auto code = static_cast<int>(response.error);
  if (code < 0 || code > 16) code = static_cast<int>(absl::StatusCode::kUnknown);
  absl::Status status(static_cast<absl::StatusCode>(code), response.message);
  // The decoder maps values it does not know to kUnspecified.
  const Outcome outcome = response.outcome == net::ClientOutcome::kUnspecified
                              ? outcome_of(status)
                              : static_cast<Outcome>(response.outcome);
  return with_outcome(std::move(status), outcome);
}

}  // namespace raft
