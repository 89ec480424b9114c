// LogEnv::recover: rebuilds every group's in-memory state from LMDB on open.
// Meta records are read and checked; log bounds come from two cursor seeks
// per group; the term runs are found by bisection (terms never decrease along
// a Raft log, so a group with T terms needs O(T log n) reads, not a scan);
// the checksums of the last verify_tail_entries entries are checked.
// Runs at open (before the writer starts) or, after a fatal error, in a
// commit with write_mu_ held; it publishes the states under state_mu_.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/lmdb_util.h"
#include "storage/log_env.h"

namespace raft::storage {
namespace {

class GroupRecovery {
 public:
  GroupRecovery(MDB_txn* txn, MDB_cursor* log, MDB_dbi meta, GroupId group, const std::string& file)
      : txn_(txn), log_(log), meta_(meta), group_(group), file_(file) {}

  absl::Status load_meta(GroupState& s) {
    if (auto v = get_meta(MetaKind::kHardState); !v.ok()) {
      return v.status();
    } else if (*v) {
      auto hs = decode_hard_state(key_, **v);
      if (!hs.ok()) return named(hs.status());
      s.hard_state = *hs;
    }
    if (auto v = get_meta(MetaKind::kConfState); !v.ok()) {
      return v.status();
    } else if (*v) {
      auto cs = decode_conf_state(key_, **v);
      if (!cs.ok()) return named(cs.status());
      s.conf_state = *cs;
    }
    if (auto v = get_meta(MetaKind::kSnapshot); !v.ok()) {
      return v.status();
    } else if (*v) {
      auto snap = decode_snapshot(key_, **v);
      if (!snap.ok()) return named(snap.status());
      s.snapshot = *snap;
    }
    if (auto v = get_meta(MetaKind::kCompacted); !v.ok()) {
      return v.status();
    } else if (*v) {
      auto mark = decode_compacted(key_, **v);
      if (!mark.ok()) return named(mark.status());
      s.compacted = *mark;
    }
    if (auto v = get_meta(MetaKind::kLifecycle); !v.ok()) {
      return v.status();
    } else if (*v) {
      auto lifecycle = decode_lifecycle(key_, **v);
      if (!lifecycle.ok()) return named(lifecycle.status());
      s.lifecycle = *lifecycle;
    }
    return absl::OkStatus();
  }

  absl::Status load_log(GroupState& s, size_t verify_tail) {
    s.last_index = s.compacted.index;
    s.runs.clear();
    auto physical_first = seek(group_, 0);
    if (!physical_first.ok()) return physical_first.status();
    if (*physical_first == 0) return absl::OkStatus();  // No records.
    // Records at or below the compaction mark await deletion (garbage).
    if (*physical_first <= s.compacted.index) s.garbage_first = *physical_first;
    auto after = seek_last_of_group();
    if (!after.ok()) return after.status();
    Index last = *after;
    if (last <= s.compacted.index) return absl::OkStatus();  // Only garbage.
    auto first = seek(group_, s.compacted.index + 1);
    if (!first.ok()) return first.status();
    if (*first != s.compacted.index + 1) {
      return absl::DataLossError(
          absl::StrCat("log of group ", group_, " in ", file_, " starts at index ", *first,
                       " but its compaction mark is at ", s.compacted.index));
    }
    auto t_first = term_at(*first);
    if (!t_first.ok()) return t_first.status();
    auto t_last = term_at(last);
    if (!t_last.ok()) return t_last.status();
    if (*t_first < s.compacted.term) return decreasing(s.compacted.index, *first);
    s.runs.push_back(TermRun{*first, *t_first});
    if (auto st = find_runs(*first, *t_first, last, *t_last, s.runs); !st.ok()) return st;
    s.last_index = last;
    return verify_tail_entries(s, verify_tail);
  }

  absl::Status named(const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(s.message(), " in ", file_));
  }

