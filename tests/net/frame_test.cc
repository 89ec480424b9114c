// Framing: round trips through the decoder in any split, zero-copy slices
// that outlive the receive block's reuse, and every kind of bad input.
#include "net/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "net/handshake.h"
#include "tests/net/allocation_counter.h"
#include "tests/net/net_test_util.h"

namespace raft::net {
namespace {

using testing::first_index_of;
using testing::raft_frame;

std::string stream_of(int frames, size_t messages, size_t payload) {
  std::string s;
  for (int i = 0; i < frames; ++i) {
    s += frame_to_string(raft_frame(messages, payload, 1 + static_cast<uint64_t>(i) * messages));
  }
  return s;
}

TEST(Frame, HeaderCarriesLengthAndChecksumAndPaddedPayload) {
  OutFrame f = raft_frame(3, 100);
  uint32_t length;
  uint64_t sum;
  std::memcpy(&length, f.header, 4);
  std::memcpy(&sum, f.header + 4, 8);
  EXPECT_EQ(length % 8, 4u);
  EXPECT_EQ(length, f.payload.size() + f.padding);
  EXPECT_EQ(sum, checksum64(frame_to_string(f).substr(kFrameHeaderBytes)));
  EXPECT_TRUE(
      verify_frame_payload(reinterpret_cast<const uint8_t*>(f.payload.data()), f.payload.size()));
}

TEST(Frame, RoundTripInEverySplit) {
  const std::string bytes = stream_of(20, 4, 50);
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{7}, size_t{64}, size_t{1000}, bytes.size()}) {
    FrameDecoder d(kDefaultMaxFrameBytes, 64 * 1024);
    std::vector<uint64_t> firsts;
    for (size_t off = 0; off < bytes.size(); off += chunk) {
      auto part = std::string_view(bytes).substr(off, chunk);
      ASSERT_EQ(d.feed(part,
                       [&](const ReceivedFrame& f) {
                         firsts.push_back(first_index_of(f));
                         return true;
                       }),
                FrameError::kNone);
    }
    ASSERT_EQ(firsts.size(), 20u) << "chunk " << chunk;
    for (size_t i = 0; i < firsts.size(); ++i) EXPECT_EQ(firsts[i], 1 + i * 4);
    EXPECT_EQ(d.buffered(), 0u);
  }
}

// Slices taken from delivered frames stay valid (and unchanged) while the
// decoder keeps receiving: a held block is never overwritten.
TEST(Frame, SlicesOutliveBlockReuse) {
  FrameDecoder d(kDefaultMaxFrameBytes, 32 * 1024);
  std::vector<std::pair<uint64_t, Slice>> kept;
  std::mt19937_64 rng(42);
  for (int round = 0; round < 50; ++round) {
    std::string bytes = frame_to_string(raft_frame(2, 1500 + rng() % 3000, round * 2 + 1));
    ASSERT_EQ(d.feed(bytes,
                     [&](const ReceivedFrame& f) {
                       const auto* m = f.frame->body_as_RaftBatch()->messages()->Get(0);
                       kept.emplace_back(m->index(), f.slice_of(m->entries()->Get(0)->data()));
                       return true;
                     }),
              FrameError::kNone);
  }
  ASSERT_EQ(kept.size(), 50u);
  for (auto& [index, slice] : kept) {
    ASSERT_GE(slice.size(), 1500u);
    EXPECT_EQ(slice.data()[0], static_cast<char>('a' + index % 26)) << index;
    EXPECT_EQ(slice.data()[1], 'x');
  }
}

// Receive buffers are reused: once every delivered frame is released, the
// next receive goes to the same place in the same block, not a fresh one.
TEST(Frame, ReceiveBlockIsReusedWhenNoSliceIsHeld) {
  FrameDecoder d(kDefaultMaxFrameBytes, 64 * 1024);
  std::string bytes = frame_to_string(raft_frame(2, 700));
  size_t capacity = 0;
  const char* first = d.prepare_write(&capacity);
  int frames = 0;
  uint64_t allocated = 0;
  {
    testing::AllocationCounter allocations;
    for (int round = 0; round < 200; ++round) {
      if (d.feed(bytes, [&](const ReceivedFrame&) { return ++frames, true; }) !=
              FrameError::kNone ||
          d.prepare_write(&capacity) != first) {
        break;
      }
    }
    allocated = allocations.count();
  }
  EXPECT_EQ(frames, 200);
  EXPECT_EQ(d.prepare_write(&capacity), first);
  EXPECT_EQ(allocated, 0u) << "receiving allocated (a fresh block instead of the reused one)";
}

