// Snapshot files of a shard: the state machine's bytes at a snapshot index,
// kept beside the LMDB env in <shard-dir>/snapshots/. A writer takes chunks,
// fsyncs the file, renames it into place and fsyncs the directory, so a file
// under its final name is always complete. A reader hands the bytes back in
// chunks (for streaming to a follower) and checks the size and XXH3 that the
// snapshot's metadata (StoredSnapshot) recorded.
//
// Names: snap-<group>-<index>-<term>.snap (16 hex digits each); a file being
// written ends in .tmp. The env removes a group's older files once the
// record of a newer snapshot is durable, and stray .tmp files on open.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/types.h"

namespace raft::storage {

struct SnapshotFileInfo {
  std::string path;
  uint64_t bytes = 0;
  uint64_t checksum = 0;  // XXH3-64 of the whole file (common/checksum.h).
};

struct SnapshotFileName {
  GroupId group = 0;
  Index index = 0;
  Term term = 0;
  bool temporary = false;
  std::string path;
};

std::string snapshot_file_path(const std::string& dir, GroupId group, Index index, Term term);
// Parses a file name (not a path); nullopt for files that are not snapshots.
std::optional<SnapshotFileName> parse_snapshot_file_name(std::string_view name);
// Every snapshot file (and temporary) in `dir`, sorted by group then index.
std::vector<SnapshotFileName> list_snapshot_files(const std::string& dir);
// Removes the group's complete files below `index` and its temporaries up to
// `index`. A temporary above it is a newer snapshot still being written or
// received, and stays.
void remove_older_snapshot_files(const std::string& dir, GroupId group, Index index);
// On open: removes every temporary, and each group's files below the index
// that `current_index(group)` returns (its durable snapshot, 0 if none).
void remove_stale_snapshot_files(const std::string& dir,
                                 const std::function<Index(GroupId)>& current_index);

class SnapshotFileWriter {
 public:
  // Creates <dir>/snap-....tmp. An unfinished writer deletes it on destruction.
  static absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> create(const std::string& dir,
                                                                    GroupId group, Index index,
                                                                    Term term);
  ~SnapshotFileWriter();
  SnapshotFileWriter(const SnapshotFileWriter&) = delete;
  SnapshotFileWriter& operator=(const SnapshotFileWriter&) = delete;

  // ResourceExhausted on a full disk, Internal on other errors.
  absl::Status write(std::string_view chunk);
  // fsync(file), rename into place, fsync(dir). After OK the file is durable
  // under its final name.
  absl::StatusOr<SnapshotFileInfo> finish();

 private:
  SnapshotFileWriter(std::string dir, std::string tmp_path, std::string final_path, int fd);

  std::string dir_;
  std::string tmp_path_;
  std::string final_path_;
  int fd_ = -1;
  uint64_t bytes_ = 0;
  struct State;
  std::unique_ptr<State> state_;  // Streaming checksum.
  bool finished_ = false;
};

class SnapshotFileReader {
 public:
  // Opens `path` and checks its size against the expected one.
  static absl::StatusOr<std::unique_ptr<SnapshotFileReader>> open(const std::string& path,
                                                                  uint64_t expected_bytes,
                                                                  uint64_t expected_checksum);
  ~SnapshotFileReader();
  SnapshotFileReader(const SnapshotFileReader&) = delete;
  SnapshotFileReader& operator=(const SnapshotFileReader&) = delete;

  // The next up to max_bytes bytes; empty at the end. The call that reaches
  // the end checks the whole file's checksum: DataLoss (naming the file) on a
  // mismatch, and that chunk is not returned.
  absl::StatusOr<std::string> next_chunk(size_t max_bytes);
  // The same into `buffer`: the number of bytes read (0 at the end), with
  // the checksum checked by the read that reaches the end.
  absl::StatusOr<size_t> read(char* buffer, size_t max_bytes);
  uint64_t offset() const { return offset_; }
  uint64_t size() const { return size_; }
  bool done() const { return offset_ == size_; }

 private:
  SnapshotFileReader(std::string path, int fd, uint64_t size, uint64_t checksum);

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t expected_checksum_ = 0;
  uint64_t offset_ = 0;
  struct State;
  std::unique_ptr<State> state_;
};

// Reads a whole file and checks its size and checksum.
absl::Status verify_snapshot_file(const std::string& path, uint64_t bytes, uint64_t checksum);

// Reads a whole snapshot file into memory, checked against its size and
// checksum like verify_snapshot_file; read errors name the file. For tools
// and tests: the runtime streams snapshot files instead.
absl::StatusOr<std::string> read_snapshot_file(const std::string& path, uint64_t bytes,
                                               uint64_t checksum);

}  // namespace raft::storage
