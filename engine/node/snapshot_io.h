// Snapshot files as the state machine sees them: a SnapshotReader streaming
// a snapshot file (storage::SnapshotFileReader), and the background job that
// writes a snapshot file from a state machine's SnapshotView in chunks. The
// shard runtime's SnapshotStore is built on these; neither ever holds a
// whole image in memory (at most one chunk of kSnapshotWriteChunk bytes).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/node/ports.h"
#include "engine/node/state_machine.h"
#include "storage/snapshot_file.h"

namespace raft {

// The writer's buffer: the state machine's writes are gathered into chunks
// of this size before each write(2).
inline constexpr size_t kSnapshotWriteChunk = 1 << 20;

// A snapshot file as a stream, checked against its size when opened and its
// checksum at the end (see SnapshotReader).
absl::StatusOr<std::unique_ptr<SnapshotReader>> open_snapshot_stream(
    const std::string& path, const StoredSnapshot& snapshot);

// Writes the snapshot file (dir, group, index, term): `header`, then the
// bytes view.write produces, in chunks; fsyncs and renames it into place.
// Blocking: run it off the shard thread. Once `*cancelled` (if given) is
// set, the next write fails (Cancelled) and the temporary file is removed:
// a shutdown does not wait for a large snapshot to be written.
absl::StatusOr<storage::SnapshotFileInfo> write_snapshot_file(
    const std::string& dir, GroupId group, Index index, Term term, std::string_view header,
    SnapshotView& view, const std::atomic<bool>* cancelled = nullptr);

}  // namespace raft
