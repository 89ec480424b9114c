#include "storage/journal_batch_codec.h"

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace raft::storage {
namespace {

enum Flags : uint8_t {
  kInstall = 1,
  kHardState = 2,
  kConfState = 4,
  kSave = 8,
  kCompact = 16,
  kCreate = 32,
  kRemove = 64,
};

void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_u32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 4);
}
void put_u64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 8);
}

void put_ids(std::string& out, const std::vector<NodeId>& ids) {
  put_u32(out, static_cast<uint32_t>(ids.size()));
  for (NodeId id : ids) put_u64(out, id);
}

void put_conf(std::string& out, const ConfState& cs) {
  put_ids(out, cs.voters);
  put_ids(out, cs.learners);
  put_ids(out, cs.voters_outgoing);
  put_ids(out, cs.learners_next);
  put_u8(out, cs.auto_leave ? 1 : 0);
}

void put_snapshot(std::string& out, const StoredSnapshot& s) {
  put_u64(out, s.meta.index);
  put_u64(out, s.meta.term);
  put_conf(out, s.meta.conf_state);
  put_u64(out, s.file_bytes);
  put_u64(out, s.file_checksum);
}

// Reads little-endian fields; once short, every later read fails too.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  size_t pos() const { return pos_; }
  uint64_t u(int bytes) {
    if (!ok_ || in_.size() - pos_ < static_cast<size_t>(bytes)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
    }
    pos_ += bytes;
    return v;
  }
  // `n` bytes, as an offset into the input (the caller shares a copy).
  size_t skip(uint64_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return 0;
    }
    const size_t at = pos_;
    pos_ += n;
    return at;
  }
  // A count of items at least `min_bytes` each: refused when they cannot fit.
  uint64_t count(uint64_t min_bytes) {
    const uint64_t n = u(4);
    if (ok_ && n > (in_.size() - pos_) / min_bytes) ok_ = false;
    return ok_ ? n : 0;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

std::vector<NodeId> read_ids(Reader& r) {
  std::vector<NodeId> ids(r.count(8));
  for (NodeId& id : ids) id = r.u(8);
  return ids;
}

ConfState read_conf(Reader& r) {
  ConfState cs;
  cs.voters = read_ids(r);
  cs.learners = read_ids(r);
  cs.voters_outgoing = read_ids(r);
  cs.learners_next = read_ids(r);
  cs.auto_leave = r.u(1) != 0;
  return cs;
}

StoredSnapshot read_snapshot(Reader& r) {
  StoredSnapshot s;
  s.meta.index = r.u(8);
  s.meta.term = r.u(8);
  s.meta.conf_state = read_conf(r);
  s.file_bytes = r.u(8);
  s.file_checksum = r.u(8);
  return s;
}

absl::Status bad(const Reader& r, const char* what) {
  return absl::DataLossError(
      absl::StrCat("journal batch: ", what, " at byte ", r.pos(), " of the payload"));
}

absl::Status read_entries(Reader& r, const std::shared_ptr<const std::string>& copy,
                          std::vector<Entry>& out) {
  const uint64_t n = r.count(21);
  out.reserve(n);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    Entry e;
    e.term = r.u(8);
    e.index = r.u(8);
    const uint64_t type = r.u(1);
    if (type > static_cast<uint64_t>(kLastEntryType)) return bad(r, "unknown entry type");
    e.type = static_cast<EntryType>(type);
    const uint64_t size = r.u(4);
    const size_t at = r.skip(size);
    if (!r.ok()) break;
    e.data = Slice(copy, std::string_view(copy->data() + at, size));
    out.push_back(std::move(e));
  }
  return r.ok() ? absl::OkStatus() : bad(r, "truncated entries");
}

}  // namespace

void encode_batch(const WriteBatch& batch, std::string& out) {
  out.reserve(out.size() + batch.payload_bytes() + batch.entry_count() * 21 +
              batch.groups().size() * 64 + 4);
  put_u32(out, static_cast<uint32_t>(batch.groups().size()));
  for (const GroupWrite& w : batch.groups()) {
    put_u64(out, w.group);
    put_u8(out,
           static_cast<uint8_t>((w.apply_snapshot ? kInstall : 0) |
                                (w.hard_state ? kHardState : 0) | (w.conf_state ? kConfState : 0) |
                                (w.save_snapshot ? kSave : 0) | (w.compact_to ? kCompact : 0) |
                                (w.create ? kCreate : 0) | (w.remove ? kRemove : 0)));
    if (w.apply_snapshot) put_snapshot(out, *w.apply_snapshot);
    put_u32(out, static_cast<uint32_t>(w.entries.size()));
    for (const Entry& e : w.entries) {
      put_u64(out, e.term);
      put_u64(out, e.index);
      put_u8(out, static_cast<uint8_t>(e.type));
      put_u32(out, static_cast<uint32_t>(e.data.size()));
      out.append(e.data.data(), e.data.size());
    }
    if (w.hard_state) {
      put_u64(out, w.hard_state->term);
      put_u64(out, w.hard_state->vote);
      put_u64(out, w.hard_state->commit);
    }
    if (w.conf_state) put_conf(out, *w.conf_state);
    if (w.save_snapshot) put_snapshot(out, *w.save_snapshot);
    if (w.compact_to) put_u64(out, *w.compact_to);
  }
}

absl::StatusOr<WriteBatch> decode_batch(std::string_view payload) {
  auto copy = std::make_shared<const std::string>(payload);
  Reader r(*copy);
  WriteBatch batch;
  const uint64_t groups = r.count(13);
  for (uint64_t g = 0; g < groups && r.ok(); ++g) {
    const GroupId group = r.u(8);
    const uint64_t flags = r.u(1);
    if (flags >= 128) return bad(r, "unknown flags");
    if (!r.ok()) break;
    std::optional<StoredSnapshot> install;
    if (flags & kInstall) install = read_snapshot(r);
    std::vector<Entry> entries;
    if (auto s = read_entries(r, copy, entries); !s.ok()) return s;
    GroupWrite& w = batch.group(group);
    if (flags & kCreate) w.create = true;
    if (install) batch.apply_snapshot(group, *install);
    if (!entries.empty()) batch.append(group, std::move(entries));
    if (flags & kHardState) w.hard_state = HardState{r.u(8), r.u(8), r.u(8)};
    if (flags & kConfState) w.conf_state = read_conf(r);
    if (flags & kSave) w.save_snapshot = read_snapshot(r);
    if (flags & kCompact) w.compact_to = r.u(8);
    if (flags & kRemove) w.remove = true;
  }
  if (!r.ok()) return bad(r, "truncated");
  if (!r.done()) return bad(r, "trailing bytes");
  return batch;
}

}  // namespace raft::storage
