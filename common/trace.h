// Latency trace points, compiled in only with -DRAFT_LATENCY_TRACE=ON.
//
// RAFT_TRACE_POINT("name") records (CLOCK_MONOTONIC ns, thread id, name) in a
// fixed in-memory array; at process exit the records are written to the file
// named by $RINGRAFT_TRACE_FILE (nothing when unset; "%p" in it becomes the
// process id). CLOCK_MONOTONIC is the
// same clock in every process on the machine, so the files of the nodes of a
// local cluster merge into one time line (bench/loadgen/trace_w1.py).
// Off (the default), the macro expands to nothing.
#pragma once

#ifdef RAFT_LATENCY_TRACE

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace raft::trace {

struct Record {
  uint64_t ns;
  int64_t tid;
  const char* name;
};

class Buffer {
 public:
  static constexpr size_t kCapacity = 1 << 22;
  Buffer() : records_(new Record[kCapacity]) {}
  ~Buffer() {
    const char* env = std::getenv("RINGRAFT_TRACE_FILE");
    if (env == nullptr) return;
    std::string path = env;  // "%p" becomes the process id.
    if (size_t p = path.find("%p"); p != std::string::npos)
      path.replace(p, 2, std::to_string(::getpid()));
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) return;
    const size_t n = std::min(next_.load(), kCapacity);
    for (size_t i = 0; i < n; ++i) {
      std::fprintf(f, "%llu %lld %s\n", static_cast<unsigned long long>(records_[i].ns),
                   static_cast<long long>(records_[i].tid), records_[i].name);
    }
    std::fclose(f);
  }
  void add(const char* name) {
    const size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= kCapacity) return;
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    thread_local const int64_t tid = ::syscall(SYS_gettid);
    records_[i] =
        Record{static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec),
               tid, name};
  }

 private:
  std::unique_ptr<Record[]> records_;
  std::atomic<size_t> next_{0};
};

inline Buffer& buffer() {
  static Buffer b;
  return b;
}

}  // namespace raft::trace

#define RAFT_TRACE_POINT(name) ::raft::trace::buffer().add(name)
#else
#define RAFT_TRACE_POINT(name) \
  do {                         \
  } while (false)
#endif
