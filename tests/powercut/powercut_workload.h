// What the power-cut test's child writes and the test checks: the same
// batches as the SIGKILL crash test (tests/storage/crash_test.cc), with the
// journal in front of LMDB and a journal small enough to wrap many times.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "storage/log_env.h"
#include "tests/storage/test_util.h"

namespace raft::storage::powercut {

constexpr GroupId kGroups = 3;
constexpr uint64_t kMaxBatchesPerChild = 2000;

// One per batch made durable, sent by the child after its journal write.
struct Report {
  uint64_t batch;
  Index last[kGroups];
};

inline size_t payload_bytes(Index i) { return 40 + i % 200; }

inline EnvOptions env_options(const std::string& dir) {
  EnvOptions o;
  o.dir = dir;
  o.journal = true;
  o.journal_segment_bytes = 128 << 10;  // Wraps every few hundred batches.
  o.journal_segments = 3;
  o.initial_map_bytes = 1 << 20;
  o.verify_tail_entries = 256;
  o.compacted_records_per_commit = 64;
  return o;
}

// Batch `batch` appends 0..39 entries of `term` to every group, sets each
// group's hard state to {term = batch, vote = group, commit = last} and
// sometimes compacts a group or sets a conf state naming the batch.
inline WriteBatch make_batch(std::mt19937_64& rng, uint64_t batch, Term term, Index* last) {
  WriteBatch b;
  for (GroupId g = 1; g <= kGroups; ++g) {
    size_t count = rng() % 40;
    std::vector<Entry> entries;
    for (size_t k = 0; k < count; ++k) {
      Index i = last[g] + 1 + k;
      entries.push_back(Entry{term, i, EntryType::kNormal,
                              Slice(testing::payload_for(g, i, term, payload_bytes(i)))});
    }
    last[g] += count;
    b.append(g, entries);
    b.set_hard_state(g, HardState{batch, g, last[g]});
    if (rng() % 16 == 0 && last[g] > 200) b.compact(g, last[g] - 100);
    if (rng() % 8 == 0) {
      ConfState cs;
      cs.voters = {batch};
      b.set_conf_state(g, cs);
    }
  }
  return b;
}

// The lifecycle workload (powercut_child lifecycle): batch `batch` also
// creates group churn_group(batch) with entries 1..churn_entries(batch) of
// `term` and a hard state {batch, 0, last}, and removes the group the batch
// before created. After a cut that kept batch D: groups of batches below D
// are removed, D's is hosted with its entries, later ones have no record.
inline GroupId churn_group(uint64_t batch) { return 1000 + batch; }
inline size_t churn_entries(uint64_t batch) { return 1 + batch % 23; }

inline void add_churn(WriteBatch& b, uint64_t batch, Term term) {
  const GroupId g = churn_group(batch);
  std::vector<Entry> entries;
  for (Index i = 1; i <= churn_entries(batch); ++i) {
    entries.push_back(
        Entry{term, i, EntryType::kNormal, Slice(testing::payload_for(g, i, term, 48))});
  }
  b.create_group(g);
  b.append(g, entries);
  b.set_hard_state(g, HardState{batch, 0, churn_entries(batch)});
  b.remove_group(churn_group(batch - 1));
}

}  // namespace raft::storage::powercut
