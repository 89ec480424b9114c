// The rules a batch's writes obey, stated on a GroupState alone: what each
// write of a GroupWrite (write_batch.h) requires of the group's log, and
// what it changes in the group's in-memory state. LMDB's transaction
// (txn_apply.cc) checks the same rules before it touches a record, and the
// journaled write path (engine/node/journal_log.h) applies them to the state
// it serves reads from once a batch is durable in the journal, so both
// refuse and accept exactly the same batches.
#pragma once

#include <cstddef>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"
#include "storage/format.h"
#include "storage/group_state.h"
#include "storage/write_batch.h"

namespace raft::storage {

// Of `entries` (to be appended to `s`): how many lead entries the
// compaction point already covers (they are skipped). InvalidArgument for
// non-contiguous indexes, a gap after the last index, or a decreasing term.
absl::StatusOr<size_t> check_append(GroupId group, const std::vector<Entry>& entries,
                                    const GroupState& s);
// FailedPrecondition unless the snapshot is newer than the compaction point.
absl::Status check_install(GroupId group, const StoredSnapshot& snap, const GroupState& s);
// InvalidArgument unless (index, term) is in the log; FailedPrecondition if
// older than the recorded snapshot.
absl::Status check_save(GroupId group, const StoredSnapshot& snap, const GroupState& s);
// Whether compacting to `index` changes anything (false at or below the
// current point); InvalidArgument beyond the last index.
absl::StatusOr<bool> check_compact(GroupId group, Index index, const GroupState& s);

// FailedPrecondition if `w` writes anything but a removal to a removed
// group, or creates one.
absl::Status check_lifecycle(const GroupWrite& w, const GroupState& s);
// The group's state after its removal: a tombstone.
GroupState removed_state();

// The state changes (after the checks passed).
void install_in_state(const StoredSnapshot& snap, GroupState& s);
void append_to_state(const std::vector<Entry>& entries, size_t skip, GroupState& s);
void compact_state(Index index, GroupState& s);

// Checks and applies every write of `w` to `s`, in GroupWrite's order
// (create, install, entries, hard state, conf state, save, compact, remove).
// On error `s`
// may be partly changed: apply to a copy when that matters.
absl::Status apply_to_state(const GroupWrite& w, GroupState& s);

}  // namespace raft::storage
