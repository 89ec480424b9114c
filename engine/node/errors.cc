#include "engine/node/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace raft {
namespace {
constexpr char kNotLeaderUrl[] = "type.ringraft/not_leader";
}  // namespace

absl::Status not_leader_error(uint64_t leader_id, const std::string& address) {
  if (leader_id == 0) return absl::UnavailableError("no leader");
  absl::Status s = absl::FailedPreconditionError(
      absl::StrCat("not leader; leader is ", leader_id, address.empty() ? "" : " at ", address));
  s.SetPayload(kNotLeaderUrl, absl::Cord(absl::StrCat(leader_id, "|", address)));
  return s;
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
  return absl::Status(static_cast<absl::StatusCode>(code), response.message);
}

}  // namespace raft
