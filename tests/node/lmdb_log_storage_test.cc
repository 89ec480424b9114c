// LmdbLogStorage's cache of the newest entries handed to the writer: a read
// it serves equals the LMDB read of the same durable range (entries and the
// max_bytes cut), a conflicting run replaces the cached suffix, a run that
// does not continue the cache replaces all of it, and the cache is bounded.
#include "engine/node/lmdb_log_storage.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/storage.h"
#include "tests/storage/test_util.h"

namespace raft {
namespace {

using storage::testing::TempDir;

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

class LmdbLogStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::EnvOptions options;
    options.dir = dir_.sub("shard-0");
    options.initial_map_bytes = 64 << 20;
    auto env = storage::LogEnv::open(options);
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = std::move(*env);
    log_ = std::make_unique<LmdbLogStorage>(env_.get(), kGroup, ConfState{});
  }

  // What the node does with a Ready's entries: cache them, then write them.
  void append(const std::vector<Entry>& entries) {
    log_->remember(entries);
    storage::WriteBatch batch;
    batch.append(kGroup, entries);
    ASSERT_TRUE(env_->write(batch).ok());
  }

  // Reads [lo, hi) through the storage and straight from LMDB; both must
  // agree. Returns whether the storage served it from its cache.
  bool read_matches_lmdb(Index lo, Index hi, uint64_t max_bytes) {
    const uint64_t hits = log_->cache_hits();
    auto got = log_->entries(lo, hi, max_bytes);
    auto want = env_->entries(kGroup, lo, hi, max_bytes);
    EXPECT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(want.ok()) << want.status();
    if (got.ok() && want.ok()) {
      EXPECT_EQ(*got, *want) << "[" << lo << ", " << hi << ") max_bytes " << max_bytes;
    }
    return log_->cache_hits() > hits;
  }

  static constexpr GroupId kGroup = 7;
  TempDir dir_;
  std::unique_ptr<storage::LogEnv> env_;
  std::unique_ptr<LmdbLogStorage> log_;
};

TEST_F(LmdbLogStorageTest, CachedReadsEqualLmdbReadsWithTheSameByteCut) {
  append(run(1, 1, 50));
  for (uint64_t max_bytes :
       {uint64_t{0}, uint64_t{99}, uint64_t{100}, uint64_t{250}, uint64_t{1000}, UINT64_MAX}) {
    EXPECT_TRUE(read_matches_lmdb(1, 51, max_bytes));
    EXPECT_TRUE(read_matches_lmdb(10, 20, max_bytes));
    EXPECT_TRUE(read_matches_lmdb(50, 51, max_bytes));
  }
  EXPECT_EQ(log_->cache_misses(), 0u);
  // Out of range stays an error, as before.
  EXPECT_FALSE(log_->entries(40, 52, UINT64_MAX).ok());
}

TEST_F(LmdbLogStorageTest, ConflictingRunReplacesTheCachedSuffix) {
  append(run(1, 1, 30));
  append(run(2, 21, 25));  // A new leader's entries: 21.. replaced, 26..30 gone.
  ASSERT_EQ(env_->last_index(kGroup), 25u);
  EXPECT_TRUE(read_matches_lmdb(15, 26, UINT64_MAX));
  auto got = log_->entries(21, 22, UINT64_MAX);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[0].term, 2u);
  append(run(2, 26, 40));
  EXPECT_TRUE(read_matches_lmdb(1, 41, UINT64_MAX));
}

TEST_F(LmdbLogStorageTest, RunThatDoesNotContinueTheCacheReplacesIt) {
  append(run(1, 1, 10));
  // Written without the cache (as the bootstrap entries are), then a run
  // after a gap: the cache keeps only what it can vouch for.
  storage::WriteBatch batch;
  batch.append(kGroup, run(1, 11, 20));
  ASSERT_TRUE(env_->write(batch).ok());
  append(run(1, 21, 30));
  EXPECT_FALSE(read_matches_lmdb(5, 15, UINT64_MAX));
  EXPECT_FALSE(read_matches_lmdb(15, 25, UINT64_MAX));  // Partly cached: from LMDB.
  EXPECT_TRUE(read_matches_lmdb(21, 31, UINT64_MAX));
  // A run starting before the cache (a truncation further back) replaces it.
  append(run(3, 18, 19));
  EXPECT_FALSE(read_matches_lmdb(17, 20, UINT64_MAX));
  EXPECT_TRUE(read_matches_lmdb(18, 20, UINT64_MAX));
}

TEST_F(LmdbLogStorageTest, CacheIsBoundedAndOlderReadsGoToLmdb) {
  const Index n = LmdbLogStorage::kCacheEntries + 100;
  for (Index from = 1; from <= n; from += 1000) append(run(1, from, std::min(n, from + 999), 16));
  EXPECT_FALSE(read_matches_lmdb(1, 101, UINT64_MAX));
  EXPECT_TRUE(read_matches_lmdb(101, n + 1, UINT64_MAX));
  EXPECT_FALSE(read_matches_lmdb(100, 102, UINT64_MAX));
  // Large entries: the byte bound keeps at most kCacheBytes (and one entry).
  const size_t big = 1 << 20;
  const uint64_t fit = LmdbLogStorage::kCacheBytes / big;
  append(run(1, n + 1, n + fit + 4, big));
  EXPECT_FALSE(read_matches_lmdb(n + 1, n + 5, UINT64_MAX));
  EXPECT_TRUE(read_matches_lmdb(n + 5, n + fit + 5, UINT64_MAX));
}

}  // namespace
}  // namespace raft
