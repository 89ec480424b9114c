#include "protocol/raft_codec.h"

#include "protocol/client_codec.h"

#include <gtest/gtest.h>

#include <cstdio>
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
  static const MessageType kTypes[] = {MessageType::kPropose,
                                       MessageType::kAppend,
                                       MessageType::kAppendResponse,
                                       MessageType::kVote,
                                       MessageType::kVoteResponse,
                                       MessageType::kPreVote,
                                       MessageType::kPreVoteResponse,
                                       MessageType::kHeartbeat,
                                       MessageType::kHeartbeatResponse,
                                       MessageType::kSnapshot,
                                       MessageType::kTimeoutNow,
                                       MessageType::kReadIndex,
                                       MessageType::kReadIndexResponse,
                                       MessageType::kTransferLeader,
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

std::vector<Message> decode_all(const flatbuffers::FlatBufferBuilder& b,
                                std::shared_ptr<std::string>* keep = nullptr) {
  auto buffer = std::make_shared<std::string>(reinterpret_cast<const char*>(b.GetBufferPointer()),
                                              b.GetSize());
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(buffer->data()), buffer->size());
  EXPECT_TRUE(fbs::VerifyRaftBatchBuffer(verifier));
  std::vector<Message> out;
  decode_raft_batch(*fbs::GetRaftBatch(buffer->data()), buffer, [&](absl::StatusOr<Message> m) {
    ASSERT_TRUE(m.ok()) << m.status();
    out.push_back(std::move(*m));
  });
  if (keep != nullptr) *keep = buffer;
  return out;
}

Message heartbeat(GroupId g, Term term, Index commit) {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.group = g;
  m.from = 1;
  m.to = 2;
  m.term = term;
  m.commit = commit;
  return m;
}

Message heartbeat_ack(GroupId g, Term term) {
  Message m;
  m.type = MessageType::kHeartbeatResponse;
  m.group = g;
  m.from = 1;
  m.to = 2;
  m.term = term;
  return m;
}

// Heartbeats of many groups and their answers travel as 24-byte records of
// the batch and come back as the same messages; the ones that carry more
// (a ReadIndex context, a rejection: a wake ping) stay full messages.
TEST(Codec, HeartbeatsAreCoalescedIntoCompactRecords) {
  std::vector<Message> messages;
  for (GroupId g = 1; g <= 1000; ++g) {
    messages.push_back(g % 2 ? heartbeat(g, 3 + g % 5, 40 + g) : heartbeat_ack(g, 7));
  }
  Message with_context = heartbeat(5000, 9, 12);
  with_context.context = Slice::copy_of("read-ctx");
  Message wake_ping = heartbeat_ack(5001, 9);
  wake_ping.reject = true;
  Message append;
  append.type = MessageType::kAppend;
  append.group = 5002;
  append.from = 1;
  append.to = 2;
  append.term = 9;
  append.index = 10;
  append.entries.push_back(Entry{9, 11, EntryType::kNormal, Slice::copy_of("x")});
  messages.insert(messages.begin() + 10, with_context);
  messages.insert(messages.begin() + 500, wake_ping);
  messages.push_back(append);

  flatbuffers::FlatBufferBuilder b;
  size_t compact = 0;
  b.Finish(encode_raft_batch(b, messages, 77, &compact));
  EXPECT_EQ(compact, 1000u);
  const fbs::RaftBatch* batch = fbs::GetRaftBatch(b.GetBufferPointer());
  ASSERT_NE(batch->messages(), nullptr);
  EXPECT_EQ(batch->messages()->size(), 3u);
  EXPECT_EQ(batch->heartbeats()->size(), 500u);
  EXPECT_EQ(batch->heartbeat_acks()->size(), 500u);
  EXPECT_EQ(batch->incarnation(), 77u);
  // 1,000 heartbeats in well under 32 bytes each, against a Message table
  // each.
  EXPECT_LT(b.GetSize(), 1000u * 32);
  flatbuffers::FlatBufferBuilder full;
  std::vector<flatbuffers::Offset<fbs::Message>> offsets;
  for (const Message& m : messages) offsets.push_back(encode_message(full, m));
  full.Finish(fbs::CreateRaftBatch(full, full.CreateVector(offsets)));
  std::printf("1,003 messages: %u bytes coalesced, %u as full messages\n", b.GetSize(),
              full.GetSize());
  EXPECT_LT(b.GetSize() * 3, full.GetSize() * 2);  // About half, here.

  std::vector<Message> decoded = decode_all(b);
  ASSERT_EQ(decoded.size(), messages.size());
  // Full messages first, in order; then heartbeats, then answers, each in
  // message order.
  std::vector<Message> expected;
  for (const Message& m : messages) {
    if (!travels_compact(m)) expected.push_back(m);
  }
  for (MessageType t : {MessageType::kHeartbeat, MessageType::kHeartbeatResponse}) {
    for (const Message& m : messages) {
      if (travels_compact(m) && m.type == t) expected.push_back(m);
    }
  }
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(decoded[i], expected[i]) << i;
}

TEST(Codec, OnlyPlainHeartbeatsTravelCompact) {
  EXPECT_TRUE(travels_compact(heartbeat(1, 2, 3)));
  EXPECT_TRUE(travels_compact(heartbeat_ack(1, 2)));
  Message m = heartbeat(1, 2, 3);
  m.context = Slice::copy_of("c");
  EXPECT_FALSE(travels_compact(m));
  m = heartbeat_ack(1, 2);
  m.reject = true;
  EXPECT_FALSE(travels_compact(m));
  m = heartbeat_ack(1, 2);
  m.commit = 4;  // An answer has no commit; one that does is sent whole.
  EXPECT_FALSE(travels_compact(m));
  m = heartbeat(1, 2, 3);
  m.log_term = 1;
  EXPECT_FALSE(travels_compact(m));
  m = heartbeat(1, 2, 3);
  m.type = MessageType::kAppend;
  EXPECT_FALSE(travels_compact(m));
}

// A batch to one peer shares one sender and receiver; a heartbeat between
// another pair (never produced by the runtime) is still delivered intact.
TEST(Codec, AHeartbeatOfAnotherPairTravelsInFull) {
  std::vector<Message> messages = {heartbeat(1, 2, 3), heartbeat(2, 2, 3)};
  messages[1].from = 3;
  flatbuffers::FlatBufferBuilder b;
  size_t compact = 0;
  b.Finish(encode_raft_batch(b, messages, 0, &compact));
  EXPECT_EQ(compact, 1u);
  std::vector<Message> decoded = decode_all(b);
  ASSERT_EQ(decoded.size(), 2u);
  EXPECT_EQ(decoded[0], messages[1]);
  EXPECT_EQ(decoded[1], messages[0]);
}

TEST(Codec, AnEmptyBatchIsABeat) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(encode_raft_batch(b, {}, 5));
  EXPECT_TRUE(decode_all(b).empty());
  EXPECT_EQ(fbs::GetRaftBatch(b.GetBufferPointer())->incarnation(), 5u);
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
