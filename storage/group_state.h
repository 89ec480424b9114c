// GroupState: what the env keeps in memory for each Raft group, mirroring
// what is durable in LMDB (never anything that is not yet committed): log
// bounds, the term of every log entry as runs of equal terms, hard state,
// conf state and snapshot metadata. It lets term(), first/last_index() and
// the meta getters answer without a read transaction; only entries() reads
// LMDB. A Raft log's terms never decrease along the index, so a log of any
// length is described by one TermRun per term that has entries.
#pragma once

#include <optional>
#include <vector>

#include "engine/core/types.h"
#include "storage/format.h"

namespace raft::storage {

struct TermRun {
  Index start = 0;  // First index with this term.
  Term term = 0;

  friend bool operator==(const TermRun&, const TermRun&) = default;
};

struct GroupState {
  HardState hard_state;
  ConfState conf_state;
  std::optional<StoredSnapshot> snapshot;
  CompactedMark compacted;  // Entries up to compacted.index are gone.
  Index last_index = 0;     // == compacted.index when the log is empty.
  // Compacted entries are deleted from LMDB a bounded number per commit: when
  // non-zero, records in [garbage_first, compacted.index] may still exist.
  // They are never read (every read is bounded by first_index()).
  Index garbage_first = 0;
  std::vector<TermRun> runs;  // Cover (compacted.index, last_index], ascending.
  // kHosted once created at runtime; kRemoved: nothing else is left (every
  // other field is at its default) and nothing may be written any more.
  GroupLifecycle lifecycle = GroupLifecycle::kNone;

  bool removed() const { return lifecycle == GroupLifecycle::kRemoved; }

  Index first_index() const { return compacted.index + 1; }
  Term last_term() const { return runs.empty() ? compacted.term : runs.back().term; }
  bool log_empty() const { return last_index == compacted.index; }

  // Term of entry i, for compacted.index <= i <= last_index; nullopt outside.
  std::optional<Term> term(Index i) const;

  // Drops entries after i. Requires compacted.index <= i <= last_index.
  void truncate_after(Index i);
  // Adds entry last_index + 1 with term t. Requires t >= last_term().
  void push(Term t);
  // Drops entries up to i (which had term t). Requires i <= last_index.
  void compact_to(Index i, Term t);
  // Drops every entry; the log restarts after (i, t).
  void reset_to(Index i, Term t);
};

}  // namespace raft::storage
