// The core's own message and log types. engine/core speaks only these; the
// runtime (engine/node) converts them to and from the FlatBuffers wire format
// (fbs/raft.fbs mirrors them field for field) and the storage records.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/slice.h"

namespace raft {

using NodeId = uint64_t;   // 0 means "none".
using GroupId = uint64_t;  // One Raft group; every message names its group.
using Term = uint64_t;
using Index = uint64_t;

inline constexpr NodeId kNoNode = 0;

enum class EntryType : uint8_t {
  kNormal = 0,      // User data; an empty kNormal entry is a leader's no-op.
  kConfChange = 1,  // data holds an encoded ConfChange (see conf_change.h).
  // A command for the driver above the core (the runtime's client sessions,
  // protocol/records/session_command.h). The core treats it as kNormal.
  kSession = 2,
};
inline constexpr EntryType kLastEntryType = EntryType::kSession;

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::kNormal;
  Slice data;

  friend bool operator==(const Entry&, const Entry&) = default;
};

// What must be durable before a node may speak: its term, its vote, and the
// highest index it knows to be committed.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  friend bool operator==(const HardState&, const HardState&) = default;
};

// Membership. In a joint configuration voters_outgoing is non-empty and both
// majorities are needed. learners_next holds voters of the outgoing config
// that become learners when the joint config is left.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  std::vector<NodeId> voters_outgoing;
  std::vector<NodeId> learners_next;
  bool auto_leave = false;

  friend bool operator==(const ConfState&, const ConfState&) = default;
};

struct SnapshotMeta {
  Index index = 0;
  Term term = 0;
  ConfState conf_state;

  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

// A snapshot as the core sees it. `data` is opaque to the core; the runtime
// may leave it empty and stream the file out of band, in chunks.
struct Snapshot {
  SnapshotMeta meta;
  Slice data;

  bool empty() const { return meta.index == 0; }
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

enum class MessageType : uint8_t {
  // Local messages: never leave the node.
  kHup = 0,          // Start an election (campaign).
  kBeat = 1,         // Leader: send heartbeats now.
  kPropose = 2,      // Append entries; also forwarded follower -> leader.
  kSnapStatus = 3,   // Runtime reports success (reject=false) or failure of a snapshot send.
  kUnreachable = 4,  // Runtime reports a peer it could not reach.
  kCheckQuorum = 5,  // Leader: check that a quorum was heard from.
  // Remote messages.
  kAppend = 10,
  kAppendResponse = 11,
  kVote = 12,
  kVoteResponse = 13,
  kPreVote = 14,
  kPreVoteResponse = 15,
  kHeartbeat = 16,
  kHeartbeatResponse = 17,
  kSnapshot = 18,
  kTimeoutNow = 19,
  kReadIndex = 20,  // Also forwarded follower -> leader.
  kReadIndexResponse = 21,
  kTransferLeader = 22,  // Also forwarded follower -> leader.
  // Leader -> follower: the group is idle and every live peer holds the
  // whole log; (log_term, index) is the leader's last entry, commit equals
  // it. A follower whose log ends there stops its timers (quiesce.cc).
  kQuiesce = 23,
};

// One Raft message. Field meaning depends on the type, as in the paper:
// (log_term, index) name the entry preceding `entries` for kAppend, the
// candidate's last entry for votes, and the accepted/rejected index in
// responses. A rejected append carries (reject_hint, log_term) so that the
// leader can skip a whole term per round trip.
struct Message {
  MessageType type = MessageType::kHup;
  GroupId group = 0;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  Term log_term = 0;
  Index index = 0;
  Index commit = 0;
  std::vector<Entry> entries;
  bool reject = false;
  Index reject_hint = 0;
  std::optional<Snapshot> snapshot;
  Slice context;  // Read-index request id, campaign kind (e.g. transfer), ...

  friend bool operator==(const Message&, const Message&) = default;
};

}  // namespace raft
