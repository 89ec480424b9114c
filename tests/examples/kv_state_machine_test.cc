#include "examples/memstore/kv_state_machine.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>

namespace raft::memstore {
namespace {

class StringWriter : public SnapshotWriter {
 public:
  absl::Status write(std::string_view bytes) override {
    out.append(bytes);
    return absl::OkStatus();
  }
  std::string out;
};

// Hands out the bytes in small, uneven reads, as a file would.
class StringReader : public SnapshotReader {
 public:
  explicit StringReader(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<size_t> read(std::span<char> buffer) override {
    size_t n = std::min({buffer.size(), data_.size() - pos_, size_t{7}});
    std::memcpy(buffer.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

TEST(KvStateMachine, PutUpdateDeleteResults) {
  KvStateMachine sm;
  EXPECT_EQ(sm.apply(1, encode_put("a", "1")), "created");
  EXPECT_EQ(sm.apply(2, encode_put("a", "2")), "updated");
  EXPECT_EQ(*sm.query("a"), "2");
  EXPECT_EQ(sm.apply(3, encode_delete("a")), "deleted");
  EXPECT_EQ(sm.apply(4, encode_delete("a")), "absent");
  EXPECT_EQ(sm.query("a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(sm.last_applied(), 4u);
}

TEST(KvStateMachine, MalformedCommandsAreDeterministicErrors) {
  KvStateMachine sm;
  EXPECT_EQ(sm.apply(1, ""), "error: empty command");
  EXPECT_EQ(sm.apply(2, "X"), "error: bad key");
  std::string put = encode_put("k", "v");
  EXPECT_EQ(sm.apply(3, put.substr(0, put.size() - 1)), "error: bad value");
  EXPECT_EQ(sm.apply(4, put + "x"), "error: bad value");
  put[0] = 'Z';
  EXPECT_EQ(sm.apply(5, put), "error: unknown op");
  EXPECT_EQ(sm.size(), 0u);
}

TEST(KvStateMachine, SnapshotRestoreRoundTrip) {
  std::mt19937_64 rng(7);
  KvStateMachine a;
  for (uint64_t i = 1; i <= 500; ++i) {
    std::string key = "key-" + std::to_string(rng() % 200);
    if (rng() % 4 == 0) {
      a.apply(i, encode_delete(key));
    } else {
      a.apply(i, encode_put(key, std::string(rng() % 50, static_cast<char>('a' + rng() % 26))));
    }
  }
  StringWriter w;
  ASSERT_TRUE(a.snapshot(w).ok());
  KvStateMachine b;
  b.apply(1, encode_put("stale", "x"));
  StringReader r(w.out);
  ASSERT_TRUE(b.restore(r).ok());
  EXPECT_EQ(a.map(), b.map());
}

TEST(KvStateMachine, DamagedSnapshotIsRefusedAndStateKept) {
  KvStateMachine a;
  a.apply(1, encode_put("k1", "v1"));
  a.apply(2, encode_put("k2", "v2"));
  StringWriter w;
  ASSERT_TRUE(a.snapshot(w).ok());
  for (size_t cut : {size_t{0}, size_t{5}, w.out.size() / 2, w.out.size() - 1}) {
    KvStateMachine b;
    b.apply(1, encode_put("mine", "x"));
    StringReader r(w.out.substr(0, cut));
    EXPECT_EQ(b.restore(r).code(), absl::StatusCode::kDataLoss) << "cut " << cut;
    EXPECT_EQ(*b.query("mine"), "x");
  }
}

// The view is the state when it was made, whatever is applied after it
// (the background thread writes it while the shard goes on), and writes
// after it do not change what it shares (copy on write).
TEST(KvStateMachine, ViewIsAPointInTimeCopyOnWriteShare) {
  KvStateMachine a;
  for (uint64_t i = 1; i <= 300; ++i) {
    a.apply(i, encode_put("k" + std::to_string(i), std::string(i % 17, 'v')));
  }
  StringWriter expected;
  ASSERT_TRUE(a.snapshot(expected).ok());
  const auto then = a.map();
  auto view = a.snapshot_view();
  ASSERT_TRUE(view.ok()) << view.status();
  for (uint64_t i = 1; i <= 300; i += 2) a.apply(300 + i, encode_delete("k" + std::to_string(i)));
  for (uint64_t i = 1; i <= 50; ++i) a.apply(600 + i, encode_put("k" + std::to_string(i), "new"));
  StringWriter w;
  ASSERT_TRUE((*view)->write(w).ok());
  EXPECT_EQ(w.out, expected.out);
  KvStateMachine b;
  StringReader r(w.out);
  ASSERT_TRUE(b.restore(r).ok());
  EXPECT_EQ(b.map(), then);
  EXPECT_EQ(b.size(), 300u);
  EXPECT_NE(a.map(), then);
  EXPECT_EQ(*a.query("k2"), "new");
}

// As the runtime uses it: each view is written on another thread while this
// one goes on applying; every view's bytes are the state when it was taken,
// and writes after the view is gone go in place again (TSan would report a
// write that is not ordered after the view's reads).
TEST(KvStateMachine, ViewsWrittenOnAnotherThreadWhileApplying) {
  KvStateMachine a;
  uint64_t index = 0;
  for (int i = 0; i < 2000; ++i) a.apply(++index, encode_put("k" + std::to_string(i), "v0"));
  for (int round = 1; round <= 5; ++round) {
    SCOPED_TRACE(round);
    StringWriter expected;
    ASSERT_TRUE(a.snapshot(expected).ok());
    auto view = a.snapshot_view();
    ASSERT_TRUE(view.ok()) << view.status();
    StringWriter written;
    absl::Status status;
    std::thread writer([&] {
      status = (*view)->write(written);
      view->reset();  // Destroyed on the writing thread, as the runtime does.
    });
    for (int i = 0; i < 2000; i += 3) {
      a.apply(++index, encode_put("k" + std::to_string(i), "v" + std::to_string(round)));
    }
    writer.join();
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(written.out, expected.out);
    // No view left: these go in place.
    for (int i = 1; i < 2000; i += 3) a.apply(++index, encode_delete("k" + std::to_string(i)));
  }
  EXPECT_EQ(*a.query("k0"), "v5");
  EXPECT_FALSE(a.query("k1").ok());
}

}  // namespace
}  // namespace raft::memstore
