#include "bench/loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace raft::bench {
namespace {

constexpr int kSubBits = 7;  // 128 sub-buckets per power of two.
constexpr uint64_t kSub = uint64_t{1} << kSubBits;
constexpr uint64_t kExact = kSub * 2;  // Values below are exact.
constexpr size_t kBuckets = kExact + (63 - kSubBits) * kSub;

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

size_t LatencyHistogram::bucket_of(uint64_t v) {
  if (v < kExact) return static_cast<size_t>(v);
  const int m = 63 - std::countl_zero(v);  // >= kSubBits + 1.
  const int shift = m - kSubBits;
  const uint64_t sub = (v >> shift) - kSub;  // [0, kSub).
  return static_cast<size_t>(kExact + static_cast<uint64_t>(m - kSubBits - 1) * kSub + sub);
}

uint64_t LatencyHistogram::bucket_lower(size_t b) {
  if (b < kExact) return b;
  const uint64_t rel = b - kExact;
  const int m = static_cast<int>(rel / kSub) + kSubBits + 1;
  const uint64_t sub = rel % kSub + kSub;
  return sub << (m - kSubBits);
}

uint64_t LatencyHistogram::bucket_upper(size_t b) {
  if (b < kExact) return b;
  const uint64_t rel = b - kExact;
  const int m = static_cast<int>(rel / kSub) + kSubBits + 1;
  const uint64_t width = uint64_t{1} << (m - kSubBits);
  return bucket_lower(b) + (width - 1);
}

void LatencyHistogram::record(uint64_t v) {
  ++counts_[bucket_of(v)];
  ++count_;
  sum_ += v;
  max_ = std::max(max_, v);
  min_ = std::min(min_, v);
}

void LatencyHistogram::merge(const LatencyHistogram& o) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
  min_ = std::min(min_, o.min_);
}

void LatencyHistogram::clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = sum_ = max_ = 0;
  min_ = UINT64_MAX;
}

uint64_t LatencyHistogram::percentile(double p) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (seen >= rank) return std::min(bucket_upper(b), max_);
  }
  return max_;
}

}  // namespace raft::bench
