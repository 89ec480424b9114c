#include "protocol/client_errors.h"

#include <optional>
#include <string>

namespace raft::protocol {
namespace {

// ClientError's values are absl::StatusCode's (0..16), plus kNotLeader.
ClientError error_of(absl::StatusCode code) {
  const int c = static_cast<int>(code);
  if (c < 0 || c > static_cast<int>(ClientError::kUnauthenticated)) return ClientError::kUnknown;
  return static_cast<ClientError>(c);
}

absl::StatusCode code_of(ClientError error) {
  const int c = static_cast<int>(error);
  if (c < 0 || c > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::StatusCode::kUnknown;
  }
  return static_cast<absl::StatusCode>(c);
}

}  // namespace

void set_response_error(ClientResponse& response, const absl::Status& status) {
  if (status.ok()) {
    response.error = ClientError::kOk;
    return;
  }
  response.message = std::string(status.message());
  response.outcome = outcome_of(status);
  if (std::optional<LeaderHint> hint = not_leader_hint(status)) {
    response.error = ClientError::kNotLeader;
    response.leader_id = hint->leader_id;
    response.leader_address = hint->address;
    return;
  }
  response.error = error_of(status.code());
}

absl::Status response_status(const ClientResponse& response) {
  if (response.error == ClientError::kOk) return absl::OkStatus();
  if (response.error == ClientError::kNotLeader) {
    return not_leader_error(response.leader_id, response.leader_address);
  }
  absl::Status status(code_of(response.error), response.message);
  // The decoder leaves values it does not know unsaid.
  const Outcome outcome = response.outcome ? *response.outcome : outcome_of(status);
  return with_outcome(std::move(status), outcome);
}

}  // namespace raft::protocol
