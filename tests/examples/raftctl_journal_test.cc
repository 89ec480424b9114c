// raftctl describe journal, run as a process on journals written here the
// way a shard writes them (one encoded WriteBatch per record, one pwrite):
// the segments, the first and last sequence, the records per group and
// LMDB's journal mark; a damaged record followed by a valid one, and a dir
// without a journal, are errors that name the file and exit 1.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "storage/journal.h"
#include "storage/journal_batch_codec.h"
#include "storage/log_env.h"
#include "tests/storage/test_util.h"

namespace raft::cli {
namespace {

using storage::WriteBatch;
using storage::testing::make_entries;
using storage::testing::TempDir;

constexpr GroupId kA = 7;
constexpr GroupId kB = 9;

struct CommandResult {
  int status = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

CommandResult raftctl(const std::string& args, const TempDir& scratch) {
  const std::string out = scratch.sub("cmd.out");
  const std::string err = scratch.sub("cmd.err");
  int st = std::system(absl::StrCat(RAFTCTL_BIN, " ", args, " >", out, " 2>", err).c_str());
  CommandResult r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The lines of `text` with their runs of spaces made one space.
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    out.push_back(absl::StrJoin(absl::StrSplit(line, ' ', absl::SkipEmpty()), " "));
  }
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const std::string& l : lines(text)) {
    if (l == line) return true;
  }
  return false;
}

WriteBatch batch_of(const std::vector<GroupId>& groups, Index index, size_t bytes) {
  WriteBatch b;
  for (GroupId g : groups) {
    b.append(g, make_entries(g, index, 1, 1, bytes));
    b.set_hard_state(g, HardState{1, 1, index});
  }
  return b;
}

// Writes `batch` as the shard does: one journal record, one pwrite. Returns
// the write (its seq and offset).
storage::JournalWrite journal_write(storage::Journal& journal, const WriteBatch& batch) {
  std::string record;
  storage::encode_batch(batch, record);
  auto w = journal.prepare(record);
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return {};
  EXPECT_EQ(::pwrite(w->fd, w->data, w->size, static_cast<off_t>(w->offset)),
            static_cast<ssize_t>(w->size));
  journal.written(w->seq);
  return *w;
}

std::unique_ptr<storage::Journal> open_journal(const std::string& dir,
                                               uint64_t segment_bytes = 8192) {
  storage::JournalOptions o;
  o.dir = dir;
  o.segment_bytes = segment_bytes;
  o.segments = 4;
  std::vector<storage::JournalRecord> replay;
  auto j = storage::Journal::open(o, 0, &replay);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? std::move(*j) : nullptr;
}

// Five records of about 1.6 KB, two 4 KiB blocks per 8 KiB segment: seg-0000 holds 1..2,
// seg-0001 3..4, seg-0002 5, seg-0003 nothing. Group 7 is in records 1, 3,
// 4 and 5, group 9 in 2 and 3.
void write_five_records(const std::string& journal_dir) {
  auto j = open_journal(journal_dir);
  ASSERT_NE(j, nullptr);
  const size_t bytes = 1500;
  journal_write(*j, batch_of({kA}, 1, bytes));
  journal_write(*j, batch_of({kB}, 1, bytes));
  journal_write(*j, batch_of({kA, kB}, 2, bytes / 2));
  journal_write(*j, batch_of({kA}, 3, bytes));
  journal_write(*j, batch_of({kA}, 4, bytes));
}

TEST(RaftctlJournal, ShardDirShowsSegmentsSeqsAndRecordsPerGroup) {
  TempDir dir;
  const std::string shard = dir.sub("shard-0");
  write_five_records(shard + "/journal");
  if (HasFatalFailure()) return;

  CommandResult r = raftctl("describe journal " + shard, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "journal " + shard + "/journal, 4 segment(s) of 8192 B")) << r.out;
  EXPECT_TRUE(contains(r.out, "records 1..5 (5)")) << r.out;
  EXPECT_TRUE(contains(r.out, "LMDB journal mark: no LMDB env")) << r.out;
  // SEGMENT FIRST LAST RECORDS BYTES IN LMDB (bytes: the chain's, records of
  // whole 4 KiB blocks).
  std::vector<std::string> rows;
  for (const std::string& l : lines(r.out)) {
    if (l.starts_with("seg-")) rows.push_back(l);
  }
  ASSERT_EQ(rows.size(), 4u) << r.out;
  EXPECT_TRUE(rows[0].starts_with("seg-0000.jnl 1 2 2 ")) << rows[0];
  EXPECT_TRUE(rows[1].starts_with("seg-0001.jnl 3 4 2 ")) << rows[1];
  EXPECT_TRUE(rows[2].starts_with("seg-0002.jnl 5 5 1 ")) << rows[2];
  EXPECT_EQ(rows[3], "seg-0003.jnl - - 0 0 -");
  EXPECT_TRUE(has_line(r.out, "GROUP RECORDS")) << r.out;
  EXPECT_TRUE(has_line(r.out, "7 4")) << r.out;
  EXPECT_TRUE(has_line(r.out, "9 2")) << r.out;

  r = raftctl("describe journal " + shard + " --json", dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out,
                       "\"segment_bytes\":8192,\"first_seq\":1,\"last_seq\":5,\"records\":5,"
                       "\"lmdb_journal_mark\":null"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "{\"file\":\"" + shard +
                                  "/journal/seg-0001.jnl\",\"first_seq\":3,\"last_seq\":4,"
                                  "\"records\":2,"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "\"records_per_group\":[{\"group\":7,\"records\":4},"
                       "{\"group\":9,\"records\":2}]"))
      << r.out;
}

