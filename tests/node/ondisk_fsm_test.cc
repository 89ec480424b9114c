// A state machine that persists itself (StateMachine::applied_index): on
// restart the runtime gives it only the entries after its own applied index,
// restores a snapshot only when it is newer than the machine's own state,
// and takes snapshots from the machine's own file. One real Node (sockets,
// LMDB) per run, restarted in the same data dir.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/node/node.h"
#include "tests/node/test_cluster.h"

namespace raft {
namespace {

using testing::eventually;

// What the test sees of the machine across restarts.
struct DiskFsmStats {
  std::mutex mu;
  std::vector<uint64_t> applied;  // Indices given to apply() in this life.
  uint64_t restores = 0;
  uint64_t views = 0;
  std::atomic<bool> persist{true};  // Off: applies stay in memory only.
};

// A counter of applied entries and a digest of their payloads, persisted in
// <dir>/state: (applied index, count, digest), written to state.tmp, fsynced
// and renamed over the file. Its snapshot view opens the current file: the
// file is only ever replaced by rename, so the open descriptor keeps the
// state of that moment while the background thread streams it, and the
// snapshot is taken from the machine's own file.
class DiskFsm final : public StateMachine {
 public:
  DiskFsm(std::string dir, DiskFsmStats* stats) : dir_(std::move(dir)), stats_(stats) {
    std::filesystem::create_directories(dir_);
    int fd = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      uint64_t v[3] = {0, 0, 0};
      EXPECT_EQ(::pread(fd, v, sizeof v, 0), static_cast<ssize_t>(sizeof v));
      ::close(fd);
      durable_index_ = applied_ = v[0];
      count_ = v[1];
      digest_ = v[2];
      has_file_ = true;
    }
  }

  std::string apply(uint64_t index, std::string_view data) override {
    {
      std::lock_guard<std::mutex> lock(stats_->mu);
      stats_->applied.push_back(index);
    }
    applied_ = index;
    ++count_;
    for (char c : data) digest_ = digest_ * 1099511628211ull + static_cast<uint8_t>(c);
    if (stats_->persist.load()) {
      EXPECT_TRUE(persist().ok());
    }
    return absl::StrCat(count_);
  }
  absl::StatusOr<std::string> query(std::string_view) const override {
    return absl::StrCat(count_, " ", digest_);
  }
  std::optional<uint64_t> applied_index() const override {
    if (!has_file_) return std::nullopt;
    return durable_index_;
  }

  absl::StatusOr<std::unique_ptr<SnapshotView>> snapshot_view() override {
    // The file must hold the state of now: bring it up to date (small here;
    // a real machine's files usually are), then hand its descriptor over.
    if (auto s = persist(); !s.ok()) return s;
    int fd = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::InternalError(absl::StrCat("open ", path(), ": ", strerror(errno)));
    {
      std::lock_guard<std::mutex> lock(stats_->mu);
      ++stats_->views;
    }
    return std::unique_ptr<SnapshotView>(new FileView(fd));
  }

  absl::Status restore(SnapshotReader& reader) override {
    uint64_t v[3];
    if (auto s = read_exactly(reader, std::span<char>(reinterpret_cast<char*>(v), sizeof v));
        !s.ok()) {
      return s;
    }
    // The restored state is the snapshot's: entries up to its index.
    count_ = v[1];
    digest_ = v[2];
    applied_ = reader.snapshot_index() != 0 ? reader.snapshot_index() : v[0];
    {
      std::lock_guard<std::mutex> lock(stats_->mu);
      ++stats_->restores;
    }
    return persist();
  }

  absl::Status persist() {
    const uint64_t v[3] = {applied_, count_, digest_};
    const std::string tmp = path() + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return absl::InternalError("create state.tmp");
    const bool ok = ::write(fd, v, sizeof v) == static_cast<ssize_t>(sizeof v) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path().c_str()) != 0) {
      return absl::InternalError("write state");
    }
    durable_index_ = applied_;
    has_file_ = true;
    return absl::OkStatus();
  }

 private:
  class FileView final : public SnapshotView {
   public:
    explicit FileView(int fd) : fd_(fd) {}
    ~FileView() override { ::close(fd_); }
    absl::Status write(SnapshotWriter& writer) override {
      char buf[4096];
      for (off_t off = 0;;) {
        ssize_t n = ::pread(fd_, buf, sizeof buf, off);
        if (n < 0) return absl::InternalError("read state");
        if (n == 0) return absl::OkStatus();
        if (auto s = writer.write(std::string_view(buf, static_cast<size_t>(n))); !s.ok()) return s;
        off += n;
      }
    }

   private:
    int fd_;
  };

  std::string path() const { return dir_ + "/state"; }

  std::string dir_;
  DiskFsmStats* stats_;
  bool has_file_ = false;
  uint64_t durable_index_ = 0;
  uint64_t applied_ = 0;
  uint64_t count_ = 0;
  uint64_t digest_ = 0;
};

