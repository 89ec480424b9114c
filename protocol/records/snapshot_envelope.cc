#include "protocol/records/snapshot_envelope.h"

#include "absl/strings/str_cat.h"
#include "protocol/records/le_bytes.h"
#include "protocol/records/peer_addresses.h"

namespace raft::protocol {
namespace {
constexpr std::string_view kMagicV1 = "RRSNAP01";
constexpr std::string_view kMagic = "RRSNAP02";

bool take_u32(std::string_view* in, uint32_t* v) {
  LeReader r{*in};
  *v = r.u32();
  *in = r.in;
  return r.ok;
}

absl::StatusOr<PeerAddresses> peers_of(std::string_view table) {
  auto peers = decode_peer_addresses(table);
  if (!peers.ok()) {
    return absl::DataLossError(absl::StrCat("snapshot image: ", peers.status().message()));
  }
  return peers;
}
}  // namespace

std::string encode_snapshot_header(const PeerAddresses& peers, uint64_t max_id_seen,
                                   std::string_view sessions) {
  std::string table = encode_peer_addresses(peers);
  std::string out(kMagic);
  put_u32(&out, static_cast<uint32_t>(4 + table.size() + 8 + 4 + sessions.size()));
  put_u32(&out, static_cast<uint32_t>(table.size()));
  out.append(table);
  put_u64(&out, max_id_seen);
  put_u32(&out, static_cast<uint32_t>(sessions.size()));
  out.append(sessions);
  return out;
}

absl::StatusOr<SnapshotEnvelope> decode_snapshot_image(std::string_view image) {
  const std::string_view magic = image.substr(0, kMagic.size());
  if (magic != kMagic && magic != kMagicV1) return absl::DataLossError("snapshot image: bad magic");
  const bool v1 = magic == kMagicV1;
  image.remove_prefix(kMagic.size());
  SnapshotEnvelope env;
  uint32_t rest = 0;
  if (!v1) {
    if (!take_u32(&image, &rest)) return absl::DataLossError("snapshot image: truncated header");
    if (image.size() < rest) return absl::DataLossError("snapshot image: truncated");
  }
  uint32_t len = 0;
  if (!take_u32(&image, &len)) return absl::DataLossError("snapshot image: truncated header");
  if (image.size() < uint64_t{len} + 8) return absl::DataLossError("snapshot image: truncated");
  auto peers = peers_of(image.substr(0, len));
  if (!peers.ok()) return peers.status();
  image.remove_prefix(len);
  env.peers = std::move(*peers);
  env.max_id_seen = load_u64(image.data());
  image.remove_prefix(8);
  if (!v1) {
    uint32_t sessions = 0;
    if (!take_u32(&image, &sessions) || image.size() < sessions ||
        uint64_t{rest} != 4 + uint64_t{len} + 8 + 4 + sessions) {
      return absl::DataLossError("snapshot image: truncated or inconsistent header");
    }
    env.sessions = image.substr(0, sessions);
    image.remove_prefix(sessions);
  }
  env.fsm_bytes = image;
  return env;
}

absl::StatusOr<size_t> snapshot_header_size(std::string_view prefix) {
  if (prefix.size() < kSnapshotHeaderPrefix) {
    return absl::DataLossError("snapshot image: truncated header");
  }
  const std::string_view magic = prefix.substr(0, kMagic.size());
  if (magic != kMagic && magic != kMagicV1) return absl::DataLossError("snapshot image: bad magic");
  const uint32_t len = load_u32(prefix.data() + kMagic.size());
  if (magic == kMagicV1) {
    if (len > kMaxSnapshotPeerTableBytes) {
      return absl::DataLossError(absl::StrCat("snapshot image: peer table of ", len,
                                              " bytes (the cap is ", kMaxSnapshotPeerTableBytes,
                                              ")"));
    }
    return kSnapshotHeaderPrefix + size_t{len} + 8;
  }
  if (len > kMaxSnapshotHeaderBytes || len < 4 + 8 + 4) {
    return absl::DataLossError(absl::StrCat("snapshot image: a header of ", len,
                                            " bytes (at least 16, at most ",
                                            kMaxSnapshotHeaderBytes, ")"));
  }
  return kSnapshotHeaderPrefix + size_t{len};
}

}  // namespace raft::protocol
