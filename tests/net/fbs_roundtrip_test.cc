// Round-trips a RaftBatch through the generated FlatBuffers code and checks
// that the Verifier accepts the bytes and rejects them when damaged.
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fbs/raft_generated.h"

namespace raft {
namespace {

std::vector<uint8_t> build_batch() {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fbs::Entry>> entries;
  for (uint64_t i = 1; i <= 3; ++i) {
    std::string payload = "payload-" + std::to_string(i);
    auto data = b.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    entries.push_back(
        fbs::CreateEntry(b, /*term=*/2, /*index=*/10 + i, fbs::EntryType::Normal, data));
  }
  auto entry_vec = b.CreateVector(entries);
  fbs::MessageBuilder m(b);
  m.add_type(10);
  m.add_group(7);
  m.add_from(1);
  m.add_to(2);
  m.add_term(2);
  m.add_log_term(2);
  m.add_index(10);
  m.add_commit(9);
  m.add_entries(entry_vec);
  auto msg = m.Finish();
  auto messages = b.CreateVector(&msg, 1);
  b.Finish(fbs::CreateRaftBatch(b, messages));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

TEST(FbsRoundTrip, BatchSurvives) {
  std::vector<uint8_t> bytes = build_batch();
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  ASSERT_TRUE(fbs::VerifyRaftBatchBuffer(verifier));
  const fbs::RaftBatch* batch = fbs::GetRaftBatch(bytes.data());
  ASSERT_EQ(batch->messages()->size(), 1u);
  const fbs::Message* m = batch->messages()->Get(0);
  EXPECT_EQ(m->group(), 7u);
  EXPECT_EQ(m->from(), 1u);
  EXPECT_EQ(m->commit(), 9u);
  ASSERT_EQ(m->entries()->size(), 3u);
  const fbs::Entry* e = m->entries()->Get(2);
  EXPECT_EQ(e->index(), 13u);
  EXPECT_EQ(std::string(e->data()->begin(), e->data()->end()), "payload-3");
  EXPECT_EQ(m->snapshot(), nullptr);
}

// Trailing alignment padding may be cut without harm; the frame checksum
// catches that. Cutting into the tables must be caught by the Verifier.
TEST(FbsRoundTrip, VerifierRejectsTruncatedBuffer) {
  std::vector<uint8_t> bytes = build_batch();
  for (size_t len : {size_t{0}, size_t{3}, bytes.size() / 2}) {
    flatbuffers::Verifier verifier(bytes.data(), len);
    EXPECT_FALSE(fbs::VerifyRaftBatchBuffer(verifier)) << "length " << len;
  }
}

TEST(FbsRoundTrip, VerifierRejectsBadRootOffset) {
  std::vector<uint8_t> bytes = build_batch();
  bytes[0] = 0xff;
  bytes[1] = 0xff;
  bytes[2] = 0xff;
  bytes[3] = 0x7f;
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  EXPECT_FALSE(fbs::VerifyRaftBatchBuffer(verifier));
}

}  // namespace
}  // namespace raft
