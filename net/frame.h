// Framing: how FlatBuffers messages travel on a byte stream.
//
// A frame is
//   [u32 length, LE][u64 XXH3-64 of the payload, LE][payload: `length` bytes]
// where the payload is one fbs::Frame (fbs/frame.fbs) followed by zero
// padding that makes `length` 4 mod 8. Then every frame (12-byte header +
// payload) is a multiple of 8 bytes long, frames sit back to back at 4 mod 8
// in the receive buffer, and every payload starts 8-byte aligned: the
// FlatBuffers Verifier's alignment check passes and fields are read in place
// without a copy. The sender adds the padding as a separate iovec (no copy).
//
// The decoder is pure (no IO): feed it bytes, it hands out verified frames.
// Before any field is read, each frame passes, in order: length 4 mod 8
// (else "garbage"), length <= max_frame_bytes, checksum, and the
// FlatBuffers Verifier. The first failure is final: the connection must close.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "common/slice.h"
#include "fbs/frame_generated.h"

namespace raft::net {

inline constexpr size_t kFrameHeaderBytes = 12;
inline constexpr uint32_t kDefaultMaxFrameBytes = 64u << 20;
// Snapshot chunks should stay well below the frame cap; 1 MiB is the advice.
inline constexpr uint32_t kSnapshotChunkBytes = 1u << 20;

enum class FrameError : uint8_t {
  kNone = 0,
  kBadHeader,  // Length not 4 mod 8: the stream is garbage.
  kTooLarge,   // Length above max_frame_bytes.
  kChecksum,   // XXH3 mismatch.
  kVerify,     // The FlatBuffers Verifier rejected the payload, or it has no body.
};
const char* frame_error_name(FrameError e);

// An encoded frame ready to send: header, FlatBuffers bytes and padding,
// kept apart so that sending needs no copy (up to three iovecs). Copying an
// OutFrame copies a reference, not the bytes: one frame can go to many peers.
struct OutFrame {
  uint8_t header[kFrameHeaderBytes] = {};
  uint8_t padding = 0;  // Zero bytes sent after `payload` (0 or 4).
  Slice payload;

  size_t payload_bytes() const { return payload.size() + padding; }  // The length field.
  size_t wire_bytes() const { return kFrameHeaderBytes + payload_bytes(); }
  bool empty() const { return payload.empty(); }
};
// Static zeros for padding iovecs.
extern const uint8_t kFramePadding[8];

// Takes the finished buffer out of `builder` (which must have called Finish
// with an fbs::Frame root) and frames it: pads, checksums, writes the header.
// Costs one small allocation (the Slice owner) and no copy.
OutFrame frame_from_builder(flatbuffers::FlatBufferBuilder& builder);
// Frames arbitrary payload bytes (copied). For tests and tools.
OutFrame frame_from_bytes(std::string_view payload);
// header + payload as one string (tests, the blocking client, fuzz corpora).
std::string frame_to_string(const OutFrame& frame);

// A frame that passed every check. `frame` points into `payload`, which keeps
// the receive buffer alive: take `slice_of(vector)` to keep entry data (or any
// byte vector) beyond the callback without copying it.
struct ReceivedFrame {
  const fbs::Frame* frame = nullptr;
  Slice payload;

  // A Slice over a byte vector inside this frame (nullptr gives an empty one).
  Slice slice_of(const flatbuffers::Vector<uint8_t>* bytes) const;
};

// Checks one payload (after length and checksum): runs the Verifier, and
// requires a body (a union type with its table).
bool verify_frame_payload(const uint8_t* data, size_t size);

// Reassembles frames from a byte stream into reference-counted receive
// blocks. Frames wholly inside a block are delivered in place. A block is
// reused when nobody else holds a Slice of it; otherwise the unparsed tail
// moves to a fresh block, so the slices handed out stay valid.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_bytes = kDefaultMaxFrameBytes,
                        size_t block_bytes = 256 * 1024);

  // Where to put the next received bytes: at least `min_free` bytes (and at
  // least the rest of the frame in progress). Valid until the next call to a
  // non-const method. May move the unparsed tail to a new block.
  char* prepare_write(size_t* capacity);
  // `n` bytes were written at the pointer `prepare_write` returned.
  void commit_write(size_t n);

  // Convenience for tests and the fuzzer: copies `bytes` in, then decodes.
  FrameError feed(std::string_view bytes, absl::FunctionRef<bool(const ReceivedFrame&)> on_frame);

  // Delivers each complete frame in order. `on_frame` returns false to stop
  // (the rest stays buffered). Returns the first error; after an error the
  // decoder must not be used again.
  FrameError decode(absl::FunctionRef<bool(const ReceivedFrame&)> on_frame);

  // Bytes received but not yet delivered (a partial frame, or frames left
  // when on_frame returned false).
  size_t buffered() const { return end_ - begin_; }
  // Takes the undelivered bytes (for handing a connection to another shard).
  std::string take_buffered();
  uint32_t max_frame_bytes() const { return max_frame_bytes_; }
  // Applies to every frame whose header is checked from now on (a
  // connection learns which cap applies from its handshake).
  void set_max_frame_bytes(uint32_t max_frame_bytes);

 private:
  struct Block;
  void ensure_space(size_t need_from_begin, size_t min_free);

  uint32_t max_frame_bytes_;
  size_t block_bytes_;
  std::shared_ptr<Block> block_;
  size_t begin_ = 0;  // Offsets into block_->data; begin_ % 8 == 4 at frame starts.
  size_t end_ = 0;
  FrameError error_ = FrameError::kNone;
};

}  // namespace raft::net
