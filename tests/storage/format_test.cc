// Record encodings: every record round-trips, keys sort by (group, index),
// and a record is bound to its key: a flipped byte or the same bytes under
// another key is a DataLoss that names the group and index (or meta kind).
#include "storage/format.h"

#include "gtest/gtest.h"

namespace raft::storage {
namespace {

std::string log_key(GroupId g, Index i) {
  char buf[kLogKeyBytes];
  encode_log_key(g, i, buf);
  return std::string(buf, kLogKeyBytes);
}

std::string meta_key(GroupId g, MetaKind kind) {
  char buf[kMetaKeyBytes];
  encode_meta_key(g, kind, buf);
  return std::string(buf, kMetaKeyBytes);
}

std::string entry_value(const std::string& key, const Entry& e) {
  std::string v(entry_value_bytes(e), '\0');
  encode_entry_value(key, e, v.data());
  return v;
}

TEST(FormatTest, LogKeysSortByGroupThenIndex) {
  EXPECT_LT(log_key(1, 0xffff), log_key(2, 1));
  EXPECT_LT(log_key(2, 255), log_key(2, 256));
  EXPECT_EQ(log_key_group(log_key(0x0102030405060708, 9)), 0x0102030405060708u);
  EXPECT_EQ(log_key_index(log_key(3, 0xfedcba9876543210)), 0xfedcba9876543210u);
}

TEST(FormatTest, EntryRoundTripsAndIsBoundToItsKey) {
  Entry e{7, 42, EntryType::kConfChange, Slice(std::string("conf-change-bytes"))};
  std::string key = log_key(3, 42);
  std::string v = entry_value(key, e);
  auto d = decode_entry_value(key, v);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->term, 7u);
  EXPECT_EQ(d->type, EntryType::kConfChange);
  EXPECT_EQ(d->payload, "conf-change-bytes");

  auto moved = decode_entry_value(log_key(3, 43), v);
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(moved.status().message().find("group 3 index 43"), absl::string_view::npos);
  for (size_t at : {size_t{0}, size_t{9}, size_t{16}, v.size() - 1}) {
    std::string bad = v;
    bad[at] ^= 0x01;
    auto r = decode_entry_value(key, bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "byte " << at;
  }
  EXPECT_EQ(decode_entry_value(key, v.substr(0, 10)).status().code(), absl::StatusCode::kDataLoss);
  Entry empty{1, 1, EntryType::kNormal, Slice()};
  std::string ek = log_key(1, 1);
  auto de = decode_entry_value(ek, entry_value(ek, empty));
  ASSERT_TRUE(de.ok());
  EXPECT_TRUE(de->payload.empty());
}

TEST(FormatTest, MetaRecordsRoundTrip) {
  HardState hs{5, 2, 99};
  std::string k = meta_key(8, MetaKind::kHardState);
  EXPECT_EQ(*decode_hard_state(k, encode_hard_state(k, hs)), hs);

  ConfState cs{{1, 2, 3}, {4}, {1, 2}, {3}, true};
  k = meta_key(8, MetaKind::kConfState);
  EXPECT_EQ(*decode_conf_state(k, encode_conf_state(k, cs)), cs);

  StoredSnapshot snap{SnapshotMeta{10, 3, cs}, 4096, 0x1234};
  k = meta_key(8, MetaKind::kSnapshot);
  EXPECT_EQ(*decode_snapshot(k, encode_snapshot(k, snap)), snap);

  CompactedMark mark{10, 3};
  k = meta_key(8, MetaKind::kCompacted);
  EXPECT_EQ(*decode_compacted(k, encode_compacted(k, mark)), mark);

  auto f = decode_format("format", encode_format("format", FormatRecord{1, 2, 4}));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->shard, 2u);
  EXPECT_EQ(f->shard_count, 4u);
}

TEST(FormatTest, DamagedMetaRecordsAreDataLoss) {
  std::string k = meta_key(8, MetaKind::kHardState);
  std::string v = encode_hard_state(k, HardState{5, 2, 99});
  auto other_group = decode_hard_state(meta_key(9, MetaKind::kHardState), v);
  EXPECT_EQ(other_group.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(other_group.status().message().find("group 9"), absl::string_view::npos);
  std::string flipped = v;
  flipped[12] ^= 0x40;
  EXPECT_EQ(decode_hard_state(k, flipped).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decode_hard_state(k, v.substr(0, 5)).status().code(), absl::StatusCode::kDataLoss);
  // A conf state whose length field claims more ids than the record holds.
  std::string ck = meta_key(8, MetaKind::kConfState);
  EXPECT_EQ(decode_conf_state(ck, encode_hard_state(ck, HardState{1000, 0, 0})).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace raft::storage
