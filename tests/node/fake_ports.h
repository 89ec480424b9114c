// FakePorts: a group driver's ports (engine/node/ports.h) over a real
// LogEnv, for tests that drive one Group directly: no threads, no timers,
// no network. The open batch is written synchronously by flush(); sent
// messages are recorded.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/node/group.h"
#include "engine/node/lmdb_log_storage.h"
#include "engine/node/snapshot_io.h"
#include "storage/log_env.h"
#include "storage/snapshot_file.h"
#include "storage/write_batch.h"
#include "tests/node/test_cluster.h"

namespace raft {

// The shard side of a group (its ports), reduced to what this test needs:
// the open batch is written synchronously by flush(); messages are recorded.
class FakePorts : public LogWriter, public Outbox, public SnapshotStore {
 public:
  explicit FakePorts(storage::LogEnv* env) : env_(env) {}

  GroupPorts ports() { return GroupPorts{this, this, this}; }

  std::unique_ptr<GroupLog> open_log(GroupId group, const ConfState& initial) override {
    return std::make_unique<LmdbLogStorage>(env_, group, initial);
  }
  absl::Status bootstrap(GroupId group, const std::vector<Entry>& entries,
                         const HardState& hs) override {
    storage::WriteBatch batch;
    batch.append(group, entries);
    batch.set_hard_state(group, hs);
    return env_->write(batch);
  }
  uint64_t open_seq() const override { return seq_; }
  void append(GroupId group, const std::vector<Entry>& entries) override {
    batch_.append(group, entries);
  }
  void set_hard_state(GroupId group, const HardState& hs) override {
    batch_.set_hard_state(group, hs);
  }
  void set_lazy_hard_state(GroupId group, const HardState& hs) override {
    batch_.set_hard_state(group, hs);
  }
  void install_snapshot(GroupId group, const StoredSnapshot& snapshot) override {
    batch_.group(group).apply_snapshot = snapshot;
  }
  void save_snapshot(GroupId group, const StoredSnapshot& snapshot, Index) override {
    batch_.save_snapshot(group, snapshot);
  }

  void send(const Message& m) override { sent.push_back(m); }
  void send_snapshot(const Message&, const StoredSnapshot&) override {}
  void peer_address(NodeId, const std::string&) override {}

  std::optional<StoredSnapshot> held(GroupId group) const override { return env_->snapshot(group); }
  absl::StatusOr<std::unique_ptr<SnapshotReader>> open(GroupId group,
                                                       const StoredSnapshot& snap) override {
    return open_snapshot_stream(path_of(group, snap), snap);
  }
  // Writes the file at once (on the calling thread) when writes_files is set.
  void write(GroupId group, Index index, Term term, std::string header,
             std::unique_ptr<SnapshotView> view,
             absl::AnyInvocable<void(absl::StatusOr<SnapshotFileSummary>)> done) override {
    if (!writes_files) {
      done(absl::UnavailableError("not in this test"));
      return;
    }
    auto info = write_snapshot_file(env_->snapshot_dir(), group, index, term, header, *view);
    if (!info.ok()) {
      done(info.status());
      return;
    }
    done(SnapshotFileSummary{info->bytes, info->checksum});
  }
  void discard(GroupId group, const StoredSnapshot& snap) override {
    std::filesystem::remove(path_of(group, snap));
  }

  std::string snapshot_dir() const { return env_->snapshot_dir(); }
  std::string path_of(GroupId group, const StoredSnapshot& snap) const {
    return storage::snapshot_file_path(env_->snapshot_dir(), group, snap.meta.index,
                                       snap.meta.term);
  }

  // Makes the open batch durable and tells the group.
  void flush(Group& g) {
    if (!batch_.empty()) {
      ASSERT_TRUE(env_->write(batch_).ok());
    }
    batch_ = storage::WriteBatch();
    g.on_durable(seq_++);
    g.process();
  }

  std::vector<Message> sent;
  bool writes_files = false;

 private:
  storage::LogEnv* env_;
  storage::WriteBatch batch_;
  uint64_t seq_ = 1;
};

// A base for fixtures that drive one single-voter Group over a real LogEnv
// in a temporary directory: set config_, then open_leader() opens the group
// and makes it leader (check HasFatalFailure() after it).
class SingleVoterGroup {
 protected:
  void open_leader(const std::string& name, GroupId id, std::unique_ptr<StateMachine> fsm) {
    dir_ = testing::temp_dir(name);
    config_.node_id = 1;
    storage::EnvOptions eo;
    eo.dir = dir_ + "/shard-0";
    auto env = storage::LogEnv::open(eo);
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = std::move(*env);
    ports_ = std::make_unique<FakePorts>(env_.get());
    GroupOptions options;
    options.self = 1;
    options.group = id;
    options.config = &config_;
    auto group = Group::open(options, ports_->ports(), std::move(fsm),
                             {{1, "127.0.0.1:1", PeerRole::kVoter}});
    ASSERT_TRUE(group.ok()) << group.status();
    group_ = std::move(*group);
    ports_->flush(*group_);
    ASSERT_TRUE(group_->campaign().ok());
    ports_->flush(*group_);
    ports_->flush(*group_);
    ASSERT_TRUE(group_->is_leader());
  }
  ~SingleVoterGroup() {
    group_.reset();
    ports_.reset();
    env_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  NodeConfig config_;
  std::unique_ptr<storage::LogEnv> env_;
  std::unique_ptr<FakePorts> ports_;
  std::unique_ptr<Group> group_;
};

}  // namespace raft
