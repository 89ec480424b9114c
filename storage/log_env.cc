// LogEnv (log_env.h): open, the commit of a transaction with its failure
// handling (map growth, reopen), the synchronous writes, the group-commit
// API (delegated to CommitQueue), reads and stats. Applying batches is in
// txn_apply.cc, recovery in recovery.cc.
#include "storage/log_env.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "storage/journal_batch_codec.h"
#include "storage/lmdb_util.h"
#include "storage/snapshot_file.h"

namespace raft::storage {
namespace {

absl::Status compacted_error(GroupId group, Index i, Index first) {
  return absl::OutOfRangeError(
      absl::StrCat("compacted: group ", group, " index ", i, " is below first index ", first));
}

absl::Status unavailable_error(GroupId group, Index i, Index last) {
  return absl::NotFoundError(
      absl::StrCat("unavailable: group ", group, " index ", i, " is above last index ", last));
}

// An entry found by entries(), its payload still in the read transaction.
struct FoundEntry {
  Term term;
  EntryType type;
  std::string_view payload;
};

// The entries lo, lo + 1, ... of `found`, their payloads (`bytes` in all)
// copied into one buffer that they share.
std::vector<Entry> own_payloads(const std::vector<FoundEntry>& found, Index lo, uint64_t bytes) {
  auto buffer = std::make_shared<std::string>();
  buffer->reserve(bytes);
  for (const FoundEntry& f : found) buffer->append(f.payload);
  std::shared_ptr<const void> owner = buffer;
  std::vector<Entry> out;
  out.reserve(found.size());
  size_t offset = 0;
  for (size_t n = 0; n < found.size(); ++n) {
    const FoundEntry& f = found[n];
    std::string_view view(buffer->data() + offset, f.payload.size());
    out.push_back(Entry{f.term, lo + n, f.type, Slice(owner, view)});
    offset += f.payload.size();
  }
  return out;
}

}  // namespace

LogEnv::LogEnv(const EnvOptions& options)
    : options_(options),
      lmdb_(options),
      garbage_(options.compacted_records_per_commit),
      // With the journal, the batches waiting for LMDB are bounded by the
      // journal's size (its writer refuses a record when it is full).
      queue_(options.dir, options.journal ? size_t{1} << 20 : options.queue_capacity,
             std::chrono::microseconds(options.commit_interval_us)) {}

absl::StatusOr<std::unique_ptr<LogEnv>> LogEnv::open(const EnvOptions& options) {
  if (options.shard_count == 0 || options.shard >= options.shard_count) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad shard ", options.shard, " of ", options.shard_count));
  }
  std::unique_ptr<LogEnv> env(new LogEnv(options));
  if (auto s = env->lmdb_.open(); !s.ok()) return s;
  if (auto s = env->recover(); !s.ok()) return s;
  if (options.read_only) return env;  // No writer thread, no file removal.
  // Before stale snapshot files go: a replayed install may name a file
  // newer than the one LMDB holds.
  if (auto s = env->open_journal(); !s.ok()) return s;
  remove_stale_snapshot_files(env->snapshot_dir(), [&](GroupId g) {
    if (env->group_state(g).removed()) return std::numeric_limits<Index>::max();  // Every file.
    auto snap = env->snapshot(g);
    return snap ? snap->meta.index : 0;
  });
  LogEnv* e = env.get();
  CommitQueue::Hooks hooks;
  hooks.commit = [e](const std::vector<const WriteBatch*>& batches, BatchEnds& ends) {
    WorkStates work;
    absl::Status s = e->commit(batches, work, &ends);
    if (s.ok()) e->maybe_force_sync();
    return s;
  };
  hooks.idle = [e] {
    // A forced sync asked for, then compacted records deleted in a
    // transaction of their own (empty when there are none: LMDB writes
    // nothing for it). The commit sets the idle flag again from what is left.
    absl::Status synced = absl::OkStatus();
    if (e->sync_wanted_.exchange(false, std::memory_order_acq_rel)) synced = e->force_sync_now();
    WorkStates work;
    absl::Status committed = e->commit(WriteBatch(), work);
    return synced.ok() ? committed : synced;
  };
  if (auto s = env->queue_.start(std::move(hooks)); !s.ok()) return s;
  return env;
}