  absl::StatusOr<std::optional<std::string_view>> get_meta(MetaKind kind) {
    char buf[kMetaKeyBytes];
    encode_meta_key(group_, kind, buf);
    key_.assign(buf, kMetaKeyBytes);
    MDB_val k = mdb_val(key_), v;
    int rc = mdb_get(txn_, meta_, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
    if (rc != 0) return mdb_status(rc, "reading a meta record", file_);
    return std::optional<std::string_view>(view_of(v));
  }

  // Index of the group's first entry at or after `from`, 0 if none.
  absl::StatusOr<Index> seek(GroupId group, Index from) {
    char buf[kLogKeyBytes];
    encode_log_key(group, from, buf);
    MDB_val k = mdb_val(std::string_view(buf, kLogKeyBytes)), v;
    int rc = mdb_cursor_get(log_, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) return Index{0};
    if (rc != 0) return mdb_status(rc, "seeking in the log", file_);
    if (log_key_group(view_of(k)) != group) return Index{0};
    return log_key_index(view_of(k));
  }

  // Index of the group's last entry (the group has entries).
  absl::StatusOr<Index> seek_last_of_group() {
    MDB_val k, v;
    int rc;
    if (group_ == UINT64_MAX) {
      rc = mdb_cursor_get(log_, &k, &v, MDB_LAST);
    } else {
      char buf[kLogKeyBytes];
      encode_log_key(group_ + 1, 0, buf);
      k = mdb_val(std::string_view(buf, kLogKeyBytes));
      rc = mdb_cursor_get(log_, &k, &v, MDB_SET_RANGE);
      rc = rc == MDB_NOTFOUND ? mdb_cursor_get(log_, &k, &v, MDB_LAST)
                              : (rc == 0 ? mdb_cursor_get(log_, &k, &v, MDB_PREV) : rc);
    }
    if (rc != 0) return mdb_status(rc, "seeking the end of a group's log", file_);
    return log_key_index(view_of(k));
  }

 private:
  absl::StatusOr<Term> term_at(Index i) {
    char buf[kLogKeyBytes];
    encode_log_key(group_, i, buf);
    std::string_view key(buf, kLogKeyBytes);
    MDB_val k = mdb_val(key), v;
    int rc = mdb_cursor_get(log_, &k, &v, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) {
      return absl::DataLossError(
          absl::StrCat("log of group ", group_, " is missing index ", i, " in ", file_));
    }
    if (rc != 0) return mdb_status(rc, "reading the log", file_);
    auto e = decode_entry_value(key, view_of(v));
    if (!e.ok()) return named(e.status());
    return e->term;
  }

  absl::Status decreasing(Index lo, Index hi) {
    return absl::DataLossError(absl::StrCat("log of group ", group_, " in ", file_,
                                            ": terms decrease between index ", lo, " and ", hi));
  }

  // Appends the runs starting in (lo, hi], given term(lo) and term(hi).
  absl::Status find_runs(Index lo, Term t_lo, Index hi, Term t_hi, std::vector<TermRun>& out) {
    if (t_lo == t_hi) return absl::OkStatus();
    if (t_lo > t_hi) return decreasing(lo, hi);
    if (hi == lo + 1) {
      out.push_back(TermRun{hi, t_hi});
      return absl::OkStatus();
    }
    Index mid = lo + (hi - lo) / 2;
    auto t_mid = term_at(mid);
    if (!t_mid.ok()) return t_mid.status();
    if (auto st = find_runs(lo, t_lo, mid, *t_mid, out); !st.ok()) return st;
    return find_runs(mid, *t_mid, hi, t_hi, out);
  }

  // Reads the last `n` entries in order: checksums, contiguity and terms.
  absl::Status verify_tail_entries(const GroupState& s, size_t n) {
    if (n == 0) return absl::OkStatus();
    Index from = s.last_index >= s.first_index() + n ? s.last_index - n + 1 : s.first_index();
    char buf[kLogKeyBytes];
    encode_log_key(group_, from, buf);
    MDB_val k = mdb_val(std::string_view(buf, kLogKeyBytes)), v;
    int rc = mdb_cursor_get(log_, &k, &v, MDB_SET_KEY);
    for (Index i = from; i <= s.last_index; ++i) {
      if (i > from) rc = mdb_cursor_get(log_, &k, &v, MDB_NEXT);
      if (rc != 0 || log_key_group(view_of(k)) != group_ || log_key_index(view_of(k)) != i) {
        if (rc != 0 && rc != MDB_NOTFOUND) return mdb_status(rc, "reading the log", file_);
        return absl::DataLossError(
            absl::StrCat("log of group ", group_, " is missing index ", i, " in ", file_));
      }
      auto e = decode_entry_value(view_of(k), view_of(v));
      if (!e.ok()) return named(e.status());
      if (e->term != *s.term(i)) return decreasing(s.first_index(), i);
    }
    return absl::OkStatus();
  }

  MDB_txn* txn_;
  MDB_cursor* log_;
  MDB_dbi meta_;
  GroupId group_;
  const std::string& file_;
  std::string key_;
};

// Every group with a meta record or a log entry, ascending, into `found`.
absl::Status find_groups(MDB_cursor* meta, MDB_cursor* const* logs, const std::string& file,
                         std::vector<GroupId>& found) {
  absl::Status st;
  MDB_val k, v;
  int rc;
  for (rc = mdb_cursor_get(meta, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(meta, &k, &v, MDB_NEXT)) {
    if (k.mv_size != kMetaKeyBytes) {
      st = absl::DataLossError(absl::StrCat("malformed meta key in ", file));
      break;
    }
    char buf[kLogKeyBytes] = {};
    std::memcpy(buf, k.mv_data, 8);  // The group half of a log key.
    GroupId g = log_key_group(std::string_view(buf, kLogKeyBytes));
    if (found.empty() || found.back() != g) found.push_back(g);
  }
  if (st.ok() && rc != MDB_NOTFOUND) st = mdb_status(rc, "scanning meta records", file);
  for (uint32_t stripe = 0; stripe < kLogStripes && st.ok(); ++stripe) {
    GroupId next = 0;
    while (st.ok()) {
      char buf[kLogKeyBytes];
      encode_log_key(next, 0, buf);
      k = mdb_val(std::string_view(buf, kLogKeyBytes));
      rc = mdb_cursor_get(logs[stripe], &k, &v, MDB_SET_RANGE);
      if (rc == MDB_NOTFOUND) break;
      if (rc != 0 || k.mv_size != kLogKeyBytes) {
        st = rc != 0 ? mdb_status(rc, "scanning the log", file)
                     : absl::DataLossError(absl::StrCat("malformed log key in ", file));
        break;
      }
      GroupId g = log_key_group(view_of(k));
      if (log_stripe(g) != stripe) {
        st = absl::DataLossError(
            absl::StrCat("log records of group ", g, " in the wrong table of ", file));
        break;
      }
      found.push_back(g);
      if (g == UINT64_MAX) break;
      next = g + 1;
    }
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return st;
}

}  // namespace

absl::StatusOr<std::pair<CompactedMark, Index>> LogEnv::txn_bounds(MDB_txn* txn, MDB_cursor* log,
                                                                   GroupId group) const {
  GroupRecovery r(txn, log, lmdb_.meta_dbi(), group, lmdb_.file());
  GroupState s;
  if (auto st = r.load_meta(s); !st.ok()) return st;
  auto first = r.seek(group, s.compacted.index + 1);
  if (!first.ok()) return first.status();
  Index last = s.compacted.index;
  if (*first != 0) {
    auto end = r.seek_last_of_group();
    if (!end.ok()) return end.status();
    last = *end;
  }
  return std::make_pair(s.compacted, last);
}

absl::Status LogEnv::recover() {
  const std::string& file = lmdb_.file();
  auto map_lock = lmdb_.lock_shared();
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(lmdb_.env(), nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return mdb_status(rc, "beginning the recovery transaction", file);
  MDB_cursor* logs[kLogStripes] = {};
  MDB_cursor* meta = nullptr;
  for (uint32_t i = 0; i < kLogStripes && rc == 0; ++i) {
    rc = mdb_cursor_open(txn, lmdb_.log_dbis()[i], &logs[i]);
  }
  if (rc == 0) rc = mdb_cursor_open(txn, lmdb_.meta_dbi(), &meta);
  absl::Status st = mdb_status(rc, "opening recovery cursors", file);
  std::vector<GroupId> found;
  if (st.ok()) st = find_groups(meta, logs, file, found);

  absl::flat_hash_map<GroupId, GroupState> states;
  for (GroupId g : found) {
    if (!st.ok()) break;
    GroupState state;
    GroupRecovery r(txn, logs[log_stripe(g)], lmdb_.meta_dbi(), g, file);
    st = r.load_meta(state);
    if (st.ok()) st = r.load_log(state, options_.verify_tail_entries);
    if (st.ok()) states[g] = std::move(state);
  }
  if (meta != nullptr) mdb_cursor_close(meta);
  for (MDB_cursor* log : logs) {
    if (log != nullptr) mdb_cursor_close(log);
  }
  mdb_txn_abort(txn);
  if (st.ok()) {
    {
      std::lock_guard l(state_mu_);
      groups_ = std::move(states);
      garbage_.reset(groups_);
    }
    update_idle_work();
  }
  return st;
}

}  // namespace raft::storage
