#include "protocol/records/peer_addresses.h"

#include "protocol/records/le_bytes.h"

namespace raft::protocol {
namespace {

constexpr uint8_t kVersion = 1;
constexpr uint32_t kMaxAddressBytes = 1024;

}  // namespace

std::string encode_peer_addresses(const PeerAddresses& peers) {
  std::string out;
  put_u8(&out, kVersion);
  put_u32(&out, static_cast<uint32_t>(peers.size()));
  for (const auto& [id, address] : peers) {
    put_u64(&out, id);
    put_u32(&out, static_cast<uint32_t>(address.size()));
    out.append(address);
  }
  return out;
}

absl::StatusOr<PeerAddresses> decode_peer_addresses(std::string_view in) {
  PeerAddresses peers;
  if (in.empty()) return peers;
  LeReader r{in};
  if (r.u8() != kVersion || !r.ok) {
    return absl::InvalidArgumentError("peer table: unknown version");
  }
  const uint32_t count = r.u32();
  if (!r.ok) return absl::InvalidArgumentError("peer table: truncated");
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t id = r.u64();
    const uint32_t len = r.u32();
    if (!r.ok || len > kMaxAddressBytes) {
      return absl::InvalidArgumentError("peer table: truncated entry");
    }
    const std::string_view address = r.bytes(len);
    if (!r.ok) return absl::InvalidArgumentError("peer table: truncated entry");
    peers[id] = std::string(address);
  }
  if (!r.in.empty()) return absl::InvalidArgumentError("peer table: trailing bytes");
  return peers;
}

}  // namespace raft::protocol
