// Fuzz target: the frame decoder. The first byte picks a mode:
//   even: the rest is a raw byte stream, fed in two pieces (split at byte 1);
//         the checksum stops most inputs, which is the point: garbage must be
//         refused without a crash or an over-read.
//   odd:  the rest is a list of [u16 length][payload] records that are framed
//         with valid headers and checksums, so the Verifier and every field
//         read behind it get exercised.
#include <cstring>
#include <random>

#include "common/check.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/fuzz_walk.h"
#include "tests/net/net_test_util.h"

using namespace raft::net;
using namespace raft::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::string stream;
  if (data[0] % 2 == 0) {
    stream.assign(in);
  } else {
    while (in.size() >= 2) {
      uint16_t len;
      std::memcpy(&len, in.data(), 2);
      in.remove_prefix(2);
      std::string_view payload = in.substr(0, len);
      in.remove_prefix(payload.size());
      if (!payload.empty()) stream += frame_to_string(frame_from_bytes(payload));
    }
  }
  // A small cap so that "too large" is reachable.
  FrameDecoder decoder(/*max_frame_bytes=*/1 << 16, /*block_bytes=*/64 * 1024);
  size_t split = std::min<size_t>(data[1] * 8u, stream.size());
  uint64_t sum = 0;
  auto on_frame = [&](const ReceivedFrame& f) {
    fuzz::fuzz_check(f.frame != nullptr && f.payload.size() % 8 == 4);
    sum += fuzz::walk_frame(f);
    return true;
  };
  FrameError e = decoder.feed(std::string_view(stream).substr(0, split), on_frame);
  if (e == FrameError::kNone) e = decoder.feed(std::string_view(stream).substr(split), on_frame);
  (void)sum;
  return 0;
}

namespace raft::net::fuzz {

// Valid frames of every type, as the odd mode (records) and the even mode
// (raw stream), plus damaged variants.
std::vector<std::string> fuzz_seed_corpus() {
  std::vector<OutFrame> frames;
  HandshakeInfo hs;
  hs.cluster_id = 42;
  hs.node_id = 3;
  frames.push_back(encode_handshake(hs));
  frames.push_back(encode_handshake_reject("cluster id mismatch"));
  frames.push_back(testing::raft_frame(3, 20));
  frames.push_back(testing::raft_frame(1, 300));
  {
    flatbuffers::FlatBufferBuilder b;
    std::string bytes(100, 's');
    auto chunk = fbs::CreateSnapshotChunk(
        b, 7, 1, 2, 3, 100, 2, 0,
        b.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), true,
        fbs::CreateSnapshotMeta(
            b, 100, 2, fbs::CreateConfState(b, b.CreateVector(std::vector<uint64_t>{1, 2, 3}))),
        99);
    b.Finish(fbs::CreateFrame(b, fbs::FrameBody::SnapshotChunk, chunk.Union()));
    frames.push_back(frame_from_builder(b));
  }
  ClientRequest propose;
  propose.kind = RequestKind::kPropose;
  propose.request_id = 1;
  propose.data = Slice::copy_of("set a=b");
  ClientRequest change;
  change.kind = RequestKind::kChangeConfig;
  change.request_id = 2;
  change.changes = {{MemberChangeKind::kAddVoter, 4, "127.0.0.1:1"}};
  frames.push_back(encode_client_requests({propose, change}));
  ClientResponse not_leader;
  not_leader.error = ClientError::kNotLeader;
  not_leader.leader_id = 2;
  not_leader.leader_address = "127.0.0.1:2";
  frames.push_back(encode_client_responses({not_leader}));

  std::vector<std::string> seeds;
  std::string all_records(1, '\x01');
  all_records += '\0';
  std::string all_raw(1, '\x00');
  all_raw += '\x03';
  for (const OutFrame& f : frames) {
    std::string payload(f.payload.view());
    uint16_t len = static_cast<uint16_t>(payload.size());
    std::string record(reinterpret_cast<const char*>(&len), 2);
    record += payload;
    seeds.push_back(std::string("\x01\x00", 2) + record);
    all_records += record;
    seeds.push_back(std::string("\x00\x00", 2) + frame_to_string(f));
    all_raw += frame_to_string(f);
  }
  seeds.push_back(all_records);
  seeds.push_back(all_raw);
  // Bit flips of the raw stream (checksum failures) and of the records
  // (Verifier failures), from a fixed seed.
  std::mt19937_64 rng(2026);
  for (int i = 0; i < 64; ++i) {
    std::string s = i % 2 ? all_records : all_raw;
    size_t at = 2 + rng() % (s.size() - 2);
    s[at] = static_cast<char>(s[at] ^ (1u << (rng() % 8)));
    seeds.push_back(std::move(s));
  }
  seeds.push_back(all_raw.substr(0, all_raw.size() / 2));  // Truncated stream.
  return seeds;
}

}  // namespace raft::net::fuzz
