// Byte layout of everything storage/ keeps in LMDB: the keys of the log and
// meta tables, the entry records and the meta records, each with its XXH3
// checksum. Encoding and decoding live here so that the env, the recovery
// code and the tests (which corrupt records on purpose) agree on one layout.
//
// Log tables ("log.00" .. "log.15"; group g in table g % kLogStripes):
//                      key = be64 group | be64 index                 (16 bytes)
//                      value = le64 checksum | le64 term | u8 type | payload
// Meta table ("meta"): key = be64 group | u8 kind                     (9 bytes)
//                      value = le64 checksum | u8 record version | fields
// Info table ("info"): key = "format", value = FormatRecord;
//                      key = "journal", value = le64 checksum | u8 record
//                      version | le64 seq: the newest journal record whose
//                      batch this env holds (written with every commit of
//                      journaled batches, see journal.h).
//
// A record's checksum is XXH3 over the record's key and body (everything after
// the checksum), so a record that moved to another key is caught as well as a
// flipped byte. Big-endian keys make LMDB's default byte order sort a group's
// records together and by index.
//
// Why several log tables: LMDB appends at the end of a B-tree cheaply
// (MDB_APPEND: no descent, and a full page is left behind when one splits),
// but an insert in the middle of a tree descends and splits pages in half. In
// one table, every group but the last one appended in the middle: with 8
// groups a node wrote 46 % more bytes per entry to the disk, and its writer
// spent a quarter of its time in the descents. With a table per stripe, up to
// kLogStripes groups each append at the end of their own tree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/core/types.h"

namespace raft::storage {

// 2: striped log tables. 3: a journal of each shard's batches in front of
// LMDB (journal.h), and the "journal" info record.
inline constexpr uint32_t kFormatVersion = 3;
inline constexpr std::string_view kJournalMarkKey = "journal";
inline constexpr uint32_t kLogStripes = 16;
inline uint32_t log_stripe(GroupId group) { return static_cast<uint32_t>(group % kLogStripes); }
// The LMDB name of a log table: "log.00" .. "log.15".
std::string log_table_name(uint32_t stripe);
inline constexpr size_t kLogKeyBytes = 16;
inline constexpr size_t kMetaKeyBytes = 9;
inline constexpr size_t kEntryHeaderBytes = 17;  // checksum, term, type.

enum class MetaKind : uint8_t {
  kHardState = 1,
  kConfState = 2,
  kSnapshot = 3,   // The newest durable snapshot (StoredSnapshot).
  kCompacted = 4,  // (index, term) of the last discarded entry.
  kLifecycle = 5,  // GroupLifecycle: created at runtime (hosted) or removed.
};

// A group's lifecycle record. kHosted: the group was created on this node
// (Node::create_group) and is opened at start even when [node] groups does
// not list it. kRemoved: a tombstone; every other record of the group is
// gone, and the id is never bootstrapped or created again.
enum class GroupLifecycle : uint8_t { kNone = 0, kHosted = 1, kRemoved = 2 };

// A snapshot's metadata as stored: the core's SnapshotMeta plus the size and
// XXH3 of the snapshot file's bytes (0, 0 when the snapshot has no file).
struct StoredSnapshot {
  SnapshotMeta meta;
  uint64_t file_bytes = 0;
  uint64_t file_checksum = 0;

  friend bool operator==(const StoredSnapshot&, const StoredSnapshot&) = default;
};

// The last entry dropped from the log (by compaction or by installing a
// snapshot); first_index = index + 1 and term(index) stays answerable.
struct CompactedMark {
  Index index = 0;
  Term term = 0;

  friend bool operator==(const CompactedMark&, const CompactedMark&) = default;
};

// Stored once per shard env; a mismatch refuses to open.
struct FormatRecord {
  uint32_t version = kFormatVersion;
  uint32_t shard = 0;
  uint32_t shard_count = 0;
};

void encode_log_key(GroupId group, Index index, char out[kLogKeyBytes]);
GroupId log_key_group(std::string_view key);  // Requires key.size() == kLogKeyBytes.
Index log_key_index(std::string_view key);

void encode_meta_key(GroupId group, MetaKind kind, char out[kMetaKeyBytes]);

// Size of the value that encode_entry_value writes for `entry`.
inline size_t entry_value_bytes(const Entry& entry) {
  return kEntryHeaderBytes + entry.data.size();
}
// Writes the value of `entry` (stored under `key`) into `out`, which holds
// entry_value_bytes(entry) bytes (LMDB reserves it inside the page).
void encode_entry_value(std::string_view key, const Entry& entry, char* out);

// A decoded entry record whose payload still points into `value`.
struct EntryView {
  Term term = 0;
  EntryType type = EntryType::kNormal;
  std::string_view payload;
};
// Verifies the checksum; DataLoss naming the group and index on mismatch.
absl::StatusOr<EntryView> decode_entry_value(std::string_view key, std::string_view value);

std::string encode_hard_state(std::string_view key, const HardState& hard_state);
std::string encode_conf_state(std::string_view key, const ConfState& conf_state);
std::string encode_snapshot(std::string_view key, const StoredSnapshot& snapshot);
std::string encode_compacted(std::string_view key, const CompactedMark& mark);
std::string encode_lifecycle(std::string_view key, GroupLifecycle lifecycle);
std::string encode_format(std::string_view key, const FormatRecord& format);
std::string encode_journal_mark(std::string_view key, uint64_t seq);

// Each verifies the checksum and the record's length; DataLoss naming the
// group and kind on any mismatch.
absl::StatusOr<HardState> decode_hard_state(std::string_view key, std::string_view value);
absl::StatusOr<ConfState> decode_conf_state(std::string_view key, std::string_view value);
absl::StatusOr<StoredSnapshot> decode_snapshot(std::string_view key, std::string_view value);
absl::StatusOr<CompactedMark> decode_compacted(std::string_view key, std::string_view value);
absl::StatusOr<GroupLifecycle> decode_lifecycle(std::string_view key, std::string_view value);
absl::StatusOr<FormatRecord> decode_format(std::string_view key, std::string_view value);
absl::StatusOr<uint64_t> decode_journal_mark(std::string_view key, std::string_view value);

}  // namespace raft::storage