class OneNode {
 public:
  explicit OneNode(const std::string& name) : dir_(testing::temp_dir(name)) {
    address_ = absl::StrCat("127.0.0.1:", testing::free_port());
  }
  ~OneNode() {
    node_.reset();
    std::filesystem::remove_all(dir_);
  }

  absl::Status start() {
    stats_ = std::make_unique<DiskFsmStats>();
    NodeConfig c;
    c.node_id = 1;
    c.address = address_;
    c.data_dir = dir_ + "/data";
    c.peers = {PeerConfig{1, address_, PeerRole::kVoter}};
    c.tick_interval_ms = 10;
    c.election_ticks = 10;
    c.snapshot_every_entries = 0;
    c.keep_entries_after_snapshot = 2;
    const std::string fsm_dir = dir_ + "/fsm";
    DiskFsmStats* stats = stats_.get();
    auto node = Node::start(c, [fsm_dir, stats, this](GroupId) {
      auto fsm = std::make_unique<DiskFsm>(fsm_dir, stats);
      fsm_ = fsm.get();
      return fsm;
    });
    if (!node.ok()) return node.status();
    node_ = std::move(*node);
    EXPECT_TRUE(eventually([&] {
      auto l = node_->leader(1);
      return l.ok() && l->leader_id == 1;
    }));
    return absl::OkStatus();
  }
  void stop() {
    node_.reset();
    fsm_ = nullptr;
  }
  // Proposes `n` entries; returns their indices.
  std::vector<uint64_t> propose(int n, const std::string& tag) {
    std::vector<uint64_t> out;
    for (int i = 0; i < n; ++i) {
      auto r = node_->propose(1, absl::StrCat(tag, i));
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) out.push_back(r->index);
    }
    return out;
  }
  std::vector<uint64_t> applied() {
    std::lock_guard<std::mutex> lock(stats_->mu);
    return stats_->applied;
  }
  uint64_t restores() {
    std::lock_guard<std::mutex> lock(stats_->mu);
    return stats_->restores;
  }
  uint64_t views() {
    std::lock_guard<std::mutex> lock(stats_->mu);
    return stats_->views;
  }
  std::string query() {
    auto r = node_->read(1, "", ReadConsistency::kStale);
    return r.ok() ? *r : r.status().ToString();
  }

  Node* node() { return node_.get(); }
  DiskFsmStats& stats() { return *stats_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string address_;
  std::unique_ptr<DiskFsmStats> stats_;
  std::unique_ptr<Node> node_;
  DiskFsm* fsm_ = nullptr;
};

// Waits until the applies of this life include every index in `want`.
bool applied_all(OneNode& n, const std::vector<uint64_t>& want) {
  return eventually([&] {
    std::vector<uint64_t> got = n.applied();
    std::set<uint64_t> have(got.begin(), got.end());
    for (uint64_t i : want) {
      if (!have.contains(i)) return false;
    }
    return true;
  });
}

TEST(OnDiskFsm, RestartReappliesOnlyTheTailAfterItsAppliedIndex) {
  OneNode n("ondisk-tail");
  ASSERT_TRUE(n.start().ok());
  const std::vector<uint64_t> persisted = n.propose(20, "a");
  ASSERT_EQ(persisted.size(), 20u);
  // The tail: applied, but not persisted by the machine.
  n.stats().persist = false;
  const std::vector<uint64_t> tail = n.propose(7, "b");
  ASSERT_EQ(tail.size(), 7u);
  const std::string before = n.query();
  n.stop();

  ASSERT_TRUE(n.start().ok());
  ASSERT_TRUE(applied_all(n, tail));
  const std::vector<uint64_t> again = n.applied();
  // Exactly the tail, once each, in order; nothing at or below the
  // machine's applied index (the last persisted entry).
  EXPECT_EQ(again, tail) << "re-applied " << again.size() << " entries after a restart";
  EXPECT_EQ(n.restores(), 0u);
  EXPECT_EQ(n.query(), before);
  std::printf("on-disk fsm restart: %zu of %zu entries re-applied (applied_index %lu)\n",
              again.size(), persisted.size() + tail.size(),
              static_cast<unsigned long>(persisted.back()));
  const std::string metrics = n.node()->metrics_text();
  EXPECT_TRUE(absl::StrContains(metrics, "ringraft_fsm_skipped_entries_total 20\n")) << metrics;
}

