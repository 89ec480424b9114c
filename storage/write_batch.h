// WriteBatch: everything one write transaction makes durable for the groups
// of one shard (appends, hard states, conf states, snapshots, compactions),
// and Completion: what the writer thread reports back per group once the
// transaction is durable or has failed.
//
// The reactor fills batch N+1 with the helpers below while the writer thread
// syncs batch N, then hands it over with LogEnv::try_submit.
#pragma once

#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "engine/core/types.h"
#include "storage/format.h"

namespace raft::storage {

// The writes of one group in one batch. They are applied in this order:
// create, apply_snapshot, entries, hard_state, conf_state, save_snapshot,
// compact_to, remove.
struct GroupWrite {
  GroupId group = 0;
  // The group is hosted here (created at runtime): a lifecycle record that
  // makes the node open it at start. FailedPrecondition if it was removed.
  bool create = false;
  // A snapshot received from the leader: drops every entry, the log restarts
  // after (index, term), the conf state becomes the snapshot's and the hard
  // state's commit rises to the snapshot index. FailedPrecondition if it is
  // not newer than the log's compaction point.
  std::optional<StoredSnapshot> apply_snapshot;
  // Contiguous entries. Those at or below the compaction point are skipped;
  // an index already present replaces that entry and everything after it.
  // InvalidArgument on a gap, non-contiguous indexes or a decreasing term.
  std::vector<Entry> entries;
  std::optional<HardState> hard_state;
  std::optional<ConfState> conf_state;
  // A snapshot this node made of its own state machine: recorded as the
  // group's newest snapshot; the log is left alone (compact it separately).
  std::optional<StoredSnapshot> save_snapshot;
  // Drop entries up to and including this index (<= last index).
  std::optional<Index> compact_to;
  // Deletes every record of the group (entries, hard and conf state,
  // snapshot and compaction records) and leaves a tombstone: the group is
  // removed. Once it is, any other write of the group is FailedPrecondition
  // (a second removal is a no-op). The env deletes the group's snapshot
  // files once the removal is committed.
  bool remove = false;

  bool empty() const {
    return !create && !apply_snapshot && entries.empty() && !hard_state && !conf_state &&
           !save_snapshot && !compact_to && !remove;
  }
};

class WriteBatch {
 public:
  // The write of `group`, created empty on first use.
  GroupWrite& group(GroupId group);

  // Appends entries to the group's write. If they start at or below the end
  // of what the batch already holds for the group, they replace that suffix
  // (the same rule the log applies).
  void append(GroupId group, const std::vector<Entry>& entries);
  // Same, taking the vector over when the group has no entries in the batch
  // yet (no per-entry copy: the reactor's usual case).
  void append(GroupId group, std::vector<Entry>&& entries);
  void set_hard_state(GroupId group, const HardState& hs) { this->group(group).hard_state = hs; }
  void set_conf_state(GroupId group, const ConfState& cs) { this->group(group).conf_state = cs; }
  // Drops the batch's entries of the group that the snapshot covers, and a
  // save_snapshot of the group already in the batch: that one is older (a
  // received snapshot is installed only above the commit index, a node's own
  // is at most its applied index), and recording it after the install would
  // fail the batch.
  void apply_snapshot(GroupId group, const StoredSnapshot& snapshot);
  void save_snapshot(GroupId group, const StoredSnapshot& snapshot) {
    this->group(group).save_snapshot = snapshot;
  }
  void compact(GroupId group, Index index) { this->group(group).compact_to = index; }
  void create_group(GroupId group) { this->group(group).create = true; }
  // Drops the group's other writes in the batch (the removal deletes them
  // anyway) and marks it removed.
  void remove_group(GroupId group);

  const std::vector<GroupWrite>& groups() const { return groups_; }
  bool empty() const { return groups_.empty(); }
  size_t entry_count() const { return entry_count_; }
  uint64_t payload_bytes() const { return payload_bytes_; }
  // The journal record that holds this batch (0: none). A transaction that
  // commits journaled batches records the newest of their sequence numbers,
  // so that recovery replays only the records after it.
  uint64_t journal_seq() const { return journal_seq_; }
  void set_journal_seq(uint64_t seq) { journal_seq_ = seq; }
  void clear();

 private:
  std::vector<GroupWrite> groups_;
  absl::flat_hash_map<GroupId, size_t> slot_;
  size_t entry_count_ = 0;
  uint64_t payload_bytes_ = 0;
  uint64_t journal_seq_ = 0;
};

// Splits `batch` into batches of about `max_bytes` of entry payload each
// (at least one entry each), in order: applied one after the other they do
// what `batch` does. A group's creation and snapshot install go with its
// first part, its hard state, conf state, save, compaction and removal with
// its last. The
// journal writes a batch too large for one record this way.
std::vector<WriteBatch> split_batch(WriteBatch batch, uint64_t max_bytes);

// One per group per batch, in the order of the batch's groups.
struct Completion {
  uint64_t batch = 0;  // The id try_submit returned.
  GroupId group = 0;
  // OK: everything the batch held for the group is durable. Otherwise none
  // of the batch is (the whole transaction was rolled back).
  absl::Status status;
  // On OK: the group's durable log end after the batch.
  Index last_index = 0;
  Term last_term = 0;
};

}  // namespace raft::storage
