// Slice: an immutable, reference-counted view of bytes.
//
// Entry payloads travel from a proposal (or a received frame) through the core,
// the storage writer and the state machine as Slices, so the hot path copies a
// payload at most once. A Slice keeps its owner (a string, a receive buffer)
// alive; copying a Slice copies a pointer, never the bytes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace raft {

class Slice {
 public:
  Slice() = default;

  // Takes ownership of `bytes` (one allocation for the control block; none
  // for an empty string, which needs no owner).
  explicit Slice(std::string bytes) {
    if (bytes.empty()) return;
    auto owner = std::make_shared<const std::string>(std::move(bytes));
    view_ = *owner;
    owner_ = std::move(owner);
  }

  // A view into memory kept alive by `owner`. `view` must lie inside it.
  Slice(std::shared_ptr<const void> owner, std::string_view view)
      : owner_(std::move(owner)), view_(view) {}

  static Slice copy_of(std::string_view bytes) { return Slice(std::string(bytes)); }

  std::string_view view() const { return view_; }
  const char* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  std::string to_string() const { return std::string(view_); }
  // What keeps the bytes alive (for views into the same buffer).
  const std::shared_ptr<const void>& owner() const { return owner_; }

  // A sub-range sharing the same owner. Requires offset + length <= size().
  Slice sub(size_t offset, size_t length) const {
    return Slice(owner_, view_.substr(offset, length));
  }

  friend bool operator==(const Slice& a, const Slice& b) { return a.view_ == b.view_; }

 private:
  std::shared_ptr<const void> owner_;
  std::string_view view_;
};

}  // namespace raft
