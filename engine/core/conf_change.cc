// ConfChange helpers and the byte encoding of a kConfChange entry:
//   u8 version (1) | u8 transition | u32 count | count x (u8 type, u64 node)
//   | u32 context length | context bytes
// Integers are little-endian.
#include "engine/core/conf_change.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace raft {

namespace {

constexpr uint8_t kVersion = 1;
// A conf change names few nodes; bound what a decoder will accept.
constexpr uint32_t kMaxChanges = 1024;

void put_u32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool u8(uint8_t* v) {
    if (bytes_.size() < 1) return false;
    *v = static_cast<uint8_t>(bytes_[0]);
    bytes_.remove_prefix(1);
    return true;
  }
  bool u32(uint32_t* v) {
    if (bytes_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= uint32_t{static_cast<uint8_t>(bytes_[i])} << (8 * i);
    bytes_.remove_prefix(4);
    return true;
  }
  bool u64(uint64_t* v) {
    if (bytes_.size() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= uint64_t{static_cast<uint8_t>(bytes_[i])} << (8 * i);
    bytes_.remove_prefix(8);
    return true;
  }
  bool bytes(size_t n, std::string* out) {
    if (bytes_.size() < n) return false;
    out->assign(bytes_.data(), n);
    bytes_.remove_prefix(n);
    return true;
  }
  bool done() const { return bytes_.empty(); }

 private:
  std::string_view bytes_;
};

absl::Status malformed(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed conf change: ", std::string(what)));
}

}  // namespace

bool ConfChange::enters_joint() const {
  return !changes.empty() && (transition != ConfChangeTransition::kAuto || changes.size() > 1);
}

ConfChange single_change(ConfChangeType type, NodeId node) {
  ConfChange cc;
  cc.changes.push_back(ConfChangeSingle{type, node});
  return cc;
}

ConfChange leave_joint_change() { return ConfChange{}; }

std::string encode_conf_change(const ConfChange& change) {
  std::string out;
  out.reserve(2 + 4 + change.changes.size() * 9 + 4 + change.context.size());
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(change.transition));
  put_u32(&out, static_cast<uint32_t>(change.changes.size()));
  for (const ConfChangeSingle& c : change.changes) {
    out.push_back(static_cast<char>(c.type));
    put_u64(&out, c.node);
  }
  put_u32(&out, static_cast<uint32_t>(change.context.size()));
  out.append(change.context);
  return out;
}

absl::StatusOr<ConfChange> decode_conf_change(std::string_view bytes) {
  Reader r(bytes);
  uint8_t version = 0;
  uint8_t transition = 0;
  uint32_t count = 0;
  if (!r.u8(&version)) return malformed("empty");
  if (version != kVersion) return malformed(absl::StrCat("unknown version ", version));
  if (!r.u8(&transition) || transition > 2) return malformed("bad transition");
  if (!r.u32(&count) || count > kMaxChanges) return malformed("bad change count");
  ConfChange cc;
  cc.transition = static_cast<ConfChangeTransition>(transition);
  cc.changes.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t type = 0;
    uint64_t node = 0;
    if (!r.u8(&type) || type > 2 || !r.u64(&node)) return malformed("bad change");
    cc.changes.push_back(ConfChangeSingle{static_cast<ConfChangeType>(type), node});
  }
  uint32_t context_size = 0;
  if (!r.u32(&context_size) || !r.bytes(context_size, &cc.context)) {
    return malformed("bad context");
  }
  if (!r.done()) return malformed("trailing bytes");
  return cc;
}

}  // namespace raft
