#include "storage/format.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/checksum.h"

namespace raft::storage {
namespace {

inline constexpr uint8_t kMetaRecordVersion = 1;
inline constexpr size_t kChecksumBytes = 8;
inline constexpr std::string_view kFormatMagic = "ringraft-storage";

void put_be64(char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t get_be64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

void put_le64(char* out, uint64_t v) { std::memcpy(out, &v, 8); }  // x86-64 / aarch64 LE.
uint64_t get_le64(const char* in) {
  uint64_t v;
  std::memcpy(&v, in, 8);
  return v;
}

// XXH3 over the key and the hash of the body: binds a record to its key
// without copying the (possibly large) body next to the key.
uint64_t record_checksum(std::string_view key, std::string_view body) {
  RAFT_CHECK(key.size() <= 32);
  char buf[40];
  std::memcpy(buf, key.data(), key.size());
  put_le64(buf + key.size(), checksum64(body));
  return checksum64(std::string_view(buf, key.size() + 8));
}

std::string describe_key(std::string_view key) {
  if (key.size() == kLogKeyBytes) {
    return absl::StrCat("group ", log_key_group(key), " index ", log_key_index(key));
  }
  if (key.size() == kMetaKeyBytes) {
    return absl::StrCat("group ", get_be64(key.data()), " meta kind ",
                        static_cast<int>(static_cast<uint8_t>(key[8])));
  }
  return absl::StrCat("key '", std::string(key), "'");
}

// Appends fixed-width fields to a meta record body.
class BodyWriter {
 public:
  BodyWriter() : out_(kChecksumBytes, '\0') {
    out_.push_back(static_cast<char>(kMetaRecordVersion));
  }
  void u64(uint64_t v) {
    char b[8];
    put_le64(b, v);
    out_.append(b, 8);
  }
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void ids(const std::vector<NodeId>& v) {
    u64(v.size());
    for (NodeId id : v) u64(id);
  }
  std::string finish(std::string_view key) {
    uint64_t sum = record_checksum(key, std::string_view(out_).substr(kChecksumBytes));
    put_le64(out_.data(), sum);
    return std::move(out_);
  }

 private:
  std::string out_;
};

// Reads fields back with bounds checks; any overrun marks the record bad.
class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : in_(body) {}
  uint64_t u64() {
    if (in_.size() < 8) return fail();
    uint64_t v = get_le64(in_.data());
    in_.remove_prefix(8);
    return v;
  }
  uint8_t u8() {
    if (in_.empty()) return static_cast<uint8_t>(fail());
    uint8_t v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return v;
  }
  std::vector<NodeId> ids() {
    uint64_t n = u64();
    if (n > in_.size() / 8) {
      fail();
      return {};
    }
    std::vector<NodeId> v(n);
    for (auto& id : v) id = u64();
    return v;
  }
  bool ok_and_done() const { return ok_ && in_.empty(); }

 private:
  uint64_t fail() {
    ok_ = false;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

// Checks the checksum and version of a meta record; returns its fields.
absl::StatusOr<BodyReader> open_record(std::string_view key, std::string_view value,
                                       std::string_view what) {
  if (value.size() < kChecksumBytes + 1) {
    return absl::DataLossError(absl::StrCat("corrupt ", std::string(what), " record (",
                                            describe_key(key), "): ", value.size(), " bytes"));
  }
  std::string_view body = value.substr(kChecksumBytes);
  if (get_le64(value.data()) != record_checksum(key, body)) {
    return absl::DataLossError(absl::StrCat("checksum mismatch in ", std::string(what), " record (",
                                            describe_key(key), ")"));
  }
  if (static_cast<uint8_t>(body[0]) != kMetaRecordVersion) {
    return absl::DataLossError(absl::StrCat("unknown ", std::string(what), " record version ",
                                            static_cast<int>(static_cast<uint8_t>(body[0])), " (",
                                            describe_key(key), ")"));
  }
  return BodyReader(body.substr(1));
}

absl::Status check_done(const BodyReader& r, std::string_view key, std::string_view what) {
  if (r.ok_and_done()) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("malformed ", std::string(what), " record (", describe_key(key), ")"));
}

void write_conf_state(BodyWriter& w, const ConfState& cs) {
  w.ids(cs.voters);
  w.ids(cs.learners);
  w.ids(cs.voters_outgoing);
  w.ids(cs.learners_next);
  w.u8(cs.auto_leave ? 1 : 0);
}

ConfState read_conf_state(BodyReader& r) {
  ConfState cs;
  cs.voters = r.ids();
  cs.learners = r.ids();
  cs.voters_outgoing = r.ids();
  cs.learners_next = r.ids();
  cs.auto_leave = r.u8() != 0;
  return cs;
}

}  // namespace

void encode_log_key(GroupId group, Index index, char out[kLogKeyBytes]) {
  put_be64(out, group);
  put_be64(out + 8, index);
}

GroupId log_key_group(std::string_view key) {
  RAFT_CHECK(key.size() == kLogKeyBytes);
  return get_be64(key.data());
}

Index log_key_index(std::string_view key) {
  RAFT_CHECK(key.size() == kLogKeyBytes);
  return get_be64(key.data() + 8);
}

void encode_meta_key(GroupId group, MetaKind kind, char out[kMetaKeyBytes]) {
  put_be64(out, group);
  out[8] = static_cast<char>(kind);
}

void encode_entry_value(std::string_view key, const Entry& entry, char* out) {
  put_le64(out + 8, entry.term);
  out[16] = static_cast<char>(entry.type);
  if (!entry.data.empty())
    std::memcpy(out + kEntryHeaderBytes, entry.data.data(), entry.data.size());
  std::string_view body(out + kChecksumBytes,
                        kEntryHeaderBytes - kChecksumBytes + entry.data.size());
  put_le64(out, record_checksum(key, body));
}

absl::StatusOr<EntryView> decode_entry_value(std::string_view key, std::string_view value) {
  if (value.size() < kEntryHeaderBytes) {
    return absl::DataLossError(
        absl::StrCat("corrupt log record (", describe_key(key), "): ", value.size(), " bytes"));
  }
  if (get_le64(value.data()) != record_checksum(key, value.substr(kChecksumBytes))) {
    return absl::DataLossError(
        absl::StrCat("checksum mismatch in log record (", describe_key(key), ")"));
  }
  EntryView view;
  view.term = get_le64(value.data() + 8);
  uint8_t type = static_cast<uint8_t>(value[16]);
  if (type > static_cast<uint8_t>(kLastEntryType)) {
    return absl::DataLossError(
        absl::StrCat("unknown entry type ", type, " in log record (", describe_key(key), ")"));
  }
  view.type = static_cast<EntryType>(type);
  view.payload = value.substr(kEntryHeaderBytes);
  return view;
}

std::string encode_hard_state(std::string_view key, const HardState& hs) {
  BodyWriter w;
  w.u64(hs.term);
  w.u64(hs.vote);
  w.u64(hs.commit);
  return w.finish(key);
}

std::string encode_conf_state(std::string_view key, const ConfState& cs) {
  BodyWriter w;
  write_conf_state(w, cs);
  return w.finish(key);
}

std::string encode_snapshot(std::string_view key, const StoredSnapshot& s) {
  BodyWriter w;
  w.u64(s.meta.index);
  w.u64(s.meta.term);
  write_conf_state(w, s.meta.conf_state);
  w.u64(s.file_bytes);
  w.u64(s.file_checksum);
  return w.finish(key);
}

std::string encode_compacted(std::string_view key, const CompactedMark& mark) {
  BodyWriter w;
  w.u64(mark.index);
  w.u64(mark.term);
  return w.finish(key);
}

std::string encode_lifecycle(std::string_view key, GroupLifecycle lifecycle) {
  BodyWriter w;
  w.u8(static_cast<uint8_t>(lifecycle));
  return w.finish(key);
}

std::string encode_journal_mark(std::string_view key, uint64_t seq) {
  BodyWriter w;
  w.u64(seq);
  return w.finish(key);
}

std::string log_table_name(uint32_t stripe) {
  char name[8];
  std::snprintf(name, sizeof(name), "log.%02u", stripe);
  return name;
}

std::string encode_format(std::string_view key, const FormatRecord& f) {
  BodyWriter w;
  for (char c : kFormatMagic) w.u8(static_cast<uint8_t>(c));
  w.u64(f.version);
  w.u64(f.shard);
  w.u64(f.shard_count);
  return w.finish(key);
}

absl::StatusOr<HardState> decode_hard_state(std::string_view key, std::string_view value) {
  auto r = open_record(key, value, "hard state");
  if (!r.ok()) return r.status();
  HardState hs;
  hs.term = r->u64();
  hs.vote = r->u64();
  hs.commit = r->u64();
  if (auto s = check_done(*r, key, "hard state"); !s.ok()) return s;
  return hs;
}

absl::StatusOr<ConfState> decode_conf_state(std::string_view key, std::string_view value) {
  auto r = open_record(key, value, "conf state");
  if (!r.ok()) return r.status();
  ConfState cs = read_conf_state(*r);
  if (auto s = check_done(*r, key, "conf state"); !s.ok()) return s;
  return cs;
}

absl::StatusOr<StoredSnapshot> decode_snapshot(std::string_view key, std::string_view value) {
  auto r = open_record(key, value, "snapshot");
  if (!r.ok()) return r.status();
  StoredSnapshot s;
  s.meta.index = r->u64();
  s.meta.term = r->u64();
  s.meta.conf_state = read_conf_state(*r);
  s.file_bytes = r->u64();
  s.file_checksum = r->u64();
  if (auto st = check_done(*r, key, "snapshot"); !st.ok()) return st;
  return s;
}

absl::StatusOr<CompactedMark> decode_compacted(std::string_view key, std::string_view value) {
  auto r = open_record(key, value, "compaction mark");
  if (!r.ok()) return r.status();
  CompactedMark m;
  m.index = r->u64();
  m.term = r->u64();
  if (auto s = check_done(*r, key, "compaction mark"); !s.ok()) return s;
  return m;
}

absl::StatusOr<GroupLifecycle> decode_lifecycle(std::string_view key, std::string_view value) {
  auto r = open_record(key, value, "lifecycle");
  if (!r.ok()) return r.status();
  const uint8_t v = r->u8();
  if (auto s = check_done(*r, key, "lifecycle"); !s.ok()) return s;
  if (v != static_cast<uint8_t>(GroupLifecycle::kHosted) &&
      v != static_cast<uint8_t>(GroupLifecycle::kRemoved)) {
    return absl::DataLossError(
        absl::StrCat("unknown group lifecycle ", v, " (", describe_key(key), ")"));
  }
  return static_cast<GroupLifecycle>(v);
}

absl::StatusOr<FormatRecord> decode_format(std::string_view key, std::string_view value) {
  auto r = open_record(key, value, "format");
  if (!r.ok()) return r.status();
  std::string magic;
  for (size_t i = 0; i < kFormatMagic.size(); ++i) magic.push_back(static_cast<char>(r->u8()));
  FormatRecord f;
  f.version = static_cast<uint32_t>(r->u64());
  f.shard = static_cast<uint32_t>(r->u64());
  f.shard_count = static_cast<uint32_t>(r->u64());
  if (auto s = check_done(*r, key, "format"); !s.ok()) return s;
  if (magic != kFormatMagic) {
    return absl::DataLossError(absl::StrCat("format record has magic '", magic, "', expected '",
                                            std::string(kFormatMagic), "'"));
  }
  return f;
}

absl::StatusOr<uint64_t> decode_journal_mark(std::string_view key, std::string_view value) {
  auto r = open_record(key, value, "journal mark");
  if (!r.ok()) return r.status();
  const uint64_t seq = r->u64();
  if (auto s = check_done(*r, key, "journal mark"); !s.ok()) return s;
  return seq;
}

}  // namespace raft::storage
