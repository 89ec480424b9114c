#include "examples/memstore/kv_state_machine.h"

#include <atomic>
#include <cstring>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"

namespace raft::memstore {
namespace {

constexpr char kPut = 'P';
constexpr char kDelete = 'D';
constexpr std::string_view kSnapshotMagic = "MEMSTORE1";

void put_u32(std::string* out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out->append(b, 4);
}

bool get_u32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  std::memcpy(v, in->data(), 4);
  in->remove_prefix(4);
  return true;
}

bool get_bytes(std::string_view* in, size_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

// Writes the buckets in the snapshot format (records, terminator, count).
absl::Status write_buckets(
    const std::array<std::shared_ptr<const KvStateMachine::Map>, KvStateMachine::kBuckets>& buckets,
    SnapshotWriter& writer) {
  std::string buf(kSnapshotMagic);
  uint64_t n = 0;
  for (const auto& bucket : buckets) {
    for (const auto& [k, v] : *bucket) {
      put_u32(&buf, static_cast<uint32_t>(k.size()));
      buf.append(k);
      put_u32(&buf, static_cast<uint32_t>(v.size()));
      buf.append(v);
      ++n;
      if (buf.size() >= (1 << 20)) {
        if (auto s = writer.write(buf); !s.ok()) return s;
        buf.clear();
      }
    }
  }
  // The count closes the file, so a truncated snapshot is detected on restore.
  put_u32(&buf, 0xFFFFFFFFu);
  char count[8];
  std::memcpy(count, &n, 8);
  buf.append(count, 8);
  return writer.write(buf);
}

// The buckets shared at the moment the view was made; they are never
// changed while shared (KvStateMachine::writable copies first). Destroyed
// once written (on the background thread), it tells the machine it has
// stopped reading.
class KvView final : public SnapshotView {
 public:
  KvView(const std::array<std::shared_ptr<const KvStateMachine::Map>, KvStateMachine::kBuckets>&
             buckets,
         std::shared_ptr<std::atomic<uint64_t>> alive)
      : buckets_(buckets), alive_(std::move(alive)) {}
  ~KvView() override { alive_->fetch_sub(1, std::memory_order_release); }
  absl::Status write(SnapshotWriter& writer) override { return write_buckets(buckets_, writer); }

 private:
  std::array<std::shared_ptr<const KvStateMachine::Map>, KvStateMachine::kBuckets> buckets_;
  std::shared_ptr<std::atomic<uint64_t>> alive_;
};

}  // namespace

KvStateMachine::KvStateMachine() {
  for (auto& b : buckets_) b = std::make_shared<const Map>();
  own_.fill(true);
}

size_t KvStateMachine::bucket_of(std::string_view key) {
  return std::hash<std::string_view>{}(key) % kBuckets;
}

KvStateMachine::Map& KvStateMachine::writable(size_t bucket) {
  std::shared_ptr<const Map>& b = buckets_[bucket];
  if (!own_[bucket]) {
    // A view took it. In place only once every view is destroyed: their
    // release of views_alive_ (read here with acquire) orders their reads
    // before this write. A view still alive (or still sharing the bucket):
    // copy on write.
    if (b.use_count() > 1 || views_alive_->load(std::memory_order_acquire) != 0) {
      b = std::make_shared<const Map>(*b);
    }
    own_[bucket] = true;
  }
  return const_cast<Map&>(*b);
}

KvStateMachine::Map KvStateMachine::map() const {
  Map out;
  for (const auto& b : buckets_) out.insert(b->begin(), b->end());
  return out;
}

std::string encode_put(std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(9 + key.size() + value.size());
  out.push_back(kPut);
  put_u32(&out, static_cast<uint32_t>(key.size()));
  out.append(key);
  put_u32(&out, static_cast<uint32_t>(value.size()));
  out.append(value);
  return out;
}

std::string encode_delete(std::string_view key) {
  std::string out;
  out.push_back(kDelete);
  put_u32(&out, static_cast<uint32_t>(key.size()));
  out.append(key);
  return out;
}

std::string KvStateMachine::apply(uint64_t index, std::string_view data) {
  last_applied_ = index;
  if (data.empty()) return "error: empty command";
  char op = data[0];
  data.remove_prefix(1);
  uint32_t key_len = 0;
  std::string_view key;
  if (!get_u32(&data, &key_len) || !get_bytes(&data, key_len, &key)) return "error: bad key";
  const size_t bucket = bucket_of(key);
  if (op == kDelete) {
    if (!data.empty()) return "error: trailing bytes";
    if (!buckets_[bucket]->contains(key)) return "absent";
    Map& map = writable(bucket);
    map.erase(map.find(key));
    --size_;
    return "deleted";
  }
  if (op != kPut) return "error: unknown op";
  uint32_t value_len = 0;
  std::string_view value;
  if (!get_u32(&data, &value_len) || !get_bytes(&data, value_len, &value) || !data.empty()) {
    return "error: bad value";
  }
  auto [it, inserted] = writable(bucket).try_emplace(std::string(key), value);
  if (!inserted) it->second.assign(value);
  if (inserted) ++size_;
  return inserted ? "created" : "updated";
}

absl::StatusOr<std::string> KvStateMachine::query(std::string_view key) const {
  const Map& map = *buckets_[bucket_of(key)];
  auto it = map.find(key);
  if (it == map.end()) return absl::NotFoundError("key not found");
  return it->second;
}

absl::StatusOr<std::unique_ptr<SnapshotView>> KvStateMachine::snapshot_view() {
  own_.fill(false);
  views_alive_->fetch_add(1, std::memory_order_relaxed);
  return std::unique_ptr<SnapshotView>(new KvView(buckets_, views_alive_));
}

absl::Status KvStateMachine::snapshot(SnapshotWriter& writer) {
  return write_buckets(buckets_, writer);
}

absl::Status KvStateMachine::restore(SnapshotReader& reader) {
  // Record by record from the stream: only the restored map is in memory.
  auto read = [&reader](std::span<char> out) -> absl::Status {
    absl::Status s = read_exactly(reader, out);
    if (s.code() == absl::StatusCode::kDataLoss && s.message() == "snapshot ends early") {
      return absl::DataLossError("memstore snapshot: truncated");
    }
    return s;
  };
  char magic[kSnapshotMagic.size()];
  if (auto s = read(magic); !s.ok()) return s;
  if (std::string_view(magic, sizeof magic) != kSnapshotMagic) {
    return absl::DataLossError("memstore snapshot: bad magic");
  }
  std::vector<Map> restored(kBuckets);
  size_t records = 0;
  std::string key;
  std::string value;
  for (;;) {
    uint32_t key_len = 0;
    if (auto s = read(std::span<char>(reinterpret_cast<char*>(&key_len), 4)); !s.ok()) return s;
    if (key_len == 0xFFFFFFFFu) break;
    if (key_len > (64u << 20)) return absl::DataLossError("memstore snapshot: bad key length");
    key.resize(key_len);
    if (auto s = read(key); !s.ok()) return s;
    uint32_t value_len = 0;
    if (auto s = read(std::span<char>(reinterpret_cast<char*>(&value_len), 4)); !s.ok()) return s;
    if (value_len > (1u << 30)) return absl::DataLossError("memstore snapshot: bad value length");
    value.resize(value_len);
    if (auto s = read(value); !s.ok()) return s;
    restored[bucket_of(key)].insert_or_assign(key, value);
    ++records;
  }
  uint64_t count = 0;
  if (auto s = read(std::span<char>(reinterpret_cast<char*>(&count), 8)); !s.ok()) return s;
  char extra;
  absl::StatusOr<size_t> more = reader.read(std::span<char>(&extra, 1));
  if (!more.ok()) return more.status();
  if (*more != 0) return absl::DataLossError("memstore snapshot: bad trailer");
  if (count != records) {
    return absl::DataLossError(
        absl::StrCat("memstore snapshot: count ", count, " but ", records, " records"));
  }
  size_t size = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    size += restored[b].size();
    buckets_[b] = std::make_shared<const Map>(std::move(restored[b]));
  }
  own_.fill(true);  // New buckets, seen by no view.
  size_ = size;
  return absl::OkStatus();
}

}  // namespace raft::memstore
