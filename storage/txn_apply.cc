// LogEnv::run_txn: applies WriteBatches, in order, inside one LMDB write
// transaction, updating working copies of the touched groups' states, deletes
// some compacted records (CompactedGarbage), and commits it. The published
// states change only after the commit succeeded (see LogEnv::commit).
// Runs on the writer thread or a synchronous writer, with write_mu_ held.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "storage/compacted_garbage.h"
#include "storage/lmdb_util.h"
#include "storage/log_env.h"
#include "storage/state_rules.h"

namespace raft::storage {
namespace {

class TxnApplier {
 public:
  TxnApplier(MDB_txn* txn, const MDB_dbi* logs, MDB_dbi meta, const std::string& file,
             bool& map_full)
      : txn_(txn), logs_(logs), meta_(meta), file_(file), map_full_(map_full) {}
  ~TxnApplier() {
    for (Stripe& s : stripes_) {
      if (s.cursor != nullptr) mdb_cursor_close(s.cursor);
    }
  }

  absl::Status apply(const GroupWrite& w, GroupState& s) {
    if (auto st = check_lifecycle(w, s); !st.ok()) return st;
    if (s.removed()) return absl::OkStatus();  // Removed before: nothing to do.
    if (auto st = use_stripe(w.group); !st.ok()) return st;
    absl::Status st;
    if (w.create && s.lifecycle != GroupLifecycle::kHosted) {
      s.lifecycle = GroupLifecycle::kHosted;
      st = put_meta(w.group, MetaKind::kLifecycle,
                    encode_lifecycle(meta_key(w.group, MetaKind::kLifecycle), s.lifecycle));
    }
    if (st.ok() && w.apply_snapshot) st = apply_snapshot(w.group, *w.apply_snapshot, s);
    if (st.ok() && !w.entries.empty()) st = append(w.group, w.entries, s);
    if (st.ok() && w.hard_state) st = put_hard_state(w.group, *w.hard_state, s);
    if (st.ok() && w.conf_state) st = put_conf_state(w.group, *w.conf_state, s);
    if (st.ok() && w.save_snapshot) st = save_snapshot(w.group, *w.save_snapshot, s);
    if (st.ok() && w.compact_to) st = compact(w.group, *w.compact_to, s);
    if (st.ok() && w.remove) st = remove(w.group, s);
    return st;
  }

 private:
  // A log table's cursor, opened on first use in the transaction, and the
  // table's largest key: appends beyond it may use MDB_APPEND (no tree
  // descent). Deletes only lower the real maximum, so this stays a safe upper
  // bound for the whole transaction.
  struct Stripe {
    MDB_cursor* cursor = nullptr;
    std::string max_key;
  };

  // Points cursor_ and max_key_ at the log table of `group`.
  absl::Status use_stripe(GroupId group) {
    Stripe& s = stripes_[log_stripe(group)];
    if (s.cursor == nullptr) {
      int rc = mdb_cursor_open(txn_, logs_[log_stripe(group)], &s.cursor);
      if (rc != 0) return check(rc, "opening a log cursor");
      MDB_val k, v;
      rc = mdb_cursor_get(s.cursor, &k, &v, MDB_LAST);
      if (rc == 0) {
        s.max_key.assign(static_cast<const char*>(k.mv_data), k.mv_size);
      } else if (rc != MDB_NOTFOUND) {
        return check(rc, "reading the last log key");
      }
    }
    cursor_ = s.cursor;
    max_key_ = &s.max_key;
    return absl::OkStatus();
  }

  absl::Status check(int rc, std::string_view what) {
    if (rc == MDB_MAP_FULL) map_full_ = true;
    return mdb_status(rc, what, file_);
  }

  absl::Status put_meta(GroupId group, MetaKind kind, const std::string& value) {
    char key_buf[kMetaKeyBytes];
    encode_meta_key(group, kind, key_buf);
    MDB_val k = mdb_val(std::string_view(key_buf, kMetaKeyBytes));
    MDB_val v = mdb_val(value);
    return check(mdb_put(txn_, meta_, &k, &v, 0), "writing a meta record");
  }

