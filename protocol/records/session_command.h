// The runtime's session commands (Raft thesis §6.3): the data of an entry of
// type EntryType::kSession. A client opens a session (its id is the index of
// the open entry, which every replica agrees on), then each proposal carries
// the session id, its sequence number and the lowest sequence number the
// client still waits for; the apply loop (engine/node/session_table.h) runs a
// new one once and answers a duplicate from the result it stored. Every
// command carries the leader's clock when it was proposed: sessions expire by
// that log time, never by a replica's own clock.
//
//   u8 version (1) | u8 kind | u64 session | u64 sequence | u64 floor
//   | u64 leader time (ms) | payload (the user's command, kPropose only)
//
// (little-endian). Target raft_protocol_records: no FlatBuffers, no net.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace raft::protocol {

enum class SessionCommandKind : uint8_t {
  kOpen = 1,     // Opens a session; its id is this entry's index.
  kPropose = 2,  // The user's command, in a session.
  kClose = 3,    // Closes a session, freeing what it stored.
};

struct SessionCommand {
  SessionCommandKind kind = SessionCommandKind::kPropose;
  uint64_t session = 0;   // kPropose, kClose.
  uint64_t sequence = 0;  // kPropose: 1, 2, ... per session.
  uint64_t floor = 0;     // kPropose: every sequence below it was answered.
  uint64_t leader_time_ms = 0;
  std::string_view payload;  // Points into the decoded bytes.
};

inline constexpr size_t kSessionCommandHeaderBytes = 2 + 4 * 8;

std::string encode_session_command(const SessionCommand& command);
// The same bytes written at `out`, which has room for
// session_command_size(command) of them (the driver's arena, no allocation).
inline size_t session_command_size(const SessionCommand& command) {
  return kSessionCommandHeaderBytes + command.payload.size();
}
void encode_session_command_to(const SessionCommand& command, char* out);
// InvalidArgument on a truncated command, an unknown version or kind, or a
// payload on anything but kPropose.
absl::StatusOr<SessionCommand> decode_session_command(std::string_view bytes);

}  // namespace raft::protocol
