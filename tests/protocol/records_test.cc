// The byte records of protocol/records: the peer address table and the
// snapshot envelope, their exact bytes, round trips and damaged input.
#include <gtest/gtest.h>

#include <string>

#include "protocol/records/peer_addresses.h"
#include "protocol/records/snapshot_envelope.h"

namespace raft::protocol {
namespace {

TEST(PeerAddresses, BytesAreTheDocumentedLayout) {
  const std::string got = encode_peer_addresses({{2, "ab"}});
  const std::string want(
      "\x01"                              // version
      "\x01\x00\x00\x00"                  // count
      "\x02\x00\x00\x00\x00\x00\x00\x00"  // id
      "\x02\x00\x00\x00"                  // length
      "ab",
      1 + 4 + 8 + 4 + 2);
  EXPECT_EQ(got, want);
}

TEST(PeerAddresses, RoundTripAndDamage) {
  const PeerAddresses peers = {{1, "127.0.0.1:7001"}, {7, "[::1]:7007"}};
  const std::string bytes = encode_peer_addresses(peers);
  auto back = decode_peer_addresses(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, peers);
  EXPECT_TRUE(decode_peer_addresses("").ok());  // Empty: an empty table.
  EXPECT_TRUE(decode_peer_addresses("")->empty());
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    EXPECT_EQ(decode_peer_addresses(bytes.substr(0, cut)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << cut;
  }
  EXPECT_FALSE(decode_peer_addresses(bytes + "x").ok());  // Trailing bytes.
  std::string v2 = bytes;
  v2[0] = 2;
  EXPECT_FALSE(decode_peer_addresses(v2).ok());  // Unknown version.
}

TEST(SnapshotEnvelope, HeaderLayoutRoundTripAndDamage) {
  const PeerAddresses peers = {{1, "127.0.0.1:1"}, {2, "127.0.0.1:2"}};
  const std::string sessions = "session table bytes";
  const std::string header = encode_snapshot_header(peers, 9, sessions);
  const std::string table = encode_peer_addresses(peers);
  ASSERT_EQ(header.size(), 8 + 4 + 4 + table.size() + 8 + 4 + sessions.size());
  EXPECT_EQ(header.substr(0, 8), "RRSNAP02");
  EXPECT_EQ(header.substr(16, table.size()), table);
  EXPECT_EQ(header.substr(header.size() - sessions.size()), sessions);
  const std::string image = header + "fsm bytes";
  auto env = decode_snapshot_image(image);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->peers, peers);
  EXPECT_EQ(env->max_id_seen, 9u);
  EXPECT_EQ(env->sessions, sessions);
  EXPECT_EQ(env->fsm_bytes, "fsm bytes");
  for (size_t cut = 0; cut < header.size(); ++cut) {
    EXPECT_EQ(decode_snapshot_image(image.substr(0, cut)).status().code(),
              absl::StatusCode::kDataLoss)
        << cut;
  }
  EXPECT_FALSE(decode_snapshot_image("RRSNAP03" + image.substr(8)).ok());
  // The length of the rest of the header must agree with its parts.
  std::string inconsistent = image;
  inconsistent[8] = static_cast<char>(inconsistent[8] + 1);
  EXPECT_EQ(decode_snapshot_image(inconsistent).status().code(), absl::StatusCode::kDataLoss);
}

// Images written before sessions (the first version) still decode, with an
// empty session table.
TEST(SnapshotEnvelope, FirstVersionImagesStillDecode) {
  const PeerAddresses peers = {{3, "127.0.0.1:3"}};
  const std::string table = encode_peer_addresses(peers);
  std::string v1 = "RRSNAP01";
  const uint32_t len = static_cast<uint32_t>(table.size());
  v1.append(reinterpret_cast<const char*>(&len), 4);
  v1 += table;
  const uint64_t max_id = 5;
  v1.append(reinterpret_cast<const char*>(&max_id), 8);
  auto size = snapshot_header_size(v1);
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, v1.size());
  const std::string image = v1 + "state";  // The envelope points into it.
  auto env = decode_snapshot_image(image);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->peers, peers);
  EXPECT_EQ(env->max_id_seen, 5u);
  EXPECT_TRUE(env->sessions.empty());
  EXPECT_EQ(env->fsm_bytes, "state");
}

// Read as a stream: the first 12 bytes size the header, which then decodes
// alone; a bad magic or an absurd length is DataLoss.
TEST(SnapshotEnvelope, HeaderSizeFromItsPrefix) {
  const std::string header = encode_snapshot_header({{1, "127.0.0.1:1"}}, 4, "s");
  auto size = snapshot_header_size(std::string_view(header).substr(0, kSnapshotHeaderPrefix));
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, header.size());
  auto env = decode_snapshot_image(header);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->max_id_seen, 4u);
  EXPECT_EQ(env->sessions, "s");
  EXPECT_TRUE(env->fsm_bytes.empty());
  EXPECT_EQ(snapshot_header_size(header.substr(0, 11)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(snapshot_header_size("RRSNAP03" + header.substr(8, 4)).status().code(),
            absl::StatusCode::kDataLoss);
  std::string huge = header.substr(0, kSnapshotHeaderPrefix);
  huge[11] = '\x7f';  // Header length above the cap.
  EXPECT_EQ(snapshot_header_size(huge).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace raft::protocol
