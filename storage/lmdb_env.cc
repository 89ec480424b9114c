#include "storage/lmdb_env.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "storage/lmdb_util.h"

namespace raft::storage {
namespace {

constexpr std::string_view kFormatKey = "format";

}  // namespace

LmdbEnv::LmdbEnv(const EnvOptions& options)
    : options_(options), file_(options.dir + "/data.mdb"), map_bytes_(options.initial_map_bytes) {}

LmdbEnv::~LmdbEnv() {
  close();
  if (owner_lock_fd_ >= 0) ::close(owner_lock_fd_);
}

absl::Status LmdbEnv::open() {
  std::unique_lock l(mu_);
  return open_locked();
}

absl::Status LmdbEnv::open_locked() {
  struct stat st;
  bool existed = ::stat(file_.c_str(), &st) == 0;
  if (options_.read_only && !existed) {
    return absl::NotFoundError(
        absl::StrCat("no LMDB env in ", options_.dir, " (", file_, " does not exist)"));
  }
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", options_.dir, ": ", ec.message()));
  if (!options_.read_only) std::filesystem::create_directories(snapshot_dir(), ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", snapshot_dir(), ": ", ec.message()));

  if (auto s = lock_owner(); !s.ok()) return s;

  // An existing data file shorter than LMDB's two meta pages is damage, not a
  // fresh env: LMDB would silently initialize it again.
  if (existed && st.st_size < 2 * 4096) {
    return absl::DataLossError(
        absl::StrCat(file_, " is truncated: ", st.st_size, " bytes, less than two meta pages"));
  }

  int rc = mdb_env_create(&env_);
  if (rc != 0) return mdb_status(rc, "mdb_env_create", file_);
  mdb_env_set_maxdbs(env_, 2 + kLogStripes);
  rc = mdb_env_set_mapsize(env_, map_bytes_.load());
  // With the journal, a commit needs no meta-page sync of its own: every
  // batch stays in the journal until force_sync() covered it (journal.h).
  const unsigned flags = MDB_NOTLS | (options_.read_only ? MDB_RDONLY : 0) |
                         (options_.journal && !options_.read_only ? MDB_NOMETASYNC : 0);
  if (rc == 0) rc = mdb_env_open(env_, options_.dir.c_str(), flags, 0644);
  if (rc != 0) {
    absl::Status s = mdb_status(rc, "opening the LMDB env", file_);
    close();
    return s;
  }
  int dead = 0;
  mdb_reader_check(env_, &dead);  // Slots of readers killed in an earlier life.
  if (auto s = check_file_size(); !s.ok()) return s;
  return open_tables();
}

// One process per shard dir: the in-memory group states assume that this env
// is the only writer. Read-only envs take no lock.
absl::Status LmdbEnv::lock_owner() {
  if (owner_lock_fd_ >= 0 || options_.read_only) return absl::OkStatus();
  std::string lock_path = options_.dir + "/owner.lock";
  owner_lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (owner_lock_fd_ < 0) return errno_status("open", lock_path);
  if (::flock(owner_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options_.dir, " is in use by another env (", lock_path, " is locked)"));
  }
  return absl::OkStatus();
}

// Every page the meta page refers to must be inside the file; reading past
// its end through the map would be a SIGBUS.
absl::Status LmdbEnv::check_file_size() {
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &stat);
  struct stat st;
  if (::stat(file_.c_str(), &st) != 0) return errno_status("stat", file_);
  uint64_t needed = (uint64_t{info.me_last_pgno} + 1) * stat.ms_psize;
  if (static_cast<uint64_t>(st.st_size) < needed) {
    close();
    return absl::DataLossError(absl::StrCat(file_, " is truncated: ", st.st_size,
                                            " bytes, but its meta page refers to ", needed));
  }
  if (info.me_mapsize > map_bytes_) map_bytes_ = info.me_mapsize;  // Grown in an earlier life.
  return absl::OkStatus();
}

// Opens (creating when writable) the tables and checks the format record in
// one transaction. An existing format record is checked first: a data file
// of another format version may lack this version's tables, and is refused
// for its version, not for a missing table.
absl::Status LmdbEnv::open_tables() {
  MDB_txn* txn = nullptr;
  const unsigned create = options_.read_only ? 0 : MDB_CREATE;
  int rc = mdb_txn_begin(env_, nullptr, options_.read_only ? MDB_RDONLY : 0, &txn);
  if (rc != 0) return mdb_status(rc, "beginning the open transaction", file_);
  rc = mdb_dbi_open(txn, "info", create, &info_dbi_);
  if (rc == 0) {
    if (auto s = check_format(txn, /*existing_only=*/true); !s.ok()) {
      mdb_txn_abort(txn);
      return s;
    }
  }
  for (uint32_t i = 0; i < kLogStripes && rc == 0; ++i) {
    rc = mdb_dbi_open(txn, log_table_name(i).c_str(), create, &log_dbis_[i]);
  }
  if (rc == 0) rc = mdb_dbi_open(txn, "meta", create, &meta_dbi_);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return mdb_status(rc, "opening the tables", file_);
  }
  if (auto s = check_format(txn, /*existing_only=*/false); !s.ok()) {
    mdb_txn_abort(txn);
    return s;
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0) return mdb_status(rc, "committing the open transaction", file_);
  return absl::OkStatus();
}

