#include "engine/node/journal_log.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "storage/state_rules.h"

namespace raft {

JournalLog::JournalLog(storage::LogEnv* env, GroupId group, ConfState initial_conf_state,
                       storage::GroupState state, std::shared_ptr<JournalLogs> registry)
    : env_(env),
      group_(group),
      initial_conf_state_(std::move(initial_conf_state)),
      state_(std::move(state)),
      registry_(std::move(registry)) {
  (*registry_)[group_] = this;
}

JournalLog::~JournalLog() {
  auto it = registry_->find(group_);
  if (it != registry_->end() && it->second == this) registry_->erase(it);
}

absl::StatusOr<InitialState> JournalLog::initial_state() const {
  return InitialState{state_.hard_state, initial_conf_state_};
}

absl::StatusOr<std::vector<Entry>> JournalLog::entries(Index lo, Index hi,
                                                       uint64_t max_bytes) const {
  if (lo < first_index()) return compacted_error();
  if (hi > last_index() + 1) return unavailable_error();
  std::vector<Entry> out;
  if (lo == hi) return out;
  const Index front = held_.empty() ? last_index() + 1 : held_.front().entry.index;
  uint64_t bytes = 0;
  if (lo < front) {
    auto older = env_->entries(group_, lo, std::min(hi, front), max_bytes);
    if (!older.ok()) return older.status();
    out = std::move(*older);
    for (const Entry& e : out) bytes += e.data.size();
    if (out.empty() || out.back().index + 1 < std::min(hi, front)) return out;  // Byte cut.
  }
  const Index from = std::max(lo, front);
  for (auto it = held_.begin() + static_cast<std::ptrdiff_t>(from - front);
       it != held_.end() && it->entry.index < hi; ++it) {
    // At least one entry, then stop before the one that would pass max_bytes.
    if (!out.empty() && bytes + it->entry.data.size() > max_bytes) break;
    bytes += it->entry.data.size();
    out.push_back(it->entry);
  }
  return out;
}

absl::StatusOr<Term> JournalLog::term(Index i) const {
  if (i + 1 < first_index()) return compacted_error();
  if (i > last_index()) return unavailable_error();
  return *state_.term(i);
}

absl::StatusOr<Snapshot> JournalLog::snapshot() const {
  if (!state_.snapshot) return Snapshot{};
  return Snapshot{state_.snapshot->meta, Slice()};
}

void JournalLog::stage(const storage::GroupWrite& w, uint64_t journal_seq) {
  absl::Status s = storage::apply_to_state(w, state_);
  RAFT_CHECK_MSG(s.ok(), "a journaled write broke the log's rules after its check");
  if (w.apply_snapshot) {
    held_.clear();
    held_bytes_ = 0;
  }
  if (!w.entries.empty()) {
    hold(w.entries, journal_seq);
  }
  // Entries compacted away are never read again.
  while (!held_.empty() && held_.front().entry.index < state_.first_index()) {
    held_bytes_ -= held_.front().entry.data.size();
    held_.pop_front();
  }
  trim();
}

void JournalLog::hold(const std::vector<Entry>& entries, uint64_t journal_seq) {
  size_t skip = 0;
  while (skip < entries.size() && entries[skip].index <= state_.compacted.index) ++skip;
  if (skip == entries.size()) return;
  const Index first = entries[skip].index;
  while (!held_.empty() && held_.back().entry.index >= first) {
    held_bytes_ -= held_.back().entry.data.size();
    held_.pop_back();
  }
  if (!held_.empty() && held_.back().entry.index + 1 != first) {
    // The new run starts below every held entry: LMDB has all below it.
    held_.clear();
    held_bytes_ = 0;
  }
  for (size_t i = skip; i < entries.size(); ++i) {
    held_.push_back(Held{entries[i], journal_seq});
    held_bytes_ += entries[i].data.size();
  }
}

void JournalLog::reload() {
  RAFT_CHECK_MSG(held_.empty(), "a synchronous write to a group with journaled entries");
  state_ = env_->group_state(group_);
}

void JournalLog::lmdb_committed(uint64_t journal_seq) {
  lmdb_seq_ = std::max(lmdb_seq_, journal_seq);
  trim();
}

void JournalLog::trim() {
  while (!held_.empty() && held_.front().journal_seq <= lmdb_seq_ &&
         (held_.size() > kCacheEntries || held_bytes_ > kCacheBytes)) {
    held_bytes_ -= held_.front().entry.data.size();
    held_.pop_front();
  }
}

}  // namespace raft