TEST(OnDiskFsm, SnapshotFromItsOwnFileIsNotRestoredOverNewerState) {
  OneNode n("ondisk-snap");
  ASSERT_TRUE(n.start().ok());
  n.propose(10, "a");
  auto snap = n.node()->make_snapshot(1);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(n.views(), 1u);  // Taken through the machine's view of its file.
  const std::vector<uint64_t> after_snapshot = n.propose(5, "b");  // Persisted too.
  n.stats().persist = false;
  const std::vector<uint64_t> tail = n.propose(3, "c");
  const std::string before = n.query();
  n.stop();

  ASSERT_TRUE(n.start().ok());
  ASSERT_TRUE(applied_all(n, tail));
  // The machine's own state (index after_snapshot.back()) is newer than the
  // snapshot: no restore, and only the unpersisted tail again.
  EXPECT_EQ(n.restores(), 0u);
  EXPECT_EQ(n.applied(), tail);
  EXPECT_EQ(n.query(), before);
}

TEST(OnDiskFsm, OlderOwnStateIsReplacedByTheNewerSnapshot) {
  OneNode n("ondisk-older");
  ASSERT_TRUE(n.start().ok());
  n.propose(5, "a");
  // The machine stops persisting at index i; the snapshot (taken after it,
  // from a view that brings its file up to date first) is newer.
  n.stats().persist = false;
  n.propose(5, "b");
  auto snap = n.node()->make_snapshot(1);
  ASSERT_TRUE(snap.ok()) << snap.status();
  // An entry acknowledged after the snapshot: its batch is durable, so the
  // snapshot's record (queued before it) is too.
  n.propose(1, "d");
  // make_snapshot persisted the machine at the snapshot index; roll its
  // file back to an older state, as a machine that lost its last writes.
  n.stop();
  {
    // Rewrite the state file as of "applied index 3" (older than the
    // snapshot): the runtime must restore the snapshot over it.
    const std::string path = n.dir() + "/fsm/state";
    uint64_t v[3] = {3, 0, 0};
    int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, v, sizeof v), static_cast<ssize_t>(sizeof v));
    ::close(fd);
  }
  ASSERT_TRUE(n.start().ok());
  EXPECT_EQ(n.restores(), 1u);
  const std::vector<uint64_t> tail = n.propose(2, "c");
  ASSERT_TRUE(applied_all(n, tail));
  for (uint64_t i : n.applied()) EXPECT_GT(i, *snap) << "re-applied an entry the snapshot holds";
  EXPECT_EQ(n.query().substr(0, 3), "13 ");  // 10 from the snapshot, 3 after it.
  // Restored and persisted at the snapshot's index: a third start neither
  // restores nor re-applies what is already in the machine.
  n.stop();
  ASSERT_TRUE(n.start().ok());
  EXPECT_EQ(n.restores(), 0u);
}

// A machine ahead of the log (here: its file says 40, the log ends near 5)
// is trusted: every entry it was given was committed, so the entries up to
// its index are never given to it again, and no snapshot is taken (its view
// would hold more than the log's applied index) until the log has caught up.
TEST(OnDiskFsm, StateMachineAheadOfTheLogIsTrustedNotReapplied) {
  OneNode n("ondisk-ahead");
  ASSERT_TRUE(n.start().ok());
  n.propose(3, "a");
  n.stop();
  constexpr uint64_t kAhead = 40;
  {
    const std::string path = n.dir() + "/fsm/state";
    uint64_t v[3] = {kAhead, 3, 0};
    int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, v, sizeof v), static_cast<ssize_t>(sizeof v));
    ::close(fd);
  }
  ASSERT_TRUE(n.start().ok());
  auto refused = n.node()->make_snapshot(1);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "state machine is at index 40"))
      << refused.status();
  // Proposals at indexes the machine holds fail (it has other entries
  // there), without reaching it; the first one after it is applied.
  int failed = 0;
  uint64_t applied_at = 0;
  for (int i = 0; i < 100 && applied_at == 0; ++i) {
    auto r = n.node()->propose(1, absl::StrCat("b", i));
    if (r.ok()) {
      EXPECT_GT(r->index, kAhead);
      applied_at = r->index;
    } else {
      EXPECT_TRUE(absl::StrContains(r.status().message(), "already holds index")) << r.status();
      ++failed;
    }
  }
  ASSERT_GT(applied_at, kAhead);
  EXPECT_GT(failed, 30);
  ASSERT_TRUE(applied_all(n, {applied_at}));
  for (uint64_t i : n.applied()) EXPECT_GT(i, kAhead) << "an entry the machine holds, again";
  auto snap = n.node()->make_snapshot(1);
  EXPECT_TRUE(snap.ok()) << snap.status();
}

}  // namespace
}  // namespace raft
