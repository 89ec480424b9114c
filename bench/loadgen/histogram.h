// LatencyHistogram: an HdrHistogram-like log-bucketed histogram of
// nanosecond values. Values below 256 are exact; above, each power of two is
// split into 128 linear sub-buckets, so a reported percentile is at most
// 1/128 (0.8 %) above the true value. Fixed size (7424 counters), no
// allocation while recording, mergeable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace raft::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void record(uint64_t value_ns);
  void merge(const LatencyHistogram& other);
  void clear();

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }
  // The smallest recorded value v such that at least `percentile`% of the
  // values are <= v, rounded up to its bucket's upper bound (capped at max()).
  // 0 when empty.
  uint64_t percentile(double percentile) const;

  // Bucket layout (exposed for tests).
  static size_t bucket_of(uint64_t value);
  static uint64_t bucket_upper(size_t bucket);
  static uint64_t bucket_lower(size_t bucket);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace raft::bench
