// memstore's mapping from engine errors to HTTP answers (README "Errors and
// outcomes"): the outcome picks the status first (refused: 421/429/503 with
// Retry-After, unknown: 504, failed: 4xx/500 by code), and every body names
// the outcome. Every row, including the ones that are hard to provoke end to
// end (409 precondition, 429 backpressure).
#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"
#include "engine/node/errors.h"
#include "examples/memstore/api.h"

namespace raft::memstore {
namespace {

struct Row {
  absl::Status status;
  int http;
  const char* outcome;
};

void expect_row(const Row& row) {
  HttpReply r = error_reply(row.status);
  EXPECT_EQ(r.status, row.http) << row.status;
  EXPECT_EQ(r.content_type, "application/json") << row.status;
  EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(std::string(row.status.message())), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(std::string("\"outcome\":\"") + row.outcome + "\""), std::string::npos)
      << row.status << ": " << r.body;
  // Refusals tell the client when to come back; nothing else invites a retry.
  const bool retry = row.http == 429 || row.http == 503;
  EXPECT_EQ(r.extra_headers.find("Retry-After:") != std::string::npos, retry)
      << row.status << ": " << r.extra_headers;
}

TEST(ErrorReply, TaggedOutcomesPickTheStatus) {
  const Row rows[] = {
      {failed(absl::InvalidArgumentError("bad")), 400, "failed"},
      {failed(absl::OutOfRangeError("far")), 400, "failed"},
      {failed(absl::NotFoundError("none")), 404, "failed"},
      {failed(absl::FailedPreconditionError("node 4 is not a learner")), 409, "failed"},
      {failed(absl::AlreadyExistsError("member")), 409, "failed"},
      {failed(absl::AbortedError("replaced")), 409, "failed"},
      {failed(absl::InternalError("bug")), 500, "failed"},
      {refused(absl::ResourceExhaustedError("too many uncommitted bytes")), 429, "refused"},
      {refused(absl::UnavailableError("no leader")), 503, "refused"},
      {refused(absl::FailedPreconditionError("a conf change is pending")), 503, "refused"},
      {refused(absl::DeadlineExceededError("read timed out")), 503, "refused"},
      {unknown(absl::DeadlineExceededError("proposal timed out")), 504, "unknown"},
      {unknown(absl::AbortedError("replaced in this node's log")), 504, "unknown"},
      {unknown(absl::UnknownError("replaced by a snapshot")), 504, "unknown"},
      {unknown(absl::CancelledError("stopping")), 504, "unknown"},
  };
  for (const Row& row : rows) expect_row(row);
}

// An error without a tag (a library's, or an older node's) gets the outcome
// its code implies, erring toward unknown.
TEST(ErrorReply, UntaggedErrorsFollowTheirCode) {
  const Row rows[] = {
      {absl::InvalidArgumentError("bad"), 400, "failed"},
      {absl::NotFoundError("none"), 404, "failed"},
      {absl::AbortedError("replaced"), 409, "failed"},
      {absl::ResourceExhaustedError("full"), 429, "refused"},
      {absl::UnavailableError("no leader"), 503, "refused"},
      {absl::DeadlineExceededError("timeout"), 504, "unknown"},
      {absl::CancelledError("stopping"), 504, "unknown"},
      {absl::InternalError("bug"), 504, "unknown"},
      {absl::DataLossError("corrupt"), 504, "unknown"},
  };
  for (const Row& row : rows) expect_row(row);
}

TEST(ErrorReply, NotLeaderIs421NamingTheLeader) {
  HttpReply r = error_reply(not_leader_error(3, "127.0.0.1:7003"));
  EXPECT_EQ(r.status, 421);
  EXPECT_NE(r.body.find("\"leader_id\":3"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"leader_address\":\"127.0.0.1:7003\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"outcome\":\"refused\""), std::string::npos) << r.body;
}

}  // namespace
}  // namespace raft::memstore
