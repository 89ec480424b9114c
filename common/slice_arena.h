// SliceArena: many small Slices carved out of shared chunks, so that a
// burst of small owned byte strings (entries the driver encodes itself,
// such as client-session commands) costs one allocation per chunk rather
// than two per string. Each Slice keeps its chunk alive, like a Slice into a
// received frame keeps the frame's buffer alive; a chunk is freed when its
// last Slice goes. Single-threaded: one arena per owner (a group, a shard).
// The Slices themselves may travel to other threads like any Slice.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/slice.h"

namespace raft {

class SliceArena {
 public:
  static constexpr size_t kChunkBytes = 64 * 1024;
  // Strings above this get a buffer of their own (a chunk holds at least 8).
  static constexpr size_t kMaxShared = kChunkBytes / 8;

  // A Slice of `n` bytes, which the caller writes at `*bytes` before it
  // hands the Slice (or a copy of it) to anyone.
  Slice allocate(size_t n, char** bytes) {
    if (n > kMaxShared) {
      auto own = std::make_shared<std::string>(n, '\0');
      *bytes = own->data();
      return Slice(own, std::string_view(own->data(), n));
    }
    if (chunk_ == nullptr || chunk_->size() - used_ < n) {
      chunk_ = std::make_shared<std::string>(kChunkBytes, '\0');
      used_ = 0;
    }
    *bytes = chunk_->data() + used_;
    used_ += n;
    return Slice(chunk_, std::string_view(*bytes, n));
  }

 private:
  std::shared_ptr<std::string> chunk_;
  size_t used_ = 0;
};

}  // namespace raft
