#include "storage/log_env.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/trace.h"
#include "storage/lmdb_util.h"
#include "storage/snapshot_file.h"

namespace raft::storage {
namespace {

constexpr std::string_view kFormatKey = "format";

absl::Status compacted_error(GroupId group, Index i, Index first) {
  return absl::OutOfRangeError(
      absl::StrCat("compacted: group ", group, " index ", i, " is below first index ", first));
}

absl::Status unavailable_error(GroupId group, Index i, Index last) {
  return absl::NotFoundError(
      absl::StrCat("unavailable: group ", group, " index ", i, " is above last index ", last));
}

absl::Status errno_status(std::string_view what, const std::string& path) {
  int err = errno;
  std::string msg = absl::StrCat(std::string(what), " ", path, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

LogEnv::LogEnv(const EnvOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<LogEnv>> LogEnv::open(const EnvOptions& options) {
  if (options.shard_count == 0 || options.shard >= options.shard_count) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad shard ", options.shard, " of ", options.shard_count));
  }
  std::unique_ptr<LogEnv> env(new LogEnv(options));
  env->map_bytes_ = options.initial_map_bytes;
  if (auto s = env->open_env(); !s.ok()) return s;
  if (auto s = env->recover(); !s.ok()) return s;
  if (options.read_only) return env;  // No writer thread, no file removal.
  remove_stale_snapshot_files(env->snapshot_dir(), [&](GroupId g) {
    auto snap = env->snapshot(g);
    return snap ? snap->meta.index : 0;
  });
  env->event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (env->event_fd_ < 0) return errno_status("eventfd for", options.dir);
  env->writer_ = std::thread([e = env.get()] { e->writer_loop(); });
  return env;
}

LogEnv::~LogEnv() {
  if (writer_.joinable()) {
    {
      std::lock_guard l(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    writer_.join();
  }
  close_env();
  if (event_fd_ >= 0) ::close(event_fd_);
  if (owner_lock_fd_ >= 0) ::close(owner_lock_fd_);
}

// One process per shard dir: the in-memory group states assume that this env
// is the only writer. Read-only envs take no lock.
absl::Status LogEnv::lock_owner() {
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

absl::Status LogEnv::open_env() {
  const std::string file = data_file();
  struct stat st;
  bool existed = ::stat(file.c_str(), &st) == 0;
  if (options_.read_only && !existed) {
    return absl::NotFoundError(
        absl::StrCat("no LMDB env in ", options_.dir, " (", file, " does not exist)"));
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
        absl::StrCat(file, " is truncated: ", st.st_size, " bytes, less than two meta pages"));
  }

  int rc = mdb_env_create(&env_);
  if (rc != 0) return mdb_status(rc, "mdb_env_create", file);
  mdb_env_set_maxdbs(env_, 2 + kLogStripes);
  rc = mdb_env_set_mapsize(env_, map_bytes_.load());
  const unsigned flags = MDB_NOTLS | (options_.read_only ? MDB_RDONLY : 0);
  if (rc == 0) rc = mdb_env_open(env_, options_.dir.c_str(), flags, 0644);
  if (rc != 0) {
    absl::Status s = mdb_status(rc, "opening the LMDB env", file);
    close_env();
    return s;
  }
  int dead = 0;
  mdb_reader_check(env_, &dead);  // Slots of readers killed in an earlier life.

  // Every page the meta page refers to must be inside the file; reading past
  // its end through the map would be a SIGBUS.
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &stat);
  if (::stat(file.c_str(), &st) != 0) return errno_status("stat", file);
  uint64_t needed = (uint64_t{info.me_last_pgno} + 1) * stat.ms_psize;
  if (static_cast<uint64_t>(st.st_size) < needed) {
    close_env();
    return absl::DataLossError(absl::StrCat(file, " is truncated: ", st.st_size,
                                            " bytes, but its meta page refers to ", needed));
  }
  if (info.me_mapsize > map_bytes_) map_bytes_ = info.me_mapsize;  // Grown in an earlier life.

  return open_tables();
}

// Opens (creating when writable) the tables and checks the format record in
// one transaction. An existing format record is checked first: a data file
// of another format version may lack this version's tables, and is refused
// for its version, not for a missing table.
absl::Status LogEnv::open_tables() {
  const std::string file = data_file();
  MDB_txn* txn = nullptr;
  const unsigned create = options_.read_only ? 0 : MDB_CREATE;
  int rc = mdb_txn_begin(env_, nullptr, options_.read_only ? MDB_RDONLY : 0, &txn);
  if (rc != 0) return mdb_status(rc, "beginning the open transaction", file);
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
    return mdb_status(rc, "opening the tables", file);
  }
  if (auto s = check_format(txn, /*existing_only=*/false); !s.ok()) {
    mdb_txn_abort(txn);
    return s;
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0) return mdb_status(rc, "committing the open transaction", file);
  return absl::OkStatus();
}

void LogEnv::close_env() {
  if (env_ != nullptr) mdb_env_close(env_);
  env_ = nullptr;
}

absl::Status LogEnv::check_format(MDB_txn* txn, bool existing_only) {
  MDB_val key = mdb_val(kFormatKey);
  MDB_val val;
  int rc = mdb_get(txn, info_dbi_, &key, &val);
  if (rc == MDB_NOTFOUND && existing_only) return absl::OkStatus();
  if (rc == MDB_NOTFOUND && options_.read_only) {
    return absl::DataLossError(absl::StrCat(data_file(), " has no format record"));
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
      return absl::DataLossError(absl::StrCat(data_file(), " holds records but no format record"));
    }
    FormatRecord f{kFormatVersion, options_.shard, options_.shard_count};
    std::string value = encode_format(kFormatKey, f);
    MDB_val v = mdb_val(value);
    rc = mdb_put(txn, info_dbi_, &key, &v, 0);
    return mdb_status(rc, "writing the format record", data_file());
  }
  if (rc != 0) return mdb_status(rc, "reading the format record", data_file());
  auto f = decode_format(kFormatKey, view_of(val));
  if (!f.ok()) {
    return absl::DataLossError(absl::StrCat(data_file(), ": ", f.status().message()));
  }
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

std::string LogEnv::snapshot_dir() const { return options_.dir + "/snapshots"; }

// ---------------------------------------------------------------- writes

absl::Status LogEnv::commit(const std::vector<const WriteBatch*>& batches, WorkStates& work,
                            BatchEnds* ends) {
  if (options_.read_only) {
    return absl::FailedPreconditionError(absl::StrCat(options_.dir, " is open read-only"));
  }
  std::lock_guard w(write_mu_);
  for (;;) {
    work.clear();
    bool map_full = false;
    absl::Status s = run_txn(batches, work, map_full, ends);
    if (s.ok()) {
      after_commit(batches, work);
      return s;
    }
    if (map_full) {
      absl::Status g = grow_map();
      if (g.ok()) continue;
      s = g;
    }
    failed_commits_.fetch_add(1, std::memory_order_relaxed);
    if (reopen_needed_) {
      // This batch fails; the env is reopened so that the next one may work.
      absl::Status r = reopen_after_failure();
      if (!r.ok()) return absl::Status(s.code(), absl::StrCat(s.message(), "; ", r.message()));
    }
    return s;
  }
}

// After an I/O error in a commit the env is closed and reopened before the
// next batch: LMDB marks the env fatal (MDB_PANIC) when a meta page write
// failed, and the kernel keeps reporting an old writeback error to every file
// descriptor opened before it (errseq), so without fresh descriptors the next
// commit would fail too even once space is back. What is durable is re-read
// from disk, since the failed commit may or may not have reached it (it was
// reported failed either way; writing its batch again is harmless).
absl::Status LogEnv::reopen_after_failure() {
  std::unique_lock l(map_mu_);
  reopen_needed_ = false;
  close_env();
  absl::Status s = open_env();
  if (s.ok()) {
    l.unlock();
    s = recover();
  }
  if (!s.ok()) {
    reopen_needed_ = true;  // Try again with the next batch.
    return absl::Status(s.code(),
                        absl::StrCat("reopening after a fatal LMDB error: ", s.message()));
  }
  return s;
}

absl::Status LogEnv::grow_map() {
  std::unique_lock l(map_mu_);  // No transaction may be open while remapping.
  if (map_bytes_ >= options_.max_map_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("LMDB map of ", data_file(), " is full at ",
                                                     map_bytes_.load(), " bytes (max_map_bytes)"));
  }
  uint64_t next = std::min(map_bytes_.load() * 2, options_.max_map_bytes);
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc != 0) return mdb_status(rc, "growing the map", data_file());
  map_bytes_ = next;
  map_resizes_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

void LogEnv::after_commit(const std::vector<const WriteBatch*>& batches, WorkStates& work) {
  size_t entries = 0;
  bool empty = true;
  for (const WriteBatch* b : batches) {
    entries += b->entry_count();
    empty = empty && b->empty();
  }
  (empty ? garbage_commits_ : commits_).fetch_add(1, std::memory_order_relaxed);
  entries_written_.fetch_add(entries, std::memory_order_relaxed);
  {
    std::lock_guard l(state_mu_);
    for (auto& [group, state] : work) groups_[group] = state;
  }
  update_garbage_groups(&work);
  // Only now is a newer snapshot durable in both its file and its record.
  for (const WriteBatch* b : batches) {
    for (const GroupWrite& w : b->groups()) {
      if (w.apply_snapshot || w.save_snapshot) {
        const auto& snap = work.at(w.group).snapshot;
        if (snap) remove_older_snapshot_files(snapshot_dir(), w.group, snap->meta.index);
      }
    }
  }
}

// Called with write_mu_ held (or before the writer starts), after groups_
// changed.
void LogEnv::update_garbage_groups(const WorkStates* work) {
  if (work == nullptr) {
    garbage_groups_.clear();
    std::lock_guard l(state_mu_);
    for (const auto& [group, state] : groups_) {
      if (state.garbage_first != 0) garbage_groups_.insert(group);
    }
  } else {
    for (const auto& [group, state] : *work) {
      if (state.garbage_first != 0) {
        garbage_groups_.insert(group);
      } else {
        garbage_groups_.erase(group);
      }
    }
  }
  {
    std::lock_guard l(queue_mu_);
    // With a budget of 0 nothing is ever deleted: no idle commits either.
    garbage_pending_ = !garbage_groups_.empty() && options_.compacted_records_per_commit > 0;
  }
  if (!garbage_groups_.empty()) queue_cv_.notify_one();
}

absl::Status LogEnv::write(const WriteBatch& batch) {
  WorkStates work;
  return commit(batch, work);
}

absl::Status LogEnv::append(GroupId group, const std::vector<Entry>& entries) {
  WriteBatch b;
  b.append(group, entries);
  if (b.empty()) return absl::OkStatus();
  return write(b);
}

absl::Status LogEnv::set_hard_state(GroupId group, const HardState& hard_state) {
  WriteBatch b;
  b.set_hard_state(group, hard_state);
  return write(b);
}

absl::Status LogEnv::set_conf_state(GroupId group, const ConfState& conf_state) {
  WriteBatch b;
  b.set_conf_state(group, conf_state);
  return write(b);
}

absl::Status LogEnv::compact(GroupId group, Index index) {
  Index first = first_index(group);
  if (index < first) return compacted_error(group, index, first);
  WriteBatch b;
  b.compact(group, index);
  return write(b);
}

absl::Status LogEnv::save_snapshot(GroupId group, const StoredSnapshot& snapshot) {
  WriteBatch b;
  b.save_snapshot(group, snapshot);
  return write(b);
}

absl::Status LogEnv::apply_snapshot(GroupId group, const StoredSnapshot& snapshot) {
  WriteBatch b;
  b.apply_snapshot(group, snapshot);
  return write(b);
}

// ---------------------------------------------------------- group commit

absl::StatusOr<uint64_t> LogEnv::try_submit(WriteBatch& batch) {
  if (batch.empty()) return absl::InvalidArgumentError("empty write batch");
  if (options_.read_only) {
    return absl::FailedPreconditionError(absl::StrCat(options_.dir, " is open read-only"));
  }
  uint64_t id;
  {
    std::lock_guard l(queue_mu_);
    if (queue_.size() >= options_.queue_capacity) {
      return absl::ResourceExhaustedError(absl::StrCat("storage queue of ", options_.dir,
                                                       " is full (", queue_.size(), " batches)"));
    }
    id = next_batch_id_++;
    queue_.push_back(Pending{id, std::move(batch)});
  }
  batch.clear();
  queue_cv_.notify_one();
  return id;
}

size_t LogEnv::batches_in_flight() const {
  std::lock_guard l(queue_mu_);
  return queue_.size() + committing_;
}

size_t LogEnv::queued_batches() const {
  std::lock_guard l(queue_mu_);
  return queue_.size();
}

size_t LogEnv::drain_completions(std::vector<Completion>& out) {
  uint64_t counter;
  while (::read(event_fd_, &counter, sizeof(counter)) < 0 && errno == EINTR) {
  }
  std::lock_guard l(done_mu_);
  size_t n = done_.size();
  bool failed = false;
  for (auto& c : done_) {
    failed = failed || !c.status.ok();
    out.push_back(std::move(c));
  }
  done_.clear();
  if (failed) {
    // The submitter sees the failure now; what it submitted before this
    // fails as well, what it submits from now on is tried.
    std::lock_guard q(queue_mu_);
    poisoned_ = false;
    fail_through_ = next_batch_id_ - 1;
  }
  return n;
}

void LogEnv::writer_loop() {
  std::vector<Completion> completions;
  std::vector<Pending> taken;
  std::vector<const WriteBatch*> batches;
  BatchEnds ends;
  for (;;) {
    taken.clear();
    size_t untried = 0;  // Leading batches of `taken` failed without a try.
    {
      std::unique_lock l(queue_mu_);
      queue_cv_.wait(l, [&] { return stopping_ || !queue_.empty() || garbage_pending_; });
      if (queue_.empty() && !stopping_) {
        // Idle: delete compacted records in a transaction of their own.
        l.unlock();
        WorkStates work;
        if (!commit(WriteBatch(), work).ok()) {
          std::lock_guard again(queue_mu_);
          garbage_pending_ = false;  // Retried after the next batch.
        }
        continue;
      }
      if (queue_.empty()) return;
      // Every waiting batch goes into the next transaction.
      while (!queue_.empty()) {
        Pending& p = queue_.front();
        if (poisoned_ || p.id <= fail_through_) ++untried;
        taken.push_back(std::move(p));
        queue_.pop_front();
      }
      committing_ = taken.size();
    }
    completions.clear();
    auto complete = [&](const Pending& p, const absl::Status& s,
                        const std::vector<std::pair<Index, Term>>* end) {
      const auto& groups = p.batch.groups();
      for (size_t g = 0; g < groups.size(); ++g) {
        Completion c{p.id, groups[g].group, s};
        if (s.ok()) std::tie(c.last_index, c.last_term) = (*end)[g];
        completions.push_back(std::move(c));
      }
    };
    const absl::Status aborted = absl::AbortedError(
        absl::StrCat("not written: an earlier write batch of ", options_.dir, " failed"));
    for (size_t i = 0; i < untried; ++i) complete(taken[i], aborted, nullptr);
    if (untried < taken.size()) {
      batches.clear();
      for (size_t i = untried; i < taken.size(); ++i) batches.push_back(&taken[i].batch);
      ends.assign(batches.size(), {});
      RAFT_TRACE_POINT("commit_begin");
      WorkStates work;
      absl::Status s = commit(batches, work, &ends);
      RAFT_TRACE_POINT("commit_end");
      if (!s.ok()) {
        std::lock_guard l(queue_mu_);
        poisoned_ = true;
      }
      for (size_t i = untried; i < taken.size(); ++i) complete(taken[i], s, &ends[i - untried]);
    }
    {
      std::lock_guard l(done_mu_);
      for (auto& c : completions) done_.push_back(std::move(c));
    }
    {
      std::lock_guard l(queue_mu_);
      committing_ = 0;
    }
    uint64_t one = 1;
    ssize_t n = ::write(event_fd_, &one, sizeof(one));
    RAFT_CHECK_MSG(n == sizeof(one), "eventfd write failed");
  }
}

// ----------------------------------------------------------------- reads

absl::StatusOr<std::vector<Entry>> LogEnv::entries(GroupId group, Index lo, Index hi,
                                                   uint64_t max_bytes) const {
  GroupState bounds;
  {
    std::lock_guard l(state_mu_);
    auto it = groups_.find(group);
    if (it != groups_.end()) {
      bounds.compacted = it->second.compacted;
      bounds.last_index = it->second.last_index;
    }
  }
  if (lo > hi) return absl::InvalidArgumentError(absl::StrCat("entries: lo ", lo, " > hi ", hi));
  if (lo < bounds.first_index()) return compacted_error(group, lo, bounds.first_index());
  if (hi > bounds.last_index + 1) return unavailable_error(group, hi - 1, bounds.last_index);
  std::vector<Entry> out;
  if (lo == hi) return out;

  struct Found {
    Term term;
    EntryType type;
    std::string_view payload;
  };
  std::vector<Found> found;
  std::shared_lock map_lock(map_mu_);
  if (env_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(data_file(), " is closed after a fatal error"));
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return mdb_status(rc, "beginning a read transaction", data_file());
  MDB_cursor* cursor = nullptr;
  rc = mdb_cursor_open(txn, log_dbi(group), &cursor);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return mdb_status(rc, "opening a cursor", data_file());
  }
  char key_buf[kLogKeyBytes];
  encode_log_key(group, lo, key_buf);
  MDB_val key = mdb_val(std::string_view(key_buf, kLogKeyBytes));
  MDB_val val;
  absl::Status status;
  uint64_t bytes = 0;
  rc = mdb_cursor_get(cursor, &key, &val, MDB_SET_KEY);
  for (Index i = lo; i < hi; ++i) {
    if (i > lo) rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT);
    std::string_view k = view_of(key);
    if (rc != 0 || k.size() != kLogKeyBytes || log_key_group(k) != group || log_key_index(k) != i) {
      status = rc != 0 && rc != MDB_NOTFOUND ? mdb_status(rc, "reading the log", data_file())
                                             : missing_entry_status(txn, cursor, group, i);
      break;
    }
    auto e = decode_entry_value(k, view_of(val));
    if (!e.ok()) {
      status = absl::DataLossError(absl::StrCat(e.status().message(), " in ", data_file()));
      break;
    }
    if (!found.empty() && bytes + e->payload.size() > max_bytes) break;
    bytes += e->payload.size();
    found.push_back(Found{e->term, e->type, e->payload});
  }
  if (status.ok()) {
    // One buffer owns every payload; the entries are views into it.
    auto buffer = std::make_shared<std::string>();
    buffer->reserve(bytes);
    for (const Found& f : found) buffer->append(f.payload);
    std::shared_ptr<const void> owner = buffer;
    out.reserve(found.size());
    size_t offset = 0;
    for (size_t n = 0; n < found.size(); ++n) {
      const Found& f = found[n];
      std::string_view view(buffer->data() + offset, f.payload.size());
      out.push_back(Entry{f.term, lo + n, f.type, Slice(owner, view)});
      offset += f.payload.size();
    }
  }
  mdb_cursor_close(cursor);
  mdb_txn_abort(txn);
  if (!status.ok()) return status;
  return out;
}

absl::Status LogEnv::missing_entry_status(MDB_txn* txn, MDB_cursor* log, GroupId group,
                                          Index i) const {
  auto bounds = txn_bounds(txn, log, group);
  if (!bounds.ok()) return bounds.status();
  const auto& [compacted, last] = *bounds;
  if (i <= compacted.index) return compacted_error(group, i, compacted.index + 1);
  if (i > last) return unavailable_error(group, i, last);
  return absl::DataLossError(
      absl::StrCat("log of group ", group, " is missing index ", i, " in ", data_file()));
}

absl::StatusOr<Term> LogEnv::term(GroupId group, Index i) const {
  std::lock_guard l(state_mu_);
  auto it = groups_.find(group);
  GroupState empty;
  const GroupState& s = it == groups_.end() ? empty : it->second;
  if (i < s.compacted.index) return compacted_error(group, i, s.first_index());
  if (i > s.last_index) return unavailable_error(group, i, s.last_index);
  return *s.term(i);
}

Index LogEnv::first_index(GroupId group) const {
  std::lock_guard l(state_mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? 1 : it->second.first_index();
}

Index LogEnv::last_index(GroupId group) const {
  std::lock_guard l(state_mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? 0 : it->second.last_index;
}

HardState LogEnv::hard_state(GroupId group) const {
  std::lock_guard l(state_mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? HardState{} : it->second.hard_state;
}

ConfState LogEnv::conf_state(GroupId group) const {
  std::lock_guard l(state_mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? ConfState{} : it->second.conf_state;
}

std::optional<StoredSnapshot> LogEnv::snapshot(GroupId group) const {
  std::lock_guard l(state_mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? std::nullopt : it->second.snapshot;
}

GroupState LogEnv::group_state(GroupId group) const {
  std::lock_guard l(state_mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? GroupState{} : it->second;
}

std::vector<GroupId> LogEnv::groups() const {
  std::vector<GroupId> out;
  {
    std::lock_guard l(state_mu_);
    for (const auto& [group, state] : groups_) out.push_back(group);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status LogEnv::verify_group(GroupId group) const {
  GroupState s = group_state(group);
  constexpr Index kStep = 4096;
  for (Index lo = s.first_index(); lo <= s.last_index; lo += kStep) {
    Index hi = std::min(s.last_index + 1, lo + kStep);
    auto e = entries(group, lo, hi, UINT64_MAX);
    if (!e.ok()) return e.status();
    for (const Entry& entry : *e) {
      if (entry.term != *s.term(entry.index)) {
        return absl::DataLossError(absl::StrCat("group ", group, " index ", entry.index,
                                                " has term ", entry.term, ", expected ",
                                                *s.term(entry.index)));
      }
    }
  }
  return absl::OkStatus();
}

std::vector<uint32_t> commit_latency_bounds_us() {
  std::vector<uint32_t> b;
  for (uint32_t us = 25; us <= 1000; us += 25) b.push_back(us);
  for (uint32_t us = 1100; us <= 3000; us += 100) b.push_back(us);
  for (uint32_t us : {4000, 5000, 7500, 10000, 20000, 50000, 100000, 1000000}) b.push_back(us);
  return b;
}

EnvStats LogEnv::stats() const {
  EnvStats s;
  s.commits = commits_.load(std::memory_order_relaxed);
  s.garbage_commits = garbage_commits_.load(std::memory_order_relaxed);
  s.failed_commits = failed_commits_.load(std::memory_order_relaxed);
  s.entries_written = entries_written_.load(std::memory_order_relaxed);
  s.map_resizes = map_resizes_.load(std::memory_order_relaxed);
  s.txn_build_ns = txn_build_ns_.load(std::memory_order_relaxed);
  s.txn_commit_ns = txn_commit_ns_.load(std::memory_order_relaxed);
  s.commit_latency.resize(latency_bounds_us_.size() + 1);
  for (size_t i = 0; i < s.commit_latency.size(); ++i)
    s.commit_latency[i] = commit_latency_[i].load(std::memory_order_relaxed);
  s.map_bytes = map_bytes_.load(std::memory_order_relaxed);
  {
    std::lock_guard l(state_mu_);
    for (const auto& [group, state] : groups_) s.garbage_groups += state.garbage_first != 0;
  }
  return s;
}

}  // namespace raft::storage
