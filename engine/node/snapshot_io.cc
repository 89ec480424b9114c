#include "engine/node/snapshot_io.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace raft {
namespace {

class FileSnapshotStream final : public SnapshotReader {
 public:
  FileSnapshotStream(std::unique_ptr<storage::SnapshotFileReader> file, Index index)
      : file_(std::move(file)), index_(index) {}
  // An error sticks: a reader that swallowed it (a state machine that
  // reported its own) still sees it when the runtime reads on.
  absl::StatusOr<size_t> read(std::span<char> buffer) override {
    if (!error_.ok()) return error_;
    absl::StatusOr<size_t> n = file_->read(buffer.data(), buffer.size());
    if (!n.ok()) error_ = n.status();
    return n;
  }
  uint64_t snapshot_index() const override { return index_; }

 private:
  std::unique_ptr<storage::SnapshotFileReader> file_;
  Index index_;
  absl::Status error_;
};

// Gathers the state machine's writes into chunks for the file.
class ChunkedFileWriter final : public SnapshotWriter {
 public:
  ChunkedFileWriter(storage::SnapshotFileWriter& file, const std::atomic<bool>* cancelled)
      : file_(file), cancelled_(cancelled) {
    buffer_.reserve(kSnapshotWriteChunk);
  }
  absl::Status write(std::string_view bytes) override {
    if (cancelled_ != nullptr && cancelled_->load(std::memory_order_relaxed)) {
      return absl::CancelledError("the shard is shutting down");
    }
    while (!bytes.empty()) {
      if (buffer_.empty() && bytes.size() >= kSnapshotWriteChunk) {
        // A large write goes straight to the file, a chunk at a time.
        if (auto s = file_.write(bytes.substr(0, kSnapshotWriteChunk)); !s.ok()) return s;
        bytes.remove_prefix(kSnapshotWriteChunk);
        continue;
      }
      const size_t n = std::min(bytes.size(), kSnapshotWriteChunk - buffer_.size());
      buffer_.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      if (buffer_.size() == kSnapshotWriteChunk) {
        if (auto s = flush(); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }
  absl::Status flush() {
    if (buffer_.empty()) return absl::OkStatus();
    absl::Status s = file_.write(buffer_);
    buffer_.clear();
    return s;
  }

 private:
  storage::SnapshotFileWriter& file_;
  const std::atomic<bool>* cancelled_;
  std::string buffer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SnapshotReader>> open_snapshot_stream(
    const std::string& path, const StoredSnapshot& snapshot) {
  auto file = storage::SnapshotFileReader::open(path, snapshot.file_bytes, snapshot.file_checksum);
  if (!file.ok()) return file.status();
  return std::unique_ptr<SnapshotReader>(
      new FileSnapshotStream(std::move(*file), snapshot.meta.index));
}

absl::StatusOr<storage::SnapshotFileInfo> write_snapshot_file(const std::string& dir, GroupId group,
                                                              Index index, Term term,
                                                              std::string_view header,
                                                              SnapshotView& view,
                                                              const std::atomic<bool>* cancelled) {
  auto file = storage::SnapshotFileWriter::create(dir, group, index, term);
  if (!file.ok()) return file.status();
  ChunkedFileWriter writer(**file, cancelled);
  if (auto s = writer.write(header); !s.ok()) return s;
  if (auto s = view.write(writer); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("state machine snapshot: ", s.message()));
  }
  if (auto s = writer.flush(); !s.ok()) return s;
  return (*file)->finish();
}

}  // namespace raft
