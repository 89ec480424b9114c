// The journal's records and segments (storage/journal.h) and the batch
// codec: round trips, a torn last record at every byte offset, a flipped
// byte with valid records after it (DataLoss, files untouched), stale
// records of reused segments, a gap between segments, a full journal and
// progress after a checkpoint, a failed write retried at the same place,
// describe_journal, and garbage payloads decoded without a crash.
#include "storage/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/journal_batch_codec.h"
#include "tests/storage/test_util.h"

namespace raft::storage {
namespace {

using testing::make_entries;
using testing::TempDir;

constexpr uint64_t kSegment = 16 << 10;

JournalOptions options(const std::string& dir, uint32_t segments = 3) {
  return JournalOptions{dir, kSegment, segments};
}

std::unique_ptr<Journal> open_ok(const JournalOptions& o, uint64_t covered,
                                 std::vector<JournalRecord>* replay) {
  auto j = Journal::open(o, covered, replay);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? std::move(*j) : nullptr;
}

// Writes a record as the shard would (one pwrite of what prepare returned).
JournalWrite append(Journal& j, const std::string& payload) {
  auto w = j.prepare(payload);
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return {};
  EXPECT_EQ(::pwrite(w->fd, w->data, w->size, static_cast<off_t>(w->offset)),
            static_cast<ssize_t>(w->size));
  j.written(w->seq);
  return *w;
}

std::string payload(uint64_t i, size_t bytes = 100) {
  std::string p = absl::StrCat("record-", i, "-");
  while (p.size() < bytes) p.push_back(static_cast<char>('a' + (i + p.size()) % 26));
  return p;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_at(const std::string& path, uint64_t offset, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

std::string segment(const std::string& dir, int i) {
  char name[32];
  std::snprintf(name, sizeof(name), "/seg-%04d.jnl", i);
  return dir + name;
}

TEST(Journal, CreatesPreallocatedSegmentsAndReplaysWhatWasWritten) {
  TempDir dir;
  const std::string jd = dir.sub("journal");
  {
    auto j = open_ok(options(jd), 0, nullptr);
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(j->segment_count(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(std::filesystem::file_size(segment(jd, i)), kSegment);
    for (uint64_t i = 1; i <= 10; ++i) EXPECT_EQ(append(*j, payload(i)).seq, i);
  }
  std::vector<JournalRecord> replay;
  auto j = open_ok(options(jd), 4, &replay);
  ASSERT_NE(j, nullptr);
  ASSERT_EQ(replay.size(), 6u);
  for (size_t k = 0; k < replay.size(); ++k) {
    EXPECT_EQ(replay[k].seq, 5 + k);
    EXPECT_EQ(replay[k].payload, payload(5 + k));
  }
  EXPECT_EQ(j->next_seq(), 11u);
}

TEST(Journal, ATornLastRecordAtEveryOffsetIsIgnoredAndOverwritten) {
  TempDir dir;
  const std::string jd = dir.sub("journal");
  JournalWrite last;
  {
    auto j = open_ok(options(jd), 0, nullptr);
    for (uint64_t i = 1; i <= 3; ++i) append(*j, payload(i, 200));
    last = append(*j, payload(4, 200));
  }
  const std::string full = file_bytes(segment(jd, 0));
  // The record's header and payload; the rest of its block is zeros anyway.
  const uint64_t meaningful = kJournalHeaderBytes + payload(4, 200).size();
  ASSERT_EQ(last.size, kJournalBlock);
  for (uint64_t cut = 0; cut < meaningful; ++cut) {
    SCOPED_TRACE(absl::StrCat("record 4 torn after ", cut, " bytes"));
    // Bytes past the cut are what was there before: zeros.
    write_at(segment(jd, 0), last.offset,
             full.substr(last.offset, cut) + std::string(last.size - cut, '\0'));
    std::vector<JournalRecord> replay;
    auto j = open_ok(options(jd), 0, &replay);
    ASSERT_NE(j, nullptr);
    ASSERT_EQ(replay.size(), 3u);
    EXPECT_EQ(j->next_seq(), 4u);
    auto w = j->prepare(payload(4, 200));
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w->offset, last.offset);
  }
}

TEST(Journal, AFlippedByteWithValidRecordsAfterItIsDataLossAndTouchesNothing) {
  TempDir dir;
  const std::string jd = dir.sub("journal");
  JournalWrite middle;
  {
    auto j = open_ok(options(jd), 0, nullptr);
    append(*j, payload(1));
    middle = append(*j, payload(2));
    append(*j, payload(3));
  }
  std::string bytes = file_bytes(segment(jd, 0));
  bytes[middle.offset + 40] ^= 0x20;
  write_at(segment(jd, 0), 0, bytes);
  auto j = Journal::open(options(jd), 0, nullptr);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(j.status().message().find(segment(jd, 0)), std::string::npos) << j.status();
  EXPECT_NE(j.status().message().find(absl::StrCat("offset ", middle.offset)), std::string::npos)
      << j.status();
  EXPECT_EQ(file_bytes(segment(jd, 0)), bytes);
}

TEST(Journal, FullUntilACheckpointThenReusesSegmentsAndIgnoresStaleRecords) {
  TempDir dir;
  const std::string jd = dir.sub("journal");
  auto j = open_ok(options(jd, 2), 0, nullptr);
  uint64_t seq = 0;
  // Fill both segments.
  for (;;) {
    auto w = j->prepare(payload(seq + 1, 1000));
    if (!w.ok()) {
      EXPECT_EQ(w.status().code(), absl::StatusCode::kResourceExhausted) << w.status();
      break;
    }
    ASSERT_EQ(::pwrite(w->fd, w->data, w->size, static_cast<off_t>(w->offset)),
              static_cast<ssize_t>(w->size));
    j->written(w->seq);
    seq = w->seq;
  }
  EXPECT_FALSE(j->has_room(1000));
  j->checkpoint(seq);  // LMDB synced everything: segment 0 is free again.
  EXPECT_TRUE(j->has_room(1000));
  const uint64_t first_new = append(*j, payload(seq + 1, 1000)).seq;
  EXPECT_EQ(first_new, seq + 1);
  append(*j, payload(seq + 2, 1000));
  j.reset();
  // Segment 0 now starts with the new records; its older ones are stale.
  std::vector<JournalRecord> replay;
  j = open_ok(options(jd, 2), seq, &replay);
  ASSERT_NE(j, nullptr);
  ASSERT_EQ(replay.size(), 2u);
  EXPECT_EQ(replay[0].seq, seq + 1);
  EXPECT_EQ(replay[1].payload, payload(seq + 2, 1000));
}

TEST(Journal, AGapBetweenSegmentsIsDataLoss) {
  TempDir dir;
  const std::string jd = dir.sub("journal");
  uint64_t seq = 0;
  {
    auto j = open_ok(options(jd, 3), 0, nullptr);
    while (j->free_segments() == 2 || seq < 5) seq = append(*j, payload(seq + 1, 1000)).seq;
    // Now in segment 1; wipe segment 0 (the records 1.. are gone).
  }
  write_at(segment(jd, 0), 0, std::string(kSegment, '\0'));
  auto j = Journal::open(options(jd, 3), 0, nullptr);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kDataLoss) << j.status();
  // With LMDB holding those records, the same journal is fine.
  std::vector<JournalRecord> replay;
  auto ok = Journal::open(options(jd, 3), seq, &replay);
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST(Journal, AFailedWriteIsRetriedWithTheSameSeqAtTheSamePlace) {
  TempDir dir;
  auto j = open_ok(options(dir.sub("journal")), 0, nullptr);
  append(*j, payload(1));
  auto w = j->prepare(payload(2));
  ASSERT_TRUE(w.ok());
  const JournalWrite first = *w;
  j->failed(first.seq);
  auto again = j->prepare(payload(2));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->seq, first.seq);
  EXPECT_EQ(again->offset, first.offset);
  EXPECT_EQ(again->fd, first.fd);
}

TEST(Journal, RefusesAForeignFileAndARecordLargerThanASegment) {
  TempDir dir;
  const std::string jd = dir.sub("journal");
  {
    auto j = open_ok(options(jd), 0, nullptr);
    auto w = j->prepare(std::string(kSegment, 'x'));
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << w.status();
  }
  std::ofstream(jd + "/notes.txt") << "hello";
  auto j = Journal::open(options(jd), 0, nullptr);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("notes.txt"), std::string::npos) << j.status();
}

WriteBatch sample_batch() {
  WriteBatch b;
  StoredSnapshot install;
  install.meta = SnapshotMeta{9, 2, ConfState{{1, 2}, {3}, {4}, {5}, true}};
  install.file_bytes = 123;
  install.file_checksum = 456;
  b.apply_snapshot(1, install);
  b.append(1, make_entries(1, 10, 3, 2));
  b.set_hard_state(1, HardState{2, 1, 11});
  b.set_conf_state(1, ConfState{{1, 2, 3}, {}, {}, {}, false});
  b.append(2, make_entries(2, 5, 2, 7));
  b.group(2).entries[1].type = EntryType::kConfChange;
  StoredSnapshot save;
  save.meta = SnapshotMeta{6, 7, ConfState{{1}, {}, {}, {}, false}};
  b.save_snapshot(2, save);
  b.compact(2, 5);
  return b;
}

TEST(JournalBatchCodec, RoundTripsEveryField) {
  const WriteBatch b = sample_batch();
  std::string bytes;
  encode_batch(b, bytes);
  auto d = decode_batch(bytes);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->groups().size(), b.groups().size());
  for (size_t i = 0; i < b.groups().size(); ++i) {
    const GroupWrite& x = b.groups()[i];
    const GroupWrite& y = d->groups()[i];
    EXPECT_EQ(x.group, y.group);
    EXPECT_EQ(x.apply_snapshot, y.apply_snapshot);
    EXPECT_EQ(x.entries, y.entries);
    EXPECT_EQ(x.hard_state, y.hard_state);
    EXPECT_EQ(x.conf_state, y.conf_state);
    EXPECT_EQ(x.save_snapshot, y.save_snapshot);
    EXPECT_EQ(x.compact_to, y.compact_to);
  }
  EXPECT_EQ(d->entry_count(), b.entry_count());
}

TEST(JournalBatchCodec, TruncationsAndGarbageAreRefusedWithoutACrash) {
  std::string bytes;
  encode_batch(sample_batch(), bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_batch(bytes.substr(0, n)).ok()) << "truncated to " << n;
  }
  const uint64_t seed = 20261202;
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 2000; ++round) {
    std::string g = bytes;
    for (int k = 0; k < 4; ++k) g[rng() % g.size()] = static_cast<char>(rng());
    (void)decode_batch(g);  // Any answer, no crash (ASan checks the reads).
    std::string r(rng() % 300, '\0');
    for (char& c : r) c = static_cast<char>(rng());
    (void)decode_batch(r);
  }
}

