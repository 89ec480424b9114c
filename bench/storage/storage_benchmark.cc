// Storage benchmarks on the real disk: durable 128-byte entries per second
// and commits (one write transaction, one full LMDB sync each) per second
// through the group-commit writer thread, at 1, 16, 256 and 4096 entries per
// batch; bytes written to the device per entry (write_bytes of /proc/self/io);
// and, in the same run, the raw floor: one 4 KiB append + fdatasync.
//
// Journal write latency (storage/journal.h), one durable write at a time,
// each with p50_us / p99_us counters over the iterations of the run:
//   BM_RawDsyncWrite4K            pwrite of 4 KiB into a preallocated (zero-
//                                 filled, synced) file opened O_DSYNC, at
//                                 sequential offsets wrapping in the file:
//                                 the floor of a durable overwrite.
//   BM_RawUringWrite4K/<mode>     the same 4 KiB write through io_uring
//                                 (submit, wait for the CQE), no journal.
//   BM_JournalAppend/<mode>       a 1-entry append as the write pipeline
//                                 does it (direct_dsync: exactly as the node,
//                                 on the journal's own fds): a WriteBatch of
//                                 one 128-byte entry,
//                                 encode_batch, Journal::prepare, one io_uring
//                                 write on a ring the benchmark owns, its CQE,
//                                 Journal::written (checkpoint() now and then,
//                                 without LMDB, so the journal never fills).
// <mode> is how the write is made durable:
//   dsync         the fd is opened O_DSYNC, buffered (the journal before
//                 it used O_DIRECT: io_uring hands such a write to a worker);
//   rwf_dsync     a plain buffered fd and RWF_DSYNC on the write;
//   direct_dsync  O_DIRECT | O_DSYNC and a 4096-aligned buffer (the journal's
//                 own fds: its records are whole 4 KiB blocks).
// For the dsync and rwf_dsync journal cases the benchmark opens the
// journal's segment files itself and writes there at the place prepare()
// chose. The journals and the 4 KiB-write file are created once per process
// (a benchmark function runs several times) and removed at exit.
//
// The directory is $RAFT_BENCH_DIR, else /tmp (refused if it is a tmpfs,
// where a sync costs nothing).
//
//   build/<type>/bench/storage/storage_benchmark [--benchmark_min_time=2]
//   ... --benchmark_filter='Raw|Journal'   (the write-latency cases only)
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "storage/journal.h"
#include "storage/journal_batch_codec.h"
#include "storage/log_env.h"

namespace raft::storage {
namespace {

constexpr size_t kPayloadBytes = 128;
constexpr long kTmpfsMagic = 0x01021994;

std::string bench_root() {
  const char* env = std::getenv("RAFT_BENCH_DIR");
  return env != nullptr ? env : "/tmp";
}

// A fresh directory on the benchmark file system, removed at the end.
class BenchDir {
 public:
  explicit BenchDir(const std::string& name) {
    path_ = bench_root() + "/raft_storage_bench_" + std::to_string(::getpid()) + "_" + name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~BenchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  bool on_tmpfs() const {
    struct statfs fs;
    return ::statfs(path_.c_str(), &fs) == 0 && fs.f_type == kTmpfsMagic;
  }

 private:
  std::string path_;
};

// Bytes this process caused to be written to the block layer.
uint64_t proc_write_bytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}

// Wall time of each iteration, published as the p50_us and p99_us counters
// (nearest rank) of the run.
class Latencies {
 public:
  Latencies() { ns_.reserve(size_t{1} << 16); }
  void start() { start_ = std::chrono::steady_clock::now(); }
  void stop() {
    ns_.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start_)
            .count());
  }
  void publish(benchmark::State& state) {
    if (ns_.empty()) return;
    std::sort(ns_.begin(), ns_.end());
    state.counters["p50_us"] = rank(0.50) / 1e3;
    state.counters["p99_us"] = rank(0.99) / 1e3;
  }

 private:
  double rank(double p) const {
    const size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(ns_.size())));
    return ns_[std::clamp<size_t>(r, 1, ns_.size()) - 1];
  }
  std::chrono::steady_clock::time_point start_;
  std::vector<double> ns_;
};

