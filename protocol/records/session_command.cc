#include "protocol/records/session_command.h"

#include <cstring>

#include "protocol/records/le_bytes.h"

namespace raft::protocol {
namespace {

constexpr uint8_t kSessionCommandVersion = 1;

}  // namespace

void encode_session_command_to(const SessionCommand& command, char* out) {
  *out++ = static_cast<char>(kSessionCommandVersion);
  *out++ = static_cast<char>(command.kind);
  out = put_u64(out, command.session);
  out = put_u64(out, command.sequence);
  out = put_u64(out, command.floor);
  out = put_u64(out, command.leader_time_ms);
  if (!command.payload.empty()) std::memcpy(out, command.payload.data(), command.payload.size());
}

std::string encode_session_command(const SessionCommand& command) {
  std::string out(session_command_size(command), '\0');
  encode_session_command_to(command, out.data());
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
  c.session = load_u64(p);
  c.sequence = load_u64(p + 8);
  c.floor = load_u64(p + 16);
  c.leader_time_ms = load_u64(p + 24);
  c.payload = bytes.substr(kSessionCommandHeaderBytes);
  if (c.kind != SessionCommandKind::kPropose && !c.payload.empty()) {
    return absl::InvalidArgumentError("session command: payload on an open or close");
  }
  return c;
}

}  // namespace raft::protocol
