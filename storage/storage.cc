#include "storage/storage.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace raft::storage {
namespace {

constexpr char kMagic[] = "ringraft-storage";

absl::Status write_durably(const std::string& dir, const std::string& name,
                           const std::string& content) {
  std::string tmp = dir + "/" + name + ".tmp";
  std::string path = dir + "/" + name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("create ", tmp, ": ", std::strerror(errno)));
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("write ", tmp, ": ", std::strerror(err)));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", tmp, ": ", std::strerror(errno)));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace

std::string shard_dir(const std::string& data_dir, uint32_t shard) {
  return absl::StrCat(data_dir, "/shard-", shard);
}

absl::Status check_format_file(const std::string& data_dir, uint32_t shard_count) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", data_dir, ": ", ec.message()));
  const std::string path = data_dir + "/FORMAT";
  std::ifstream in(path);
  if (!in) {
    for (const auto& e : fs::directory_iterator(data_dir, ec)) {
      if (e.path().filename().string().rfind("shard-", 0) == 0) {
        return absl::DataLossError(
            absl::StrCat(path, " is missing but ", data_dir, " holds shard directories"));
      }
    }
    return write_durably(data_dir, "FORMAT",
                         absl::StrCat(kMagic, "\nformat_version ", kFormatVersion, "\nshard_count ",
                                      shard_count, "\n"));
  }
  std::string magic, k1, k2;
  int64_t version = -1, shards = -1;
  in >> magic >> k1 >> version >> k2 >> shards;
  if (!in || magic != kMagic || k1 != "format_version" || k2 != "shard_count") {
    return absl::DataLossError(absl::StrCat(path, " is unreadable: not a ", kMagic, " file"));
  }
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(data_dir, " has storage format version ",
                                                      version, "; this build reads only version ",
                                                      kFormatVersion));
  }
  if (shards != shard_count) {
    return absl::FailedPreconditionError(absl::StrCat(
        data_dir, " was created with ", shards, " shards; it is being opened with ", shard_count));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Storage>> Storage::open(const StorageOptions& options) {
  if (options.shard_count == 0) return absl::InvalidArgumentError("shard_count must be > 0");
  if (auto s = check_format_file(options.data_dir, options.shard_count); !s.ok()) return s;
  auto storage = std::make_unique<Storage>();
  storage->data_dir_ = options.data_dir;
  for (uint32_t n = 0; n < options.shard_count; ++n) {
    EnvOptions env = options.env;
    env.dir = shard_dir(options.data_dir, n);
    env.shard = n;
    env.shard_count = options.shard_count;
    auto opened = LogEnv::open(env);
    if (!opened.ok()) return opened.status();
    storage->shards_.push_back(std::move(*opened));
  }
  return storage;
}

}  // namespace raft::storage