std::string errno_text(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

// Keeps the writer thread busy: while it commits batch N, this thread fills
// N+1 and submits it as soon as the bounded queue has room. With
// `window_entries` > 0 the log is prefilled to that many entries and every
// batch also compacts it back to that size (in the same transaction), as a
// node that snapshots regularly does: LMDB then reuses freed pages inside the
// file instead of growing it.
//
// The batch's entries are spread evenly over `groups` groups (each group's
// own window is window_entries / groups).
void run_group_commit(benchmark::State& state, size_t batch_entries, Index window_entries,
                      GroupId groups = 1) {
  BenchDir dir("commit_" + std::to_string(batch_entries) + "_" + std::to_string(window_entries) +
               "_" + std::to_string(groups));
  if (dir.on_tmpfs()) {
    state.SkipWithError("benchmark dir is on tmpfs; set RAFT_BENCH_DIR to a real disk");
    return;
  }
  EnvOptions options;
  options.dir = dir.path() + "/shard-0";
  options.initial_map_bytes = uint64_t{8} << 30;
  options.queue_capacity = 1;  // One batch syncing, one waiting.
  auto opened = LogEnv::open(options);
  if (!opened.ok()) {
    state.SkipWithError(std::string(opened.status().message()).c_str());
    return;
  }
  LogEnv& env = **opened;
  const Slice payload(std::string(kPayloadBytes, 'x'));
  std::vector<Index> next(groups + 1, 1);
  const Index group_window = window_entries / groups;
  auto make_batch = [&](size_t n) {
    WriteBatch batch;
    for (GroupId g = 1; g <= groups; ++g) {
      const size_t count = n / groups + (g <= n % groups ? 1 : 0);
      std::vector<Entry> entries;
      entries.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        entries.push_back(Entry{1, next[g]++, EntryType::kNormal, payload});
      }
      batch.append(g, std::move(entries));
      if (group_window > 0 && next[g] - 1 > group_window) {
        batch.compact(g, next[g] - 1 - group_window);
      }
    }
    return batch;
  };
  while (next[groups] <= group_window) {  // Prefill, not timed.
    if (!env.write(make_batch(4096)).ok()) {
      state.SkipWithError("prefill failed");
      return;
    }
  }

  std::vector<Completion> done;
  uint64_t batches = 0;
  uint64_t failures = 0;
  auto drain = [&] {
    done.clear();
    env.drain_completions(done);
    for (const auto& c : done) failures += !c.status.ok();
  };
  const EnvStats before = env.stats();
  const uint64_t io_before = proc_write_bytes();
  for (auto _ : state) {
    WriteBatch batch = make_batch(batch_entries);
    while (!env.try_submit(batch).ok()) {
      pollfd p{env.completion_fd(), POLLIN, 0};
      ::poll(&p, 1, 1000);
      drain();
    }
    ++batches;
    drain();
  }
  while (env.batches_in_flight() > 0) {
    pollfd p{env.completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 1000);
    drain();
  }
  drain();
  const EnvStats after = env.stats();
  const uint64_t io_after = proc_write_bytes();
  const double entries = static_cast<double>(batches * batch_entries);
  const double commits = static_cast<double>(after.commits - before.commits);
  state.SetItemsProcessed(static_cast<int64_t>(entries));
  state.counters["entries/s"] = benchmark::Counter(entries, benchmark::Counter::kIsRate);
  state.counters["fsyncs/s"] = benchmark::Counter(commits, benchmark::Counter::kIsRate);
  state.counters["txn/batch"] = commits / static_cast<double>(batches);
  // Transactions the idle writer ran on its own to delete compacted records.
  state.counters["gc_txn"] = static_cast<double>(after.garbage_commits - before.garbage_commits);
  state.counters["wbytes/entry"] = static_cast<double>(io_after - io_before) / entries;
  state.counters["build_us/txn"] =
      static_cast<double>(after.txn_build_ns - before.txn_build_ns) / 1e3 / commits;
  state.counters["commit_us/txn"] =
      static_cast<double>(after.txn_commit_ns - before.txn_commit_ns) / 1e3 / commits;
  if (failures > 0) state.SkipWithError("a batch failed");
}

// A fresh, growing log: every commit also extends data.mdb.
void BM_GroupCommit(benchmark::State& state) {
  run_group_commit(state, static_cast<size_t>(state.range(0)), 0);
}
BENCHMARK(BM_GroupCommit)
    ->Arg(1)
    ->Arg(16)
    ->Arg(256)
    ->Arg(4096)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Steady state: a 256 Ki-entry log compacted by each batch.
void BM_GroupCommitCompacting(benchmark::State& state) {
  run_group_commit(state, static_cast<size_t>(state.range(0)), Index{1} << 18);
}
BENCHMARK(BM_GroupCommitCompacting)
    ->Arg(1)
    ->Arg(16)
    ->Arg(256)
    ->Arg(4096)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// 64 groups per shard, each with 1/64 of the batch: only the group with the
