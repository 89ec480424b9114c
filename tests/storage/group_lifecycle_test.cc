// Groups created and removed at runtime (GroupWrite::create / remove): the
// journal record carries both flags; a created group is listed as hosted
// after a reopen; a removal deletes every record of the group (entries,
// garbage, meta records, snapshot files) and leaves a tombstone that refuses
// later writes and a second creation; journal replay applies a removal in
// order, so entries journaled before it are not resurrected, and a removal
// only in the journal (a crash before LMDB had it) is still complete after
// the reopen.
#include <fcntl.h>
#include <lmdb.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "gtest/gtest.h"
#include "storage/format.h"
#include "storage/journal.h"
#include "storage/journal_batch_codec.h"
#include "storage/log_env.h"
#include "storage/snapshot_file.h"
#include "storage/state_rules.h"
#include "tests/storage/test_util.h"

namespace raft::storage {
namespace {

using testing::make_entries;
using testing::TempDir;

constexpr GroupId kDoomed = 7;
constexpr GroupId kOther = 23;  // Same log stripe (7 % 16 == 23 % 16).

EnvOptions lifecycle_options(const std::string& dir) {
  EnvOptions o;
  o.dir = dir;
  o.journal = true;
  o.journal_segment_bytes = 256 << 10;
  o.journal_segments = 3;
  o.initial_map_bytes = 16 << 20;
  o.compacted_records_per_commit = 0;  // Compacted records stay behind as garbage.
  return o;
}

uint64_t write_to_journal(LogEnv& env, const WriteBatch& batch) {
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

absl::Status commit_after_journal(LogEnv& env, WriteBatch batch, uint64_t seq) {
  batch.set_journal_seq(seq);
  auto id = env.try_submit(batch);
  if (!id.ok()) return id.status();
  std::vector<Completion> done;
  while (done.empty()) env.drain_completions(done);
  for (const Completion& c : done) {
    if (!c.status.ok()) return c.status;
  }
  return absl::OkStatus();
}

// Every record of `group` in the env's LMDB file (log and meta tables),
// read with LMDB directly: (log records, meta kinds).
std::pair<size_t, std::vector<int>> raw_records(const std::string& dir, GroupId group) {
  MDB_env* env = nullptr;
  EXPECT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 32);
  mdb_env_set_mapsize(env, size_t{1} << 30);
  EXPECT_EQ(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644), 0);
  MDB_txn* txn = nullptr;
  EXPECT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
  size_t logs = 0;
  std::vector<int> metas;
  MDB_dbi log_dbi, meta_dbi;
  EXPECT_EQ(mdb_dbi_open(txn, log_table_name(log_stripe(group)).c_str(), 0, &log_dbi), 0);
  EXPECT_EQ(mdb_dbi_open(txn, "meta", 0, &meta_dbi), 0);
  MDB_cursor* c = nullptr;
  MDB_val k, v;
  EXPECT_EQ(mdb_cursor_open(txn, log_dbi, &c), 0);
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (log_key_group(std::string_view(static_cast<char*>(k.mv_data), k.mv_size)) == group) {
      ++logs;
    }
  }
  mdb_cursor_close(c);
  EXPECT_EQ(mdb_cursor_open(txn, meta_dbi, &c), 0);
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    char buf[kMetaKeyBytes];
    encode_meta_key(group, MetaKind::kHardState, buf);
    if (k.mv_size == kMetaKeyBytes && std::memcmp(k.mv_data, buf, 8) == 0) {
      metas.push_back(static_cast<const char*>(k.mv_data)[8]);
    }
  }
  mdb_cursor_close(c);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return {logs, metas};
}

// A group with entries, compacted garbage, hard and conf state, a snapshot
// record and its file.
void fill_group(LogEnv& env, GroupId group) {
  WriteBatch a;
  a.create_group(group);
  a.append(group, make_entries(group, 1, 40, 1));
  a.set_hard_state(group, HardState{1, 1, 30});
  a.set_conf_state(group, ConfState{{1, 2, 3}, {}, {}, {}, false});
  ASSERT_TRUE(env.write(a).ok());
  auto w = SnapshotFileWriter::create(env.snapshot_dir(), group, 30, 1);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->write("image").ok());
  auto info = (*w)->finish();
  ASSERT_TRUE(info.ok()) << info.status();
  StoredSnapshot snap;
  snap.meta.index = 30;
  snap.meta.term = 1;
  snap.meta.conf_state.voters = {1, 2, 3};
  snap.file_bytes = info->bytes;
  snap.file_checksum = info->checksum;
  WriteBatch b;
  b.save_snapshot(group, snap);
  b.compact(group, 25);
  ASSERT_TRUE(env.write(b).ok());
}

size_t snapshot_files_of(const std::string& dir, GroupId group) {
  size_t n = 0;
  for (const auto& f : list_snapshot_files(dir)) n += f.group == group ? 1 : 0;
  return n;
}

