// LmdbEnv: the open LMDB environment of one shard directory, and what lives
// exactly as long as it: the MDB_env, its 18 table handles (log.00 ..
// log.15, meta, info), the map size, and the owner lock (owner.lock, flock'ed
// by the one writing env of the directory). Opening creates the directory
// (and its snapshots/ subdirectory when writable), refuses a truncated data
// file, and checks or writes the format record. It also grows the map on
// MDB_MAP_FULL and closes and reopens the env after an I/O error or
// MDB_PANIC. It knows nothing of groups, batches or the writer thread.
//
// Threading: every transaction runs with lock_shared() held for its whole
// life; open(), grow_map() and reopen() take the lock exclusive themselves,
// so no transaction is open while the map moves. env() is nullptr while the
// env is closed after a failed reopen. The reopen flag (mark_for_reopen,
// needs_reopen) belongs to the writing side: only the holder of LogEnv's
// write_mu_ touches it. map_bytes(), map_resizes() and flags() may be read
// from any thread.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"
#include "storage/env_options.h"
#include "storage/format.h"

namespace raft::storage {

class LmdbEnv {
 public:
  explicit LmdbEnv(const EnvOptions& options);
  ~LmdbEnv();  // Closes the env and releases the owner lock.
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  // Creates the directories, takes the owner lock (writable envs only; kept
  // until destruction), opens the env and its tables, checks the format.
  absl::Status open();
  // Doubles the map, up to max_map_bytes (then ResourceExhausted).
  absl::Status grow_map();
  // Closes the env and opens it again with fresh file descriptors; clears
  // the reopen flag. On failure the env may stay closed (env() nullptr).
  absl::Status reopen();

  // Set when a commit failed with an I/O error or MDB_PANIC: the env must be
  // reopened before the next transaction (see LogEnv::commit).
  void mark_for_reopen() { reopen_needed_ = true; }
  bool needs_reopen() const { return reopen_needed_; }

  std::shared_lock<std::shared_mutex> lock_shared() const {
    return std::shared_lock<std::shared_mutex>(mu_);
  }
  MDB_env* env() const { return env_; }                  // Under lock_shared().
  const MDB_dbi* log_dbis() const { return log_dbis_; }  // kLogStripes tables.
  MDB_dbi log_dbi(GroupId group) const { return log_dbis_[log_stripe(group)]; }
  MDB_dbi meta_dbi() const { return meta_dbi_; }
  MDB_dbi info_dbi() const { return info_dbi_; }
  // The journal mark ("journal" info record, format.h): the newest journal
  // record this env holds; 0 without one. DataLoss if it is damaged.
  absl::StatusOr<uint64_t> read_journal_mark() const;
  // A forced sync (mdb_env_sync(force)): with MDB_NOMETASYNC, what makes the
  // newest commit's meta page durable.
  absl::Status force_sync() const;

  const std::string& file() const { return file_; }  // <dir>/data.mdb
  std::string snapshot_dir() const { return options_.dir + "/snapshots"; }
  uint64_t map_bytes() const { return map_bytes_.load(std::memory_order_relaxed); }
  uint64_t map_resizes() const { return map_resizes_.load(std::memory_order_relaxed); }
  // mdb_env_get_flags, 0 while the env is closed.
  unsigned flags() const;

 private:
  absl::Status open_locked();  // open() with mu_ held exclusive.
  absl::Status lock_owner();
  // Refuses a data file shorter than its meta page says (after the open).
  absl::Status check_file_size();
  absl::Status open_tables();
  // With existing_only, checks a format record if there is one; else also
  // writes it into a new env (or refuses records without one).
  absl::Status check_format(MDB_txn* txn, bool existing_only);
  void close();

  const EnvOptions options_;
  const std::string file_;
  mutable std::shared_mutex mu_;  // Shared by every transaction.
  MDB_env* env_ = nullptr;
  MDB_dbi log_dbis_[kLogStripes] = {};  // log_stripe(group) -> its log table.
  MDB_dbi meta_dbi_ = 0;
  MDB_dbi info_dbi_ = 0;
  std::atomic<uint64_t> map_bytes_{0};
  std::atomic<uint64_t> map_resizes_{0};
  int owner_lock_fd_ = -1;  // flock'ed: one env per shard dir.
  bool reopen_needed_ = false;
};

}  // namespace raft::storage
