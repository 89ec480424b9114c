// Small internal helpers over the LMDB C API used by storage/: turning
// return codes (and errno) into absl::Status with a message that names the
// file, and MDB_val <-> string_view conversions. Not a public header.
#pragma once

#include <lmdb.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace raft::storage {

inline MDB_val mdb_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view view_of(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

// Maps an LMDB (or errno) return code to a Status:
//   ENOSPC, EDQUOT, MDB_MAP_FULL      -> ResourceExhausted
//   EIO                               -> Unavailable (the batch may be retried)
//   MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
//   MDB_INVALID, MDB_VERSION_MISMATCH -> DataLoss
//   anything else                     -> Internal
// `what` says which operation failed and `file` which file it concerned.
absl::Status mdb_status(int rc, std::string_view what, std::string_view file);

// The current errno as a Status "<what> <path>: <strerror>": ENOSPC and
// EDQUOT are ResourceExhausted, anything else Internal.
absl::Status errno_status(std::string_view what, const std::string& path);

}  // namespace raft::storage
