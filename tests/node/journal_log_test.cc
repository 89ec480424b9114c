// JournalLog, the core's view of a group's log when writes go through the
// journal: a staged batch is readable at once (entries, terms, bounds) before
// LMDB has it; a conflicting run replaces the held suffix; reads that cross
// from LMDB into the held entries equal what a log holding everything would
// return (the max_bytes cut included); held entries go only once LMDB has
// them, and only beyond the cache bounds; an install drops every held entry.
#include "engine/node/journal_log.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/log_env.h"
#include "tests/storage/test_util.h"

namespace raft {
namespace {

using storage::testing::TempDir;

constexpr GroupId kGroup = 7;

Entry entry(Term term, Index index, size_t size = 100) {
  std::string payload = "t" + std::to_string(term) + "-i" + std::to_string(index) + "-";
  payload.resize(size, 'x');
  return Entry{term, index, EntryType::kNormal, Slice(payload)};
}

std::vector<Entry> run(Term term, Index from, Index to, size_t size = 100) {
  std::vector<Entry> out;
  for (Index i = from; i <= to; ++i) out.push_back(entry(term, i, size));
  return out;
}

class JournalLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::EnvOptions options;
    options.dir = dir_.sub("shard-0");
    options.journal = true;
    options.journal_segment_bytes = 1 << 20;
    options.journal_segments = 2;
    options.initial_map_bytes = 64 << 20;
    auto env = storage::LogEnv::open(options);
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = std::move(*env);
    log_ = std::make_unique<JournalLog>(env_.get(), kGroup, ConfState{}, env_->group_state(kGroup),
                                        registry_);
  }

  // Journal-durable: the view sees it; LMDB does not yet.
  storage::WriteBatch stage(const std::vector<Entry>& entries, uint64_t seq) {
    storage::WriteBatch b;
    b.append(kGroup, entries);
    log_->stage(b.groups()[0], seq);
    return b;
  }
  // LMDB commits it (as the env's writer would behind the journal).
  void commit(const storage::WriteBatch& b, uint64_t seq) {
    ASSERT_TRUE(env_->write(b).ok());
    log_->lmdb_committed(seq);
  }

  TempDir dir_;
  std::shared_ptr<JournalLogs> registry_ = std::make_shared<JournalLogs>();
  std::unique_ptr<storage::LogEnv> env_;
  std::unique_ptr<JournalLog> log_;
};

TEST_F(JournalLogTest, StagedEntriesAreReadableBeforeLmdbHasThem) {
  stage(run(1, 1, 10), 1);
  EXPECT_EQ(log_->last_index(), 10u);
  EXPECT_EQ(env_->last_index(kGroup), 0u);
  EXPECT_EQ(*log_->term(10), 1u);
  auto e = log_->entries(3, 8, UINT64_MAX);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(*e, run(1, 3, 7));
  EXPECT_EQ(registry_->at(kGroup), log_.get());
}

TEST_F(JournalLogTest, ConflictingRunReplacesTheHeldSuffix) {
  stage(run(1, 1, 10), 1);
  stage(run(2, 6, 8), 2);
  EXPECT_EQ(log_->last_index(), 8u);
  EXPECT_EQ(*log_->term(5), 1u);
  EXPECT_EQ(*log_->term(6), 2u);
  std::vector<Entry> want = run(1, 1, 5);
  for (const Entry& x : run(2, 6, 8)) want.push_back(x);
  EXPECT_EQ(*log_->entries(1, 9, UINT64_MAX), want);
  EXPECT_FALSE(log_->entries(1, 10, UINT64_MAX).ok());  // 9 is gone.
}

TEST_F(JournalLogTest, HeldEntriesGoOnlyOnceLmdbHasThemAndBeyondTheCache) {
  const Index n = JournalLog::kCacheEntries + 1000;
  storage::WriteBatch b = stage(run(1, 1, n, 16), 1);
  EXPECT_EQ(log_->held_entries(), n);  // LMDB has none of them yet.
  commit(b, 1);
  EXPECT_EQ(log_->held_entries(), JournalLog::kCacheEntries);
  // A read crossing from LMDB into the held entries, with a byte cut.
  const Index front = n - JournalLog::kCacheEntries + 1;
  for (uint64_t max_bytes : {uint64_t{16} * 50, uint64_t{16} * 2000, UINT64_MAX}) {
    auto got = log_->entries(front - 100, front + 900, max_bytes);
    auto want = env_->entries(kGroup, front - 100, front + 900, max_bytes);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(want.ok()) << want.status();
    EXPECT_EQ(*got, *want) << "max_bytes " << max_bytes;
  }
}

TEST_F(JournalLogTest, AnInstallDropsEveryHeldEntry) {
  stage(run(1, 1, 10), 1);
  storage::StoredSnapshot snap;
  snap.meta.index = 50;
  snap.meta.term = 3;
  storage::WriteBatch b;
  b.apply_snapshot(kGroup, snap);
  log_->stage(b.groups()[0], 2);
  EXPECT_EQ(log_->held_entries(), 0u);
  EXPECT_EQ(log_->first_index(), 51u);
  EXPECT_EQ(log_->last_index(), 50u);
  EXPECT_EQ(*log_->term(50), 3u);
  EXPECT_EQ(log_->snapshot()->meta.index, 50u);
  stage(run(3, 51, 52), 3);
  EXPECT_EQ(*log_->entries(51, 53, UINT64_MAX), run(3, 51, 52));
}

TEST_F(JournalLogTest, LeavesTheRegistryWhenDestroyed) {
  log_.reset();
  EXPECT_FALSE(registry_->contains(kGroup));
}

}  // namespace
}  // namespace raft
