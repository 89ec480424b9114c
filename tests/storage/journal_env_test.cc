// LogEnv with the journal in front (EnvOptions::journal): batches written
// only to the journal are in LMDB after a reopen (replay), in order, once;
// the journal mark in LMDB decides what is replayed; a replayed snapshot
// install does not bring back what it replaced; a journaled dir is refused
// without the journal; synchronous writes stay durable.
#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include "gtest/gtest.h"
#include "storage/journal.h"
#include "storage/journal_batch_codec.h"
#include "storage/log_env.h"
#include "tests/storage/test_util.h"

namespace raft::storage {
namespace {

using testing::make_entries;
using testing::TempDir;

constexpr GroupId kGroup = 7;

EnvOptions journal_options(const std::string& dir) {
  EnvOptions o;
  o.dir = dir;
  o.journal = true;
  o.journal_segment_bytes = 256 << 10;
  o.journal_segments = 3;
  o.initial_map_bytes = 16 << 20;
  return o;
}

// Writes `batch` as the shard does: one journal record, one pwrite.
uint64_t journal_write(LogEnv& env, const WriteBatch& batch) {
  std::string record;
  encode_batch(batch, record);
  auto w = env.journal()->prepare(record);
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return 0;
  EXPECT_EQ(::pwrite(w->fd, w->data, w->size, static_cast<off_t>(w->offset)),
            static_cast<ssize_t>(w->size));
  env.journal()->written(w->seq);
  return w->seq;
}

// Hands a journaled batch to LMDB and waits for its completion.
void commit_behind(LogEnv& env, WriteBatch batch, uint64_t seq) {
  batch.set_journal_seq(seq);
  auto id = env.try_submit(batch);
  ASSERT_TRUE(id.ok()) << id.status();
  std::vector<Completion> done;
  while (done.empty()) env.drain_completions(done);  // The writer answers soon.
  for (const Completion& c : done) ASSERT_TRUE(c.status.ok()) << c.status;
}

TEST(JournalEnv, BatchesOnlyInTheJournalAreInLmdbAfterReopen) {
  TempDir dir;
  {
    auto env = LogEnv::open(journal_options(dir.path()));
    ASSERT_TRUE(env.ok()) << env.status();
    WriteBatch a;
    a.append(kGroup, make_entries(kGroup, 1, 10, 1));
    a.set_hard_state(kGroup, HardState{1, 2, 5});
    commit_behind(**env, a, journal_write(**env, a));
    WriteBatch b;  // Journaled, never handed to LMDB: a crash right after.
    b.append(kGroup, make_entries(kGroup, 11, 5, 2));
    b.set_hard_state(kGroup, HardState{2, 3, 12});
    journal_write(**env, b);
    EXPECT_EQ((*env)->last_index(kGroup), 10u);
  }
  auto env = LogEnv::open(journal_options(dir.path()));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ((*env)->stats().journal_replayed, 1u);
  EXPECT_EQ((*env)->last_index(kGroup), 15u);
  EXPECT_EQ((*env)->hard_state(kGroup), (HardState{2, 3, 12}));
  auto e = (*env)->entries(kGroup, 1, 16, UINT64_MAX);
  ASSERT_TRUE(e.ok()) << e.status();
  std::vector<Entry> want = make_entries(kGroup, 1, 10, 1);
  for (const Entry& x : make_entries(kGroup, 11, 5, 2)) want.push_back(x);
  EXPECT_EQ(*e, want);
  EXPECT_NE((*env)->lmdb_flags() & MDB_NOMETASYNC, 0u);
  // Replayed once: a second reopen replays nothing.
  env->reset();
  env = LogEnv::open(journal_options(dir.path()));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ((*env)->stats().journal_replayed, 0u);
  EXPECT_EQ((*env)->last_index(kGroup), 15u);
}

TEST(JournalEnv, ReplayTruncatesASuffixAsTheLogDoes) {
  TempDir dir;
  {
    auto env = LogEnv::open(journal_options(dir.path()));
    ASSERT_TRUE(env.ok()) << env.status();
    WriteBatch a;
    a.append(kGroup, make_entries(kGroup, 1, 20, 1));
    journal_write(**env, a);
    WriteBatch b;  // A new leader's entries replace 11..20.
    b.append(kGroup, make_entries(kGroup, 11, 3, 2));
    journal_write(**env, b);
  }
  auto env = LogEnv::open(journal_options(dir.path()));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ((*env)->last_index(kGroup), 13u);
  EXPECT_EQ(*(*env)->term(kGroup, 13), 2u);
  EXPECT_EQ(*(*env)->term(kGroup, 10), 1u);
}

TEST(JournalEnv, ReplayedInstallDoesNotResurrectWhatItReplaced) {
  TempDir dir;
  StoredSnapshot snap;
  snap.meta.index = 30;
  snap.meta.term = 3;
  snap.meta.conf_state.voters = {1, 2, 3};
  {
    auto env = LogEnv::open(journal_options(dir.path()));
    ASSERT_TRUE(env.ok()) << env.status();
    WriteBatch a;
    a.append(kGroup, make_entries(kGroup, 1, 20, 1));
    commit_behind(**env, a, journal_write(**env, a));
    WriteBatch b;
    b.apply_snapshot(kGroup, snap);
    b.append(kGroup, make_entries(kGroup, 31, 2, 3));
    journal_write(**env, b);
  }
  auto env = LogEnv::open(journal_options(dir.path()));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ((*env)->first_index(kGroup), 31u);
  EXPECT_EQ((*env)->last_index(kGroup), 32u);
  ASSERT_TRUE((*env)->snapshot(kGroup).has_value());
  EXPECT_EQ((*env)->snapshot(kGroup)->meta.index, 30u);
  EXPECT_FALSE((*env)->entries(kGroup, 10, 11, UINT64_MAX).ok());
}

// The journal mark is the last write of a commit: a full map there grows
// the map and retries like any other write (the power-cut test found it
// failing the commit instead).
TEST(JournalEnv, AFullMapAtTheJournalMarkGrowsTheMap) {
  TempDir dir;
  EnvOptions o = journal_options(dir.path());
  o.initial_map_bytes = 64 << 10;
  auto env = LogEnv::open(o);
  ASSERT_TRUE(env.ok()) << env.status();
  Index next = 1;
  for (int i = 0; i < 200; ++i) {
    WriteBatch b;
    b.append(kGroup, make_entries(kGroup, next, 4, 1, 200));
    next += 4;
    b.set_hard_state(kGroup, HardState{1, 2, next - 1});
    commit_behind(**env, b, journal_write(**env, b));
    if ((*env)->synced_journal_seq() > (*env)->journal()->checkpoint_seq()) {
      (*env)->journal()->checkpoint((*env)->synced_journal_seq());
    }
  }
  EXPECT_EQ((*env)->last_index(kGroup), next - 1);
  EXPECT_GT((*env)->stats().map_bytes, uint64_t{64} << 10);
}

TEST(JournalEnv, AJournaledDirIsRefusedWithoutTheJournal) {
  TempDir dir;
  { ASSERT_TRUE(LogEnv::open(journal_options(dir.path())).ok()); }
  EnvOptions plain;
  plain.dir = dir.path();
  plain.initial_map_bytes = 16 << 20;
  auto env = LogEnv::open(plain);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().code(), absl::StatusCode::kFailedPrecondition) << env.status();
  EXPECT_NE(env.status().message().find("journal"), std::string::npos) << env.status();
}

TEST(JournalEnv, SyncedSequenceFollowsTheWriterAndFreesSegments) {
  TempDir dir;
  auto env = LogEnv::open(journal_options(dir.path()));
  ASSERT_TRUE(env.ok()) << env.status();
  uint64_t last = 0;
  for (Index i = 1; i <= 200; i += 10) {
    WriteBatch b;
    b.append(kGroup, make_entries(kGroup, i, 10, 1, 2000));
    last = journal_write(**env, b);
    commit_behind(**env, b, last);
  }
  // The writer forces a sync after the last commit of a burst.
  EXPECT_EQ((*env)->synced_journal_seq(), last);
  EXPECT_GE((*env)->stats().forced_syncs, 1u);
  (*env)->journal()->checkpoint((*env)->synced_journal_seq());
  EXPECT_EQ((*env)->journal()->checkpoint_seq(), last);
}

TEST(JournalEnv, SynchronousWritesAreDurableWithoutTheJournal) {
  TempDir dir;
  {
    auto env = LogEnv::open(journal_options(dir.path()));
    ASSERT_TRUE(env.ok()) << env.status();
    ASSERT_TRUE((*env)->append(kGroup, make_entries(kGroup, 1, 3, 1)).ok());
  }
  auto env = LogEnv::open(journal_options(dir.path()));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ((*env)->last_index(kGroup), 3u);
}

}  // namespace
}  // namespace raft::storage
