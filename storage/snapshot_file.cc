#include "storage/snapshot_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/checksum.h"

namespace raft::storage {
namespace {

absl::Status io_error(std::string_view what, const std::string& path, int err) {
  std::string msg = absl::StrCat(std::string(what), " ", path, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

absl::Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("fsync directory", dir, err);
  return absl::OkStatus();
}

std::string file_name(GroupId group, Index index, Term term, bool temporary) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "snap-%016" PRIx64 "-%016" PRIx64 "-%016" PRIx64 ".%s", group,
                index, term, temporary ? "tmp" : "snap");
  return buf;
}

}  // namespace

struct SnapshotFileWriter::State {
  Checksum64 sum;
};
struct SnapshotFileReader::State {
  Checksum64 sum;
};

std::string snapshot_file_path(const std::string& dir, GroupId group, Index index, Term term) {
  return dir + "/" + file_name(group, index, term, false);
}

std::optional<SnapshotFileName> parse_snapshot_file_name(std::string_view name) {
  // snap- + 3 x 16 hex + 2 dashes + .snap|.tmp
  SnapshotFileName out;
  if (name.size() != 5 + 48 + 2 + 5 && name.size() != 5 + 48 + 2 + 4) return std::nullopt;
  if (name.substr(0, 5) != "snap-") return std::nullopt;
  std::string_view ext = name.substr(5 + 48 + 2);
  if (ext == ".tmp") {
    out.temporary = true;
  } else if (ext != ".snap") {
    return std::nullopt;
  }
  uint64_t fields[3];
  for (int f = 0; f < 3; ++f) {
    std::string_view hex = name.substr(5 + f * 17, 16);
    if (f < 2 && name[5 + f * 17 + 16] != '-') return std::nullopt;
    uint64_t v = 0;
    for (char c : hex) {
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = (v << 4) | static_cast<uint64_t>(d);
    }
    fields[f] = v;
  }
  out.group = fields[0];
  out.index = fields[1];
  out.term = fields[2];
  return out;
}

std::vector<SnapshotFileName> list_snapshot_files(const std::string& dir) {
  std::vector<SnapshotFileName> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    auto parsed = parse_snapshot_file_name(e->d_name);
    if (!parsed) continue;
    parsed->path = dir + "/" + e->d_name;
    out.push_back(std::move(*parsed));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.group, a.index, a.temporary, a.path) <
           std::tie(b.group, b.index, b.temporary, b.path);
  });
  return out;
}

void remove_older_snapshot_files(const std::string& dir, GroupId group, Index index) {
  for (const auto& f : list_snapshot_files(dir)) {
    if (f.group != group) continue;
    if (f.temporary ? f.index <= index : f.index < index) ::unlink(f.path.c_str());
  }
}

void remove_stale_snapshot_files(const std::string& dir,
                                 const std::function<Index(GroupId)>& current_index) {
  for (const auto& f : list_snapshot_files(dir)) {
    if (f.temporary || f.index < current_index(f.group)) ::unlink(f.path.c_str());
  }
}

// ---------------------------------------------------------------- writer

SnapshotFileWriter::SnapshotFileWriter(std::string dir, std::string tmp_path,
                                       std::string final_path, int fd)
    : dir_(std::move(dir)),
      tmp_path_(std::move(tmp_path)),
      final_path_(std::move(final_path)),
      fd_(fd),
      state_(std::make_unique<State>()) {}

absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> SnapshotFileWriter::create(
    const std::string& dir, GroupId group, Index index, Term term) {
  std::string tmp = dir + "/" + file_name(group, index, term, true);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("create", tmp, errno);
  return std::unique_ptr<SnapshotFileWriter>(
      new SnapshotFileWriter(dir, tmp, snapshot_file_path(dir, group, index, term), fd));
}

SnapshotFileWriter::~SnapshotFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(tmp_path_.c_str());
}

