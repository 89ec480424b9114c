#include "protocol/raft_codec.h"

#include "protocol/client_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace raft::protocol {
namespace {

Slice random_bytes(std::mt19937_64& rng, size_t max_len) {
  std::string s(rng() % (max_len + 1), '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return Slice(std::move(s));
}

Message random_message(std::mt19937_64& rng) {
  static const MessageType kTypes[] = {
      MessageType::kPropose,           MessageType::kAppend,
      MessageType::kAppendResponse,    MessageType::kVote,
      MessageType::kVoteResponse,      MessageType::kPreVote,
      MessageType::kPreVoteResponse,   MessageType::kHeartbeat,
      MessageType::kHeartbeatResponse, MessageType::kSnapshot,
      MessageType::kTimeoutNow,        MessageType::kReadIndex,
      MessageType::kReadIndexResponse, MessageType::kTransferLeader,
      MessageType::kQuiesce};
  Message m;
  m.type = kTypes[rng() % std::size(kTypes)];
  m.group = rng();
  m.from = rng() % 7;
  m.to = rng() % 7;
  m.term = rng();
  m.log_term = rng();
  m.index = rng();
  m.commit = rng();
  m.reject = rng() % 2;
  m.reject_hint = rng();
  size_t n = rng() % 5;
  for (size_t i = 0; i < n; ++i) {
    m.entries.push_back(Entry{rng(), rng(),
                              (rng() % 2) ? EntryType::kNormal : EntryType::kConfChange,
                              random_bytes(rng, 300)});
  }
  if (rng() % 3 == 0) {
    Snapshot s;
    s.meta.index = rng();
    s.meta.term = rng();
    s.meta.conf_state.voters = {1, 2, 3};
    if (rng() % 2) s.meta.conf_state.voters_outgoing = {1, 2, 4};
    s.meta.conf_state.learners = {5};
    s.meta.conf_state.learners_next = {4};
    s.meta.conf_state.auto_leave = rng() % 2;
    s.data = random_bytes(rng, 100);
    m.snapshot = s;
  }
  m.context = random_bytes(rng, 16);
  return m;
}

TEST(Codec, RandomMessagesRoundTrip) {
  const uint64_t seed = 20261126;
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200; ++round) {
    std::vector<Message> messages;
    size_t n = 1 + rng() % 8;
    for (size_t i = 0; i < n; ++i) messages.push_back(random_message(rng));
    flatbuffers::FlatBufferBuilder b;
    b.Finish(encode_raft_batch(b, messages));
    auto buffer = std::make_shared<std::string>(reinterpret_cast<const char*>(b.GetBufferPointer()),
                                                b.GetSize());
    flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(buffer->data()),
                                   buffer->size());
    ASSERT_TRUE(fbs::VerifyRaftBatchBuffer(verifier)) << "seed " << seed << " round " << round;
    const fbs::RaftBatch* batch = fbs::GetRaftBatch(buffer->data());
    ASSERT_EQ(batch->messages()->size(), n);
    for (size_t i = 0; i < n; ++i) {
      auto decoded = decode_message(*batch->messages()->Get(i), buffer);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      EXPECT_EQ(*decoded, messages[i]) << "seed " << seed << " round " << round << " msg " << i;
    }
  }
}

TEST(Codec, PayloadsAreReferencedNotCopied) {
  Message m;
  m.type = MessageType::kAppend;
  m.entries.push_back(Entry{1, 1, EntryType::kNormal, Slice::copy_of("payload bytes")});
  flatbuffers::FlatBufferBuilder b;
  b.Finish(encode_raft_batch(b, std::span<const Message>(&m, 1)));
  auto buffer = std::make_shared<std::string>(reinterpret_cast<const char*>(b.GetBufferPointer()),
                                              b.GetSize());
  std::weak_ptr<std::string> weak = buffer;
  auto decoded = decode_message(*fbs::GetRaftBatch(buffer->data())->messages()->Get(0), buffer);
  ASSERT_TRUE(decoded.ok());
  const char* p = decoded->entries[0].data.data();
  EXPECT_GE(p, buffer->data());
  EXPECT_LT(p, buffer->data() + buffer->size());
  buffer.reset();
  EXPECT_FALSE(weak.expired());  // The entry keeps the receive buffer alive.
  EXPECT_EQ(decoded->entries[0].data.view(), "payload bytes");
}