TEST(JournalDescribe, CountsSegmentsSeqsAndRecordsPerGroup) {
  TempDir dir;
  const std::string jd = dir.sub("journal");
  {
    auto j = open_ok(options(jd), 0, nullptr);
    std::string bytes;
    encode_batch(sample_batch(), bytes);
    for (int i = 0; i < 3; ++i) append(*j, bytes);
  }
  auto d = describe_journal(jd);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->segments.size(), 3u);
  EXPECT_EQ(d->first_seq, 1u);
  EXPECT_EQ(d->last_seq, 3u);
  EXPECT_EQ(d->segments[0].records, 3u);
  EXPECT_EQ(d->records_per_group.at(1), 3u);
  EXPECT_EQ(d->records_per_group.at(2), 3u);
}

// A journal whose segments were reused no longer holds record 1: describe
// starts from its oldest record (raftctl found it refusing such journals).
TEST(JournalDescribe, AReusedJournalStartsAtItsOldestRecord) {
  TempDir dir;
  const std::string jd = dir.sub("journal");
  std::string bytes;
  encode_batch(sample_batch(), bytes);
  uint64_t last = 0;
  {
    JournalOptions o = options(jd, 2);
    auto j = open_ok(o, 0, nullptr);
    ASSERT_NE(j, nullptr);
    // Enough records to wrap both segments several times.
    const uint64_t per_segment = o.segment_bytes / (bytes.size() + kJournalHeaderBytes + 8);
    for (uint64_t i = 0; i < per_segment * 5; ++i) {
      last = append(*j, bytes).seq;
      j->checkpoint(last - 1);
    }
  }
  auto d = describe_journal(jd);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_GT(d->first_seq, 1u);
  EXPECT_EQ(d->last_seq, last);
  uint64_t records = 0;
  for (const auto& s : d->segments) records += s.records;
  EXPECT_EQ(records, d->last_seq - d->first_seq + 1);
}

}  // namespace
}  // namespace raft::storage
