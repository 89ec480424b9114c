// Conversion between the core's Raft messages (engine/core/types.h) and their
// FlatBuffers form (fbs/raft.fbs). Encoding writes into a caller's builder so
// that messages of many groups share one frame; decoding reads a verified
// buffer and references entry payloads in place (Slices sharing the received
// buffer), so a payload is not copied between the socket and the log.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "engine/core/types.h"
#include "fbs/raft_generated.h"
#include "net/frame.h"

namespace raft::protocol {

flatbuffers::Offset<fbs::Message> encode_message(flatbuffers::FlatBufferBuilder& builder,
                                                 const Message& message);

// `incarnation`: the sender's (RaftBatch.incarnation), 0 for none.
// Heartbeats and their plain answers (travels_compact) are coalesced into
// the batch's compact records; `compact`, if given, counts them.
flatbuffers::Offset<fbs::RaftBatch> encode_raft_batch(flatbuffers::FlatBufferBuilder& builder,
                                                      std::span<const Message> messages,
                                                      uint64_t incarnation = 0,
                                                      size_t* compact = nullptr);

// A heartbeat without a ReadIndex context, or a non-rejecting answer
// without one: nothing in it but group, sender, receiver, term (and the
// heartbeat's commit), so it travels as a 24-byte GroupHeartbeat record.
bool travels_compact(const Message& message);

// Every message of a verified batch (`owner` keeps its buffer alive): the
// full messages in order, then the compact heartbeats and answers. Each is
// handed to `fn` decoded, or as the reason it could not be.
void decode_raft_batch(const fbs::RaftBatch& batch, const std::shared_ptr<const void>& owner,
                       absl::FunctionRef<void(absl::StatusOr<Message>)> fn);

flatbuffers::Offset<fbs::ConfState> encode_conf_state(flatbuffers::FlatBufferBuilder& builder,
                                                      const ConfState& conf_state);
flatbuffers::Offset<fbs::SnapshotMeta> encode_snapshot_meta(flatbuffers::FlatBufferBuilder& builder,
                                                            const SnapshotMeta& meta);

// A frame of Raft messages (of any groups) to one peer; `size_hint` is the
// expected encoded size, so the builder does not reallocate. No messages:
// a liveness beat.
net::OutFrame encode_raft_batch_frame(std::span<const Message> messages, size_t size_hint,
                                      uint64_t incarnation = 0, size_t* compact = nullptr);

// One frame of a snapshot stream behind the announce `announce` (a
// kSnapshot message): `data` at `offset` of the file; the snapshot's meta
// travels on the first chunk (offset 0), the file's checksum on the last.
net::OutFrame encode_snapshot_chunk_frame(const Message& announce, uint64_t offset,
                                          std::string_view data, bool last, uint64_t checksum);

// `message` must come from a buffer that passed the FlatBuffers Verifier and
// that `owner` keeps alive. InvalidArgument for an unknown message or entry
// type, or a local-only message kind (those never travel).
absl::StatusOr<Message> decode_message(const fbs::Message& message,
                                       const std::shared_ptr<const void>& owner);

ConfState decode_conf_state(const fbs::ConfState* conf_state);
SnapshotMeta decode_snapshot_meta(const fbs::SnapshotMeta* meta);

}  // namespace raft::protocol
