#include "protocol/records/session_command.h"

#include <cstring>

namespace raft::protocol {
namespace {

constexpr uint8_t kSessionCommandVersion = 1;

void put_u64_le(std::string* out, uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out->append(b, 8);
}

uint64_t get_u64_le(const char* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

std::string encode_session_command(const SessionCommand& command) {
  std::string out;
  out.reserve(kSessionCommandHeaderBytes + command.payload.size());
  out.push_back(static_cast<char>(kSessionCommandVersion));
  out.push_back(static_cast<char>(command.kind));
  put_u64_le(&out, command.session);
  put_u64_le(&out, command.sequence);
  put_u64_le(&out, command.floor);
  put_u64_le(&out, command.leader_time_ms);
  out.append(command.payload);
  return out;
}

absl::StatusOr<SessionCommand> decode_session_command(std::string_view bytes) {
  if (bytes.size() < kSessionCommandHeaderBytes) {
    return absl::InvalidArgumentError("session command: truncated");
  }
  if (static_cast<uint8_t>(bytes[0]) != kSessionCommandVersion) {
    return absl::InvalidArgumentError("session command: unknown version");
  }
  SessionCommand c;
  const auto kind = static_cast<uint8_t>(bytes[1]);
  if (kind < static_cast<uint8_t>(SessionCommandKind::kOpen) ||
      kind > static_cast<uint8_t>(SessionCommandKind::kClose)) {
    return absl::InvalidArgumentError("session command: unknown kind");
  }
  c.kind = static_cast<SessionCommandKind>(kind);
  const char* p = bytes.data() + 2;
  c.session = get_u64_le(p);
  c.sequence = get_u64_le(p + 8);
  c.floor = get_u64_le(p + 16);
  c.leader_time_ms = get_u64_le(p + 24);
  c.payload = bytes.substr(kSessionCommandHeaderBytes);
  if (c.kind != SessionCommandKind::kPropose && !c.payload.empty()) {
    return absl::InvalidArgumentError("session command: payload on an open or close");
  }
  return c;
}

}  // namespace raft::protocol
