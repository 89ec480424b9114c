// Snapshot files: written in chunks, made durable and renamed into place,
// read back in chunks with the whole-file checksum checked; an unfinished
// file never appears under its final name; a damaged file is DataLoss; the
// env removes a group's older snapshot once the newer one's record is
// durable, and stray temporaries when it opens.
#include "storage/snapshot_file.h"

#include <filesystem>
#include <fstream>

#include "common/checksum.h"
#include "gtest/gtest.h"
#include "storage/log_env.h"
#include "tests/storage/test_util.h"

namespace raft::storage {
namespace {

using testing::make_entries;
using testing::TempDir;

std::string pattern_bytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s[i] = static_cast<char>(x);
  }
  return s;
}

absl::StatusOr<SnapshotFileInfo> write_snapshot(const std::string& dir, GroupId group, Index index,
                                                Term term, const std::string& bytes, size_t chunk) {
  auto w = SnapshotFileWriter::create(dir, group, index, term);
  if (!w.ok()) return w.status();
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    if (auto s = (*w)->write(std::string_view(bytes).substr(at, chunk)); !s.ok()) return s;
  }
  return (*w)->finish();
}

TEST(SnapshotFileTest, WriteInChunksReadBackInChunks) {
  TempDir dir;
  const std::string bytes = pattern_bytes(3'000'001, 1);
  auto info = write_snapshot(dir.path(), 4, 100, 3, bytes, 64 << 10);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->path, snapshot_file_path(dir.path(), 4, 100, 3));
  EXPECT_EQ(info->bytes, bytes.size());
  EXPECT_EQ(info->checksum, checksum64(bytes));
  auto reader = SnapshotFileReader::open(info->path, info->bytes, info->checksum);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::string back;
  while (!(*reader)->done()) {
    auto chunk = (*reader)->next_chunk(100'000);
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    ASSERT_LE(chunk->size(), 100'000u);
    back += *chunk;
  }
  EXPECT_EQ(back, bytes);
  auto end = (*reader)->next_chunk(10);
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end->empty());
  auto files = list_snapshot_files(dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].group, 4u);
  EXPECT_EQ(files[0].index, 100u);
  EXPECT_EQ(files[0].term, 3u);
  EXPECT_FALSE(files[0].temporary);
}

TEST(SnapshotFileTest, EmptySnapshotRoundTrips) {
  TempDir dir;
  auto info = write_snapshot(dir.path(), 1, 1, 1, "", 10);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(verify_snapshot_file(info->path, 0, info->checksum).ok());
}

TEST(SnapshotFileTest, UnfinishedWriterLeavesNothing) {
  TempDir dir;
  {
    auto w = SnapshotFileWriter::create(dir.path(), 1, 10, 1);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write("partial").ok());
    auto files = list_snapshot_files(dir.path());
    ASSERT_EQ(files.size(), 1u);
    EXPECT_TRUE(files[0].temporary);
  }
  EXPECT_TRUE(list_snapshot_files(dir.path()).empty());
}

