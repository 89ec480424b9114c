// EnvOptions: how a LogEnv (log_env.h) opens the env of one shard directory.
// Plain data, read by LogEnv and the parts it owns (LmdbEnv, CommitQueue,
// CompactedGarbage); copied at open and never changed afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace raft::storage {

struct EnvOptions {
  std::string dir;  // The shard directory; created if missing.
  uint32_t shard = 0;
  uint32_t shard_count = 1;
  // LMDB map size at open; doubled on MDB_MAP_FULL up to max_map_bytes.
  uint64_t initial_map_bytes = uint64_t{1} << 30;
  uint64_t max_map_bytes = uint64_t{1} << 40;
  // Batches that may wait for the writer thread besides those it commits.
  // The writer takes every waiting batch into its next transaction.
  size_t queue_capacity = 2;
  // Entries per group whose checksums are verified on open (the log tail).
  size_t verify_tail_entries = 64;
  // Compacted log records deleted per commit at most (compaction itself only
  // moves the first index; a large delete in one transaction would stall the
  // writer). When idle the writer commits deletions on its own.
  size_t compacted_records_per_commit = 4096;
  // For tools (raftctl): opens an existing env for reading only, beside a
  // running owner or not; no writer thread, no owner lock, and every write
  // is FailedPrecondition. LMDB forbids opening one env twice in a process.
  bool read_only = false;
  // The journal (journal.h): the shard's reactor makes each batch durable
  // with one write to <dir>/journal/, and the writer thread commits the
  // batches to LMDB behind it, with MDB_NOMETASYNC (the journal holds every
  // batch until a forced sync of LMDB covers it). Open replays the records
  // LMDB does not hold yet. A writable env refuses to open without it when
  // the directory has a journal.
  bool journal = false;
  uint64_t journal_segment_bytes = uint64_t{16} << 20;
  uint32_t journal_segments = 4;
  // The writer commits at most once per this interval (µs; 0: at once),
  // taking every batch that waits into one transaction. With the journal
  // the commit is off the write's latency path, and fewer, larger LMDB
  // transactions cost the disk less.
  uint32_t commit_interval_us = 0;
};

}  // namespace raft::storage
