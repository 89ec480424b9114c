// The one synchronous Ready step of the core's own tests and benchmark
// (tests/core/test_cluster.h, tests/core/paper_test.cc,
// bench/core/core_benchmark.cc): they drive RawNode without a runtime, to
// test or measure the core alone. The production driver, which the
// simulator runs too, is raft::Group (engine/node/group.h).
//
// take_ready() takes one Ready and persists it into a MemoryLogStorage at
// once: the snapshot, the entries, the hard state. Unless the caller holds
// persistence back, the core is told at once (on_persisted) and the
// persisted messages join the others. Committed entries and read states go
// to the caller, who applies them before advance() (which take_ready calls
// last).
#pragma once

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "engine/core/raw_node.h"

namespace raft::core_test {

struct ReadyHooks {
  // Every message that may leave now (with the persisted ones, unless held).
  std::function<void(Message&&)> send;
  // The entries the storage appended.
  std::function<void(const std::vector<Entry>&)> appended;
  // A snapshot the core installs, after the storage took it.
  std::function<void(const Snapshot&)> snapshot;
  // Each committed entry, in order, before advance().
  std::function<void(const Entry&)> committed;
  std::function<void(const ReadState&)> read_state;
  // Set: persistence is held back; this gets what must be reported later
  // (on_persisted(index, term) if must_persist, then the messages).
  std::function<void(bool must_persist, Index index, Term term, std::vector<Message>&& messages)>
      hold;
};

// Handles one Ready of `node` (which must have one). Returns the first
// storage error, after advancing anyway.
inline absl::Status take_ready(RawNode& node, MemoryLogStorage& storage, const ReadyHooks& hooks) {
  Ready rd = node.ready();
  absl::Status status;
  if (rd.snapshot) {
    status.Update(storage.apply_snapshot(*rd.snapshot));
    if (hooks.snapshot) hooks.snapshot(*rd.snapshot);
  }
  if (!rd.entries.empty()) {
    status.Update(storage.append(rd.entries));
    if (hooks.appended) hooks.appended(rd.entries);
  }
  if (rd.hard_state) storage.set_hard_state(*rd.hard_state);
  for (Message& m : rd.messages) hooks.send(std::move(m));
  if (hooks.hold) {
    hooks.hold(rd.must_persist(), rd.persist_index(), rd.persist_term(),
               std::move(rd.persisted_messages));
  } else {
    if (rd.must_persist()) node.on_persisted(rd.persist_index(), rd.persist_term());
    for (Message& m : rd.persisted_messages) hooks.send(std::move(m));
  }
  if (hooks.committed) {
    for (const Entry& e : rd.committed_entries) hooks.committed(e);
  }
  if (hooks.read_state) {
    for (const ReadState& r : rd.read_states) hooks.read_state(r);
  }
  node.advance(rd);
  return status;
}

}  // namespace raft::core_test
