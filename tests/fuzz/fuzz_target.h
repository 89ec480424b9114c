// The contract between a fuzz target and its two drivers: libFuzzer (clang,
// RAFT_FUZZ=ON) and the corpus-replay main (every gcc build, label `fuzz`).
// Each target defines LLVMFuzzerTestOneInput and `fuzz_seed_corpus()`, a
// small set of deterministic inputs that reach deep into the decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace raft::net::fuzz {

std::vector<std::string> fuzz_seed_corpus();

// Aborts (a finding) when `cond` is false: an invariant of the decoder broke.
inline void fuzz_check(bool cond) {
  if (!cond) __builtin_trap();
}

}  // namespace raft::net::fuzz