// highest id can use LMDB's append path; the others descend the tree.
void BM_GroupCommit64Groups(benchmark::State& state) {
  run_group_commit(state, static_cast<size_t>(state.range(0)), 0, 64);
}
BENCHMARK(BM_GroupCommit64Groups)->Arg(4096)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The floor for one durable write on this disk: an append of range(0)
// bytes to a file and an fdatasync (the file grows, so the sync also commits
// its new size). 4 KiB is the floor of a commit; 1 MiB is about what LMDB
// writes for a batch of 4096 128-byte entries (see wbytes/entry), so
// BM_GroupCommit/4096's commit_us/txn compares with this one's time.
void BM_RawAppendFdatasync(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  BenchDir dir("raw_" + std::to_string(bytes));
  if (dir.on_tmpfs()) {
    state.SkipWithError("benchmark dir is on tmpfs; set RAFT_BENCH_DIR to a real disk");
    return;
  }
  const std::string path = dir.path() + "/append.dat";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    state.SkipWithError("open failed");
    return;
  }
  std::string block(bytes, 'x');
  off_t offset = 0;
  Latencies latencies;
  const uint64_t io_before = proc_write_bytes();
  for (auto _ : state) {
    latencies.start();
    if (::pwrite(fd, block.data(), block.size(), offset) != static_cast<ssize_t>(bytes) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("pwrite/fdatasync failed");
      break;
    }
    latencies.stop();
    offset += static_cast<off_t>(bytes);
    if (offset >= (off_t{1} << 30)) {  // Stay bounded: start the file over.
      if (::ftruncate(fd, 0) != 0 || ::fsync(fd) != 0) break;
      offset = 0;
    }
  }
  const uint64_t io_after = proc_write_bytes();
  ::close(fd);
  state.counters["fsyncs/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["wbytes/sync"] =
      static_cast<double>(io_after - io_before) / static_cast<double>(state.iterations());
  latencies.publish(state);
}
BENCHMARK(BM_RawAppendFdatasync)
    ->Arg(4096)
    ->Arg(1 << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

constexpr size_t kBlock = 4096;

// How a write is made durable (see the top of the file).
enum class WriteMode { kDsync, kRwfDsync, kDirectDsync };

int open_flags(WriteMode mode) {
  switch (mode) {
    case WriteMode::kDsync:
      return O_RDWR | O_CLOEXEC | O_DSYNC;
    case WriteMode::kRwfDsync:
      return O_RDWR | O_CLOEXEC;
    case WriteMode::kDirectDsync:
      return O_RDWR | O_CLOEXEC | O_DIRECT | O_DSYNC;
  }
  return O_RDWR | O_CLOEXEC;
}

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<char, FreeDeleter>;

// `bytes` filled with `fill`, 4096-aligned (usable with O_DIRECT).
AlignedBuffer aligned_buffer(size_t bytes, char fill) {
  AlignedBuffer b(static_cast<char*>(std::aligned_alloc(kBlock, bytes)));
  std::memset(b.get(), fill, bytes);
  return b;
}

// An io_uring the benchmark owns, set up as the reactor's (net/reactor.cc)
// when the kernel allows. One write at a time: submit, wait for its CQE.
class Ring {
 public:
  Ring() {
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int rc = io_uring_queue_init_params(8, &ring_, &p);
    if (rc != 0) {
      p = io_uring_params{};
      rc = io_uring_queue_init_params(8, &ring_, &p);
    }
    ok_ = rc == 0;
  }
  ~Ring() {
    if (ok_) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  bool ok() const { return ok_; }

  // The CQE's result: bytes written or -errno.
  int write(int fd, const void* data, size_t size, uint64_t offset, bool rwf_dsync) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_write(sqe, fd, data, static_cast<unsigned>(size), offset);
    if (rwf_dsync) sqe->rw_flags = RWF_DSYNC;
    int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc < 0) return rc;
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc < 0) return rc;
    const int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    return res;
  }

 private:
  io_uring ring_{};
  bool ok_ = false;
};

// Empty, or why `path` could not be filled with `bytes` zeros and synced.
std::string preallocate(const std::string& path, uint64_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_text("create " + path, errno);
  const std::string zeros(1 << 20, '\0');
  std::string error;
  for (uint64_t done = 0; done < bytes && error.empty();) {
    const ssize_t n = ::pwrite(fd, zeros.data(), std::min<uint64_t>(zeros.size(), bytes - done),
                               static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) error = errno_text("write " + path, errno);
    if (n > 0) done += static_cast<uint64_t>(n);
  }
  if (error.empty() && ::fdatasync(fd) != 0) error = errno_text("fdatasync " + path, errno);
  ::close(fd);
  return error;
}

