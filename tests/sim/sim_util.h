// Helpers shared by the simulator's files: byte codecs for snapshot
// headers, printing, the simulator's own state machine.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checksum.h"
#include "engine/core/types.h"
#include "engine/node/state_machine.h"
#include "tests/sim/prng.h"
#include "tests/sim/shadow_log.h"

namespace raft::sim {

inline constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
inline constexpr GroupId kSimGroup = 1;
inline constexpr int kElectionTicks = 10;

inline void put_u64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline bool get_u64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i)
    *v |= static_cast<uint64_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  in->remove_prefix(8);
  return true;
}

inline absl::StatusOr<std::string> read_all(SnapshotReader& reader) {
  std::string out;
  char buf[4096];
  for (;;) {
    absl::StatusOr<size_t> n = reader.read(std::span<char>(buf, sizeof buf));
    if (!n.ok()) return n.status();
    if (*n == 0) return out;
    out.append(buf, *n);
  }
}

// A SnapshotReader over its own copy of a simulated snapshot file.
class OwnedSnapshotReader final : public SnapshotReader {
 public:
  OwnedSnapshotReader(std::string bytes, uint64_t index)
      : bytes_(std::move(bytes)), reader_(bytes_, index) {}
  absl::StatusOr<size_t> read(std::span<char> buffer) override { return reader_.read(buffer); }
  uint64_t snapshot_index() const override { return reader_.snapshot_index(); }

 private:
  std::string bytes_;
  StringSnapshotReader reader_;
};

inline bool contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

inline std::string conf_string(const ConfState& cs) {
  std::string s = absl::StrCat("voters=[", absl::StrJoin(cs.voters, ","), "]");
  if (!cs.learners.empty())
    absl::StrAppend(&s, " learners=[", absl::StrJoin(cs.learners, ","), "]");
  if (!cs.voters_outgoing.empty()) {
    absl::StrAppend(&s, " outgoing=[", absl::StrJoin(cs.voters_outgoing, ","), "]");
  }
  if (!cs.learners_next.empty()) {
    absl::StrAppend(&s, " learners_next=[", absl::StrJoin(cs.learners_next, ","), "]");
  }
  if (cs.auto_leave) absl::StrAppend(&s, " auto_leave");
  return s;
}

inline const char* type_name(MessageType t) {
  switch (t) {
    case MessageType::kHup:
      return "Hup";
    case MessageType::kBeat:
      return "Beat";
    case MessageType::kPropose:
      return "Propose";
    case MessageType::kSnapStatus:
      return "SnapStatus";
    case MessageType::kUnreachable:
      return "Unreachable";
    case MessageType::kCheckQuorum:
      return "CheckQuorum";
    case MessageType::kAppend:
      return "App";
    case MessageType::kAppendResponse:
      return "AppResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResponse:
      return "VoteResp";
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResponse:
      return "PreVoteResp";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResponse:
      return "HeartbeatResp";
    case MessageType::kSnapshot:
      return "Snapshot";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kReadIndex:
      return "ReadIndex";
    case MessageType::kReadIndexResponse:
      return "ReadIndexResp";
    case MessageType::kTransferLeader:
      return "TransferLeader";
    case MessageType::kQuiesce:
      return "Quiesce";
  }
  return "?";
}

inline std::string message_string(const Message& m) {
  std::string s = absl::StrCat(type_name(m.type), " ", m.from, "->", m.to, " t", m.term, " lt",
                               m.log_term, " i", m.index, " c", m.commit);
  if (!m.entries.empty()) {
    absl::StrAppend(&s, " ents[", m.entries.front().index, "..", m.entries.back().index, "]");
  }
  if (m.reject) absl::StrAppend(&s, " reject hint", m.reject_hint);
  if (m.snapshot) absl::StrAppend(&s, " snap@", m.snapshot->meta.index);
  return s;
}

// The simulator's own state machine: a counter of applied entries and a
// digest of their payloads. Results depend on the entry only.
class CounterMachine final : public StateMachine {
 public:
  std::string apply(uint64_t index, std::string_view data) override {
    ++count_;
    digest_ = mix_hash(digest_, checksum64(data));
    return absl::StrCat("r", index, ":", checksum64(data));
  }
  absl::StatusOr<std::string> query(std::string_view) const override {
    return absl::StrCat(count_);
  }
  // A copy of its small state: O(1) on the driver's thread.
  absl::StatusOr<std::unique_ptr<SnapshotView>> snapshot_view() override {
    std::string out;
    put_u64(&out, count_);
    put_u64(&out, digest_);
    return std::unique_ptr<SnapshotView>(new BytesSnapshotView(std::move(out)));
  }
  absl::Status restore(SnapshotReader& reader) override {
    absl::StatusOr<std::string> bytes = read_all(reader);
    if (!bytes.ok()) return bytes.status();
    std::string_view in = *bytes;
    if (!get_u64(&in, &count_) || !get_u64(&in, &digest_) || !in.empty()) {
      return absl::DataLossError("counter snapshot is malformed");
    }
    return absl::OkStatus();
  }

 private:
  uint64_t count_ = 0;
  uint64_t digest_ = kGenesisHash;
};

inline bool is_voter_majority(const std::vector<NodeId>& voters, const std::set<NodeId>& durable) {
  size_t n = 0;
  for (NodeId v : voters) n += durable.contains(v) ? 1 : 0;
  return n > voters.size() / 2;
}

}  // namespace raft::sim