TEST(GroupLifecycle, JournalRecordRoundTripsCreateAndRemove) {
  WriteBatch b;
  b.create_group(5);
  b.append(5, make_entries(5, 1, 2, 1));
  b.remove_group(9);
  b.set_hard_state(11, HardState{1, 2, 3});
  std::string out;
  encode_batch(b, out);
  auto d = decode_batch(out);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->groups().size(), 3u);
  EXPECT_TRUE(d->groups()[0].create);
  EXPECT_FALSE(d->groups()[0].remove);
  EXPECT_EQ(d->groups()[0].entries.size(), 2u);
  EXPECT_TRUE(d->groups()[1].remove);
  EXPECT_FALSE(d->groups()[1].create);
  EXPECT_FALSE(d->groups()[2].create || d->groups()[2].remove);
  // A flag this build does not know is refused.
  std::string bad = out;
  bad[4 + 8] = static_cast<char>(0x80);
  EXPECT_FALSE(decode_batch(bad).ok());
}

TEST(GroupLifecycle, RemoveGroupDropsTheBatchsOtherWrites) {
  WriteBatch b;
  b.create_group(5);
  b.append(5, make_entries(5, 1, 3, 1));
  b.set_hard_state(5, HardState{1, 0, 3});
  b.remove_group(5);
  EXPECT_EQ(b.entry_count(), 0u);
  EXPECT_EQ(b.payload_bytes(), 0u);
  const GroupWrite& w = b.groups()[0];
  EXPECT_TRUE(w.remove && w.create);
  EXPECT_TRUE(w.entries.empty());
  EXPECT_FALSE(w.hard_state);
  // Split: creation with the first part, removal with the last.
  WriteBatch big;
  big.create_group(6);
  big.append(6, make_entries(6, 1, 50, 1, 1000));
  big.group(6).remove = true;
  auto parts = split_batch(std::move(big), 8000);
  ASSERT_GT(parts.size(), 1u);
  EXPECT_TRUE(parts.front().groups()[0].create);
  EXPECT_FALSE(parts.front().groups()[0].remove);
  EXPECT_TRUE(parts.back().groups()[0].remove);
  EXPECT_FALSE(parts.back().groups()[0].create);
}

