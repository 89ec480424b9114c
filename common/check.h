// Always-on assertions. Anything only a bug can cause is checked with
// RAFT_CHECK and aborts with a message, in release builds too (STYLE.md #5).
// This header is the base layer: standard library only, usable from
// engine/core as well as from every other layer.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace raft::detail {
[[noreturn]] inline void check_failed(const char* expr, const char* file, int line,
                                      const char* msg) {
  std::fprintf(stderr, "%s:%d: check failed: %s%s%s\n", file, line, expr, msg[0] ? ": " : "", msg);
  std::fflush(stderr);
  std::abort();
}
}  // namespace raft::detail

#define RAFT_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (__builtin_expect(!(cond), 0)) ::raft::detail::check_failed(#cond, __FILE__, __LINE__, ""); \
  } while (0)

#define RAFT_CHECK_MSG(cond, msg)                                   \
  do {                                                              \
    if (__builtin_expect(!(cond), 0))                               \
      ::raft::detail::check_failed(#cond, __FILE__, __LINE__, msg); \
  } while (0)