absl::Status LogEnv::open_journal() {
  const std::string dir = options_.dir + "/journal";
  if (!options_.journal) {
    std::error_code ec;
    if (std::filesystem::exists(dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(options_.dir, " has a journal (", dir,
                                                        "); it must be opened with the journal"));
    }
    return absl::OkStatus();
  }
  auto covered = lmdb_.read_journal_mark();
  if (!covered.ok()) return covered.status();
  std::vector<JournalRecord> records;
  JournalOptions jo{dir, options_.journal_segment_bytes, options_.journal_segments};
  auto journal = Journal::open(jo, *covered, &records);
  if (!journal.ok()) return journal.status();
  uint64_t last = *covered;
  if (!records.empty()) {
    std::vector<WriteBatch> batches;
    batches.reserve(records.size());
    for (const JournalRecord& r : records) {
      auto b = decode_batch(r.payload);
      if (!b.ok()) {
        return absl::DataLossError(
            absl::StrCat("journal record ", r.seq, " in ", dir, ": ", b.status().message()));
      }
      b->set_journal_seq(r.seq);
      batches.push_back(std::move(*b));
      last = r.seq;
    }
    std::vector<const WriteBatch*> ptrs;
    for (const WriteBatch& b : batches) ptrs.push_back(&b);
    WorkStates work;
    if (auto s = commit(ptrs, work); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("replaying the journal ", dir, ": ", s.message()));
    }
    journal_replayed_ = records.size();
  }
  // The mark read above may still be only in the page cache (a process
  // crash, not a power cut): make it durable before segments below it are
  // reused.
  if (auto s = lmdb_.force_sync(); !s.ok()) return s;
  committed_journal_seq_.store(last);
  synced_journal_seq_.store(last);
  (*journal)->checkpoint(last);
  journal_ = std::move(*journal);
  return absl::OkStatus();
}

void LogEnv::maybe_force_sync() {
  const uint64_t committed = committed_journal_seq_.load(std::memory_order_acquire);
  if (!options_.journal || committed == synced_journal_seq_.load(std::memory_order_relaxed)) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (queue_.queued() != 0 && now - last_forced_sync_ < std::chrono::milliseconds(100)) return;
  // A failure is tried again after the next commit, or at the next
  // request_forced_sync().
  (void)force_sync_now();
}

absl::Status LogEnv::force_sync_now() {
  const uint64_t committed = committed_journal_seq_.load(std::memory_order_acquire);
  if (!options_.journal || committed == synced_journal_seq_.load(std::memory_order_relaxed)) {
    return absl::OkStatus();
  }
  last_forced_sync_ = std::chrono::steady_clock::now();
  if (absl::Status s = lmdb_.force_sync(); !s.ok()) return s;
  forced_syncs_.fetch_add(1, std::memory_order_relaxed);
  synced_journal_seq_.store(committed, std::memory_order_release);
  return absl::OkStatus();
}

LogEnv::~LogEnv() {
  queue_.stop();  // Before anything the writer uses goes; lmdb_ closes last.
}

std::string LogEnv::snapshot_dir() const { return lmdb_.snapshot_dir(); }

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
      absl::Status g = lmdb_.grow_map();
      if (g.ok()) continue;
      s = g;
    }
    failed_commits_.fetch_add(1, std::memory_order_relaxed);
    if (lmdb_.needs_reopen()) {
      // This batch fails; the env is reopened so that the next one may work.
      absl::Status r = reopen_after_failure();
      if (!r.ok()) return absl::Status(s.code(), absl::StrCat(s.message(), "; ", r.message()));
    }
    return s;
  }
}

// After an I/O error or MDB_PANIC in a commit (see LmdbEnv::reopen). What is
// durable is re-read from disk, since the failed commit may or may not have
// reached it (it was reported failed either way; writing its batch again is
// harmless).
absl::Status LogEnv::reopen_after_failure() {
  absl::Status s = lmdb_.reopen();
  if (s.ok()) s = recover();
  if (!s.ok()) {
    lmdb_.mark_for_reopen();  // Try again with the next batch.
    return absl::Status(s.code(),
                        absl::StrCat("reopening after a fatal LMDB error: ", s.message()));
  }
  return s;
}

void LogEnv::after_commit(const std::vector<const WriteBatch*>& batches, WorkStates& work) {
  size_t entries = 0;
  bool empty = true;
  for (const WriteBatch* b : batches) {
    entries += b->entry_count();
    empty = empty && b->empty();
  }
  (empty ? garbage_commits_ : commits_).fetch_add(1, std::memory_order_relaxed);
  for (const WriteBatch* b : batches) {
    if (b->journal_seq() > committed_journal_seq_.load(std::memory_order_relaxed)) {
      committed_journal_seq_.store(b->journal_seq(), std::memory_order_release);
    }
  }
  entries_written_.fetch_add(entries, std::memory_order_relaxed);
  {
    std::lock_guard l(state_mu_);
    for (auto& [group, state] : work) groups_[group] = state;
  }
  garbage_.update(work);
  update_idle_work();
  // Only now is a newer snapshot durable in both its file and its record.
  for (const WriteBatch* b : batches) {
    for (const GroupWrite& w : b->groups()) {
      if (w.remove) {
        // A removed group's files all go (an unfinished one included).
        remove_older_snapshot_files(snapshot_dir(), w.group, std::numeric_limits<Index>::max());
      } else if (w.apply_snapshot || w.save_snapshot) {
        const auto& snap = work.at(w.group).snapshot;
        if (snap) remove_older_snapshot_files(snapshot_dir(), w.group, snap->meta.index);
      }
    }
  }
}