// A node's data dir (shard-N subdirs, as describe logs takes): each shard's
// journal, and LMDB's mark read from the env without replaying anything.
TEST(RaftctlJournal, DataDirShowsEachShardAndLmdbsMark) {
  TempDir dir;
  const std::string shard = dir.sub("shard-0");
  {
    storage::EnvOptions o;
    o.dir = shard;
    o.journal = true;
    o.journal_segment_bytes = 64 << 10;
    o.journal_segments = 2;
    o.initial_map_bytes = 16 << 20;
    auto env = storage::LogEnv::open(o);
    ASSERT_TRUE(env.ok()) << env.status();
    for (Index i = 1; i <= 3; ++i) {
      WriteBatch b = batch_of({kA}, i, 64);
      const uint64_t seq = journal_write(*(*env)->journal(), b).seq;
      if (i == 3) break;  // Journaled only: LMDB never gets it.
      b.set_journal_seq(seq);
      auto id = (*env)->try_submit(b);
      ASSERT_TRUE(id.ok()) << id.status();
      std::vector<storage::Completion> done;
      while (done.empty()) (*env)->drain_completions(done);
      for (const storage::Completion& c : done) ASSERT_TRUE(c.status.ok()) << c.status;
    }
  }
  std::filesystem::create_directories(dir.sub("shard-1"));  // A shard without a journal.

  CommandResult r = raftctl("describe journal " + dir.path(), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "records 1..3 (3); LMDB journal mark: 2 (1 record(s) to replay"))
      << r.out;
  EXPECT_TRUE(has_line(r.out, "seg-0001.jnl - - 0 0 -")) << r.out;
  EXPECT_TRUE(contains(r.out, "shard dir " + dir.sub("shard-1") + ": no journal")) << r.out;
  bool row = false;
  for (const std::string& l : lines(r.out)) {
    if (l.starts_with("seg-0000.jnl 1 3 3 ")) row = l.ends_with(" partly");
  }
  EXPECT_TRUE(row) << r.out;

  r = raftctl("describe journal " + dir.path() + " --json", dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"lmdb_journal_mark\":2,\"to_replay\":1")) << r.out;
  EXPECT_TRUE(contains(r.out, "{\"shard_dir\":\"" + dir.sub("shard-1") + "\",\"journal\":null}"))
      << r.out;

  // Reading changed nothing: the record LMDB lacks is still to replay.
  r = raftctl("describe journal " + shard, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "LMDB journal mark: 2 (1 record(s) to replay")) << r.out;
}

TEST(RaftctlJournal, DamagedRecordBeforeAValidOneIsDataLossNamingTheFile) {
  TempDir dir;
  const std::string journal = dir.sub("shard-0/journal");
  uint64_t damaged_at = 0;
  {
    auto j = open_journal(journal, 16384);  // All three in seg-0000.
    ASSERT_NE(j, nullptr);
    journal_write(*j, batch_of({kA}, 1, 100));
    damaged_at = journal_write(*j, batch_of({kB}, 1, 100)).offset;
    journal_write(*j, batch_of({kA}, 2, 100));
  }
  ASSERT_GT(damaged_at, 0u);
  {
    // One payload byte of record 2 flipped; record 3 after it stays valid.
    const std::string file = journal + "/seg-0000.jnl";
    int fd = ::open(file.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const off_t at = static_cast<off_t>(damaged_at + storage::kJournalHeaderBytes + 20);
    char c = 0;
    ASSERT_EQ(::pread(fd, &c, 1, at), 1);
    c = static_cast<char>(c ^ 0x40);
    ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
    ::close(fd);
  }
  for (const std::string& args :
       {"describe journal " + dir.sub("shard-0"), "describe journal " + dir.path() + " --json"}) {
    CommandResult r = raftctl(args, dir);
    EXPECT_EQ(r.status, 1) << args << "\n" << r.out;
    EXPECT_TRUE(contains(r.err, journal + "/seg-0000.jnl")) << r.err;
    EXPECT_TRUE(contains(r.err, "damaged")) << r.err;
    EXPECT_TRUE(contains(r.err, "DATA_LOSS")) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(RaftctlJournal, NoJournalIsAClearError) {
  TempDir dir;
  CommandResult r = raftctl("describe journal " + dir.sub("nothing-here"), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, dir.sub("nothing-here") + ": no such directory")) << r.err;

  std::filesystem::create_directories(dir.sub("empty"));
  r = raftctl("describe journal " + dir.sub("empty"), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "neither a shard dir")) << r.err;

  std::filesystem::create_directories(dir.sub("node/shard-0"));
  r = raftctl("describe journal " + dir.sub("node"), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "no journal")) << r.err;

  // A journal dir holding something else than segments.
  std::filesystem::create_directories(dir.sub("odd/journal"));
  std::ofstream(dir.sub("odd/journal/notes.txt")) << "hello";
  r = raftctl("describe journal " + dir.sub("odd"), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "notes.txt, which is not a journal segment")) << r.err;

  r = raftctl("describe journal", dir);
  EXPECT_EQ(r.status, 2);
}

}  // namespace
}  // namespace raft::cli
