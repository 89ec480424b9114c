// Restoring from a snapshot file as a stream (Group::restore over
// SnapshotStore::open): a group reopened on its data dir restores what its
// snapshot view wrote; a damaged file is refused (DataLoss naming it) even
// when the state machine stops reading before the damage, because the
// runtime reads the rest. Drives one single-voter Group over a real LogEnv
// (fake_ports.h), with snapshot files written by write_snapshot_file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "engine/node/group.h"
#include "examples/memstore/kv_state_machine.h"
#include "storage/log_env.h"
#include "tests/node/fake_ports.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

// Reads only the first byte of its snapshot and keeps nothing.
class LazyMachine final : public StateMachine {
 public:
  std::string apply(uint64_t, std::string_view) override { return ""; }
  absl::Status restore(SnapshotReader& reader) override {
    char c;
    return read_exactly(reader, std::span<char>(&c, 1));
  }
};

class SnapshotRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir("snaprestore");
    config_.node_id = 1;
    config_.snapshot_every_entries = 0;
    config_.keep_entries_after_snapshot = 0;
  }
  void TearDown() override {
    close();
    std::filesystem::remove_all(dir_);
  }
  absl::Status open(std::unique_ptr<StateMachine> fsm) {
    storage::EnvOptions eo;
    eo.dir = dir_ + "/shard-0";
    auto env = storage::LogEnv::open(eo);
    if (!env.ok()) return env.status();
    env_ = std::move(*env);
    ports_ = std::make_unique<FakePorts>(env_.get());
    ports_->writes_files = true;
    GroupOptions options;
    options.self = 1;
    options.group = 1;
    options.config = &config_;
    auto group = Group::open(options, ports_->ports(), std::move(fsm),
                             {{1, "127.0.0.1:1", PeerRole::kVoter}});
    if (!group.ok()) return group.status();
    group_ = std::move(*group);
    ports_->flush(*group_);
    return absl::OkStatus();
  }
  void close() {
    group_.reset();
    ports_.reset();
    env_.reset();
  }
  void lead() {
    ASSERT_TRUE(group_->campaign().ok());
    ports_->flush(*group_);
    ports_->flush(*group_);
    ASSERT_TRUE(group_->is_leader());
  }
  // A KV machine with `n` keys, snapshotted; returns its map.
  memstore::KvStateMachine::Map make_snapshotted_kv(int n) {
    auto fsm = std::make_unique<memstore::KvStateMachine>();
    memstore::KvStateMachine* kv = fsm.get();
    EXPECT_TRUE(open(std::move(fsm)).ok());
    lead();
    for (int i = 0; i < n; ++i) {
      const std::string put = memstore::encode_put("k" + std::to_string(i), std::string(100, 'v'));
      group_->propose(Slice(put), [](absl::StatusOr<ProposeResult> r) { EXPECT_TRUE(r.ok()); });
      ports_->flush(*group_);
    }
    ports_->flush(*group_);
    absl::StatusOr<Index> snap = absl::UnknownError("not called");
    group_->make_snapshot([&](absl::StatusOr<Index> r) { snap = r; });
    ports_->flush(*group_);
    EXPECT_TRUE(snap.ok()) << snap.status();
    EXPECT_TRUE(ports_->held(1).has_value());
    memstore::KvStateMachine::Map map = kv->map();
    close();
    return map;
  }
  std::string snapshot_file() {
    for (const auto& f : storage::list_snapshot_files(dir_ + "/shard-0/snapshots")) {
      if (!f.temporary) return f.path;
    }
    return "";
  }
  // Flips one byte at `offset` from the end (the size stays the same).
  void damage(off_t from_end) {
    const std::string path = snapshot_file();
    ASSERT_FALSE(path.empty());
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const off_t at = std::filesystem::file_size(path) - from_end;
    char c;
    ASSERT_EQ(::pread(fd, &c, 1, at), 1);
    c ^= 0x5a;
    ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
    ::close(fd);
  }

  std::string dir_;
  NodeConfig config_;
  std::unique_ptr<storage::LogEnv> env_;
  std::unique_ptr<FakePorts> ports_;
  std::unique_ptr<Group> group_;
};

TEST_F(SnapshotRestoreTest, ReopenedGroupRestoresItsSnapshotFromTheStream) {
  const memstore::KvStateMachine::Map before = make_snapshotted_kv(300);
  auto fsm = std::make_unique<memstore::KvStateMachine>();
  memstore::KvStateMachine* kv = fsm.get();
  ASSERT_TRUE(open(std::move(fsm)).ok());
  EXPECT_EQ(kv->map(), before);
  EXPECT_EQ(kv->size(), 300u);
}

TEST_F(SnapshotRestoreTest, DamagedFileIsRefusedNamingIt) {
  make_snapshotted_kv(50);
  damage(/*from_end=*/200);
  absl::Status s = open(std::make_unique<memstore::KvStateMachine>());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "checksum mismatch")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "snap-")) << s;
}

TEST_F(SnapshotRestoreTest, DamageAfterWhatTheMachineReadIsStillFound) {
  make_snapshotted_kv(50);
  damage(/*from_end=*/1);
  absl::Status s = open(std::make_unique<LazyMachine>());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "checksum mismatch")) << s;
}

}  // namespace
}  // namespace raft