TEST(Frame, LargeFrameGrowsTheBlockWithinTheCap) {
  FrameDecoder d(8u << 20, 64 * 1024);
  std::string bytes = frame_to_string(raft_frame(4, 1 << 20));
  int frames = 0;
  ASSERT_EQ(d.feed(bytes, [&](const ReceivedFrame&) { return ++frames, true; }), FrameError::kNone);
  EXPECT_EQ(frames, 1);
}

TEST(Frame, StopFromCallbackKeepsTheRestBuffered) {
  FrameDecoder d;
  std::string bytes = stream_of(3, 1, 10);
  int frames = 0;
  ASSERT_EQ(d.feed(bytes, [&](const ReceivedFrame&) { return ++frames, false; }),
            FrameError::kNone);
  EXPECT_EQ(frames, 1);
  EXPECT_EQ(d.take_buffered(), bytes.substr(bytes.size() / 3 * 1));
}

FrameError decode_all(std::string_view bytes, uint32_t cap = kDefaultMaxFrameBytes,
                      int* frames = nullptr) {
  FrameDecoder d(cap, 64 * 1024);
  int n = 0;
  FrameError e = d.feed(bytes, [&](const ReceivedFrame&) { return ++n, true; });
  if (frames) *frames = n;
  return e;
}

std::string header(uint32_t length, uint64_t sum) {
  std::string h(kFrameHeaderBytes, '\0');
  std::memcpy(h.data(), &length, 4);
  std::memcpy(h.data() + 4, &sum, 8);
  return h;
}

TEST(FrameBadInput, GarbageBytes) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string junk(64 + rng() % 512, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    FrameDecoder d(kDefaultMaxFrameBytes, 64 * 1024);
    int frames = 0;
    FrameError e = d.feed(junk, [&](const ReceivedFrame&) { return ++frames, true; });
    EXPECT_EQ(frames, 0) << "seed 7, round " << i;
    // Either rejected at once, or a plausible header waits for more bytes
    // (which the connection's idle read timeout then ends).
    EXPECT_TRUE(e != FrameError::kNone || d.buffered() > 0) << "seed 7, round " << i;
  }
}

TEST(FrameBadInput, ZeroOrUnalignedLength) {
  EXPECT_EQ(decode_all(header(0, 0)), FrameError::kBadHeader);
  EXPECT_EQ(decode_all(header(16, 0)), FrameError::kBadHeader);
  EXPECT_EQ(decode_all(header(13, 0)), FrameError::kBadHeader);
}

TEST(FrameBadInput, LengthOverTheCapIsRejectedFromTheHeaderAlone) {
  EXPECT_EQ(decode_all(header((1u << 20) + 4, 0), 1u << 19), FrameError::kTooLarge);
  EXPECT_EQ(decode_all(header(0xfffffffcu, 0)), FrameError::kTooLarge);
}

TEST(FrameBadInput, ChecksumMismatch) {
  std::string bytes = frame_to_string(raft_frame(2, 40));
  bytes[kFrameHeaderBytes + 20] ^= 0x01;
  EXPECT_EQ(decode_all(bytes), FrameError::kChecksum);
  std::string bytes2 = frame_to_string(raft_frame(2, 40));
  bytes2[5] ^= 0x10;  // In the checksum field itself.
  EXPECT_EQ(decode_all(bytes2), FrameError::kChecksum);
}

TEST(FrameBadInput, VerifierFailureWithAValidChecksum) {
  std::string payload(64, '\0');
  uint32_t root = 0x7ffffff0;  // Root offset far outside the buffer.
  std::memcpy(payload.data(), &root, 4);
  EXPECT_EQ(decode_all(frame_to_string(frame_from_bytes(payload))), FrameError::kVerify);
  // A real frame cut short, re-checksummed: the Verifier catches it.
  OutFrame good = raft_frame(3, 64);
  std::string cut(good.payload.view().substr(0, good.payload.size() / 2 / 8 * 8));
  EXPECT_EQ(decode_all(frame_to_string(frame_from_bytes(cut))), FrameError::kVerify);
}

