// Disk full on a real size-limited file system: the test mounts its own 8 MiB
// tmpfs (root only; skipped with a message otherwise), fills it, and checks
// that a batch fails with the error reported to every group, that nothing of
// it becomes visible, and that the env takes the same batch once space is
// freed, with everything there after a reopen.
//
// Writeback errors: an ext4 file system on a loop device whose backing file
// lives on a small tmpfs. When the tmpfs is full, ext4 still accepts writes
// into the page cache, but writeback fails and fdatasync returns the error
// (ENOSPC through the loop driver, EIO from most devices; a thin-provisioned
// volume out of space behaves the same way). The kernel keeps reporting such
// an error to descriptors opened before it, so this also checks that the env
// reopens itself and takes the next batch once space is back.
#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "storage/log_env.h"
#include "tests/storage/test_util.h"

namespace raft::storage {
namespace {

using testing::make_entries;
using testing::TempDir;

class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& dir) : dir_(dir) {
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=8m") == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

// Writes 64 KiB blocks until the file system is full; returns bytes written.
uint64_t fill(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT_GE(fd, 0);
  std::string block(64 << 10, 'f');
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::write(fd, block.data(), block.size());
    if (n <= 0) break;
    total += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return total;
}

std::vector<Completion> wait_completions(LogEnv& env, size_t n) {
  std::vector<Completion> out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    pollfd p{env.completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    env.drain_completions(out);
  }
  return out;
}

TEST(DiskFullTest, BatchFailsThenEnvRecoversOnceSpaceIsFreed) {
  TempDir dir;
  TmpfsMount mount(dir.path());
  if (!mount.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs on " << dir.path() << " (" << mount.error()
                 << "): the disk-full test needs root (CAP_SYS_ADMIN)";
  }
  EnvOptions options;
  options.dir = dir.sub("shard-0");
  options.initial_map_bytes = 64 << 20;  // Larger than the file system.
  auto opened = LogEnv::open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<LogEnv> env = std::move(*opened);
  ASSERT_TRUE(env->append(1, make_entries(1, 1, 100, 1, 512)).ok());
  ASSERT_TRUE(env->set_hard_state(1, HardState{1, 1, 100}).ok());

  const std::string filler = dir.sub("filler");
  ASSERT_GT(fill(filler), 0u);
  WriteBatch batch;
  batch.append(1, make_entries(1, 101, 600, 1, 1000));  // ~600 KiB of pages.
  batch.set_hard_state(1, HardState{1, 1, 700});
  batch.set_hard_state(2, HardState{5, 5, 5});
  WriteBatch again = batch;
  ASSERT_TRUE(env->try_submit(batch).ok());
  auto done = wait_completions(*env, 2);
  ASSERT_EQ(done.size(), 2u);
  for (const auto& c : done) {
    ASSERT_FALSE(c.status.ok());
    // ENOSPC, or LMDB's EIO for a short write into the last free pages.
    EXPECT_TRUE(c.status.code() == absl::StatusCode::kResourceExhausted ||
                c.status.code() == absl::StatusCode::kUnavailable)
        << c.status;
    EXPECT_NE(c.status.message().find("data.mdb"), absl::string_view::npos) << c.status;
    EXPECT_EQ(c.last_index, 0u);
  }
  EXPECT_EQ(env->last_index(1), 100u);
  EXPECT_EQ(env->hard_state(1), (HardState{1, 1, 100}));
  EXPECT_EQ(env->hard_state(2), HardState{});
  EXPECT_GE(env->stats().failed_commits, 1u);
  // Still full: the next batch fails as well (and so may the env's reopen
  // after each failure).
  WriteBatch small;
  small.append(1, make_entries(1, 101, 1, 1, 1000));
  ASSERT_TRUE(env->try_submit(small).ok());
  done = wait_completions(*env, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_FALSE(done[0].status.ok());
  const uint64_t failed = env->stats().failed_commits;
  EXPECT_GE(failed, 2u);

  // Space is back: the very next batch commits.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  ASSERT_TRUE(env->try_submit(again).ok());
  done = wait_completions(*env, 2);
  ASSERT_EQ(done.size(), 2u);
  for (const auto& c : done) ASSERT_TRUE(c.status.ok()) << c.status;
  EXPECT_EQ(done[0].last_index, 700u);
  EXPECT_EQ(env->stats().failed_commits, failed);
  env.reset();

  opened = LogEnv::open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ((*opened)->last_index(1), 700u);
  EXPECT_EQ((*opened)->hard_state(1), (HardState{1, 1, 700}));
  EXPECT_EQ((*opened)->hard_state(2), (HardState{5, 5, 5}));
  EXPECT_TRUE((*opened)->verify_group(1).ok());
}

// Runs a shell command; true if it exited 0.
bool run(const std::string& command) { return std::system(command.c_str()) == 0; }

// tmpfs (backing) -> sparse image file -> loop device -> ext4 (mnt).
class LoopExt4 {
 public:
  explicit LoopExt4(const std::string& root)
      : backing_(root + "/backing"), mnt_(root + "/mnt"), image_(backing_ + "/disk.img") {
    std::filesystem::create_directories(backing_);
    std::filesystem::create_directories(mnt_);
    if (::mount("tmpfs", backing_.c_str(), "tmpfs", 0, "size=24m") != 0) {
      error_ = std::string("mount tmpfs: ") + std::strerror(errno);
      return;
    }
    tmpfs_mounted_ = true;
    if (!run("truncate -s 64M " + image_ + " && mkfs.ext4 -q -F -O ^has_journal " + image_ +
             " >/dev/null 2>&1")) {
      error_ = "mkfs.ext4 on " + image_ + " failed";
      return;
    }
    FILE* p = ::popen(("losetup -f --show " + image_ + " 2>/dev/null").c_str(), "r");
    char buf[64] = {};
    if (p != nullptr) {
      if (std::fgets(buf, sizeof(buf), p) == nullptr) buf[0] = '\0';
      ::pclose(p);
    }
    loop_ = buf;
    while (!loop_.empty() && (loop_.back() == '\n' || loop_.back() == ' ')) loop_.pop_back();
    if (loop_.empty()) {
      error_ = "losetup failed (no loop devices?)";
      return;
    }
    if (::mount(loop_.c_str(), mnt_.c_str(), "ext4", 0, "errors=continue") != 0) {
      error_ = "mount " + loop_ + ": " + std::strerror(errno);
      return;
    }
    ext4_mounted_ = true;
  }
  ~LoopExt4() {
    if (ext4_mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
    if (!loop_.empty()) run("losetup -d " + loop_);
    if (tmpfs_mounted_) ::umount2(backing_.c_str(), MNT_DETACH);
  }
  bool ready() const { return ext4_mounted_; }
  const std::string& error() const { return error_; }
  const std::string& mnt() const { return mnt_; }
  const std::string& backing() const { return backing_; }

 private:
  std::string backing_, mnt_, image_, loop_, error_;
  bool tmpfs_mounted_ = false;
  bool ext4_mounted_ = false;
};

TEST(DiskFullTest, WritebackErrorFailsTheBatchThenEnvRecovers) {
  TempDir dir;
  LoopExt4 fs(dir.path());
  if (!fs.ready()) {
    GTEST_SKIP() << "cannot build a loop-mounted ext4 (" << fs.error()
                 << "): the writeback-error test needs root, loop devices and mkfs.ext4";
  }
  EnvOptions options;
  options.dir = fs.mnt() + "/shard-0";
  options.initial_map_bytes = 32 << 20;
  auto opened = LogEnv::open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<LogEnv> env = std::move(*opened);
  ASSERT_TRUE(env->append(1, make_entries(1, 1, 100, 1, 512)).ok());

  // Fill the backing tmpfs: the ext4 above still shows free space.
  const std::string filler = fs.backing() + "/filler";
  ASSERT_GT(fill(filler), 0u);
  WriteBatch batch;
  batch.append(1, make_entries(1, 101, 2000, 1, 1000));  // ~2 MiB of new blocks.
  batch.set_hard_state(1, HardState{1, 1, 2100});
  WriteBatch again = batch;
  ASSERT_TRUE(env->try_submit(batch).ok());
  auto done = wait_completions(*env, 1);
  ASSERT_EQ(done.size(), 1u);
  ASSERT_FALSE(done[0].status.ok()) << "writeback into a full backing store succeeded";
  EXPECT_TRUE(done[0].status.code() == absl::StatusCode::kResourceExhausted ||
              done[0].status.code() == absl::StatusCode::kUnavailable)
      << done[0].status;
  EXPECT_NE(done[0].status.message().find("data.mdb"), absl::string_view::npos) << done[0].status;
  EXPECT_EQ(env->last_index(1), 100u);
  EXPECT_EQ(env->hard_state(1), HardState{});

  ASSERT_EQ(::unlink(filler.c_str()), 0);
  // Space is back. The env retries the batch afresh.
  ASSERT_TRUE(env->try_submit(again).ok());
  done = wait_completions(*env, 1);
  ASSERT_EQ(done.size(), 1u);
  ASSERT_TRUE(done[0].status.ok()) << done[0].status;
  EXPECT_EQ(done[0].last_index, 2100u);
  env.reset();
  opened = LogEnv::open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ((*opened)->last_index(1), 2100u);
  EXPECT_EQ((*opened)->hard_state(1), (HardState{1, 1, 2100}));
  EXPECT_TRUE((*opened)->verify_group(1).ok());
}

}  // namespace
}  // namespace raft::storage
