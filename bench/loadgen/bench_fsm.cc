#include "bench/loadgen/bench_fsm.h"

#include <cstring>
#include <span>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/checksum.h"
#include "examples/memstore/kv_state_machine.h"

namespace raft::bench {
namespace {

constexpr size_t kHeaderBytes = 3 * sizeof(uint64_t);

}  // namespace

uint64_t key_digest(std::string_view key) { return checksum64(key); }

std::string format_counts(const BenchCounts& c) {
  return absl::StrCat(c.count, " ", c.bytes, " ", c.digest);
}

absl::StatusOr<BenchCounts> parse_counts(std::string_view text) {
  const std::string owned(text);
  std::vector<std::string> parts = absl::StrSplit(owned, ' ');
  BenchCounts c;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &c.count) ||
      !absl::SimpleAtoi(parts[1], &c.bytes) || !absl::SimpleAtoi(parts[2], &c.digest)) {
    return absl::InvalidArgumentError(absl::StrCat("not a count answer: ", owned.substr(0, 64)));
  }
  return c;
}

bool put_key(std::string_view command, std::string_view* key) {
  if (command.size() < 5 || command[0] != 'P') return false;
  uint32_t n = 0;
  std::memcpy(&n, command.data() + 1, 4);
  if (command.size() < 5 + static_cast<size_t>(n)) return false;
  *key = command.substr(5, n);
  return true;
}

BenchStateMachine::BenchStateMachine(FsmMode mode) : mode_(mode) {
  if (mode_ == FsmMode::kKv) kv_ = std::make_unique<memstore::KvStateMachine>();
}

BenchStateMachine::~BenchStateMachine() = default;

std::string BenchStateMachine::apply(uint64_t index, std::string_view data) {
  std::string_view key;
  if (put_key(data, &key)) {
    ++counts_.count;
    counts_.bytes += data.size();
    counts_.digest += key_digest(key);
  }
  if (kv_) return kv_->apply(index, data);
  return {};
}

absl::StatusOr<std::string> BenchStateMachine::query(std::string_view request) const {
  if (request == kCountQuery) return format_counts(counts_);
  if (kv_) return kv_->query(request);
  return absl::UnimplementedError("count mode keeps no values; only the count query");
}

namespace {

// The counts header, then the key-value view (if any).
class BenchView final : public SnapshotView {
 public:
  BenchView(std::string header, std::unique_ptr<SnapshotView> kv)
      : header_(std::move(header)), kv_(std::move(kv)) {}
  absl::Status write(SnapshotWriter& writer) override {
    if (auto s = writer.write(header_); !s.ok()) return s;
    return kv_ ? kv_->write(writer) : absl::OkStatus();
  }

 private:
  std::string header_;
  std::unique_ptr<SnapshotView> kv_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SnapshotView>> BenchStateMachine::snapshot_view() {
  std::string header(kHeaderBytes, '\0');
  std::memcpy(header.data(), &counts_.count, 8);
  std::memcpy(header.data() + 8, &counts_.bytes, 8);
  std::memcpy(header.data() + 16, &counts_.digest, 8);
  std::unique_ptr<SnapshotView> kv;
  if (kv_) {
    absl::StatusOr<std::unique_ptr<SnapshotView>> v = kv_->snapshot_view();
    if (!v.ok()) return v.status();
    kv = std::move(*v);
  }
  return std::unique_ptr<SnapshotView>(new BenchView(std::move(header), std::move(kv)));
}

absl::Status BenchStateMachine::snapshot(SnapshotWriter& writer) {
  char header[kHeaderBytes];
  std::memcpy(header, &counts_.count, 8);
  std::memcpy(header + 8, &counts_.bytes, 8);
  std::memcpy(header + 16, &counts_.digest, 8);
  if (auto s = writer.write(std::string_view(header, kHeaderBytes)); !s.ok()) return s;
  return kv_ ? kv_->snapshot(writer) : absl::OkStatus();
}

absl::Status BenchStateMachine::restore(SnapshotReader& reader) {
  char header[kHeaderBytes];
  size_t got = 0;
  while (got < kHeaderBytes) {
    auto n = reader.read(std::span<char>(header + got, kHeaderBytes - got));
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::DataLossError("bench snapshot: truncated header");
    got += *n;
  }
  BenchCounts c;
  std::memcpy(&c.count, header, 8);
  std::memcpy(&c.bytes, header + 8, 8);
  std::memcpy(&c.digest, header + 16, 8);
  if (kv_) {
    auto fresh = std::make_unique<memstore::KvStateMachine>();
    if (auto s = fresh->restore(reader); !s.ok()) return s;
    kv_ = std::move(fresh);
  }
  counts_ = c;
  return absl::OkStatus();
}

}  // namespace raft::bench