// The FlatBuffers Verifier accepts a union type without its table (found by
// the fuzzer); the decoder must not hand such a frame out.
TEST(FrameBadInput, UnionTypeWithoutItsTable) {
  flatbuffers::FlatBufferBuilder b;
  fbs::FrameBuilder fb(b);
  fb.add_body_type(fbs::FrameBody::SnapshotChunk);
  b.Finish(fb.Finish());
  EXPECT_EQ(decode_all(frame_to_string(frame_from_builder(b))), FrameError::kVerify);
  flatbuffers::FlatBufferBuilder empty;
  empty.Finish(fbs::FrameBuilder(empty).Finish());
  EXPECT_EQ(decode_all(frame_to_string(frame_from_builder(empty))), FrameError::kVerify);
}

TEST(FrameBadInput, GoodFramesBeforeTheBadOneAreDelivered) {
  std::string bytes = stream_of(3, 1, 10) + header(13, 0);
  int frames = 0;
  EXPECT_EQ(decode_all(bytes, kDefaultMaxFrameBytes, &frames), FrameError::kBadHeader);
  EXPECT_EQ(frames, 3);
}

TEST(FrameBadInput, HalfAFrameIsBufferedNotDelivered) {
  std::string bytes = frame_to_string(raft_frame(1, 100));
  FrameDecoder d;
  int frames = 0;
  ASSERT_EQ(d.feed(std::string_view(bytes).substr(0, bytes.size() / 2),
                   [&](const ReceivedFrame&) { return ++frames, true; }),
            FrameError::kNone);
  EXPECT_EQ(frames, 0);
  EXPECT_EQ(d.buffered(), bytes.size() / 2);
}

// The handshake through the frame decoder: every field survives, the shard
// count included (an acceptor's reply tells clients where groups live).
HandshakeInfo decode_one_handshake(const OutFrame& out) {
  HandshakeInfo got;
  int frames = 0;
  FrameDecoder d;
  EXPECT_EQ(d.feed(frame_to_string(out),
                   [&](const ReceivedFrame& f) {
                     EXPECT_EQ(f.frame->body_type(), fbs::FrameBody::Handshake);
                     if (const fbs::Handshake* hs = f.frame->body_as_Handshake()) {
                       got = decode_handshake(*hs);
                     }
                     return ++frames, true;
                   }),
            FrameError::kNone);
  EXPECT_EQ(frames, 1);
  return got;
}

TEST(Handshake, RoundTripKeepsEveryFieldAndTheShardCount) {
  HandshakeInfo hs;
  hs.cluster_id = 0x1234567890ull;
  hs.node_id = 3;
  hs.shard = 1;
  hs.target_shard = 2;
  hs.role = ConnectionRole::kClient;
  hs.shard_count = 7;
  EXPECT_EQ(decode_one_handshake(encode_handshake(hs)), hs);
  hs.shard_count = 0;
  EXPECT_EQ(decode_one_handshake(encode_handshake(hs)), hs);
}

// A handshake from a sender that predates shard_count (the table without the
// field) still decodes, with shard_count 0: "one shard".
TEST(Handshake, WithoutTheShardCountFieldDecodesAsZero) {
  flatbuffers::FlatBufferBuilder b;
  fbs::HandshakeBuilder hb(b);
  hb.add_protocol_version(kProtocolVersion);
  hb.add_cluster_id(9);
  hb.add_node_id(2);
  hb.add_shard(1);
  hb.add_target_shard(1);
  auto hs = hb.Finish();
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::Handshake, hs.Union()));
  const HandshakeInfo got = decode_one_handshake(frame_from_builder(b));
  EXPECT_EQ(got.cluster_id, 9u);
  EXPECT_EQ(got.node_id, 2u);
  EXPECT_EQ(got.shard, 1u);
  EXPECT_EQ(got.target_shard, 1u);
  EXPECT_EQ(got.role, ConnectionRole::kPeer);
  EXPECT_EQ(got.shard_count, 0u);
}

}  // namespace
}  // namespace raft::net
