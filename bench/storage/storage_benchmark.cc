// Storage benchmarks on the real disk: durable 128-byte entries per second
// and commits (one write transaction, one full LMDB sync each) per second
// through the group-commit writer thread, at 1, 16, 256 and 4096 entries per
// batch; bytes written to the device per entry (write_bytes of /proc/self/io);
// and, in the same run, the raw floor: one 4 KiB append + fdatasync.
//
// The directory is $RAFT_BENCH_DIR, else /tmp (refused if it is a tmpfs,
// where a sync costs nothing).
//
//   build/<type>/bench/storage/storage_benchmark [--benchmark_min_time=2]
#include <fcntl.h>
#include <poll.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "benchmark/benchmark.h"
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
  const uint64_t io_before = proc_write_bytes();
  for (auto _ : state) {
    if (::pwrite(fd, block.data(), block.size(), offset) != static_cast<ssize_t>(bytes) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("pwrite/fdatasync failed");
      break;
    }
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
}
BENCHMARK(BM_RawAppendFdatasync)
    ->Arg(4096)
    ->Arg(1 << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace raft::storage

BENCHMARK_MAIN();