// The file of the raw 4 KiB writes: preallocated once per process.
constexpr uint64_t kRawFileBytes = uint64_t{64} << 20;

struct RawFile {
  BenchDir dir{"dsync_write"};
  std::string path = dir.path() + "/prealloc.dat";
  std::string error;
};

const RawFile& raw_file() {
  static RawFile file;
  static const bool created = [] {
    file.error = file.dir.on_tmpfs()
                     ? "benchmark dir is on tmpfs; set RAFT_BENCH_DIR to a real disk"
                     : preallocate(file.path, kRawFileBytes);
    return true;
  }();
  (void)created;
  return file;
}

// The floor: pwrite of 4 KiB at sequential offsets of a preallocated file
// opened O_DSYNC.
void BM_RawDsyncWrite4K(benchmark::State& state) {
  const RawFile& file = raw_file();
  if (!file.error.empty()) {
    state.SkipWithError(file.error.c_str());
    return;
  }
  int fd = ::open(file.path.c_str(), open_flags(WriteMode::kDsync));
  if (fd < 0) {
    state.SkipWithError(errno_text("open", errno).c_str());
    return;
  }
  AlignedBuffer block = aligned_buffer(kBlock, 'x');
  uint64_t offset = 0;
  Latencies latencies;
  for (auto _ : state) {
    latencies.start();
    const ssize_t n = ::pwrite(fd, block.get(), kBlock, static_cast<off_t>(offset));
    latencies.stop();
    if (n != static_cast<ssize_t>(kBlock)) {
      state.SkipWithError(n < 0 ? errno_text("pwrite", errno).c_str() : "short pwrite");
      break;
    }
    offset = (offset + kBlock) % kRawFileBytes;
  }
  ::close(fd);
  latencies.publish(state);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RawDsyncWrite4K)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The same 4 KiB write through io_uring, no journal: what
// BM_JournalAppend/<mode> adds to it is the journal's cost.
void BM_RawUringWrite4K(benchmark::State& state, WriteMode mode) {
  const RawFile& file = raw_file();
  if (!file.error.empty()) {
    state.SkipWithError(file.error.c_str());
    return;
  }
  Ring ring;
  if (!ring.ok()) {
    state.SkipWithError("io_uring_queue_init failed");
    return;
  }
  int fd = ::open(file.path.c_str(), open_flags(mode));
  if (fd < 0) {
    state.SkipWithError(errno_text("open", errno).c_str());
    return;
  }
  AlignedBuffer block = aligned_buffer(kBlock, 'x');
  uint64_t offset = 0;
  Latencies latencies;
  for (auto _ : state) {
    latencies.start();
    const int res = ring.write(fd, block.get(), kBlock, offset, mode == WriteMode::kRwfDsync);
    latencies.stop();
    if (res != static_cast<int>(kBlock)) {
      state.SkipWithError(res < 0 ? errno_text("io_uring write", -res).c_str()
                                  : "short io_uring write");
      break;
    }
    offset = (offset + kBlock) % kRawFileBytes;
  }
  ::close(fd);
  latencies.publish(state);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK_CAPTURE(BM_RawUringWrite4K, dsync, WriteMode::kDsync)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_RawUringWrite4K, rwf_dsync, WriteMode::kRwfDsync)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_RawUringWrite4K, direct_dsync, WriteMode::kDirectDsync)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// A journal of 4 segments of 64 MiB in a fresh dir, one per mode, kept for
// the process: and, for the modes that do not write with the journal's own
// fds, the segment files opened again with the mode's flags.
constexpr uint64_t kSegmentBytes = uint64_t{64} << 20;
constexpr uint32_t kSegments = 4;

struct JournalRig {
  explicit JournalRig(WriteMode m)
      : mode(m), dir("journal_" + std::to_string(static_cast<int>(m))) {}
  ~JournalRig() {
    journal.reset();
    for (const auto& [ino, fd] : fd_by_inode) ::close(fd);
  }
  JournalRig(const JournalRig&) = delete;
  JournalRig& operator=(const JournalRig&) = delete;

  // The fd to write where prepare() said `journal_fd`.
  int fd_for(int journal_fd) {
    if (mode == WriteMode::kDirectDsync) return journal_fd;
    auto it = fd_by_journal_fd.find(journal_fd);
    if (it != fd_by_journal_fd.end()) return it->second;
    struct stat st;
    if (::fstat(journal_fd, &st) != 0) return -1;
    auto own = fd_by_inode.find(st.st_ino);
    if (own == fd_by_inode.end()) return -1;
    fd_by_journal_fd.emplace(journal_fd, own->second);
    return own->second;
  }

