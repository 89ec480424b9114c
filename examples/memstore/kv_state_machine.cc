#include "examples/memstore/kv_state_machine.h"

#include <cstring>

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

}  // namespace

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
  if (op == kDelete) {
    if (!data.empty()) return "error: trailing bytes";
    auto it = map_.find(key);
    if (it == map_.end()) return "absent";
    map_.erase(it);
    return "deleted";
  }
  if (op != kPut) return "error: unknown op";
  uint32_t value_len = 0;
  std::string_view value;
  if (!get_u32(&data, &value_len) || !get_bytes(&data, value_len, &value) || !data.empty()) {
    return "error: bad value";
  }
  auto [it, inserted] = map_.try_emplace(std::string(key), value);
  if (!inserted) it->second.assign(value);
  return inserted ? "created" : "updated";
}

absl::StatusOr<std::string> KvStateMachine::query(std::string_view key) const {
  auto it = map_.find(key);
  if (it == map_.end()) return absl::NotFoundError("key not found");
  return it->second;
}

absl::Status KvStateMachine::snapshot(SnapshotWriter& writer) {
  std::string buf(kSnapshotMagic);
  for (const auto& [k, v] : map_) {
    put_u32(&buf, static_cast<uint32_t>(k.size()));
    buf.append(k);
    put_u32(&buf, static_cast<uint32_t>(v.size()));
    buf.append(v);
    if (buf.size() >= (1 << 20)) {
      if (auto s = writer.write(buf); !s.ok()) return s;
      buf.clear();
    }
  }
  // The count closes the file, so a truncated snapshot is detected on restore.
  put_u32(&buf, 0xFFFFFFFFu);
  char count[8];
  uint64_t n = map_.size();
  std::memcpy(count, &n, 8);
  buf.append(count, 8);
  return writer.write(buf);
}

absl::Status KvStateMachine::restore(SnapshotReader& reader) {
  std::string data;
  std::string chunk(1 << 16, '\0');
  for (;;) {
    auto n = reader.read(std::span<char>(chunk.data(), chunk.size()));
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    data.append(chunk.data(), *n);
  }
  std::string_view in = data;
  if (in.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) {
    return absl::DataLossError("memstore snapshot: bad magic");
  }
  in.remove_prefix(kSnapshotMagic.size());
  std::map<std::string, std::string, std::less<>> restored;
  for (;;) {
    uint32_t key_len = 0;
    if (!get_u32(&in, &key_len)) return absl::DataLossError("memstore snapshot: truncated");
    if (key_len == 0xFFFFFFFFu) break;
    std::string_view key;
    std::string_view value;
    uint32_t value_len = 0;
    if (!get_bytes(&in, key_len, &key) || !get_u32(&in, &value_len) ||
        !get_bytes(&in, value_len, &value)) {
      return absl::DataLossError("memstore snapshot: truncated record");
    }
    restored.emplace(std::string(key), std::string(value));
  }
  uint64_t count = 0;
  if (in.size() != 8) return absl::DataLossError("memstore snapshot: bad trailer");
  std::memcpy(&count, in.data(), 8);
  if (count != restored.size()) {
    return absl::DataLossError(
        absl::StrCat("memstore snapshot: count ", count, " but ", restored.size(), " records"));
  }
  map_ = std::move(restored);
  return absl::OkStatus();
}

}  // namespace raft::memstore
