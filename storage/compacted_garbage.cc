#include "storage/compacted_garbage.h"

#include "storage/format.h"
#include "storage/lmdb_util.h"

namespace raft::storage {

void CompactedGarbage::reset(const States& all) {
  groups_.clear();
  for (const auto& [group, state] : all) {
    if (state.garbage_first != 0) groups_.insert(group);
  }
}

void CompactedGarbage::update(const States& changed) {
  for (const auto& [group, state] : changed) {
    if (state.garbage_first != 0) {
      groups_.insert(group);
    } else {
      groups_.erase(group);
    }
  }
}

absl::Status CompactedGarbage::collect(const std::vector<const WriteBatch*>& batches,
                                       DeleteFn delete_some) const {
  size_t budget = records_per_commit_;
  absl::Status st;
  auto collect_group = [&](GroupId group) {
    if (!st.ok() || budget == 0) return;
    auto deleted = delete_some(group, budget);
    if (!deleted.ok()) st = deleted.status();
    if (st.ok()) budget -= *deleted;
  };
  for (GroupId group : groups_) collect_group(group);
  for (const WriteBatch* b : batches) {
    for (const GroupWrite& w : b->groups()) collect_group(w.group);
  }
  return st;
}

absl::StatusOr<size_t> delete_compacted(MDB_cursor* log, GroupId group, GroupState& s,
                                        size_t budget, const std::string& file, bool& map_full) {
  if (s.garbage_first == 0) return size_t{0};
  auto failed = [&](int rc, std::string_view what) {
    if (rc == MDB_MAP_FULL) map_full = true;
    return mdb_status(rc, what, file);
  };
  char key_buf[kLogKeyBytes];
  encode_log_key(group, s.garbage_first, key_buf);
  MDB_val k = mdb_val(std::string_view(key_buf, kLogKeyBytes));
  MDB_val v;
  size_t deleted = 0;
  int rc = mdb_cursor_get(log, &k, &v, MDB_SET_RANGE);
  while (rc == 0) {
    std::string_view key = view_of(k);
    if (log_key_group(key) != group || log_key_index(key) > s.compacted.index) break;
    if (deleted == budget) {
      s.garbage_first = log_key_index(key);
      return deleted;
    }
    rc = mdb_cursor_del(log, 0);
    if (rc != 0) return failed(rc, "deleting a compacted log record");
    ++deleted;
    rc = mdb_cursor_get(log, &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return failed(rc, "scanning compacted log records");
  s.garbage_first = 0;
  return deleted;
}

}  // namespace raft::storage
