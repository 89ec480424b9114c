// Ready: one batch of work the core hands to its driver (persist, send,
// apply), and the small state types it carries.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/slice.h"
#include "engine/core/status.h"  // Role.
#include "engine/core/types.h"

namespace raft {

// Volatile state, reported when it changes; never persisted.
struct SoftState {
  NodeId leader = kNoNode;
  Role role = Role::kFollower;

  friend bool operator==(const SoftState&, const SoftState&) = default;
};

// A linearizable read may be served once the state machine has applied
// `index`. `context` is the caller's request id given to read_index().
struct ReadState {
  Index index = 0;
  Slice context;
  // The leader refused the request: another node's read with the same
  // context is pending there. `index` is 0; ask again with a fresh context.
  bool rejected = false;

  friend bool operator==(const ReadState&, const ReadState&) = default;
};

struct Ready {
  // Set when leader or role changed since the previous Ready.
  std::optional<SoftState> soft_state;
  // Set when term, vote or commit changed: persist it.
  std::optional<HardState> hard_state;
  // Entries to append to the durable log (a conflicting suffix already there
  // must be truncated, as MemoryLogStorage::append does).
  std::vector<Entry> entries;
  // A snapshot to persist and install in the state machine (before entries).
  std::optional<Snapshot> snapshot;
  // Messages that may be sent at once, in parallel with persisting.
  std::vector<Message> messages;
  // Messages that may leave only once hard_state, entries and snapshot of
  // THIS Ready (and of every earlier one) are durable: votes, vote responses,
  // append responses.
  std::vector<Message> persisted_messages;
  // Committed entries to apply to the state machine, in order. They are
  // always durable locally already.
  std::vector<Entry> committed_entries;
  // Reads that became ready.
  std::vector<ReadState> read_states;

  // True if the driver must write something durable (snapshot, entries or
  // hard state) before sending persisted_messages.
  bool must_persist() const { return snapshot || !entries.empty() || hard_state; }

  // Set by the core when must_persist(): the core's last log position when
  // this Ready was made. Once this Ready (and every earlier one) is durable,
  // the driver calls RawNode::on_persisted(persist_index(), persist_term()),
  // once per such Ready and in Ready order -- also when the index is 0 (an
  // empty log whose hard state changed). This is how the core learns that a
  // new term or vote is durable, so that messages depending on it may leave
  // through `messages` again.
  Index persist_log_index = 0;
  Term persist_log_term = 0;
  Index persist_index() const { return persist_log_index; }
  Term persist_term() const { return persist_log_term; }
};

}  // namespace raft
