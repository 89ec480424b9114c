// The restore half of the power-cut simulation (powercut_shim.c): reads the
// shim's log of pre-images and syncs and rewrites the files as a power cut
// could have left them. A write is durable once it returned on an O_DSYNC /
// O_SYNC fd, or once a later fsync/fdatasync of its file returned. Of the
// writes that are not, a seeded random subset is lost (their pre-images put
// back, except bytes a newer kept write covers), and the newest one of each
// file may be torn: it keeps only a prefix ending on a 512-byte boundary of
// the file. File sizes are left as they are (a lost extension reads as its
// pre-image, zeros). Creates, renames and unlinks are not modelled.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace raft::storage::powercut {

struct CutSummary {
  uint64_t writes = 0;           // Logged writes.
  uint64_t volatile_writes = 0;  // Not durable at the cut.
  uint64_t lost = 0;             // Of those, put back to their pre-image.
  uint64_t torn = 0;             // Kept only in part.
  uint64_t uring_writes = 0;     // Of the writes, io_uring requests.
  std::string to_string() const;
};

// Applies the cut described by `log` with `seed`; the log is consumed
// (truncated) so the next round starts afresh.
absl::StatusOr<CutSummary> cut(const std::string& log, uint64_t seed);

}  // namespace raft::storage::powercut