TEST(Codec, LocalAndUnknownTypesAreRejected) {
  for (uint8_t type : {0, 1, 3, 4, 5, 9, 24, 200}) {
    flatbuffers::FlatBufferBuilder b;
    fbs::MessageBuilder mb(b);
    mb.add_type(type);
    auto off = mb.Finish();
    b.Finish(fbs::CreateRaftBatch(b, b.CreateVector(&off, 1)));
    auto decoded =
        decode_message(*fbs::GetRaftBatch(b.GetBufferPointer())->messages()->Get(0), nullptr);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << int(type);
  }
}

TEST(Codec, UnknownEntryTypeIsRejected) {
  flatbuffers::FlatBufferBuilder b;
  auto e = fbs::CreateEntry(b, 1, 1, static_cast<fbs::EntryType>(7));
  auto entries = b.CreateVector(&e, 1);
  fbs::MessageBuilder mb(b);
  mb.add_type(static_cast<uint8_t>(MessageType::kAppend));
  mb.add_entries(entries);
  auto off = mb.Finish();
  b.Finish(fbs::CreateRaftBatch(b, b.CreateVector(&off, 1)));
  auto decoded =
      decode_message(*fbs::GetRaftBatch(b.GetBufferPointer())->messages()->Get(0), nullptr);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
}

// Change-config, join and leave answers carry the resulting configuration,
// joint-consensus fields included, through a real frame (checksum, Verifier).
TEST(Codec, MembershipAnswersCarryTheWholeConfState) {
  ConfState joint;
  joint.voters = {1, 2, 4};
  joint.voters_outgoing = {1, 2, 3};
  joint.learners = {5};
  joint.learners_next = {3};
  joint.auto_leave = true;
  ConfState simple;
  simple.voters = {1, 2, 3};
  simple.learners = {9};
  std::vector<ClientResponse> sent;
  for (RequestKind kind : {RequestKind::kChangeConfig, RequestKind::kJoin, RequestKind::kLeave}) {
    for (const ConfState* cs : {&joint, &simple}) {
      ClientResponse& r = sent.emplace_back();
      r.request_id = sent.size();
      r.kind = kind;
      if (kind != RequestKind::kJoin) r.index = 40 + sent.size();  // Join has none.
      set_response_conf_state(r, *cs);
      EXPECT_EQ(response_conf_state(r), *cs);
    }
  }
  net::FrameDecoder decoder;
  int frames = 0;
  ASSERT_EQ(decoder.feed(net::frame_to_string(encode_client_responses(sent)),
                         [&](const net::ReceivedFrame& f) {
                           ++frames;
                           auto got = decode_client_responses(f);
                           EXPECT_TRUE(got.ok()) << got.status();
                           if (!got.ok()) return true;
                           EXPECT_EQ(got->size(), sent.size());
                           for (size_t i = 0; i < got->size() && i < sent.size(); ++i) {
                             const ClientResponse& r = (*got)[i];
                             SCOPED_TRACE(request_kind_name(sent[i].kind));
                             EXPECT_EQ(r.kind, sent[i].kind);
                             EXPECT_EQ(response_conf_state(r), response_conf_state(sent[i]));
                             EXPECT_EQ(r, sent[i]);
                           }
                           return true;
                         }),
            net::FrameError::kNone);
  EXPECT_EQ(frames, 1);
}

}  // namespace
}  // namespace raft::protocol
