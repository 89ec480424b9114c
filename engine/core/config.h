// Configuration of one Raft group's core (RawNode). Plain data plus a
// validate() that says what is wrong in words; RawNode::create refuses an
// invalid Config.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "engine/core/types.h"

namespace raft {

// How a leader serves read_index().
enum class ReadOnlyOption : uint8_t {
  // A heartbeat round confirms leadership before the read index is released.
  kSafe = 0,
  // The leader trusts its lease (no heartbeat round). Requires check_quorum,
  // and bounded clock drift between nodes.
  kLeaseBased = 1,
};

struct Config {
  NodeId id = kNoNode;  // This node; never kNoNode.
  GroupId group = 0;    // Stamped on every outgoing message.

  // A follower that hears nothing from a leader for a randomized timeout in
  // [election_ticks, 2 * election_ticks) starts an election. Must be greater
  // than heartbeat_ticks.
  int election_ticks = 10;
  // A leader sends heartbeats every heartbeat_ticks ticks.
  int heartbeat_ticks = 1;

  // Cap on the payload bytes of the entries in one append message; a message
  // always carries at least one entry if any is due. 0 means one entry per
  // message.
  uint64_t max_size_per_msg = 1 << 20;
  // Cap on append messages in flight to one follower (optimistic pipelining
  // window). Must be > 0.
  size_t max_inflight_msgs = 256;
  // Cap on payload bytes appended by the leader but not yet committed;
  // proposals over it get ResourceExhausted. 0 means unlimited.
  uint64_t max_uncommitted_entries_bytes = 0;
  // Cap on payload bytes of committed entries handed out in one Ready.
  // 0 means unlimited. At least one entry is always handed out.
  uint64_t max_committed_bytes_per_ready = 0;

  bool pre_vote = true;
  // A leader that has not heard from a quorum within an election timeout
  // steps down; followers that heard from a leader recently ignore votes.
  bool check_quorum = true;
  ReadOnlyOption read_only = ReadOnlyOption::kSafe;
  // A follower refuses to forward proposals to the leader (propose() then
  // returns Unavailable naming the leader instead).
  bool disable_proposal_forwarding = false;

  // The last index the state machine has already applied (on restart).
  // Committed entries are handed out from applied + 1.
  Index applied = 0;

  // Seeds the core's own PRNG (randomized election timeouts). No global
  // randomness is used anywhere in the core.
  uint64_t seed = 1;

  // OK, or InvalidArgument saying which field is wrong.
  absl::Status validate() const;
};

}  // namespace raft
