// Storage: the data directory of a node, one LogEnv per shard in
// <data-dir>/shard-<n>/, and the FORMAT file at its top that records the
// storage format version and the shard count. A data dir written by another
// format version, or for a different number of shards, refuses to open with
// a message saying which (groups are placed on shards by number, so a
// different shard count would lose them).
//
// This is the header the runtime includes; it pulls in the rest of the
// storage API (LogEnv, WriteBatch, snapshot files).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/log_env.h"
#include "storage/snapshot_file.h"
#include "storage/write_batch.h"

namespace raft::storage {

struct StorageOptions {
  std::string data_dir;
  uint32_t shard_count = 1;
  // Applied to every shard; dir, shard and shard_count are filled in.
  EnvOptions env;
};

class Storage {
 public:
  static absl::StatusOr<std::unique_ptr<Storage>> open(const StorageOptions& options);

  LogEnv& shard(uint32_t n) { return *shards_.at(n); }
  uint32_t shard_count() const { return static_cast<uint32_t>(shards_.size()); }
  const std::string& data_dir() const { return data_dir_; }

 private:
  std::string data_dir_;
  std::vector<std::unique_ptr<LogEnv>> shards_;
};

std::string shard_dir(const std::string& data_dir, uint32_t shard);

// Creates <data_dir>/FORMAT if the directory holds no shards yet; otherwise
// checks it: FailedPrecondition on another version or shard count, DataLoss
// if it is missing or unreadable beside existing shards.
absl::Status check_format_file(const std::string& data_dir, uint32_t shard_count);

}  // namespace raft::storage
