// The write rules of state_rules.h.
#include "storage/state_rules.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace raft::storage {

absl::StatusOr<size_t> check_append(GroupId group, const std::vector<Entry>& entries,
                                    const GroupState& s) {
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].index != entries[0].index + i) {
      return absl::InvalidArgumentError(absl::StrCat(
          "group ", group, ": appended entries are not contiguous at ", entries[i - 1].index));
    }
  }
  size_t skip = 0;
  while (skip < entries.size() && entries[skip].index <= s.compacted.index) ++skip;
  if (skip == entries.size()) return skip;
  const Index k = entries[skip].index;
  if (k > s.last_index + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group ", group, ": append at index ", k, " leaves a gap after last index ", s.last_index));
  }
  Term prev = *s.term(k - 1);
  for (size_t i = skip; i < entries.size(); ++i) {
    if (entries[i].term < prev) {
      return absl::InvalidArgumentError(absl::StrCat("group ", group, ": entry ", entries[i].index,
                                                     " has term ", entries[i].term, " below ",
                                                     prev));
    }
    prev = entries[i].term;
  }
  return skip;
}

absl::Status check_install(GroupId group, const StoredSnapshot& snap, const GroupState& s) {
  if (snap.meta.index <= s.compacted.index) {
    return absl::FailedPreconditionError(
        absl::StrCat("group ", group, ": snapshot at index ", snap.meta.index,
                     " is out of date (log compacted through ", s.compacted.index, ")"));
  }
  return absl::OkStatus();
}

absl::Status check_save(GroupId group, const StoredSnapshot& snap, const GroupState& s) {
  std::optional<Term> t = s.term(snap.meta.index);
  if (!t || *t != snap.meta.term) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group ", group, ": snapshot (index ", snap.meta.index, ", term ", snap.meta.term,
        ") does not match the log (", s.first_index(), "..", s.last_index, ")"));
  }
  if (s.snapshot && snap.meta.index < s.snapshot->meta.index) {
    return absl::FailedPreconditionError(
        absl::StrCat("group ", group, ": snapshot at index ", snap.meta.index,
                     " is older than the saved one at ", s.snapshot->meta.index));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> check_compact(GroupId group, Index index, const GroupState& s) {
  if (index <= s.compacted.index) return false;
  if (index > s.last_index) {
    return absl::InvalidArgumentError(absl::StrCat("group ", group, ": compact(", index,
                                                   ") is beyond last index ", s.last_index));
  }
  return true;
}

absl::Status check_lifecycle(const GroupWrite& w, const GroupState& s) {
  if (!s.removed()) return absl::OkStatus();
  GroupWrite rest = w;
  rest.remove = false;
  if (rest.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("group ", w.group,
                                                    " was removed from this node",
                                                    w.create ? "; its id cannot be reused" : ""));
}

GroupState removed_state() {
  GroupState s;
  s.lifecycle = GroupLifecycle::kRemoved;
  return s;
}

void install_in_state(const StoredSnapshot& snap, GroupState& s) {
  // The entries it covers become garbage (deleted a bounded number per
  // commit); those above it are gone at once.
  if (!s.log_empty() && s.garbage_first == 0) s.garbage_first = s.first_index();
  s.reset_to(snap.meta.index, snap.meta.term);
  s.hard_state.commit = std::max(s.hard_state.commit, snap.meta.index);
  s.conf_state = snap.meta.conf_state;
  s.snapshot = snap;
}

void append_to_state(const std::vector<Entry>& entries, size_t skip, GroupState& s) {
  if (skip == entries.size()) return;
  const Index k = entries[skip].index;
  if (k <= s.last_index) s.truncate_after(k - 1);
  for (size_t i = skip; i < entries.size(); ++i) s.push(entries[i].term);
}

void compact_state(Index index, GroupState& s) {
  if (s.garbage_first == 0) s.garbage_first = s.first_index();
  s.compact_to(index, *s.term(index));
}

absl::Status apply_to_state(const GroupWrite& w, GroupState& s) {
  if (auto st = check_lifecycle(w, s); !st.ok()) return st;
  if (s.removed()) return absl::OkStatus();  // A second removal.
  if (w.create) s.lifecycle = GroupLifecycle::kHosted;
  if (w.apply_snapshot) {
    if (auto st = check_install(w.group, *w.apply_snapshot, s); !st.ok()) return st;
    install_in_state(*w.apply_snapshot, s);
  }
  if (!w.entries.empty()) {
    auto skip = check_append(w.group, w.entries, s);
    if (!skip.ok()) return skip.status();
    append_to_state(w.entries, *skip, s);
  }
  if (w.hard_state) s.hard_state = *w.hard_state;
  if (w.conf_state) s.conf_state = *w.conf_state;
  if (w.save_snapshot) {
    if (auto st = check_save(w.group, *w.save_snapshot, s); !st.ok()) return st;
    s.snapshot = *w.save_snapshot;
  }
  if (w.compact_to) {
    auto change = check_compact(w.group, *w.compact_to, s);
    if (!change.ok()) return change.status();
    if (*change) compact_state(*w.compact_to, s);
  }
  if (w.remove) s = removed_state();
  return absl::OkStatus();
}

}  // namespace raft::storage
