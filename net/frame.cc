#include "net/frame.h"

#include <bit>
#include <cstring>

#include "common/check.h"
#include "common/checksum.h"

#include <xxhash.h>

namespace raft::net {

static_assert(std::endian::native == std::endian::little, "the wire format is little endian");

namespace {

// Receive space we want after the buffered bytes before issuing a recv.
constexpr size_t kMinFreeBytes = 16 * 1024;
// Frame starts sit at 4 mod 8 so that payloads (12 bytes later) are 8-aligned.
constexpr size_t kStartOffset = 4;

// XXH3-64 (seed 0, as checksum64) of payload followed by `padding` zeros.
uint64_t padded_checksum(std::string_view payload, size_t padding) {
  if (padding == 0) return checksum64(payload);
  struct State {
    State() : s(XXH3_createState()) { RAFT_CHECK_MSG(s != nullptr, "XXH3_createState"); }
    ~State() { XXH3_freeState(s); }
    XXH3_state_t* s;
  };
  thread_local State state;
  XXH3_64bits_reset(state.s);
  XXH3_64bits_update(state.s, payload.data(), payload.size());
  XXH3_64bits_update(state.s, kFramePadding, padding);
  return XXH3_64bits_digest(state.s);
}

void write_header(OutFrame& f) {
  f.padding = static_cast<uint8_t>((12 - f.payload.size() % 8) % 8);  // length = 4 mod 8.
  uint32_t length = static_cast<uint32_t>(f.payload_bytes());
  uint64_t sum = padded_checksum(f.payload.view(), f.padding);
  std::memcpy(f.header, &length, 4);
  std::memcpy(f.header + 4, &sum, 8);
}

}  // namespace

const uint8_t kFramePadding[8] = {};

const char* frame_error_name(FrameError e) {
  switch (e) {
    case FrameError::kNone:
      return "none";
    case FrameError::kBadHeader:
      return "bad frame header (garbage)";
    case FrameError::kTooLarge:
      return "frame over the size cap";
    case FrameError::kChecksum:
      return "frame checksum mismatch";
    case FrameError::kVerify:
      return "frame failed FlatBuffers verification";
  }
  return "?";
}

OutFrame frame_from_builder(flatbuffers::FlatBufferBuilder& builder) {
  OutFrame f;
  // The builder aligns fields relative to the buffer's end and its size is a
  // multiple of its largest alignment, so the start is aligned as well and
  // trailing padding cannot misalign anything.
  auto owner = std::make_shared<flatbuffers::DetachedBuffer>(builder.Release());
  std::string_view view(reinterpret_cast<const char*>(owner->data()), owner->size());
  f.payload = Slice(std::move(owner), view);
  write_header(f);
  return f;
}

OutFrame frame_from_bytes(std::string_view payload) {
  OutFrame f;
  f.payload = Slice::copy_of(payload);
  write_header(f);
  return f;
}

std::string frame_to_string(const OutFrame& frame) {
  std::string s(reinterpret_cast<const char*>(frame.header), kFrameHeaderBytes);
  s.append(frame.payload.view());
  s.append(frame.padding, '\0');
  return s;
}

Slice ReceivedFrame::slice_of(const flatbuffers::Vector<uint8_t>* bytes) const {
  if (bytes == nullptr || bytes->size() == 0) return Slice();
  const char* p = reinterpret_cast<const char*>(bytes->data());
  RAFT_CHECK(p >= payload.data() && p + bytes->size() <= payload.data() + payload.size());
  return payload.sub(static_cast<size_t>(p - payload.data()), bytes->size());
}

bool verify_frame_payload(const uint8_t* data, size_t size) {
  // A table takes at least 4 bytes; the default table limit (1M) would refuse
  // large legitimate batches.
  flatbuffers::Verifier verifier(data, size, /*max_depth=*/64,
                                 /*max_tables=*/static_cast<flatbuffers::uoffset_t>(size / 4 + 16));
  if (!fbs::VerifyFrameBuffer(verifier)) return false;
  // The Verifier accepts a union whose type is set but whose table is absent;
  // we do not: every frame carries a body of the type it names.
  const fbs::Frame* frame = fbs::GetFrame(data);
  return frame->body_type() != fbs::FrameBody::NONE && frame->body() != nullptr;
}

// --- FrameDecoder ------------------------------------------------------------

struct FrameDecoder::Block {
  explicit Block(size_t bytes) : words(new uint64_t[(bytes + 7) / 8]), size((bytes + 7) / 8 * 8) {}
  char* data() { return reinterpret_cast<char*>(words.get()); }
  std::unique_ptr<uint64_t[]> words;  // 8-aligned storage.
  size_t size;
};

FrameDecoder::FrameDecoder(uint32_t max_frame_bytes, size_t block_bytes)
    : max_frame_bytes_(max_frame_bytes), block_bytes_(block_bytes) {
  RAFT_CHECK(max_frame_bytes_ >= 8);
  RAFT_CHECK(block_bytes_ >= 2 * kMinFreeBytes);
}

void FrameDecoder::ensure_space(size_t need_from_begin, size_t min_free) {
  size_t buffered_bytes = end_ - begin_;
  if (block_ && block_.use_count() == 1 && buffered_bytes == 0) {
    begin_ = end_ = kStartOffset;
    // Give back a block grown for one huge frame.
    if (block_->size > 2 * block_bytes_ && need_from_begin + kStartOffset <= block_bytes_) {
      block_.reset();
    }
  }
  if (block_ && block_->size - begin_ >= need_from_begin && block_->size - end_ >= min_free) {
    return;
  }
  size_t want = kStartOffset + std::max(need_from_begin, buffered_bytes + min_free);
  if (block_ && block_.use_count() == 1 && block_->size >= want) {
    std::memmove(block_->data() + kStartOffset, block_->data() + begin_, buffered_bytes);
  } else {
    auto fresh = std::make_shared<Block>(std::max(want, block_bytes_));
    if (buffered_bytes > 0) {
      std::memcpy(fresh->data() + kStartOffset, block_->data() + begin_, buffered_bytes);
    }
    block_ = std::move(fresh);
  }
  begin_ = kStartOffset;
  end_ = kStartOffset + buffered_bytes;
}

void FrameDecoder::set_max_frame_bytes(uint32_t max_frame_bytes) {
  RAFT_CHECK(max_frame_bytes >= 8);
  max_frame_bytes_ = max_frame_bytes;
}

char* FrameDecoder::prepare_write(size_t* capacity) {
  size_t need = kFrameHeaderBytes;
  size_t min_free = kMinFreeBytes;
  if (end_ - begin_ >= kFrameHeaderBytes) {
    uint32_t length;
    std::memcpy(&length, block_->data() + begin_, 4);
    // A bad length is decode()'s to reject; size the buffer only for good ones.
    if (length % 8 == 4 && length <= max_frame_bytes_) {
      need = kFrameHeaderBytes + length;
      if (need > end_ - begin_) min_free = std::min(min_free, need - (end_ - begin_));
    }
  }
  ensure_space(need, min_free);
  *capacity = block_->size - end_;
  return block_->data() + end_;
}

void FrameDecoder::commit_write(size_t n) {
  RAFT_CHECK(block_ && end_ + n <= block_->size);
  end_ += n;
}

FrameError FrameDecoder::feed(std::string_view bytes,
                              absl::FunctionRef<bool(const ReceivedFrame&)> on_frame) {
  while (!bytes.empty()) {
    size_t capacity = 0;
    char* p = prepare_write(&capacity);
    size_t n = std::min(capacity, bytes.size());
    std::memcpy(p, bytes.data(), n);
    commit_write(n);
    bytes.remove_prefix(n);
    FrameError e = decode(on_frame);
    if (e != FrameError::kNone) return e;
  }
  return FrameError::kNone;
}

FrameError FrameDecoder::decode(absl::FunctionRef<bool(const ReceivedFrame&)> on_frame) {
  RAFT_CHECK_MSG(error_ == FrameError::kNone, "FrameDecoder used after an error");
  while (end_ - begin_ >= kFrameHeaderBytes) {
    const char* p = block_->data() + begin_;
    uint32_t length;
    uint64_t sum;
    std::memcpy(&length, p, 4);
    std::memcpy(&sum, p + 4, 8);
    if (length % 8 != 4) return error_ = FrameError::kBadHeader;
    if (length > max_frame_bytes_) return error_ = FrameError::kTooLarge;
    if (end_ - begin_ < kFrameHeaderBytes + length) return FrameError::kNone;
    const char* payload = p + kFrameHeaderBytes;
    RAFT_CHECK(reinterpret_cast<uintptr_t>(payload) % 8 == 0);
    std::string_view bytes(payload, length);
    if (checksum64(bytes) != sum) return error_ = FrameError::kChecksum;
    const auto* data = reinterpret_cast<const uint8_t*>(payload);
    if (!verify_frame_payload(data, length)) return error_ = FrameError::kVerify;
    ReceivedFrame frame{fbs::GetFrame(data), Slice(block_, bytes)};
    begin_ += kFrameHeaderBytes + length;
    if (!on_frame(frame)) return FrameError::kNone;
  }
  return FrameError::kNone;
}

std::string FrameDecoder::take_buffered() {
  std::string out;
  if (block_) out.assign(block_->data() + begin_, end_ - begin_);
  begin_ = end_ = kStartOffset;
  if (block_ && block_.use_count() != 1) block_.reset();
  return out;
}

}  // namespace raft::net
