// The core's Raft log: storage view plus unstable tail.
#include "engine/core/log.h"

#include <algorithm>
#include <iterator>

#include "common/check.h"

namespace raft {

// ---------------------------------------------------------------- Unstable

std::optional<Index> Unstable::maybe_first_index() const {
  if (snapshot_) return snapshot_->meta.index + 1;
  return std::nullopt;
}

std::optional<Index> Unstable::maybe_last_index() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->meta.index;
  return std::nullopt;
}

std::optional<Term> Unstable::maybe_term(Index i) const {
  if (i < offset_) {
    if (snapshot_ && snapshot_->meta.index == i) return snapshot_->meta.term;
    return std::nullopt;
  }
  auto last = maybe_last_index();
  if (!last || i > *last) return std::nullopt;
  return entries_[i - offset_].term;
}

std::vector<Entry> Unstable::next_entries() const {
  size_t from = offset_in_progress_ - offset_;
  return std::vector<Entry>(entries_.begin() + from, entries_.end());
}

void Unstable::accept_in_progress() {
  offset_in_progress_ = offset_ + entries_.size();
  if (snapshot_) snapshot_in_progress_ = true;
}

void Unstable::stable_to(Index i, Term t) {
  if (i < offset_) return;
  auto term = maybe_term(i);
  if (!term || *term != t) return;
  // Only what was handed out can have been persisted.
  if (i >= offset_in_progress_) return;
  size_t n = i + 1 - offset_;
  if (n == entries_.size()) {
    entries_.clear();
  } else {
    entries_.erase(entries_.begin(), entries_.begin() + n);
  }
  offset_ = i + 1;
  offset_in_progress_ = std::max(offset_in_progress_, offset_);
}

void Unstable::stable_snapshot_to(Index i) {
  if (snapshot_ && snapshot_in_progress_ && snapshot_->meta.index == i) {
    snapshot_.reset();
    snapshot_in_progress_ = false;
  }
}

void Unstable::restore(const Snapshot& snapshot) {
  offset_ = snapshot.meta.index + 1;
  offset_in_progress_ = offset_;
  entries_.clear();
  snapshot_ = snapshot;
  snapshot_in_progress_ = false;
}

void Unstable::truncate_and_append(std::vector<Entry> ents) {
  RAFT_CHECK(!ents.empty());
  const Index from = ents.front().index;
  if (from == offset_ + entries_.size()) {
    if (entries_.empty()) {
      entries_ = std::move(ents);
    } else {
      entries_.insert(entries_.end(), std::make_move_iterator(ents.begin()),
                      std::make_move_iterator(ents.end()));
    }
  } else if (from <= offset_) {
    // Replaces the whole unstable tail (and, once persisted, the storage's
    // suffix from `from`).
    offset_ = from;
    offset_in_progress_ = offset_;
    entries_ = std::move(ents);
  } else {
    RAFT_CHECK_MSG(from <= offset_ + entries_.size(), "gap in unstable append");
    entries_.resize(from - offset_);
    entries_.insert(entries_.end(), std::make_move_iterator(ents.begin()),
                    std::make_move_iterator(ents.end()));
    offset_in_progress_ = std::min(offset_in_progress_, from);
  }
}

void Unstable::append_one(Entry e) {
  RAFT_CHECK(e.index == offset_ + entries_.size());
  entries_.push_back(std::move(e));
}

void Unstable::slice(Index lo, Index hi, uint64_t max_bytes, uint64_t* used_bytes,
                     std::vector<Entry>* out) const {
  RAFT_CHECK(offset_ <= lo && lo <= hi && hi <= offset_ + entries_.size());
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - offset_];
    if (!out->empty() && *used_bytes + e.data.size() > max_bytes) return;
    *used_bytes += e.data.size();
    out->push_back(e);
  }
}

// ---------------------------------------------------------------- RaftLog

RaftLog::RaftLog(LogStorage* storage) : storage_(storage), unstable_(storage->last_index() + 1) {
  Index first = storage->first_index();
  committed_ = first - 1;
  applying_ = first - 1;
  applied_ = first - 1;
}

Index RaftLog::first_index() const {
  if (auto i = unstable_.maybe_first_index()) return *i;
  return storage_->first_index();
}

Index RaftLog::last_index() const {
  if (auto i = unstable_.maybe_last_index()) return *i;
  return storage_->last_index();
}

Term RaftLog::last_term() const {
  auto t = term(last_index());
  RAFT_CHECK_MSG(t.ok(), "term of the last entry is unreadable");
  return *t;
}

absl::StatusOr<Term> RaftLog::term(Index i) const {
  if (auto t = unstable_.maybe_term(i)) return *t;
  const Index dummy = first_index() - 1;
  if (i < dummy) return compacted_error();
  if (i > last_index()) return unavailable_error();
  absl::StatusOr<Term> t = storage_->term(i);
  if (t.ok() || is_compacted(t.status()) || is_unavailable(t.status())) return t;
  RAFT_CHECK_MSG(false, "log storage failed to read a term");
  return t;
}

Term RaftLog::term_or_zero(Index i) const {
  auto t = term(i);
  return t.ok() ? *t : 0;
}

