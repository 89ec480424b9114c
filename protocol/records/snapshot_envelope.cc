#include "protocol/records/snapshot_envelope.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "protocol/records/peer_addresses.h"

namespace raft::protocol {
namespace {
constexpr std::string_view kMagic = "RRSNAP01";
}  // namespace

std::string encode_snapshot_header(const PeerAddresses& peers, uint64_t max_id_seen) {
  std::string table = encode_peer_addresses(peers);
  std::string out(kMagic);
  uint32_t len = static_cast<uint32_t>(table.size());
  out.append(reinterpret_cast<const char*>(&len), 4);
  out.append(table);
  out.append(reinterpret_cast<const char*>(&max_id_seen), 8);
  return out;
}

absl::StatusOr<SnapshotEnvelope> decode_snapshot_image(std::string_view image) {
  if (image.substr(0, kMagic.size()) != kMagic) {
    return absl::DataLossError("snapshot image: bad magic");
  }
  image.remove_prefix(kMagic.size());
  uint32_t len = 0;
  if (image.size() < 4) return absl::DataLossError("snapshot image: truncated header");
  std::memcpy(&len, image.data(), 4);
  image.remove_prefix(4);
  if (image.size() < uint64_t{len} + 8) return absl::DataLossError("snapshot image: truncated");
  auto peers = decode_peer_addresses(image.substr(0, len));
  if (!peers.ok()) {
    return absl::DataLossError(absl::StrCat("snapshot image: ", peers.status().message()));
  }
  image.remove_prefix(len);
  SnapshotEnvelope env;
  env.peers = std::move(*peers);
  std::memcpy(&env.max_id_seen, image.data(), 8);
  image.remove_prefix(8);
  env.fsm_bytes = image;
  return env;
}

absl::StatusOr<size_t> snapshot_header_size(std::string_view prefix) {
  if (prefix.size() < kSnapshotHeaderPrefix) {
    return absl::DataLossError("snapshot image: truncated header");
  }
  if (prefix.substr(0, kMagic.size()) != kMagic) {
    return absl::DataLossError("snapshot image: bad magic");
  }
  uint32_t len = 0;
  std::memcpy(&len, prefix.data() + kMagic.size(), 4);
  if (len > kMaxSnapshotPeerTableBytes) {
    return absl::DataLossError(absl::StrCat("snapshot image: peer table of ", len,
                                            " bytes (the cap is ", kMaxSnapshotPeerTableBytes,
                                            ")"));
  }
  return kSnapshotHeaderPrefix + size_t{len} + 8;
}

}  // namespace raft::protocol
