// The ports of a group's driver (Group, group.h): everything it needs from
// the world, as three narrow interfaces. The shard runtime implements them
// over LMDB, the peer transport and the snapshot files (shard_runtime.h);
// the simulator implements them over simulated disks and a simulated
// network (tests/sim/cluster.h), so both run the same driver code.
//
// Every call happens on the thread that owns the group. The driver never
// waits on a port: writes are reported durable later through
// Group::on_durable / Group::on_write_failed, snapshot transfers through
// Group::snapshot_sent, snapshot files through the callback given.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/log_storage.h"
#include "engine/core/types.h"
#include "engine/node/state_machine.h"
#include "storage/format.h"

namespace raft {

using storage::StoredSnapshot;

// The core's read view of one group's durable log (what RawNode reads), told
// about every run of entries the driver hands to the writer, so that an
// implementation may keep the newest ones in memory.
class GroupLog : public LogStorage {
 public:
  // Called with every run LogWriter::append receives for this group, in
  // order, before the call.
  virtual void appending(const std::vector<Entry>& entries) { (void)entries; }
};

// The first writes of a group without durable state (a static cluster's
// bootstrap): its entries and hard state.
struct GroupBootstrap {
  GroupId group = 0;
  std::vector<Entry> entries;
  HardState hard_state;
};

// The durable log of the groups of one shard. Writes go into the open
// batch; a batch becomes durable as a whole, in sequence order, and the
// owner of the writer then calls Group::on_durable(seq) with the newest
// durable sequence (or Group::on_write_failed, and retries the batch).
class LogWriter {
 public:
  virtual ~LogWriter() = default;

  // The core's view of `group`'s log. `initial` is the membership of the
  // newest snapshot (empty without one); the conf changes after it are
  // replayed from the log.
  virtual std::unique_ptr<GroupLog> open_log(GroupId group, const ConfState& initial) = 0;
  // Writes the first entries and hard state of a group without durable
  // state, and returns once they are durable. Only while opening a group.
  virtual absl::Status bootstrap(GroupId group, const std::vector<Entry>& entries,
                                 const HardState& hs) = 0;
  // The same for many groups at once, before they are opened: every one is
  // durable when it returns. An implementation may write them in a few
  // transactions (never splitting one group's writes), so that opening
  // thousands of fresh groups costs a few syncs, not one per group; after a
  // failure (or a crash) a group is either wholly bootstrapped or untouched.
  virtual absl::Status bootstrap_groups(const std::vector<GroupBootstrap>& groups) {
    for (const GroupBootstrap& b : groups) {
      if (auto s = bootstrap(b.group, b.entries, b.hard_state); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Sequence number of the open batch; every earlier one was submitted.
  virtual uint64_t open_seq() const = 0;
  // Entries to append; a run starting at index i replaces the log from i on.
  virtual void append(GroupId group, const std::vector<Entry>& entries) = 0;
  virtual void set_hard_state(GroupId group, const HardState& hs) = 0;
  // A hard state whose only change is the commit index: it goes with the
  // next batch that must be written anyway (or at the next idle tick), and
  // forces no write of its own. The commit index need not be durable (Raft
  // learns it again from the leader), so this saves one sync per commit.
  virtual void set_lazy_hard_state(GroupId group, const HardState& hs) = 0;
  // The log is replaced by a snapshot the leader sent (already in the
  // SnapshotStore): everything up to its index goes. It supersedes a
  // save_snapshot of the group still in the open batch (that one is older,
  // and storage refuses to record a snapshot older than the held one).
  virtual void install_snapshot(GroupId group, const StoredSnapshot& snapshot) = 0;
  // A snapshot this node made is durable in the SnapshotStore: record it as
  // the newest, and delete entries below `compact_to` (0: none).
  virtual void save_snapshot(GroupId group, const StoredSnapshot& snapshot, Index compact_to) = 0;
  // ResourceExhausted while the writer cannot take more (its journal is
  // full because the log store behind it is behind): the driver refuses new
  // proposals instead of queueing without bound.
  virtual absl::Status backlog() const { return absl::OkStatus(); }
};

// Raft messages out, best effort (Raft tolerates loss).
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void send(const Message& m) = 0;
  // Streams the held snapshot `snapshot` to m.to behind the announce `m`,
  // then reports the outcome through Group::snapshot_sent.
  virtual void send_snapshot(const Message& m, const StoredSnapshot& snapshot) = 0;
  // A member's address became known or changed.
  virtual void peer_address(NodeId node, const std::string& address) = 0;
  // Whether `node`'s node is heard from now (NodeLiveness). A quiescing
  // leader leaves out the peers that are not, and is woken when they return.
  virtual bool peer_live(NodeId node) const {
    (void)node;
    return true;
  }
};

// What a snapshot file holds once written: its size and XXH3-64.
struct SnapshotFileSummary {
  uint64_t bytes = 0;
  uint64_t checksum = 0;
};

// Snapshot images, by (group, index, term). An image is never held whole in
// memory: it is written from a state machine's view in chunks and read back
// as a stream.
class SnapshotStore {
 public:
  virtual ~SnapshotStore() = default;
  // The newest durable snapshot of `group`, if any.
  virtual std::optional<StoredSnapshot> held(GroupId group) const = 0;
  // The image of a held or received snapshot as a stream, checked against
  // its size when opened and against its checksum as its end is read (the
  // read that reaches the end fails with DataLoss on a mismatch).
  virtual absl::StatusOr<std::unique_ptr<SnapshotReader>> open(GroupId group,
                                                               const StoredSnapshot& snapshot) = 0;
  // Makes the snapshot (group, index, term) durable without blocking the
  // caller: the image is `header` (the runtime's envelope) followed by what
  // view->write produces, written in chunks off the caller's thread. Then
  // calls `done` on the group's thread with the file's size and checksum.
  // It becomes held only once LogWriter::save_snapshot is durable.
  virtual void write(GroupId group, Index index, Term term, std::string header,
                     std::unique_ptr<SnapshotView> view,
                     absl::AnyInvocable<void(absl::StatusOr<SnapshotFileSummary>)> done) = 0;
  // A received snapshot the core did not take: delete its image, unless it
  // is the held one.
  virtual void discard(GroupId group, const StoredSnapshot& snapshot) = 0;
};

struct GroupPorts {
  LogWriter* writer = nullptr;
  Outbox* outbox = nullptr;
  SnapshotStore* snapshots = nullptr;
};

}  // namespace raft
