// Prng: the simulator's one source of randomness. A small, fully specified
// generator (xoshiro256** seeded through SplitMix64) with its own uniform
// draws, so that a seed replays bit-for-bit on every compiler and library
// (std::uniform_int_distribution is implementation-defined).
#pragma once

#include <cstdint>

#include "common/check.h"

namespace raft::sim {

class Prng {
 public:
  explicit Prng(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& word : s_) word = splitmix64(x);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n). Requires n > 0. Rejection sampling keeps it unbiased.
  uint64_t below(uint64_t n) {
    RAFT_CHECK(n > 0);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
      x = next();
    } while (x >= limit);
    return x % n;
  }

  // Uniform in [lo, hi]. Requires lo <= hi.
  uint64_t range(uint64_t lo, uint64_t hi) {
    RAFT_CHECK(lo <= hi);
    return lo + below(hi - lo + 1);
  }

  // True with probability per_mille / 1000.
  bool chance(uint32_t per_mille) { return below(1000) < per_mille; }

  // A fresh generator whose stream does not overlap this one in practice;
  // used to give each concern (network, faults, core seeds) its own stream so
  // that adding a draw in one does not reshuffle the others.
  Prng fork() { return Prng(next()); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  uint64_t s_[4];
};

// Order-sensitive 64-bit mixing hash, for event traces and log prefix chains.
inline uint64_t mix_hash(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

}  // namespace raft::sim