  WriteMode mode;
  BenchDir dir;
  std::unique_ptr<Journal> journal;
  std::map<ino_t, int> fd_by_inode;
  std::map<int, int> fd_by_journal_fd;
  AlignedBuffer block = aligned_buffer(kBlock, '\0');
  Index next_index = 1;
  std::string error;
};

JournalRig& journal_rig(WriteMode mode) {
  static std::map<WriteMode, std::unique_ptr<JournalRig>> rigs;
  auto& slot = rigs[mode];
  if (slot != nullptr) return *slot;
  slot = std::make_unique<JournalRig>(mode);
  JournalRig& rig = *slot;
  if (rig.dir.on_tmpfs()) {
    rig.error = "benchmark dir is on tmpfs; set RAFT_BENCH_DIR to a real disk";
    return rig;
  }
  JournalOptions options;
  options.dir = rig.dir.path() + "/journal";
  options.segment_bytes = kSegmentBytes;
  options.segments = kSegments;
  auto opened = Journal::open(options, 0, nullptr);
  if (!opened.ok()) {
    rig.error = std::string(opened.status().message());
    return rig;
  }
  rig.journal = std::move(*opened);
  if (mode != WriteMode::kDirectDsync) {  // The journal's own fds are O_DIRECT | O_DSYNC.
    for (const auto& e : std::filesystem::directory_iterator(options.dir)) {
      const std::string path = e.path().string();
      int fd = ::open(path.c_str(), open_flags(mode));
      struct stat st;
      if (fd < 0 || ::fstat(fd, &st) != 0) {
        rig.error = errno_text("open " + path, errno);
        if (fd >= 0) ::close(fd);
        return rig;
      }
      rig.fd_by_inode.emplace(st.st_ino, fd);
    }
  }
  return rig;
}

// One 1-entry append, from building its batch to Journal::written.
void BM_JournalAppend(benchmark::State& state, WriteMode mode) {
  JournalRig& rig = journal_rig(mode);
  if (!rig.error.empty()) {
    state.SkipWithError(rig.error.c_str());
    return;
  }
  Ring ring;
  if (!ring.ok()) {
    state.SkipWithError("io_uring_queue_init failed");
    return;
  }
  Journal& journal = *rig.journal;
  const bool direct = mode == WriteMode::kDirectDsync;
  const Slice payload(std::string(kPayloadBytes, 'x'));
  std::string encoded;
  uint64_t bytes = 0;
  Latencies latencies;
  for (auto _ : state) {
    latencies.start();
    WriteBatch batch;
    batch.append(1, std::vector<Entry>{Entry{1, rig.next_index++, EntryType::kNormal, payload}});
    encoded.clear();
    encode_batch(batch, encoded);
    auto w = journal.prepare(encoded);
    if (!w.ok() && absl::IsResourceExhausted(w.status())) {
      journal.checkpoint(journal.last_durable_seq());
      w = journal.prepare(encoded);
    }
    if (!w.ok()) {
      state.SkipWithError(std::string(w.status().message()).c_str());
      break;
    }
    const int fd = rig.fd_for(w->fd);
    if (fd < 0) {
      state.SkipWithError("no fd of ours for the journal's segment");
      break;
    }
    const char* data = w->data;
    if (direct) {
      if (w->size != kBlock || w->offset % kBlock != 0) {
        state.SkipWithError("journal record not 4 KiB at a 4096-aligned offset");
        break;
      }
    }
    const int res = ring.write(fd, data, w->size, w->offset, mode == WriteMode::kRwfDsync);
    if (res != static_cast<int>(w->size)) {
      journal.failed(w->seq);
      state.SkipWithError(res < 0 ? errno_text("io_uring write", -res).c_str()
                                  : "short io_uring write");
      break;
    }
    journal.written(w->seq);
    latencies.stop();
    bytes += w->size;
    // Stands in for LMDB syncing what the journal holds (nothing replays).
    if (w->seq % 1024 == 0) journal.checkpoint(w->seq);
  }
  latencies.publish(state);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (state.iterations() > 0) {
    state.counters["bytes/append"] =
        static_cast<double>(bytes) / static_cast<double>(state.iterations());
  }
}
BENCHMARK_CAPTURE(BM_JournalAppend, dsync, WriteMode::kDsync)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_JournalAppend, rwf_dsync, WriteMode::kRwfDsync)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_JournalAppend, direct_dsync, WriteMode::kDirectDsync)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace raft::storage

BENCHMARK_MAIN();