absl::Status LmdbEnv::check_format(MDB_txn* txn, bool existing_only) {
  MDB_val key = mdb_val(kFormatKey);
  MDB_val val;
  int rc = mdb_get(txn, info_dbi_, &key, &val);
  if (rc == MDB_NOTFOUND && existing_only) return absl::OkStatus();
  if (rc == MDB_NOTFOUND && options_.read_only) {
    return absl::DataLossError(absl::StrCat(file_, " has no format record"));
  }
  if (rc == MDB_NOTFOUND) {
    MDB_stat stat;
    size_t records = 0;
    for (MDB_dbi dbi : log_dbis_) {
      mdb_stat(txn, dbi, &stat);
      records += stat.ms_entries;
    }
    mdb_stat(txn, meta_dbi_, &stat);
    records += stat.ms_entries;
    if (records != 0) {
      return absl::DataLossError(absl::StrCat(file_, " holds records but no format record"));
    }
    FormatRecord f{kFormatVersion, options_.shard, options_.shard_count};
    std::string value = encode_format(kFormatKey, f);
    MDB_val v = mdb_val(value);
    rc = mdb_put(txn, info_dbi_, &key, &v, 0);
    return mdb_status(rc, "writing the format record", file_);
  }
  if (rc != 0) return mdb_status(rc, "reading the format record", file_);
  auto f = decode_format(kFormatKey, view_of(val));
  if (!f.ok()) return absl::DataLossError(absl::StrCat(file_, ": ", f.status().message()));
  if (f->version != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(options_.dir, " has storage format version ", f->version,
                     "; this build reads only version ", kFormatVersion));
  }
  if (f->shard_count != options_.shard_count || f->shard != options_.shard) {
    return absl::FailedPreconditionError(absl::StrCat(
        options_.dir, " was written as shard ", f->shard, " of ", f->shard_count,
        " shards; it is being opened as shard ", options_.shard, " of ", options_.shard_count));
  }
  return absl::OkStatus();
}

void LmdbEnv::close() {
  if (env_ != nullptr) mdb_env_close(env_);
  env_ = nullptr;
}

absl::Status LmdbEnv::grow_map() {
  std::unique_lock l(mu_);  // No transaction may be open while remapping.
  if (map_bytes_ >= options_.max_map_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("LMDB map of ", file_, " is full at ",
                                                     map_bytes_.load(), " bytes (max_map_bytes)"));
  }
  uint64_t next = std::min(map_bytes_.load() * 2, options_.max_map_bytes);
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc != 0) return mdb_status(rc, "growing the map", file_);
  map_bytes_ = next;
  map_resizes_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

// After an I/O error in a commit the env is closed and reopened before the
// next batch: LMDB marks the env fatal (MDB_PANIC) when a meta page write
// failed, and the kernel keeps reporting an old writeback error to every file
// descriptor opened before it (errseq), so without fresh descriptors the next
// commit would fail too even once space is back. The owner lock stays held.
absl::Status LmdbEnv::reopen() {
  std::unique_lock l(mu_);
  reopen_needed_ = false;
  close();
  return open_locked();
}

absl::StatusOr<uint64_t> LmdbEnv::read_journal_mark() const {
  auto map_lock = lock_shared();
  if (env_ == nullptr) return absl::UnavailableError(absl::StrCat(file_, " is closed"));
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return mdb_status(rc, "beginning a read transaction", file_);
  MDB_val key = mdb_val(kJournalMarkKey);
  MDB_val val;
  rc = mdb_get(txn, info_dbi_, &key, &val);
  absl::StatusOr<uint64_t> out = uint64_t{0};
  if (rc == 0) {
    out = decode_journal_mark(kJournalMarkKey, view_of(val));
    if (!out.ok()) out = absl::DataLossError(absl::StrCat(file_, ": ", out.status().message()));
  } else if (rc != MDB_NOTFOUND) {
    out = mdb_status(rc, "reading the journal mark", file_);
  }
  mdb_txn_abort(txn);
  return out;
}

absl::Status LmdbEnv::force_sync() const {
  auto map_lock = lock_shared();
  if (env_ == nullptr) return absl::UnavailableError(absl::StrCat(file_, " is closed"));
  return mdb_status(mdb_env_sync(env_, 1), "syncing the env", file_);
}

unsigned LmdbEnv::flags() const {
  std::shared_lock l(mu_);
  unsigned flags = 0;
  if (env_ != nullptr) mdb_env_get_flags(env_, &flags);
  return flags;
}

}  // namespace raft::storage