bool RaftLog::match_term(Index i, Term t) const {
  auto got = term(i);
  return got.ok() && *got == t;
}

std::optional<Index> RaftLog::maybe_append(Index prev_index, Term prev_term, Index committed,
                                           std::vector<Entry> ents) {
  if (!match_term(prev_index, prev_term)) return std::nullopt;
  const Index last_new = prev_index + ents.size();
  const Index conflict = find_conflict(ents);
  if (conflict != 0) {
    RAFT_CHECK_MSG(conflict > committed_, "an append conflicts with a committed entry");
    const size_t skip = conflict - (prev_index + 1);
    if (skip == 0) {
      append(std::move(ents));
    } else {
      append(std::vector<Entry>(std::make_move_iterator(ents.begin() + skip),
                                std::make_move_iterator(ents.end())));
    }
  }
  commit_to(std::min(committed, last_new));
  return last_new;
}

Index RaftLog::append(std::vector<Entry> ents) {
  if (ents.empty()) return last_index();
  RAFT_CHECK_MSG(ents.front().index > committed_, "append below the commit index");
  unstable_.truncate_and_append(std::move(ents));
  return last_index();
}

void RaftLog::append_one(Entry e) {
  RAFT_CHECK(e.index == last_index() + 1 && e.index > committed_);
  // last_index() + 1 is always the unstable tail's next slot.
  unstable_.append_one(std::move(e));
}

Index RaftLog::find_conflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!match_term(e.index, e.term)) return e.index;
  }
  return 0;
}

Index RaftLog::find_conflict_by_term(Index index, Term term) const {
  for (; index > 0; --index) {
    auto t = this->term(index);
    // Below the snapshot nothing is known: stop there.
    if (!t.ok()) break;
    if (*t <= term) break;
  }
  return index;
}

absl::StatusOr<std::vector<Entry>> RaftLog::slice(Index lo, Index hi, uint64_t max_bytes) const {
  RAFT_CHECK(lo <= hi);
  std::vector<Entry> out;
  if (lo == hi) return out;
  if (lo < first_index()) return compacted_error();
  RAFT_CHECK_MSG(hi <= last_index() + 1, "slice beyond the last index");
  uint64_t used = 0;
  const Index offset = unstable_.offset();
  if (lo < offset) {
    const Index stored_hi = std::min(hi, offset);
    absl::StatusOr<std::vector<Entry>> stored = storage_->entries(lo, stored_hi, max_bytes);
    if (!stored.ok()) {
      if (is_compacted(stored.status())) return stored.status();
      RAFT_CHECK_MSG(false, "log storage failed to read entries");
    }
    out = std::move(*stored);
    for (const Entry& e : out) used += e.data.size();
    // Stopped early by the byte limit: do not read further.
    if (out.size() < stored_hi - lo) return out;
  }
  if (hi > offset) unstable_.slice(std::max(lo, offset), hi, max_bytes, &used, &out);
  return out;
}

absl::StatusOr<std::vector<Entry>> RaftLog::entries_from(Index lo, uint64_t max_bytes) const {
  const Index last = last_index();
  if (lo > last) return std::vector<Entry>{};
  return slice(lo, last + 1, max_bytes);
}

void RaftLog::commit_to(Index i) {
  if (committed_ >= i) return;
  RAFT_CHECK_MSG(i <= last_index(), "commit beyond the last index");
  committed_ = i;
}

bool RaftLog::maybe_commit(Index i, Term t) {
  if (i > committed_ && term_or_zero(i) == t) {
    commit_to(i);
    return true;
  }
  return false;
}

bool RaftLog::is_up_to_date(Index last, Term term) const {
  const Term our_term = last_term();
  return term > our_term || (term == our_term && last >= last_index());
}

Index RaftLog::persisted_last() const { return unstable_.offset() - 1; }

bool RaftLog::has_next_committed() const {
  if (unstable_.snapshot()) return false;
  return applying_ < std::min(committed_, persisted_last());
}

std::vector<Entry> RaftLog::next_committed(uint64_t max_bytes) const {
  if (!has_next_committed()) return {};
  const Index hi = std::min(committed_, persisted_last()) + 1;
  absl::StatusOr<std::vector<Entry>> ents = slice(applying_ + 1, hi, max_bytes);
  RAFT_CHECK_MSG(ents.ok(), "committed entries are unreadable");
  return std::move(*ents);
}

void RaftLog::applying_to(Index i) { applying_ = std::max(applying_, i); }

void RaftLog::applied_to(Index i) {
  applied_ = std::max(applied_, i);
  applying_ = std::max(applying_, applied_);
}

absl::StatusOr<Snapshot> RaftLog::snapshot() const {
  if (unstable_.snapshot()) return *unstable_.snapshot();
  return storage_->snapshot();
}

void RaftLog::restore(const Snapshot& snapshot) {
  RAFT_CHECK(snapshot.meta.index > committed_);
  committed_ = snapshot.meta.index;
  applying_ = std::max(applying_, snapshot.meta.index);
  unstable_.restore(snapshot);
}

}  // namespace raft
