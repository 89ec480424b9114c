// Counts heap allocations made through operator new while an
// AllocationCounter lives. Include it in exactly one file of a test binary:
// it replaces the global operator new and delete of that binary.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace raft::net::testing {

inline std::atomic<bool> g_count_allocations{false};
inline std::atomic<uint64_t> g_allocations{0};

// Counts from construction; one at a time.
class AllocationCounter {
 public:
  AllocationCounter() {
    g_allocations = 0;
    g_count_allocations = true;
  }
  ~AllocationCounter() { g_count_allocations = false; }
  uint64_t count() const { return g_allocations.load(); }
};

}  // namespace raft::net::testing

// GCC pairs the malloc in this operator new with the free in this operator
// delete only if it sees both as replacements; it does not, hence the pragma.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(size_t bytes) {
  if (raft::net::testing::g_count_allocations.load(std::memory_order_relaxed)) {
    raft::net::testing::g_allocations.fetch_add(1);
  }
  void* p = std::malloc(bytes == 0 ? 1 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
