// Between absl::Status (with the runtime's Outcome and NotLeader hint,
// engine/node/errors.h) and the client protocol's error fields (code,
// message, leader hint, outcome; fbs::Error). The only place that maps
// errors to the wire: the node's client service fills answers with
// set_response_error, the client library reads them with response_status.
#pragma once

#include "absl/status/status.h"
#include "protocol/client_codec.h"

namespace raft::protocol {

// OK clears the error; an error sets code, message and outcome, and for a
// not_leader_error the code kNotLeader with the hint.
void set_response_error(ClientResponse& response, const absl::Status& status);
// The status a response carries: a kNotLeader error comes back as
// not_leader_error (with its hint); an answer that does not say its outcome
// (an older node) gets one from its code (outcome_of).
absl::Status response_status(const ClientResponse& response);

}  // namespace raft::protocol