TEST(GroupLifecycle, StateRulesRefuseWritesToARemovedGroup) {
  GroupState s;
  WriteBatch b;
  b.create_group(3);
  b.append(3, make_entries(3, 1, 2, 1));
  ASSERT_TRUE(apply_to_state(b.groups()[0], s).ok());
  EXPECT_EQ(s.lifecycle, GroupLifecycle::kHosted);
  EXPECT_EQ(s.last_index, 2u);
  WriteBatch r;
  r.remove_group(3);
  ASSERT_TRUE(apply_to_state(r.groups()[0], s).ok());
  EXPECT_TRUE(s.removed());
  EXPECT_EQ(s.last_index, 0u);
  ASSERT_TRUE(apply_to_state(r.groups()[0], s).ok());  // Again: a no-op.
  WriteBatch again;
  again.append(3, make_entries(3, 1, 1, 1));
  EXPECT_EQ(apply_to_state(again.groups()[0], s).code(), absl::StatusCode::kFailedPrecondition);
  WriteBatch create;
  create.create_group(3);
  EXPECT_EQ(apply_to_state(create.groups()[0], s).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(GroupLifecycle, CreatedGroupIsHostedAfterReopen) {
  TempDir dir;
  {
    auto env = LogEnv::open(lifecycle_options(dir.path()));
    ASSERT_TRUE(env.ok()) << env.status();
    WriteBatch b;  // An empty group (a joiner's): only the record.
    b.create_group(kDoomed);
    ASSERT_TRUE((*env)->write(b).ok());
    WriteBatch c;  // Through the journal, never committed to LMDB before the "crash".
    c.create_group(kOther);
    c.append(kOther, make_entries(kOther, 1, 3, 1));
    write_to_journal(**env, c);
    EXPECT_EQ((*env)->hosted_groups(), std::vector<GroupId>{kDoomed});
  }
  auto env = LogEnv::open(lifecycle_options(dir.path()));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ((*env)->hosted_groups(), (std::vector<GroupId>{kDoomed, kOther}));
  EXPECT_TRUE((*env)->removed_groups().empty());
  EXPECT_EQ((*env)->last_index(kOther), 3u);
  EXPECT_EQ((*env)->last_index(kDoomed), 0u);
}

TEST(GroupLifecycle, RemovalDeletesEveryRecordAndFileAndLeavesATombstone) {
  TempDir dir;
  {
    auto env = LogEnv::open(lifecycle_options(dir.path()));
    ASSERT_TRUE(env.ok()) << env.status();
    fill_group(**env, kDoomed);
    fill_group(**env, kOther);
    EXPECT_NE((*env)->group_state(kDoomed).garbage_first, 0u);  // Garbage left behind.
    EXPECT_EQ(snapshot_files_of((*env)->snapshot_dir(), kDoomed), 1u);
    WriteBatch r;
    r.remove_group(kDoomed);
    r.set_hard_state(kOther, HardState{2, 2, 30});
    ASSERT_TRUE((*env)->write(r).ok());
    EXPECT_TRUE((*env)->group_state(kDoomed).removed());
    EXPECT_EQ(snapshot_files_of((*env)->snapshot_dir(), kDoomed), 0u);
    EXPECT_EQ(snapshot_files_of((*env)->snapshot_dir(), kOther), 1u);
    // Nothing more may be written to it, nor may it be created again.
    WriteBatch late;
    late.append(kDoomed, make_entries(kDoomed, 1, 1, 1));
    EXPECT_EQ((*env)->write(late).code(), absl::StatusCode::kFailedPrecondition);
    WriteBatch recreate;
    recreate.create_group(kDoomed);
    EXPECT_EQ((*env)->write(recreate).code(), absl::StatusCode::kFailedPrecondition);
  }
  auto [logs, metas] = raw_records(dir.path(), kDoomed);
  EXPECT_EQ(logs, 0u);
  EXPECT_EQ(metas, std::vector<int>{static_cast<int>(MetaKind::kLifecycle)});
  auto [other_logs, other_metas] = raw_records(dir.path(), kOther);
  EXPECT_GT(other_logs, 0u);
  auto env = LogEnv::open(lifecycle_options(dir.path()));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ((*env)->removed_groups(), std::vector<GroupId>{kDoomed});
  EXPECT_EQ((*env)->hosted_groups(), std::vector<GroupId>{kOther});
  EXPECT_EQ((*env)->group_state(kDoomed).last_index, 0u);
  EXPECT_FALSE((*env)->snapshot(kDoomed));
  EXPECT_EQ((*env)->last_index(kOther), 40u);
  EXPECT_EQ((*env)->hard_state(kOther), (HardState{2, 2, 30}));
}

// Entries, then the removal in a later batch, both only in the journal (a
// crash before LMDB had either): after the reopen the group is removed and
// none of its entries came back; the snapshot file LMDB named goes too.
TEST(GroupLifecycle, ReplayedRemovalAfterEntriesLeavesNothing) {
  TempDir dir;
  {
    auto env = LogEnv::open(lifecycle_options(dir.path()));
    ASSERT_TRUE(env.ok()) << env.status();
    fill_group(**env, kDoomed);
    WriteBatch a;
    a.append(kDoomed, make_entries(kDoomed, 41, 5, 2));
    a.append(kOther, make_entries(kOther, 1, 5, 1));
    write_to_journal(**env, a);
    WriteBatch b;
    b.remove_group(kDoomed);
    write_to_journal(**env, b);
    EXPECT_EQ((*env)->last_index(kDoomed), 40u);  // LMDB has neither.
  }
  EXPECT_EQ(snapshot_files_of(dir.path() + "/snapshots", kDoomed), 1u);
  {
    auto env = LogEnv::open(lifecycle_options(dir.path()));
    ASSERT_TRUE(env.ok()) << env.status();
    EXPECT_EQ((*env)->stats().journal_replayed, 2u);
    EXPECT_EQ((*env)->removed_groups(), std::vector<GroupId>{kDoomed});
    EXPECT_EQ((*env)->last_index(kOther), 5u);
    EXPECT_EQ(snapshot_files_of((*env)->snapshot_dir(), kDoomed), 0u);
  }
  auto [logs, metas] = raw_records(dir.path(), kDoomed);
  EXPECT_EQ(logs, 0u);
  EXPECT_EQ(metas.size(), 1u);
}

// The removal journaled and committed, then entries of an earlier record
// that LMDB lacked cannot come back: LMDB's mark is past them.
TEST(GroupLifecycle, RemovalCommittedBehindTheJournalStaysAfterReopen) {
  TempDir dir;
  {
    auto env = LogEnv::open(lifecycle_options(dir.path()));
    ASSERT_TRUE(env.ok()) << env.status();
    WriteBatch a;
    a.create_group(kDoomed);
    a.append(kDoomed, make_entries(kDoomed, 1, 10, 1));
    const uint64_t sa = write_to_journal(**env, a);
    WriteBatch b;
    b.remove_group(kDoomed);
    const uint64_t sb = write_to_journal(**env, b);
    ASSERT_TRUE(commit_after_journal(**env, a, sa).ok());
    ASSERT_TRUE(commit_after_journal(**env, b, sb).ok());
    EXPECT_TRUE((*env)->group_state(kDoomed).removed());
    // A batch of the removed group behind the removal fails.
    WriteBatch c;
    c.append(kDoomed, make_entries(kDoomed, 1, 1, 1));
    EXPECT_EQ(commit_after_journal(**env, c, 0).code(), absl::StatusCode::kFailedPrecondition);
  }
  auto env = LogEnv::open(lifecycle_options(dir.path()));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_TRUE((*env)->group_state(kDoomed).removed());
  EXPECT_EQ((*env)->last_index(kDoomed), 0u);
  EXPECT_TRUE((*env)->hosted_groups().empty());
}

}  // namespace
}  // namespace raft::storage
