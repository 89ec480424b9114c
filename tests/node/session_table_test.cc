// The session table's rules (Raft thesis §6.3) and its snapshot encoding,
// and the session command records the entries carry.
#include "engine/node/session_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/node/errors.h"
#include "protocol/records/session_command.h"

namespace raft {
namespace {

SessionTable::Verdict verdict_of(SessionTable& t, uint64_t id, uint64_t seq, uint64_t floor) {
  auto c = t.check(id, seq, floor);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? c->verdict : SessionTable::Verdict::kApply;
}

TEST(SessionTable, ANewSequenceIsAppliedOnceAndADuplicateGetsItsStoredResult) {
  SessionTable t;
  ASSERT_TRUE(t.open(7).ok());
  EXPECT_EQ(verdict_of(t, 7, 1, 1), SessionTable::Verdict::kApply);
  t.record(7, 1, "one");
  auto again = t.check(7, 1, 1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->verdict, SessionTable::Verdict::kDuplicate);
  EXPECT_EQ(*again->result, "one");
  // Sequence numbers need not come in order (a pipelining client).
  EXPECT_EQ(verdict_of(t, 7, 3, 1), SessionTable::Verdict::kApply);
  t.record(7, 3, "three");
  EXPECT_EQ(verdict_of(t, 7, 2, 1), SessionTable::Verdict::kApply);
  EXPECT_EQ(t.result_bytes(7), 8u);
}

TEST(SessionTable, AResultAppliedLateLandsInOrderAndTheFloorFreesAroundIt) {
  SessionTable t;
  ASSERT_TRUE(t.open(1).ok());
  // 1, 2, 4, 5 applied; 3 was lost with a leader and its retry comes last.
  for (uint64_t s : {1, 2, 4, 5}) {
    ASSERT_EQ(verdict_of(t, 1, s, 1), SessionTable::Verdict::kApply) << s;
    t.record(1, s, "r" + std::to_string(s));
  }
  ASSERT_EQ(verdict_of(t, 1, 3, 1), SessionTable::Verdict::kApply);
  t.record(1, 3, "r3");
  t.record(1, 4, "again");  // A second record keeps the first result.
  EXPECT_EQ(t.result_bytes(1), 10u);
  for (uint64_t s = 1; s <= 5; ++s) {
    auto c = t.check(1, s, 1);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_EQ(c->verdict, SessionTable::Verdict::kDuplicate) << s;
    EXPECT_EQ(*c->result, "r" + std::to_string(s));
  }
  // The floor frees 1 to 3 and keeps 4 and 5; nothing below it is stored.
  ASSERT_EQ(verdict_of(t, 1, 6, 4), SessionTable::Verdict::kApply);
  EXPECT_EQ(t.result_bytes(1), 4u);
  t.record(1, 2, "below the floor");
  EXPECT_EQ(t.result_bytes(1), 4u);
  auto four = t.check(1, 4, 4);
  ASSERT_TRUE(four.ok());
  EXPECT_EQ(*four->result, "r4");
  // The image keeps the order, and a restored table answers the same.
  SessionTable back;
  const std::string image = t.encode();
  ASSERT_TRUE(back.decode(image).ok());
  EXPECT_TRUE(back == t);
  // An image whose results are out of order is damaged. Its one session
  // holds 4 then 5 ("r4", "r5"): swap their sequence numbers.
  std::string swapped = image;
  const size_t first = 1 + 8 + 4 + 8 * 3 + 4, second = first + 8 + 4 + 2;
  ASSERT_EQ(swapped.size(), second + 8 + 4 + 2);
  for (size_t i = 0; i < 8; ++i) std::swap(swapped[first + i], swapped[second + i]);
  SessionTable damaged;
  EXPECT_EQ(damaged.decode(swapped).code(), absl::StatusCode::kDataLoss);
}

TEST(SessionTable, TheFloorFreesResultsAndRefusesWhatIsBelowIt) {
  SessionTable t;
  ASSERT_TRUE(t.open(1).ok());
  for (uint64_t s = 1; s <= 3; ++s) {
    ASSERT_EQ(verdict_of(t, 1, s, 1), SessionTable::Verdict::kApply);
    t.record(1, s, "r" + std::to_string(s));
  }
  // The client got answers for 1 and 2: it sends 4 with floor 3.
  ASSERT_EQ(verdict_of(t, 1, 4, 3), SessionTable::Verdict::kApply);
  EXPECT_EQ(t.result_bytes(1), 2u);  // Only "r3" is kept.
  auto below = t.check(1, 2, 3);
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.status().code(), absl::StatusCode::kOutOfRange) << below.status();
  EXPECT_EQ(outcome_of(below.status()), Outcome::kFailed);
  // A lower floor from a late, reordered command does not lower it.
  auto late = t.check(1, 3, 1);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->verdict, SessionTable::Verdict::kDuplicate);
  EXPECT_FALSE(t.check(1, 1, 1).ok());
}

