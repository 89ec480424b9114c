// memstore's mapping from engine errors to HTTP answers (README "Errors"):
// every row, including the ones that are hard to provoke end to end (409
// precondition, 429 backpressure).
#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"
#include "engine/node/errors.h"
#include "examples/memstore/api.h"

namespace raft::memstore {
namespace {

TEST(ErrorReply, EveryStatusMapsToItsDocumentedAnswer) {
  struct Row {
    absl::Status status;
    int http;
  };
  const Row rows[] = {
      {absl::InvalidArgumentError("bad"), 400},
      {absl::OutOfRangeError("far"), 400},
      {absl::NotFoundError("none"), 404},
      {absl::FailedPreconditionError("node 4 is not a learner"), 409},
      {absl::AlreadyExistsError("member"), 409},
      {absl::AbortedError("replaced"), 409},
      {absl::ResourceExhaustedError("too many uncommitted bytes"), 429},
      {absl::UnavailableError("no leader"), 503},
      {absl::CancelledError("stopping"), 503},
      {absl::DeadlineExceededError("timeout"), 503},
      {absl::InternalError("bug"), 500},
  };
  for (const Row& row : rows) {
    HttpReply r = error_reply(row.status);
    EXPECT_EQ(r.status, row.http) << row.status;
    EXPECT_EQ(r.content_type, "application/json") << row.status;
    EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(std::string(row.status.message())), std::string::npos) << r.body;
    // Backpressure and unavailability tell the client when to come back.
    const bool retry = row.http == 429 || row.http == 503;
    EXPECT_EQ(r.extra_headers.find("Retry-After:") != std::string::npos, retry)
        << row.status << ": " << r.extra_headers;
  }
}

TEST(ErrorReply, NotLeaderIs421NamingTheLeader) {
  HttpReply r = error_reply(not_leader_error(3, "127.0.0.1:7003"));
  EXPECT_EQ(r.status, 421);
  EXPECT_NE(r.body.find("\"leader_id\":3"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"leader_address\":\"127.0.0.1:7003\""), std::string::npos) << r.body;
}

}  // namespace
}  // namespace raft::memstore
