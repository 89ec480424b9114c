// ShadowLog: the simulator's compact copy of one node's log, holding for every
// index its term and a hash of the whole prefix up to it. Two logs whose
// prefix hashes agree at an index agree on every entry up to it, so the
// invariant checks (log matching, leader completeness, state machine safety)
// compare one number instead of two logs.
#pragma once

#include <cstdint>
#include <vector>

#include "common/check.h"
#include "common/checksum.h"
#include "engine/core/types.h"
#include "tests/sim/prng.h"

namespace raft::sim {

inline constexpr uint64_t kGenesisHash = 0x5eed5eed5eed5eedULL;

// The prefix hash of `e` given the prefix hash of the entry before it.
inline uint64_t chain_hash(uint64_t prev, const Entry& e) {
  uint64_t h = mix_hash(prev, e.index);
  h = mix_hash(h, e.term);
  h = mix_hash(h, static_cast<uint64_t>(e.type));
  return mix_hash(h, checksum64(e.data.view()));
}

class ShadowLog {
 public:
  Index base_index() const { return base_index_; }
  Term base_term() const { return base_term_; }
  Index last_index() const { return base_index_ + slots_.size(); }

  // True if the log holds index i (the snapshot base counts).
  bool has(Index i) const { return i >= base_index_ && i <= last_index(); }
  Term term_at(Index i) const {
    RAFT_CHECK(has(i));
    return i == base_index_ ? base_term_ : slots_[i - base_index_ - 1].term;
  }
  uint64_t hash_at(Index i) const {
    RAFT_CHECK(has(i));
    return i == base_index_ ? base_hash_ : slots_[i - base_index_ - 1].hash;
  }

  // Appends like MemoryLogStorage::append: entries at or below the base are
  // skipped; the first entry at an existing index replaces the whole suffix
  // from there. Returns false (and changes nothing) on a gap.
  bool append(const std::vector<Entry>& entries) {
    size_t first = 0;
    while (first < entries.size() && entries[first].index <= base_index_) ++first;
    if (first == entries.size()) return true;
    const Index start = entries[first].index;
    if (start > last_index() + 1) return false;
    for (size_t i = first + 1; i < entries.size(); ++i) {
      if (entries[i].index != entries[i - 1].index + 1) return false;
    }
    slots_.resize(start - base_index_ - 1);
    for (size_t i = first; i < entries.size(); ++i) {
      slots_.push_back(
          Slot{entries[i].term, chain_hash(hash_at(entries[i].index - 1), entries[i])});
    }
    return true;
  }

  // Replaces everything with a snapshot base.
  void install(Index index, Term term, uint64_t hash) {
    base_index_ = index;
    base_term_ = term;
    base_hash_ = hash;
    slots_.clear();
  }

  // Drops the entries up to `index`, which becomes the base.
  void compact(Index index) {
    RAFT_CHECK(has(index));
    const Term t = term_at(index);
    const uint64_t h = hash_at(index);
    slots_.erase(slots_.begin(), slots_.begin() + static_cast<long>(index - base_index_));
    base_index_ = index;
    base_term_ = t;
    base_hash_ = h;
  }

 private:
  struct Slot {
    Term term;
    uint64_t hash;
  };
  Index base_index_ = 0;
  Term base_term_ = 0;
  uint64_t base_hash_ = kGenesisHash;
  std::vector<Slot> slots_;
};

}  // namespace raft::sim