absl::Status SnapshotFileWriter::write(std::string_view chunk) {
  if (finished_ || fd_ < 0) return absl::FailedPreconditionError("snapshot writer is closed");
  state_->sum.update(chunk);
  while (!chunk.empty()) {
    ssize_t n = ::write(fd_, chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write", tmp_path_, errno);
    }
    chunk.remove_prefix(static_cast<size_t>(n));
    bytes_ += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<SnapshotFileInfo> SnapshotFileWriter::finish() {
  if (finished_ || fd_ < 0) return absl::FailedPreconditionError("snapshot writer is closed");
  if (::fsync(fd_) != 0) return io_error("fsync", tmp_path_, errno);
  if (::close(fd_) != 0) {
    fd_ = -1;
    return io_error("close", tmp_path_, errno);
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), final_path_.c_str()) != 0) {
    return io_error("rename", tmp_path_, errno);
  }
  finished_ = true;  // The tmp name is gone; never unlink the final file here.
  if (auto s = fsync_dir(dir_); !s.ok()) return s;
  return SnapshotFileInfo{final_path_, bytes_, state_->sum.digest()};
}

// ---------------------------------------------------------------- reader

SnapshotFileReader::SnapshotFileReader(std::string path, int fd, uint64_t size, uint64_t checksum)
    : path_(std::move(path)),
      fd_(fd),
      size_(size),
      expected_checksum_(checksum),
      state_(std::make_unique<State>()) {}

SnapshotFileReader::~SnapshotFileReader() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<SnapshotFileReader>> SnapshotFileReader::open(
    const std::string& path, uint64_t expected_bytes, uint64_t expected_checksum) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return io_error("stat", path, err);
  }
  if (static_cast<uint64_t>(st.st_size) != expected_bytes) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat("snapshot file ", path, " has ", st.st_size,
                                            " bytes, its metadata says ", expected_bytes));
  }
  if (expected_bytes == 0 && checksum64("") != expected_checksum) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat("checksum mismatch in snapshot file ", path));
  }
  return std::unique_ptr<SnapshotFileReader>(
      new SnapshotFileReader(path, fd, expected_bytes, expected_checksum));
}

absl::StatusOr<size_t> SnapshotFileReader::read(char* buffer, size_t max_bytes) {
  if (offset_ == size_) return size_t{0};
  const size_t want = static_cast<size_t>(std::min<uint64_t>(max_bytes, size_ - offset_));
  size_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(fd_, buffer + got, want - got, static_cast<off_t>(offset_ + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("read", path_, errno);
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrCat("snapshot file ", path_, " ended at ", offset_ + got,
                                              " of ", size_, " bytes"));
    }
    got += static_cast<size_t>(n);
  }
  state_->sum.update(std::string_view(buffer, want));
  offset_ += want;
  if (offset_ == size_ && state_->sum.digest() != expected_checksum_) {
    return absl::DataLossError(absl::StrCat("checksum mismatch in snapshot file ", path_));
  }
  return want;
}

absl::StatusOr<std::string> SnapshotFileReader::next_chunk(size_t max_bytes) {
  std::string out(static_cast<size_t>(std::min<uint64_t>(max_bytes, size_ - offset_)), '\0');
  absl::StatusOr<size_t> n = read(out.data(), out.size());
  if (!n.ok()) return n.status();
  out.resize(*n);
  return out;
}

absl::Status verify_snapshot_file(const std::string& path, uint64_t bytes, uint64_t checksum) {
  auto reader = SnapshotFileReader::open(path, bytes, checksum);
  if (!reader.ok()) return reader.status();
  while (!(*reader)->done()) {
    auto chunk = (*reader)->next_chunk(1 << 20);
    if (!chunk.ok()) return chunk.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> read_snapshot_file(const std::string& path, uint64_t bytes,
                                               uint64_t checksum) {
  auto reader = SnapshotFileReader::open(path, bytes, checksum);
  if (!reader.ok()) return reader.status();
  std::string image;
  image.reserve((*reader)->size());
  while (!(*reader)->done()) {
    auto chunk = (*reader)->next_chunk(1 << 20);
    if (!chunk.ok()) {
      return absl::Status(chunk.status().code(),
                          absl::StrCat(path, ": ", chunk.status().message()));
    }
    image.append(*chunk);
  }
  return image;
}

}  // namespace raft::storage