TEST(SnapshotFileTest, DamagedFileIsDataLoss) {
  TempDir dir;
  const std::string bytes = pattern_bytes(200'000, 2);
  auto info = write_snapshot(dir.path(), 1, 10, 1, bytes, 4096);
  ASSERT_TRUE(info.ok());
  {
    std::fstream f(info->path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(123'456);
    f.put(static_cast<char>(bytes[123'456] ^ 1));
  }
  auto s = verify_snapshot_file(info->path, info->bytes, info->checksum);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(info->path), absl::string_view::npos) << s;
  auto wrong_size = SnapshotFileReader::open(info->path, info->bytes + 1, info->checksum);
  EXPECT_EQ(wrong_size.status().code(), absl::StatusCode::kDataLoss);
}

TEST(SnapshotFileTest, NamesParseAndForeignFilesAreIgnored) {
  auto p = parse_snapshot_file_name("snap-00000000000000ff-0000000000000010-0000000000000002.snap");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->group, 255u);
  EXPECT_EQ(p->index, 16u);
  EXPECT_EQ(p->term, 2u);
  EXPECT_FALSE(parse_snapshot_file_name("snap-xyz.snap").has_value());
  EXPECT_FALSE(parse_snapshot_file_name("data.mdb").has_value());
}

// The env keeps exactly the snapshot its durable record names: an older file
// goes once the newer record commits, temporaries go on open.
TEST(SnapshotFileTest, EnvReplacesOlderSnapshotOnceNewerIsDurable) {
  TempDir dir;
  EnvOptions options;
  options.dir = dir.sub("shard-0");
  options.initial_map_bytes = 4 << 20;
  auto opened = LogEnv::open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<LogEnv> env = std::move(*opened);
  ASSERT_TRUE(env->append(1, make_entries(1, 1, 30, 2)).ok());
  ASSERT_TRUE(env->append(2, make_entries(2, 1, 30, 2)).ok());
  const std::string snaps = env->snapshot_dir();

  auto save = [&](GroupId group, Index index, const std::string& bytes) {
    auto info = write_snapshot(snaps, group, index, 2, bytes, 1000);
    ASSERT_TRUE(info.ok()) << info.status();
    StoredSnapshot s;
    s.meta.index = index;
    s.meta.term = 2;
    s.file_bytes = info->bytes;
    s.file_checksum = info->checksum;
    ASSERT_TRUE(env->save_snapshot(group, s).ok());
  };
  save(1, 10, pattern_bytes(5000, 10));
  save(2, 12, pattern_bytes(5000, 12));
  // A newer file alone does not replace the old one: its record is not durable.
  ASSERT_TRUE(write_snapshot(snaps, 1, 20, 2, pattern_bytes(7000, 20), 1000).ok());
  EXPECT_EQ(list_snapshot_files(snaps).size(), 3u);
  // A newer snapshot still being received (a temporary above the saved
  // index) survives the save; one at or below it goes.
  auto receiving = SnapshotFileWriter::create(snaps, 1, 30, 2);
  ASSERT_TRUE(receiving.ok());
  ASSERT_TRUE((*receiving)->write("first chunk").ok());
  auto stale = SnapshotFileWriter::create(snaps, 1, 15, 2);
  ASSERT_TRUE(stale.ok());
  save(1, 20, pattern_bytes(7000, 20));
  auto with_tmp = list_snapshot_files(snaps);
  ASSERT_EQ(with_tmp.size(), 3u);
  EXPECT_TRUE(with_tmp[1].temporary && with_tmp[1].index == 30u) << with_tmp[1].path;
  receiving->reset();
  stale->reset();
  ::unlink(with_tmp[1].path.c_str());
  auto files = list_snapshot_files(snaps);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].group, 1u);
  EXPECT_EQ(files[0].index, 20u);
  EXPECT_EQ(files[1].group, 2u);  // Other groups keep theirs.
  auto snap = env->snapshot(1);
  ASSERT_TRUE(snap.has_value());
  EXPECT_TRUE(verify_snapshot_file(files[0].path, snap->file_bytes, snap->file_checksum).ok());

  // A crash mid-write leaves a temporary; the next open removes it.
  auto w = SnapshotFileWriter::create(snaps, 2, 25, 2);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write("half").ok());
  std::filesystem::copy_file(
      snaps + "/snap-0000000000000002-0000000000000019-0000000000000002.tmp",
      snaps + "/snap-0000000000000002-000000000000001a-0000000000000002.tmp");
  w->reset();
  env.reset();
  opened = LogEnv::open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  files = list_snapshot_files(snaps);
  ASSERT_EQ(files.size(), 2u);
  for (const auto& f : files) EXPECT_FALSE(f.temporary);
  EXPECT_EQ((*opened)->snapshot(1)->meta.index, 20u);
}

}  // namespace
}  // namespace raft::storage
