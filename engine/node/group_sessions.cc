// The group driver's client sessions (Raft thesis §6.3): the session
// commands it proposes, and what the apply loop does with a kSession entry
// before (or instead of) the state machine. The rules are the table's
// (session_table.h); this file ties them to proposals and entries.
#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/node/errors.h"
#include "engine/node/group.h"
#include "spdlog/spdlog.h"

namespace raft {

uint64_t Group::wall_clock_ms() const {
  if (wall_clock_ms_) return wall_clock_ms_();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

void Group::propose_session_command(protocol::SessionCommand command, ProposeCallback done) {
  if (removed_) {
    return done(failed(absl::FailedPreconditionError("this node was removed from the group")));
  }
  // The leader's clock: every replica reads log time from the entry.
  command.leader_time_ms = wall_clock_ms();
  // Into the group's arena: a burst of small commands costs one allocation
  // per 64 KiB, not two per command (it was a third of the leader's CPU per
  // write in a session at W=1024, glibc's malloc slow path included).
  char* bytes = nullptr;
  Slice entry = command_arena_.allocate(protocol::session_command_size(command), &bytes);
  protocol::encode_session_command_to(command, bytes);
  propose_entry(std::move(entry), EntryType::kSession, std::move(done));
}

void Group::open_session(ProposeCallback done) {
  protocol::SessionCommand c;
  c.kind = protocol::SessionCommandKind::kOpen;
  propose_session_command(c, std::move(done));
}

void Group::close_session(uint64_t session, ProposeCallback done) {
  protocol::SessionCommand c;
  c.kind = protocol::SessionCommandKind::kClose;
  c.session = session;
  propose_session_command(c, std::move(done));
}

void Group::propose_in_session(uint64_t session, uint64_t sequence, uint64_t floor, Slice data,
                               ProposeCallback done) {
  if (data.empty()) return done(failed(absl::InvalidArgumentError("empty proposal")));
  if (session == 0 || sequence == 0) {
    return done(failed(absl::InvalidArgumentError(
        "a proposal in a session needs the session's id and a sequence number from 1")));
  }
  protocol::SessionCommand c;
  c.kind = protocol::SessionCommandKind::kPropose;
  c.session = session;
  c.sequence = sequence;
  c.floor = floor;
  c.payload = data.view();  // Copied into the entry by the encoder.
  propose_session_command(c, std::move(done));
}

std::optional<std::string_view> Group::apply_session_command(
    const Entry& e, const absl::StatusOr<protocol::SessionCommand>& command) {
  if (!command.ok()) {
    // Every replica decodes the same bytes and skips the entry alike.
    spdlog::error("group {}: undecodable session command at index {}: {}", id_, e.index,
                  command.status().ToString());
    finish_proposal(e.index, e.term, failed(command.status()));
    return std::nullopt;
  }
  std::vector<uint64_t> expired;
  sessions_.advance(command->leader_time_ms, &expired);
  if (!expired.empty()) {
    gauges_.sessions_expired.fetch_add(expired.size(), std::memory_order_relaxed);
    spdlog::debug("group {}: {} session(s) expired at index {}", id_, expired.size(), e.index);
  }
  auto answer = [&](const absl::Status& s, std::string result) {
    if (s.ok()) {
      finish_proposal(e.index, e.term, ProposeResult{e.index, e.term, std::move(result)});
    } else {
      finish_proposal(e.index, e.term, s);
    }
  };
  switch (command->kind) {
    case protocol::SessionCommandKind::kOpen:
      answer(sessions_.open(e.index), {});
      return std::nullopt;
    case protocol::SessionCommandKind::kClose:
      answer(sessions_.close(command->session), {});
      return std::nullopt;
    case protocol::SessionCommandKind::kPropose:
      break;
  }
  absl::StatusOr<SessionTable::Check> check =
      sessions_.check(command->session, command->sequence, command->floor);
  if (!check.ok()) {
    answer(check.status(), {});
    return std::nullopt;
  }
  if (check->verdict == SessionTable::Verdict::kDuplicate) {
    // Applied before: the state machine is not called again.
    gauges_.session_duplicates.fetch_add(1, std::memory_order_relaxed);
    answer(absl::OkStatus(), *check->result);
    return std::nullopt;
  }
  return command->payload;
}

}  // namespace raft
