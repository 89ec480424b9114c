// A follower that receives the same snapshot twice (the leader resends it
// when a probe reaches the follower before the first copy is installed, as
// the soak run's kill/restart cycles do) must keep the installed snapshot's
// file: snapshot files are named group-index-term, so the stale duplicate
// has the very name of the installed one. Before the fix the group
// unlinked the duplicate's path, the installed snapshot lost its file, and
// the node could not restart ("open ...snap: No such file or directory").
//
// Drives one Group directly with a fake host over a real LogEnv: no
// threads, no timers, no network.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/node/group.h"
#include "engine/node/lmdb_log_storage.h"
#include "examples/memstore/kv_state_machine.h"
#include "protocol/records/snapshot_envelope.h"
#include "storage/log_env.h"
#include "storage/snapshot_file.h"
#include "tests/node/fake_ports.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

struct Received {
  std::string path;
  uint64_t bytes = 0;
  uint64_t checksum = 0;
};

// Writes `image` as the snapshot file (group 1, index, term), the way the
// shard finishes a received stream: a temporary file renamed into place.
Received write_snapshot_file(const std::string& dir, Index index, Term term,
                             const std::string& image) {
  auto writer = storage::SnapshotFileWriter::create(dir, 1, index, term);
  EXPECT_TRUE(writer.ok()) << writer.status();
  EXPECT_TRUE((*writer)->write(image).ok());
  auto info = (*writer)->finish();
  EXPECT_TRUE(info.ok()) << info.status();
  return Received{info->path, info->bytes, info->checksum};
}

TEST(SnapshotDuplicate, StaleDuplicateKeepsTheInstalledSnapshotFile) {
  const std::string dir = testing::temp_dir("snapdup");
  NodeConfig config;
  config.node_id = 1;
  config.snapshot_every_entries = 0;
  const std::vector<PeerConfig> peers = {{1, "127.0.0.1:1", PeerRole::kVoter},
                                         {2, "127.0.0.1:2", PeerRole::kVoter}};
  GroupOptions options;
  options.self = 1;
  options.group = 1;
  options.config = &config;
  storage::EnvOptions eo;
  eo.dir = dir + "/shard-0";
  auto env = storage::LogEnv::open(eo);
  ASSERT_TRUE(env.ok()) << env.status();
  FakePorts host(env->get());
  auto group =
      Group::open(options, host.ports(), std::make_unique<memstore::KvStateMachine>(), peers);
  ASSERT_TRUE(group.ok()) << group.status();
  Group& g = **group;
  g.process();
  host.flush(g);

  // The leader (node 2, term 3) has compacted its log up to index 100.
  constexpr Index kIndex = 100;
  constexpr Term kTerm = 3;
  memstore::KvStateMachine source;
  std::string image = protocol::encode_snapshot_header({{1, "127.0.0.1:1"}, {2, "127.0.0.1:2"}}, 2);
  StringSnapshotWriter writer(&image);
  ASSERT_TRUE(source.snapshot(writer).ok());
  Message announce;
  announce.type = MessageType::kSnapshot;
  announce.group = 1;
  announce.from = 2;
  announce.to = 1;
  announce.term = kTerm;
  announce.snapshot =
      Snapshot{SnapshotMeta{kIndex, kTerm, ConfState{{1, 2}, {}, {}, {}, false}}, Slice()};

  // First copy: installed, and durable with its file.
  ASSERT_TRUE(g.wants_snapshot(kIndex));
  Received first = write_snapshot_file(host.snapshot_dir(), kIndex, kTerm, image);
  g.snapshot_received(announce,
                      StoredSnapshot{announce.snapshot->meta, first.bytes, first.checksum});
  host.flush(g);
  ASSERT_EQ(g.applied(), kIndex);
  auto held = (*env)->snapshot(1);
  ASSERT_TRUE(held.has_value());
  ASSERT_EQ(held->meta.index, kIndex);
  ASSERT_TRUE(std::filesystem::exists(first.path));
  // The shard refuses a second stream of a snapshot the group covers.
  EXPECT_FALSE(g.wants_snapshot(kIndex));

  // Second copy of the same snapshot (a stream that started before the
  // first was installed): stale for the core, same file name.
  Received second = write_snapshot_file(host.snapshot_dir(), kIndex, kTerm, image);
  ASSERT_EQ(second.path, first.path);
  g.snapshot_received(announce,
                      StoredSnapshot{announce.snapshot->meta, second.bytes, second.checksum});
  host.flush(g);
  EXPECT_EQ(g.applied(), kIndex);
  EXPECT_TRUE(std::filesystem::exists(first.path))
      << "the stale duplicate deleted the installed snapshot's file";

  // And the node restarts from its data dir.
  group->reset();
  auto reopened =
      Group::open(options, host.ports(), std::make_unique<memstore::KvStateMachine>(), peers);
  EXPECT_TRUE(reopened.ok()) << reopened.status();
  if (reopened.ok()) {
    EXPECT_EQ((*reopened)->applied(), kIndex);
  }
  reopened = absl::UnavailableError("closed");
  env->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace raft