TEST(SessionTable, UnknownSessionsAndSequenceZeroAreRefusedWithClearErrors) {
  SessionTable t;
  auto unknown_session = t.check(9, 1, 1);
  ASSERT_FALSE(unknown_session.ok());
  EXPECT_EQ(unknown_session.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown_session.status().message().find("session 9"), std::string::npos);
  ASSERT_TRUE(t.open(9).ok());
  EXPECT_EQ(t.open(9).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(t.check(9, 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(t.close(9).ok());
  EXPECT_EQ(t.close(9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(t.check(9, 1, 1).status().code(), absl::StatusCode::kNotFound);
}

TEST(SessionTable, CapsOnSessionsAndResultBytesRefuseWithoutApplying) {
  SessionTable t(SessionLimits{.max_sessions = 2, .max_result_bytes = 10, .expiry_ms = 1000});
  ASSERT_TRUE(t.open(1).ok());
  ASSERT_TRUE(t.open(2).ok());
  absl::Status full = t.open(3);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_EQ(outcome_of(full), Outcome::kRefused);
  // Results: the cap is reached after a 10-byte result; the next new
  // sequence is refused until the floor frees it. Duplicates still answer.
  ASSERT_EQ(verdict_of(t, 1, 1, 1), SessionTable::Verdict::kApply);
  t.record(1, 1, "0123456789");
  auto capped = t.check(1, 2, 1);
  ASSERT_FALSE(capped.ok());
  EXPECT_EQ(capped.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(verdict_of(t, 1, 1, 1), SessionTable::Verdict::kDuplicate);
  EXPECT_EQ(verdict_of(t, 1, 2, 2), SessionTable::Verdict::kApply);
  EXPECT_EQ(t.result_bytes(1), 0u);
}

TEST(SessionTable, SessionsExpireByLogTimeOnly) {
  SessionTable t(SessionLimits{.max_sessions = 2, .max_result_bytes = 1 << 20, .expiry_ms = 1000});
  t.advance(10'000);
  ASSERT_TRUE(t.open(1).ok());
  t.advance(10'500);
  ASSERT_TRUE(t.open(2).ok());
  std::vector<uint64_t> expired;
  t.advance(10'900, &expired);  // An older leader's clock never moves log time back.
  t.advance(10'200, &expired);
  EXPECT_EQ(t.log_time(), 10'900u);
  EXPECT_TRUE(expired.empty());
  // Activity keeps a session: 2 proposes at 10,900, so only 1 (idle since
  // 10,000) is gone once log time passes 11,000.
  ASSERT_EQ(verdict_of(t, 2, 1, 1), SessionTable::Verdict::kApply);
  t.advance(11'000, &expired);
  EXPECT_TRUE(expired.empty());  // Idle for exactly expiry_ms: still there.
  t.advance(11'001, &expired);
  EXPECT_EQ(expired, std::vector<uint64_t>{1});
  EXPECT_FALSE(t.contains(1));
  EXPECT_TRUE(t.contains(2));
  EXPECT_TRUE(t.open(3).ok());  // The expired one's place is free.
  expired.clear();
  t.advance(11'902, &expired);
  EXPECT_EQ(expired, std::vector<uint64_t>{2});
  t.advance(12'002, &expired);
  EXPECT_EQ(expired, (std::vector<uint64_t>{2, 3}));
}

TEST(SessionTable, EncodesIntoSnapshotsAndRefusesEveryDamagedImage) {
  SessionTable t;
  t.advance(5'000);
  ASSERT_TRUE(t.open(3).ok());
  ASSERT_TRUE(t.open(8).ok());
  ASSERT_EQ(verdict_of(t, 3, 1, 1), SessionTable::Verdict::kApply);
  t.record(3, 1, "first");
  t.advance(6'000);
  ASSERT_EQ(verdict_of(t, 8, 4, 2), SessionTable::Verdict::kApply);
  t.record(8, 4, std::string("\0binary", 7));
  const std::string image = t.encode();

  SessionTable back;
  ASSERT_TRUE(back.decode(image).ok());
  EXPECT_TRUE(back == t);
  EXPECT_EQ(back.log_time(), 6'000u);
  auto dup = back.check(8, 4, 2);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(*dup->result, std::string("\0binary", 7));
  // Expiry continues where it was: the restored activity order holds.
  std::vector<uint64_t> expired;
  back.advance(6'000 + back.limits().expiry_ms - 500, &expired);
  EXPECT_EQ(expired, std::vector<uint64_t>{3});

  for (size_t n = 1; n < image.size(); ++n) {
    SessionTable damaged;
    absl::Status s = damaged.decode(image.substr(0, n));
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "prefix " << n;
    EXPECT_EQ(damaged.size(), 0u);
  }
  SessionTable other_version;
  std::string bumped = image;
  bumped[0] = 9;
  EXPECT_EQ(other_version.decode(bumped).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(other_version.decode(image + "x").code(), absl::StatusCode::kDataLoss);
  SessionTable empty;
  EXPECT_TRUE(empty.decode("").ok());  // A snapshot from before sessions.
  EXPECT_EQ(empty.size(), 0u);
}

TEST(SessionCommand, RoundTripsAndRefusesMalformedBytes) {
  protocol::SessionCommand c;
  c.kind = protocol::SessionCommandKind::kPropose;
  c.session = 42;
  c.sequence = 7;
  c.floor = 5;
  c.leader_time_ms = 1'700'000'000'000;
  c.payload = "k=v";
  const std::string bytes = protocol::encode_session_command(c);
  auto back = protocol::decode_session_command(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->kind, c.kind);
  EXPECT_EQ(back->session, 42u);
  EXPECT_EQ(back->sequence, 7u);
  EXPECT_EQ(back->floor, 5u);
  EXPECT_EQ(back->leader_time_ms, c.leader_time_ms);
  EXPECT_EQ(back->payload, "k=v");
  // The driver's in-place encoder writes the same bytes.
  std::string in_place(protocol::session_command_size(c), 'x');
  protocol::encode_session_command_to(c, in_place.data());
  EXPECT_EQ(in_place, bytes);

  for (size_t n = 0; n < protocol::kSessionCommandHeaderBytes; ++n) {
    EXPECT_FALSE(protocol::decode_session_command(bytes.substr(0, n)).ok()) << n;
  }
  std::string bad_kind = bytes;
  bad_kind[1] = 9;
  EXPECT_FALSE(protocol::decode_session_command(bad_kind).ok());
  std::string bad_version = bytes;
  bad_version[0] = 2;
  EXPECT_FALSE(protocol::decode_session_command(bad_version).ok());
  protocol::SessionCommand open;
  open.kind = protocol::SessionCommandKind::kOpen;
  std::string open_bytes = protocol::encode_session_command(open);
  EXPECT_TRUE(protocol::decode_session_command(open_bytes).ok());
  EXPECT_FALSE(protocol::decode_session_command(open_bytes + "x").ok());
}

}  // namespace
}  // namespace raft
