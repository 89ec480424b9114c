// Journal: the shard's write-ahead journal in front of LMDB. Each batch the
// shard makes durable is one record, written with one write into a
// preallocated segment file opened O_DSYNC; the write's completion is the
// batch's durability point. LMDB gets the batch later (LogEnv's writer) and
// records the newest sequence it holds (the "journal" info record); a
// segment is reused only once a forced LMDB sync covers every record in it
// (checkpoint).
//
// On disk: <shard-dir>/journal/seg-NNNN.jnl, all of one size (a multiple
// of 4096), written in full with zeros when created (so that a write never
// changes metadata), reused forever. A record is a 32-byte header (u32
// magic, u16 version, u16 kind, u64 seq, u32 payload length, u32 zero, u64
// XXH3 over the header's first 24 bytes and the payload), the payload, and
// zero padding to the next 4 KiB block (format version 2). Records follow
// each other from offset 0, each starting on a block; one never spans
// segments; seq grows by one across segments. Segments are opened
// O_DSYNC | O_DIRECT (O_DSYNC alone where O_DIRECT is refused, as on tmpfs):
// a buffered O_DSYNC write would be handed by io_uring to a kernel worker
// thread; a direct one is issued from the reactor (storage_benchmark
// measures both). A record never shares a block with another, so a torn
// write can only damage the record being written.
//
// Recovery (open): per segment, the chain is the valid records from offset
// 0 with consecutive seqs. Chains wholly at or below `covered_seq` (what
// LMDB holds) are free. The others must continue one another from
// covered_seq + 1; a valid record with a seq above covered_seq anywhere
// after a chain's end (a bad record followed by good ones), or a gap, is
// DataLoss naming the file and offset, and open writes nothing. What
// follows the newest chain and holds no such record is a torn tail and is
// ignored; stale records of a reused segment have older seqs and are never
// corruption.
//
// Threading: one thread (the shard's reactor) uses a Journal; open and
// describe_journal do blocking file IO, the rest none.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"

namespace raft::storage {

struct JournalOptions {
  std::string dir;  // <shard-dir>/journal
  // For a new journal; an existing one keeps the size of its files.
  uint64_t segment_bytes = uint64_t{16} << 20;
  uint32_t segments = 4;  // At least; an existing journal may have more.
};

inline constexpr size_t kJournalHeaderBytes = 32;
// Records start on block boundaries and are zero-padded to the next one, so
// that a record is never rewritten by a later write and O_DIRECT can write
// it as it is.
inline constexpr uint64_t kJournalBlock = 4096;

struct JournalRecord {
  uint64_t seq = 0;
  std::string payload;
};

// One write to make: `size` bytes at `data` into `fd` at `offset`. `data`
// stays valid until the next prepare; data, size and offset are aligned to
// kJournalBlock (as O_DIRECT needs).
struct JournalWrite {
  int fd = -1;
  uint64_t offset = 0;
  const char* data = nullptr;
  size_t size = 0;
  uint64_t seq = 0;
};

class Journal {
 public:
  // Opens (creating the dir and missing segments) and scans the journal;
  // appends to `replay`, in order, every record with a seq above
  // `covered_seq`.
  static absl::StatusOr<std::unique_ptr<Journal>> open(const JournalOptions& options,
                                                       uint64_t covered_seq,
                                                       std::vector<JournalRecord>* replay);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Encodes a record of `payload` with the next seq and picks its place.
  // ResourceExhausted when it fits in no free segment (every other segment
  // holds records above the checkpoint); InvalidArgument when it could not
  // fit in any segment. One write at a time: call written() or failed()
  // before the next prepare.
  absl::StatusOr<JournalWrite> prepare(std::string_view payload);
  void written(uint64_t seq);  // The write completed in full: durable.
  void failed(uint64_t seq);   // It failed: the next prepare reuses place and seq.
  // LMDB durably holds every record up to `seq`: segments holding nothing
  // newer become free (the current one stays in use).
  void checkpoint(uint64_t seq);

  // Whether a record of `payload_bytes` would be placed now.
  bool has_room(size_t payload_bytes) const;
  uint64_t next_seq() const { return next_seq_; }
  uint64_t last_durable_seq() const { return next_seq_ - 1; }
  uint64_t checkpoint_seq() const { return checkpoint_; }
  uint32_t segment_count() const { return static_cast<uint32_t>(segments_.size()); }
  uint64_t segment_bytes() const { return segment_bytes_; }
  uint32_t free_segments() const;
  // A record's payload at most.
  uint64_t max_payload_bytes() const { return segment_bytes_ - kJournalHeaderBytes; }
  // Whether the segments were opened O_DIRECT (not on tmpfs, say).
  bool direct() const { return direct_; }

 private:
  struct Segment {
    std::string path;
    int fd = -1;
    uint64_t first_seq = 0;  // 0: holds no record of its current use.
    uint64_t last_seq = 0;
  };
  Journal() = default;
  bool is_free(size_t i) const;

  std::string dir_;
  uint64_t segment_bytes_ = 0;
  std::vector<Segment> segments_;
  size_t current_ = 0;
  uint64_t offset_ = 0;  // In the current segment, after its last record.
  uint64_t next_seq_ = 1;
  uint64_t checkpoint_ = 0;
  char* buffer_ = nullptr;  // The prepared record (kJournalBlock-aligned).
  size_t buffer_capacity_ = 0;
  size_t buffer_size_ = 0;
  bool direct_ = true;
  bool prepared_ = false;
  size_t prepared_segment_ = 0;
};

// What a journal dir holds, for tools (raftctl journal). Reads only.
struct JournalDescription {
  struct Segment {
    std::string file;
    uint64_t first_seq = 0;  // 0: no chain from offset 0.
    uint64_t last_seq = 0;
    uint64_t records = 0;
    uint64_t bytes = 0;  // Of its chain.
  };
  uint64_t segment_bytes = 0;
  std::vector<Segment> segments;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::map<GroupId, uint64_t> records_per_group;  // Records writing to each group.
};
// DataLoss for a record whose payload is not a batch; a bad record followed
// by a valid one is reported as by open (with covered_seq 0).
absl::StatusOr<JournalDescription> describe_journal(const std::string& dir);

}  // namespace raft::storage