  std::string meta_key(GroupId group, MetaKind kind) {
    char key_buf[kMetaKeyBytes];
    encode_meta_key(group, kind, key_buf);
    return std::string(key_buf, kMetaKeyBytes);
  }

  absl::Status put_hard_state(GroupId group, const HardState& hs, GroupState& s) {
    s.hard_state = hs;
    return put_meta(group, MetaKind::kHardState,
                    encode_hard_state(meta_key(group, MetaKind::kHardState), hs));
  }

  absl::Status put_conf_state(GroupId group, const ConfState& cs, GroupState& s) {
    s.conf_state = cs;
    return put_meta(group, MetaKind::kConfState,
                    encode_conf_state(meta_key(group, MetaKind::kConfState), cs));
  }

  absl::Status put_snapshot(GroupId group, const StoredSnapshot& snap, GroupState& s) {
    s.snapshot = snap;
    return put_meta(group, MetaKind::kSnapshot,
                    encode_snapshot(meta_key(group, MetaKind::kSnapshot), snap));
  }

  absl::Status put_compacted(GroupId group, GroupState& s) {
    return put_meta(group, MetaKind::kCompacted,
                    encode_compacted(meta_key(group, MetaKind::kCompacted), s.compacted));
  }

  // Deletes the group's entries [from, to].
  absl::Status delete_range(GroupId group, Index from, Index to) {
    if (from > to) return absl::OkStatus();
    char key_buf[kLogKeyBytes];
    encode_log_key(group, from, key_buf);
    MDB_val k = mdb_val(std::string_view(key_buf, kLogKeyBytes));
    MDB_val v;
    int rc = mdb_cursor_get(cursor_, &k, &v, MDB_SET_RANGE);
    Index expected = from;
    while (rc == 0) {
      std::string_view key = view_of(k);
      if (log_key_group(key) != group || log_key_index(key) > to) break;
      if (log_key_index(key) != expected) break;  // A hole: reported below.
      rc = mdb_cursor_del(cursor_, 0);
      if (rc != 0) return check(rc, "deleting a log record");
      ++expected;
      // After a delete the cursor sits on the following record; MDB_NEXT
      // returns it (LMDB's C_DEL rule).
      rc = mdb_cursor_get(cursor_, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return check(rc, "scanning the log");
    if (expected != to + 1) {
      return absl::DataLossError(
          absl::StrCat("log of group ", group, " is missing index ", expected, " in ", file_));
    }
    return absl::OkStatus();
  }

  absl::Status append(GroupId group, const std::vector<Entry>& entries, GroupState& s) {
    auto skip = check_append(group, entries, s);
    if (!skip.ok()) return skip.status();
    if (*skip == entries.size()) return absl::OkStatus();
    const Index k = entries[*skip].index;
    if (k <= s.last_index) {
      if (auto st = delete_range(group, k, s.last_index); !st.ok()) return st;
    }
    char key_buf[kLogKeyBytes];
    for (size_t i = *skip; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      encode_log_key(group, e.index, key_buf);
      std::string_view key(key_buf, kLogKeyBytes);
      unsigned flags = MDB_RESERVE;
      if (key > std::string_view(*max_key_)) {
        flags |= MDB_APPEND;
        max_key_->assign(key);
      }
      MDB_val kv = mdb_val(key);
      MDB_val vv{entry_value_bytes(e), nullptr};
      int rc = mdb_cursor_put(cursor_, &kv, &vv, flags);
      if (rc != 0) return check(rc, "appending a log record");
      encode_entry_value(key, e, static_cast<char*>(vv.mv_data));
    }
    append_to_state(entries, *skip, s);
    return absl::OkStatus();
  }

  absl::Status apply_snapshot(GroupId group, const StoredSnapshot& snap, GroupState& s) {
    if (auto st = check_install(group, snap, s); !st.ok()) return st;
    // Entries above the snapshot go now (new ones will take their keys); the
    // ones it covers become garbage, deleted a bounded number per commit.
    if (s.last_index > snap.meta.index) {
      Index from = std::max(s.first_index(), snap.meta.index + 1);
      if (auto st = delete_range(group, from, s.last_index); !st.ok()) return st;
    }
    install_in_state(snap, s);
    if (auto st = put_compacted(group, s); !st.ok()) return st;
    if (auto st = put_hard_state(group, s.hard_state, s); !st.ok()) return st;
    if (auto st = put_conf_state(group, s.conf_state, s); !st.ok()) return st;
    return put_snapshot(group, snap, s);
  }

  absl::Status save_snapshot(GroupId group, const StoredSnapshot& snap, GroupState& s) {
    if (auto st = check_save(group, snap, s); !st.ok()) return st;
    return put_snapshot(group, snap, s);
  }

  // Every record of the group goes, compacted ones still awaiting deletion
  // included, in this transaction; then the tombstone.
  absl::Status remove(GroupId group, GroupState& s) {
    char key_buf[kLogKeyBytes];
    encode_log_key(group, 0, key_buf);
    MDB_val k = mdb_val(std::string_view(key_buf, kLogKeyBytes));
    MDB_val v;
    int rc = mdb_cursor_get(cursor_, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && log_key_group(view_of(k)) == group) {
      rc = mdb_cursor_del(cursor_, 0);
      if (rc != 0) return check(rc, "deleting a removed group's log record");
      rc = mdb_cursor_get(cursor_, &k, &v, MDB_NEXT);  // The following record (C_DEL).
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return check(rc, "scanning a removed group's log");
    for (MetaKind kind :
         {MetaKind::kHardState, MetaKind::kConfState, MetaKind::kSnapshot, MetaKind::kCompacted}) {
      std::string key = meta_key(group, kind);
      MDB_val mk = mdb_val(key);
      rc = mdb_del(txn_, meta_, &mk, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND) return check(rc, "deleting a removed group's record");
    }
    s = removed_state();
    return put_meta(group, MetaKind::kLifecycle,
                    encode_lifecycle(meta_key(group, MetaKind::kLifecycle), s.lifecycle));
  }

  // A compaction at or below the current point is a no-op: the batch path
  // must not fail every group of the batch for a stale request. The records
  // go later, a bounded number per commit (CompactedGarbage): deleting 100k
  // records in one transaction takes LMDB ~0.3 s.
  absl::Status compact(GroupId group, Index index, GroupState& s) {
    auto change = check_compact(group, index, s);
    if (!change.ok()) return change.status();
    if (!*change) return absl::OkStatus();
    compact_state(index, s);
    return put_compacted(group, s);
  }

 public:
  // The cursor on the log table of `group` (for deleting its garbage).
  absl::StatusOr<MDB_cursor*> log_cursor(GroupId group) {
    if (auto st = use_stripe(group); !st.ok()) return st;
    return cursor_;
  }

 private:
  MDB_txn* txn_;
  const MDB_dbi* logs_;  // kLogStripes log tables.
  MDB_dbi meta_;
  const std::string& file_;
  bool& map_full_;
  Stripe stripes_[kLogStripes];
  MDB_cursor* cursor_ = nullptr;    // The current group's table (use_stripe).
  std::string* max_key_ = nullptr;  // Its largest key.
};

}  // namespace

void LogEnv::record_commit_latency(uint64_t commit_ns) {
  txn_commit_ns_.fetch_add(commit_ns, std::memory_order_relaxed);
  const auto bucket = std::lower_bound(latency_bounds_us_.begin(), latency_bounds_us_.end(),
                                       (commit_ns + 999) / 1000) -
                      latency_bounds_us_.begin();
  commit_latency_[bucket].fetch_add(1, std::memory_order_relaxed);
}

// Records the newest journal sequence of `batches`, if any is journaled.
absl::Status LogEnv::put_journal_mark(MDB_txn* txn, const std::vector<const WriteBatch*>& batches,
                                      bool& map_full) {
  uint64_t seq = 0;
  for (const WriteBatch* b : batches) seq = std::max(seq, b->journal_seq());
  if (seq == 0) return absl::OkStatus();
  std::string value = encode_journal_mark(kJournalMarkKey, seq);
  MDB_val k = mdb_val(kJournalMarkKey);
  MDB_val v = mdb_val(value);
  const int rc = mdb_put(txn, lmdb_.info_dbi(), &k, &v, 0);
  if (rc == MDB_MAP_FULL) map_full = true;  // The commit grows the map and retries.
  return mdb_status(rc, "writing the journal mark", lmdb_.file());
}

// Applies every batch, then deletes some compacted records, in `txn`.
absl::Status LogEnv::apply_batches(MDB_txn* txn, const std::vector<const WriteBatch*>& batches,
                                   WorkStates& work, bool& map_full, BatchEnds* ends) {
  const std::string& file = lmdb_.file();
  TxnApplier applier(txn, lmdb_.log_dbis(), lmdb_.meta_dbi(), file, map_full);
  // Only this thread (holding write_mu_) changes groups_.
  auto state_of = [&](GroupId group) -> GroupState& {
    auto [it, inserted] = work.try_emplace(group);
    if (inserted) {
      auto published = groups_.find(group);
      if (published != groups_.end()) it->second = published->second;
    }
    return it->second;
  };
  absl::Status st;
  for (size_t i = 0; i < batches.size() && st.ok(); ++i) {
    for (const GroupWrite& w : batches[i]->groups()) {
      if (!st.ok()) break;
      st = applier.apply(w, state_of(w.group));
    }
    if (ends != nullptr && st.ok()) {
      auto& end = (*ends)[i];
      end.clear();
      for (const GroupWrite& w : batches[i]->groups()) {
        const GroupState& g = work.at(w.group);
        end.emplace_back(g.last_index, g.last_term());
      }
    }
  }
  if (!st.ok()) return st;
  if (auto mark = put_journal_mark(txn, batches, map_full); !mark.ok()) return mark;
  return garbage_.collect(batches, [&](GroupId group, size_t budget) -> absl::StatusOr<size_t> {
    GroupState& s = state_of(group);
    if (s.garbage_first == 0) return size_t{0};
    auto log = applier.log_cursor(group);
    if (!log.ok()) return log.status();
    return delete_compacted(*log, group, s, budget, file, map_full);
  });
}

absl::Status LogEnv::run_txn(const std::vector<const WriteBatch*>& batches, WorkStates& work,
                             bool& map_full, BatchEnds* ends) {
  auto map_lock = lmdb_.lock_shared();
  const std::string& file = lmdb_.file();
  auto nanos_since = [](std::chrono::steady_clock::time_point t) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t)
            .count());
  };
  auto start = std::chrono::steady_clock::now();
  if (lmdb_.env() == nullptr) {
    lmdb_.mark_for_reopen();
    return absl::UnavailableError(absl::StrCat(file, " is closed after a fatal error"));
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(lmdb_.env(), nullptr, 0, &txn);
  if (rc == MDB_PANIC) lmdb_.mark_for_reopen();
  if (rc != 0) return mdb_status(rc, "beginning a write transaction", file);
  if (absl::Status st = apply_batches(txn, batches, work, map_full, ends); !st.ok()) {
    mdb_txn_abort(txn);
    return st;
  }
  txn_build_ns_.fetch_add(nanos_since(start), std::memory_order_relaxed);
  start = std::chrono::steady_clock::now();
  rc = mdb_txn_commit(txn);  // Frees txn whatever the outcome.
  record_commit_latency(nanos_since(start));
  if (rc == MDB_MAP_FULL) map_full = true;
  if (rc > 0 || rc == MDB_PANIC) lmdb_.mark_for_reopen();  // errno: ENOSPC, EIO, ...
  return mdb_status(rc, "committing a write transaction", file);
}

}  // namespace raft::storage
