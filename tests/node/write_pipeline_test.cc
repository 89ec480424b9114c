// WritePipeline, the shard's log writer over its journal and LMDB: a batch
// larger than the whole journal is written in parts and becomes durable,
// because each part goes to LMDB as soon as it is durable (before, its
// later parts waited for journal room that only LMDB could free, and LMDB
// got none of it until the whole batch was durable: a follower's backlog
// after a full disk hung that way). Driven on a real reactor and LogEnv.
#include "engine/node/write_pipeline.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "net/reactor.h"
#include "storage/log_env.h"
#include "tests/storage/test_util.h"

namespace raft {
namespace {

using storage::testing::TempDir;

constexpr GroupId kGroup = 3;

TEST(WritePipeline, ABatchLargerThanTheJournalBecomesDurableInParts) {
  TempDir dir;
  storage::EnvOptions options;
  options.dir = dir.sub("shard-0");
  options.journal = true;
  options.journal_segment_bytes = 64 << 10;  // Records of at most 16 KiB.
  options.journal_segments = 2;              // 128 KiB of journal in all.
  options.initial_map_bytes = 64 << 20;
  auto env = storage::LogEnv::open(options);
  ASSERT_TRUE(env.ok()) << env.status();

  net::Reactor reactor;
  ShardMetrics metrics;
  std::optional<uint64_t> durable;
  std::vector<absl::Status> failures;
  WritePipeline::Callbacks callbacks;
  callbacks.durable = [&](uint64_t seq) { durable = seq; };
  callbacks.failed = [&](const absl::Status& s) { failures.push_back(s); };
  callbacks.before_submit = [] {};
  callbacks.wake = [] {};
  WritePipeline pipeline(**env, 0, metrics, std::move(callbacks));
  pipeline.start(reactor);
  std::unique_ptr<GroupLog> log = pipeline.open_log(kGroup, ConfState{{1}, {}});

  // 400 KiB of entries in one batch: about 26 records, 3 journals' worth.
  std::vector<Entry> entries;
  for (Index i = 1; i <= 400; ++i) {
    entries.push_back(Entry{1, i, EntryType::kNormal, Slice(std::string(1024, 'a' + i % 26))});
  }
  pipeline.append(kGroup, entries);
  pipeline.set_hard_state(kGroup, HardState{1, 1, 0});
  const uint64_t seq = pipeline.open_seq();
  pipeline.submit();

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!durable && failures.empty() && std::chrono::steady_clock::now() < deadline) {
    reactor.run_once(/*may_block=*/false);
    pipeline.tick();  // As the shard's timer does: checkpoints, forced syncs.
  }
  ASSERT_TRUE(failures.empty()) << failures.front();
  ASSERT_TRUE(durable.has_value()) << "the batch never became durable: the journal waits for "
                                      "room only LMDB can free (metrics: journal full "
                                   << metrics.journal_full.load() << " times)";
  EXPECT_EQ(*durable, seq);
  // It could not have fit at once: more bytes went through the journal
  // than it holds, in several records, so its room was reused while the
  // batch was written. (Whether a record ever found the journal full
  // depends on how fast LMDB freed room, so journal_full is not asserted:
  // it was 0 in one loaded TSan run.)
  EXPECT_GT(metrics.journal_bytes.load(), uint64_t{2 * (64 << 10)});
  EXPECT_GE(metrics.journal_writes.load(), 3u);
  EXPECT_EQ(log->last_index(), 400u);
  auto back = log->entries(1, 401, UINT64_MAX);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 400u);
  for (Index i = 1; i <= 400; ++i) EXPECT_EQ((*back)[i - 1].data.view()[0], 'a' + i % 26) << i;

  // LMDB gets all of it behind the journal.
  while ((*env)->last_index(kGroup) < 400 && std::chrono::steady_clock::now() < deadline) {
    reactor.run_once(/*may_block=*/false);
    pipeline.tick();
  }
  EXPECT_EQ((*env)->last_index(kGroup), 400u);
  pipeline.stop();
  reactor.stop();
  reactor.run();  // Cancels and drains what is in flight (the env's poll).
}

}  // namespace
}  // namespace raft