absl::Status LogEnv::write(const WriteBatch& batch) {
  WorkStates work;
  absl::Status s = commit(batch, work);
  // With MDB_NOMETASYNC the commit alone is not durable; a synchronous
  // write still is when it returns.
  if (s.ok() && options_.journal) s = lmdb_.force_sync();
  return s;
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
  return queue_.try_submit(batch);
}

size_t LogEnv::batches_in_flight() const { return queue_.in_flight(); }

size_t LogEnv::queued_batches() const { return queue_.queued(); }

size_t LogEnv::drain_completions(std::vector<Completion>& out) {
  return queue_.drain_completions(out);
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
  if (lo == hi) return std::vector<Entry>();

  const std::string& file = lmdb_.file();
  auto map_lock = lmdb_.lock_shared();
  if (lmdb_.env() == nullptr) {
    return absl::UnavailableError(absl::StrCat(file, " is closed after a fatal error"));
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(lmdb_.env(), nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return mdb_status(rc, "beginning a read transaction", file);
  MDB_cursor* cursor = nullptr;
  rc = mdb_cursor_open(txn, lmdb_.log_dbi(group), &cursor);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return mdb_status(rc, "opening a cursor", file);
  }
  char key_buf[kLogKeyBytes];
  encode_log_key(group, lo, key_buf);
  MDB_val key = mdb_val(std::string_view(key_buf, kLogKeyBytes));
  MDB_val val;
  absl::Status status;
  std::vector<FoundEntry> found;
  uint64_t bytes = 0;
  rc = mdb_cursor_get(cursor, &key, &val, MDB_SET_KEY);
  for (Index i = lo; i < hi; ++i) {
    if (i > lo) rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT);
    std::string_view k = view_of(key);
    if (rc != 0 || k.size() != kLogKeyBytes || log_key_group(k) != group || log_key_index(k) != i) {
      status = rc != 0 && rc != MDB_NOTFOUND ? mdb_status(rc, "reading the log", file)
                                             : missing_entry_status(txn, cursor, group, i);
      break;
    }
    auto e = decode_entry_value(k, view_of(val));
    if (!e.ok()) {
      status = absl::DataLossError(absl::StrCat(e.status().message(), " in ", file));
      break;
    }
    if (!found.empty() && bytes + e->payload.size() > max_bytes) break;
    bytes += e->payload.size();
    found.push_back(FoundEntry{e->term, e->type, e->payload});
  }
  std::vector<Entry> out;
  if (status.ok()) out = own_payloads(found, lo, bytes);  // Before the txn ends.
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

std::vector<GroupId> LogEnv::groups_in(GroupLifecycle lifecycle) const {
  std::vector<GroupId> out;
  {
    std::lock_guard l(state_mu_);
    for (const auto& [group, state] : groups_) {
      if (state.lifecycle == lifecycle) out.push_back(group);
    }
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
  s.map_resizes = lmdb_.map_resizes();
  s.txn_build_ns = txn_build_ns_.load(std::memory_order_relaxed);
  s.txn_commit_ns = txn_commit_ns_.load(std::memory_order_relaxed);
  s.commit_latency.resize(latency_bounds_us_.size() + 1);
  for (size_t i = 0; i < s.commit_latency.size(); ++i)
    s.commit_latency[i] = commit_latency_[i].load(std::memory_order_relaxed);
  s.map_bytes = lmdb_.map_bytes();
  s.forced_syncs = forced_syncs_.load(std::memory_order_relaxed);
  s.journal_replayed = journal_replayed_;
  s.journal_committed_seq = committed_journal_seq_.load(std::memory_order_relaxed);
  s.journal_synced_seq = synced_journal_seq_.load(std::memory_order_relaxed);
  {
    std::lock_guard l(state_mu_);
    for (const auto& [group, state] : groups_) s.garbage_groups += state.garbage_first != 0;
  }
  return s;
}

}  // namespace raft::storage
