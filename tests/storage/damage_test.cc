// Damaged and foreign data dirs: a flipped byte in a log record is a DataLoss
// naming the group and index (at open if it is in the verified tail, on read
// otherwise), a truncated data.mdb is refused naming the file, and a data dir
// or shard from another format version or shard count refuses to open.
#include <lmdb.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "gtest/gtest.h"
#include "storage/lmdb_util.h"
#include "storage/storage.h"
#include "tests/storage/test_util.h"

namespace raft::storage {
namespace {

using testing::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Flips one byte inside every copy of `marker` in the file; returns how many.
int flip_marker(const std::string& path, const std::string& marker) {
  std::string bytes = read_file(path);
  int n = 0;
  for (size_t at = bytes.find(marker); at != std::string::npos; at = bytes.find(marker, at + 1)) {
    bytes[at + marker.size() - 1] ^= 0x20;
    ++n;
  }
  write_file(path, bytes);
  return n;
}

Entry marked(Index index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "MARK-%06llu-", static_cast<unsigned long long>(index));
  std::string payload(buf);
  payload.resize(128, 'p');
  return Entry{1, index, EntryType::kNormal, Slice(payload)};
}

absl::StatusOr<std::unique_ptr<LogEnv>> open_env(const std::string& dir, size_t verify_tail = 10,
                                                 uint32_t shard = 0, uint32_t shards = 1) {
  EnvOptions options;
  options.dir = dir;
  options.shard = shard;
  options.shard_count = shards;
  options.initial_map_bytes = 4 << 20;
  options.verify_tail_entries = verify_tail;
  return LogEnv::open(options);
}

TEST(DamageTest, FlippedPayloadByteIsDataLossNamingGroupAndIndex) {
  TempDir dir;
  const std::string shard = dir.sub("shard-0");
  {
    auto env = open_env(shard);
    ASSERT_TRUE(env.ok()) << env.status();
    std::vector<Entry> entries;
    for (Index i = 1; i <= 100; ++i) entries.push_back(marked(i));
    ASSERT_TRUE((*env)->append(7, entries).ok());
  }
  ASSERT_GE(flip_marker(shard + "/data.mdb", "MARK-000050-"), 1);
  {
    // Index 50 is outside the verified tail (91..100): the env opens and the
    // damage shows on read, never as a crash.
    auto env = open_env(shard);
    ASSERT_TRUE(env.ok()) << env.status();
    auto got = (*env)->entries(7, 40, 60, UINT64_MAX);
    ASSERT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(got.status().message().find("group 7 index 50"), absl::string_view::npos)
        << got.status();
    EXPECT_NE(got.status().message().find("data.mdb"), absl::string_view::npos);
    EXPECT_TRUE((*env)->entries(7, 40, 50, UINT64_MAX).ok());  // The rest reads fine.
    EXPECT_EQ((*env)->verify_group(7).code(), absl::StatusCode::kDataLoss);
  }
  ASSERT_GE(flip_marker(shard + "/data.mdb", "MARK-000099-"), 1);
  auto env = open_env(shard);
  ASSERT_EQ(env.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(env.status().message().find("group 7 index 99"), absl::string_view::npos)
      << env.status();
}

TEST(DamageTest, TruncatedDataFileIsRefusedNamingTheFile) {
  TempDir dir;
  const std::string shard = dir.sub("shard-0");
  {
    auto env = open_env(shard);
    ASSERT_TRUE(env.ok()) << env.status();
    std::vector<Entry> entries;
    for (Index i = 1; i <= 2000; ++i) entries.push_back(marked(i));
    ASSERT_TRUE((*env)->append(1, entries).ok());
  }
  const std::string file = shard + "/data.mdb";
  std::string bytes = read_file(file);
  ASSERT_GT(bytes.size(), 64u * 1024);
  write_file(file, bytes.substr(0, bytes.size() / 2));  // Pages missing at the end.
  auto env = open_env(shard);
  ASSERT_EQ(env.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(env.status().message().find(file), absl::string_view::npos) << env.status();
  EXPECT_NE(env.status().message().find("truncated"), absl::string_view::npos);

  write_file(file, bytes.substr(0, 100));  // Not even the meta pages.
  env = open_env(shard);
  ASSERT_EQ(env.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(env.status().message().find(file), absl::string_view::npos) << env.status();

  write_file(file, std::string(bytes.size(), 'z'));  // Garbage of the right size.
  env = open_env(shard);
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find(file), absl::string_view::npos) << env.status();
}

TEST(DamageTest, ShardOpenedAsAnotherShardOrCountIsRefused) {
  TempDir dir;
  const std::string shard = dir.sub("shard-1");
  ASSERT_TRUE(open_env(shard, 10, 1, 4).ok());
  auto other_count = open_env(shard, 10, 1, 3);
  ASSERT_EQ(other_count.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other_count.status().message().find("shard 1 of 4 shards"), absl::string_view::npos)
      << other_count.status();
  auto other_shard = open_env(shard, 10, 2, 4);
  EXPECT_EQ(other_shard.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(open_env(shard, 10, 1, 4).ok());
}

// Writes, with LMDB directly, the format record of `version` (shard 0 of 1)
// into the env in `shard`, creating the named tables if missing; "info"
// must be among them.
void write_format_record(const std::string& shard, uint32_t version,
                         std::initializer_list<const char*> tables) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, static_cast<MDB_dbi>(tables.size()));
  ASSERT_EQ(mdb_env_open(env, shard.c_str(), 0, 0644), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi info = 0;
  for (const char* name : tables) {
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, name, MDB_CREATE, &dbi), 0) << name;
    if (std::string_view(name) == "info") info = dbi;
  }
  std::string value = encode_format("format", FormatRecord{version, 0, 1});
  MDB_val k = mdb_val("format"), v = mdb_val(value);
  ASSERT_EQ(mdb_put(txn, info, &k, &v, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

TEST(DamageTest, ShardFromAnotherFormatVersionIsRefused) {
  TempDir dir;
  const std::string shard = dir.sub("shard-0");
  ASSERT_TRUE(open_env(shard).ok());
  // Rewrite the format record as a future version would.
  write_format_record(shard, kFormatVersion + 1, {"info"});
  auto env = open_env(shard);
  ASSERT_EQ(env.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(env.status().message().find(absl::StrCat("format version ", kFormatVersion + 1)),
            absl::string_view::npos)
      << env.status();
}

// A version 1 env (one "log" table, before the striped log tables) is refused
// for its version, writable or read-only, and left as it was.
TEST(DamageTest, EnvOfTheOneLogTableLayoutIsRefusedForItsVersion) {
  TempDir dir;
  const std::string shard = dir.sub("shard-0");
  std::filesystem::create_directories(shard);
  write_format_record(shard, 1, {"log", "meta", "info"});
  const std::string before = read_file(shard + "/data.mdb");
  for (bool read_only : {true, false}) {
    EnvOptions options;
    options.dir = shard;
    options.read_only = read_only;
    auto env = LogEnv::open(options);
    ASSERT_EQ(env.status().code(), absl::StatusCode::kFailedPrecondition) << env.status();
    EXPECT_NE(env.status().message().find("format version 1"), absl::string_view::npos)
        << env.status();
  }
  EXPECT_EQ(read_file(shard + "/data.mdb"), before);
}

TEST(DamageTest, DataDirFormatFileChecksVersionAndShardCount) {
  TempDir dir;
  StorageOptions options;
  options.data_dir = dir.sub("data");
  options.shard_count = 2;
  options.env.initial_map_bytes = 4 << 20;
  {
    auto storage = Storage::open(options);
    ASSERT_TRUE(storage.ok()) << storage.status();
    EXPECT_EQ((*storage)->shard_count(), 2u);
    ASSERT_TRUE((*storage)->shard(1).set_hard_state(5, HardState{1, 1, 0}).ok());
  }
  options.shard_count = 3;
  auto wrong_count = Storage::open(options);
  ASSERT_EQ(wrong_count.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong_count.status().message().find("created with 2 shards"), absl::string_view::npos)
      << wrong_count.status();
  options.shard_count = 2;
  {
    auto storage = Storage::open(options);
    ASSERT_TRUE(storage.ok()) << storage.status();
    EXPECT_EQ((*storage)->shard(1).hard_state(5), (HardState{1, 1, 0}));
  }
  const std::string format = options.data_dir + "/FORMAT";
  std::string text = read_file(format);
  const std::string current = absl::StrCat("format_version ", kFormatVersion);
  write_file(format, text.replace(text.find(current), current.size(), "format_version 9"));
  auto wrong_version = Storage::open(options);
  ASSERT_EQ(wrong_version.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong_version.status().message().find("format version 9"), absl::string_view::npos)
      << wrong_version.status();
  std::filesystem::remove(format);
  auto missing = Storage::open(options);
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(missing.status().message().find("FORMAT"), absl::string_view::npos);
}

TEST(DamageTest, CorruptMetaRecordIsDataLoss) {
  TempDir dir;
  const std::string shard = dir.sub("shard-0");
  {
    auto env = open_env(shard);
    ASSERT_TRUE(env.ok());
    ConfState cs;
    cs.voters = {0x4d4d4d4d4d4d4d4d};  // "MMMMMMMM": easy to find in the file.
    ASSERT_TRUE((*env)->set_conf_state(3, cs).ok());
  }
  ASSERT_GE(flip_marker(shard + "/data.mdb", "MMMMMMMM"), 1);
  auto env = open_env(shard);
  ASSERT_EQ(env.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(env.status().message().find("conf state"), absl::string_view::npos) << env.status();
  EXPECT_NE(env.status().message().find("group 3"), absl::string_view::npos) << env.status();
}

}  // namespace
}  // namespace raft::storage
