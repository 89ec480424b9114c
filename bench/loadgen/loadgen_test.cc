// Tests of the load generator's parts: the latency histogram's buckets and
// percentiles, and the benchmark state machine's counts, digest and
// snapshot round trip.
#include <random>
#include <span>
#include <string>

#include "bench/loadgen/bench_fsm.h"
#include "bench/loadgen/histogram.h"
#include "examples/memstore/kv_state_machine.h"
#include "gtest/gtest.h"

namespace raft::bench {
namespace {

TEST(LatencyHistogram, BucketsCoverEveryValueAndAreTight) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = rng() >> (rng() % 64);
    size_t b = LatencyHistogram::bucket_of(v);
    ASSERT_LE(LatencyHistogram::bucket_lower(b), v) << v;
    ASSERT_GE(LatencyHistogram::bucket_upper(b), v) << v;
    // Relative width at most 1/128.
    ASSERT_LE(
        static_cast<double>(LatencyHistogram::bucket_upper(b) - LatencyHistogram::bucket_lower(b)),
        static_cast<double>(v) / 128.0 + 1.0)
        << v;
  }
  EXPECT_EQ(LatencyHistogram::bucket_of(255), 255u);
  EXPECT_EQ(LatencyHistogram::bucket_of(256), 256u);
  EXPECT_EQ(LatencyHistogram::bucket_upper(LatencyHistogram::bucket_of(UINT64_MAX)), UINT64_MAX);
}

TEST(LatencyHistogram, PercentilesOfUniformValues) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 us .. 100 ms.
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.max(), 100000000u);
  EXPECT_EQ(h.min(), 1000u);
  auto near = [](uint64_t got, double want) {
    return static_cast<double>(got) >= want && static_cast<double>(got) <= want * 1.01;
  };
  EXPECT_TRUE(near(h.percentile(50), 50000000.0)) << h.percentile(50);
  EXPECT_TRUE(near(h.percentile(99), 99000000.0)) << h.percentile(99);
  EXPECT_TRUE(near(h.percentile(99.9), 99900000.0)) << h.percentile(99.9);
  EXPECT_EQ(h.percentile(100), h.max());
  LatencyHistogram other;
  other.record(200000000);
  h.merge(other);
  EXPECT_EQ(h.max(), 200000000u);
  EXPECT_EQ(h.count(), 100001u);
  h.clear();
  EXPECT_EQ(h.percentile(50), 0u);
}

class StringWriter : public SnapshotWriter {
 public:
  absl::Status write(std::string_view bytes) override {
    data.append(bytes);
    return absl::OkStatus();
  }
  std::string data;
};

class StringReader : public SnapshotReader {
 public:
  explicit StringReader(std::string d) : data_(std::move(d)) {}
  absl::StatusOr<size_t> read(std::span<char> buffer) override {
    size_t n = std::min(buffer.size(), std::min<size_t>(data_.size() - pos_, 7));  // Small reads.
    std::copy_n(data_.data() + pos_, n, buffer.data());
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

TEST(BenchStateMachine, CountsDigestAndSnapshotInBothModes) {
  for (FsmMode mode : {FsmMode::kCount, FsmMode::kKv}) {
    BenchStateMachine fsm(mode);
    uint64_t digest = 0;
    for (int i = 0; i < 50; ++i) {
      std::string key = "k" + std::to_string(i);
      fsm.apply(static_cast<uint64_t>(i + 1), memstore::encode_put(key, "value" + key));
      digest += key_digest(key);
    }
    fsm.apply(51, "not a put");
    auto counts = parse_counts(*fsm.query(kCountQuery));
    ASSERT_TRUE(counts.ok());
    EXPECT_EQ(counts->count, 50u);
    EXPECT_EQ(counts->digest, digest);
    if (mode == FsmMode::kKv) {
      EXPECT_EQ(*fsm.query("k7"), "valuek7");
    } else {
      EXPECT_EQ(fsm.query("k7").status().code(), absl::StatusCode::kUnimplemented);
    }
    StringWriter w;
    ASSERT_TRUE(fsm.snapshot(w).ok());
    BenchStateMachine copy(mode);
    StringReader r(w.data);
    ASSERT_TRUE(copy.restore(r).ok());
    EXPECT_EQ(copy.counts().count, 50u);
    EXPECT_EQ(copy.counts().digest, digest);
    if (mode == FsmMode::kKv) {
      EXPECT_EQ(*copy.query("k49"), "valuek49");
    }
  }
}

TEST(BenchCounts, ParseRejectsGarbage) {
  EXPECT_FALSE(parse_counts("1 2").ok());
  EXPECT_FALSE(parse_counts("a b c").ok());
  auto c = parse_counts(format_counts(BenchCounts{3, 4, 18446744073709551615ull}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->digest, 18446744073709551615ull);
}

}  // namespace
}  // namespace raft::bench
