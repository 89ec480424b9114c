#include "storage/lmdb_util.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace raft::storage {

absl::Status mdb_status(int rc, std::string_view what, std::string_view file) {
  std::string msg =
      absl::StrCat(std::string(what), " failed on ", std::string(file), ": ", mdb_strerror(rc));
  switch (rc) {
    case 0:
      return absl::OkStatus();
    case ENOSPC:
    case EDQUOT:
    case MDB_MAP_FULL:
      return absl::ResourceExhaustedError(msg);
    case EIO:
      return absl::UnavailableError(msg);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return absl::DataLossError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status errno_status(std::string_view what, const std::string& path) {
  int err = errno;
  std::string msg = absl::StrCat(std::string(what), " ", path, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

}  // namespace raft::storage
