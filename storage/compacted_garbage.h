// CompactedGarbage: the log records that compaction left behind. Compaction
// (and applying a snapshot) moves a group's first index at once and marks
// the records below it as garbage (GroupState::garbage_first); they are never
// read again, but deleting 100k records in one transaction takes LMDB ~0.3 s,
// so they go a bounded number per transaction instead.
//
// It owns the set of groups that still have garbage and the deletion rule:
// every write transaction deletes at most `records_per_commit` records,
// groups with older garbage first, then the groups the transaction's batches
// touched; and while any group has garbage left (and the budget is not 0),
// the idle writer commits transactions of deletions alone (pending(), wired
// to CommitQueue::set_idle_work by LogEnv). delete_compacted does the
// deleting inside a transaction, on the group's log cursor.
//
// Threading: none of its own. LogEnv calls it only with its write_mu_ held
// (in a commit), or before the writer thread starts (after recovery).
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"
#include "storage/group_state.h"
#include "storage/write_batch.h"

namespace raft::storage {

class CompactedGarbage {
 public:
  using States = absl::flat_hash_map<GroupId, GroupState>;
  // Deletes up to `budget` compacted records of `group` in the current
  // transaction and returns how many it deleted.
  using DeleteFn = absl::FunctionRef<absl::StatusOr<size_t>(GroupId group, size_t budget)>;

  explicit CompactedGarbage(size_t records_per_commit) : records_per_commit_(records_per_commit) {}

  // Rebuilds the set from every group (after recovery).
  void reset(const States& all);
  // After a commit: `changed` holds the new states of the groups it touched.
  void update(const States& changed);
  // Whether an idle transaction would delete anything.
  bool pending() const { return !groups_.empty() && records_per_commit_ > 0; }

  // Within one write transaction: spends the per-commit budget on the groups
  // with garbage, then on the groups of `batches`, calling `delete_some` per
  // group until the budget is spent or a call fails.
  absl::Status collect(const std::vector<const WriteBatch*>& batches, DeleteFn delete_some) const;

 private:
  const size_t records_per_commit_;
  std::set<GroupId> groups_;  // Groups whose compacted records are not all deleted.
};

// Deletes up to `budget` records of `group` from garbage_first through
// compacted.index with `log` (a cursor on the group's log table in a write
// transaction) and moves s.garbage_first past them (0 once none are left).
// Returns how many it deleted. Sets `map_full` on MDB_MAP_FULL; errors name
// `file`.
absl::StatusOr<size_t> delete_compacted(MDB_cursor* log, GroupId group, GroupState& s,
                                        size_t budget, const std::string& file, bool& map_full);

}  // namespace raft::storage
