#include "protocol/records/peer_addresses.h"

#include <cstring>

namespace raft::protocol {
namespace {

template <typename T>
void put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}

template <typename T>
bool get(std::string_view* in, T* v) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

constexpr uint8_t kVersion = 1;
constexpr uint32_t kMaxAddressBytes = 1024;

}  // namespace

std::string encode_peer_addresses(const PeerAddresses& peers) {
  std::string out;
  put<uint8_t>(&out, kVersion);
  put<uint32_t>(&out, static_cast<uint32_t>(peers.size()));
  for (const auto& [id, address] : peers) {
    put<uint64_t>(&out, id);
    put<uint32_t>(&out, static_cast<uint32_t>(address.size()));
    out.append(address);
  }
  return out;
}

absl::StatusOr<PeerAddresses> decode_peer_addresses(std::string_view in) {
  PeerAddresses peers;
  if (in.empty()) return peers;
  uint8_t version = 0;
  uint32_t count = 0;
  if (!get(&in, &version) || version != kVersion) {
    return absl::InvalidArgumentError("peer table: unknown version");
  }
  if (!get(&in, &count)) return absl::InvalidArgumentError("peer table: truncated");
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t id = 0;
    uint32_t len = 0;
    if (!get(&in, &id) || !get(&in, &len) || len > kMaxAddressBytes || in.size() < len) {
      return absl::InvalidArgumentError("peer table: truncated entry");
    }
    peers[id] = std::string(in.substr(0, len));
    in.remove_prefix(len);
  }
  if (!in.empty()) return absl::InvalidArgumentError("peer table: trailing bytes");
  return peers;
}

}  // namespace raft::protocol
