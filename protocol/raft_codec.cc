#include "protocol/raft_codec.h"

#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fbs/frame_generated.h"
#include "protocol/fbs_read.h"

namespace raft::protocol {
namespace {

// Empty: the field is left out.
flatbuffers::Offset<flatbuffers::Vector<uint8_t>> bytes_or_absent(flatbuffers::FlatBufferBuilder& b,
                                                                  const Slice& s) {
  if (s.empty()) return 0;
  return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

flatbuffers::Offset<flatbuffers::Vector<uint64_t>> ids(flatbuffers::FlatBufferBuilder& b,
                                                       const std::vector<NodeId>& v) {
  if (v.empty()) return 0;
  return b.CreateVector(v);
}

Slice slice_of(const flatbuffers::Vector<uint8_t>* v, const std::shared_ptr<const void>& owner) {
  if (v == nullptr || v->size() == 0) return Slice();
  return Slice(owner, std::string_view(reinterpret_cast<const char*>(v->data()), v->size()));
}

bool is_remote(MessageType t) {
  switch (t) {
    case MessageType::kPropose:
    case MessageType::kAppend:
    case MessageType::kAppendResponse:
    case MessageType::kVote:
    case MessageType::kVoteResponse:
    case MessageType::kPreVote:
    case MessageType::kPreVoteResponse:
    case MessageType::kHeartbeat:
    case MessageType::kHeartbeatResponse:
    case MessageType::kSnapshot:
    case MessageType::kTimeoutNow:
    case MessageType::kReadIndex:
    case MessageType::kReadIndexResponse:
    case MessageType::kTransferLeader:
    case MessageType::kQuiesce:
      return true;
    case MessageType::kHup:
    case MessageType::kBeat:
    case MessageType::kSnapStatus:
    case MessageType::kUnreachable:
    case MessageType::kCheckQuorum:
      return false;
  }
  return false;
}

}  // namespace

flatbuffers::Offset<fbs::ConfState> encode_conf_state(flatbuffers::FlatBufferBuilder& b,
                                                      const ConfState& cs) {
  auto voters = ids(b, cs.voters);
  auto learners = ids(b, cs.learners);
  auto outgoing = ids(b, cs.voters_outgoing);
  auto next = ids(b, cs.learners_next);
  return fbs::CreateConfState(b, voters, learners, outgoing, next, cs.auto_leave);
}

flatbuffers::Offset<fbs::SnapshotMeta> encode_snapshot_meta(flatbuffers::FlatBufferBuilder& b,
                                                            const SnapshotMeta& meta) {
  auto cs = encode_conf_state(b, meta.conf_state);
  return fbs::CreateSnapshotMeta(b, meta.index, meta.term, cs);
}

flatbuffers::Offset<fbs::Message> encode_message(flatbuffers::FlatBufferBuilder& b,
                                                 const Message& m) {
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::Entry>>> entries = 0;
  if (!m.entries.empty()) {
    std::vector<flatbuffers::Offset<fbs::Entry>> offsets;
    offsets.reserve(m.entries.size());
    for (const Entry& e : m.entries) {
      auto data = bytes_or_absent(b, e.data);
      offsets.push_back(
          fbs::CreateEntry(b, e.term, e.index, static_cast<fbs::EntryType>(e.type), data));
    }
    entries = b.CreateVector(offsets);
  }
  flatbuffers::Offset<fbs::Snapshot> snapshot = 0;
  if (m.snapshot) {
    auto meta = encode_snapshot_meta(b, m.snapshot->meta);
    auto data = bytes_or_absent(b, m.snapshot->data);
    snapshot = fbs::CreateSnapshot(b, meta, data);
  }
  auto context = bytes_or_absent(b, m.context);
  fbs::MessageBuilder mb(b);
  mb.add_type(static_cast<uint8_t>(m.type));
  mb.add_group(m.group);
  mb.add_from(m.from);
  mb.add_to(m.to);
  mb.add_term(m.term);
  mb.add_log_term(m.log_term);
  mb.add_index(m.index);
  mb.add_commit(m.commit);
  mb.add_entries(entries);
  mb.add_reject(m.reject);
  mb.add_reject_hint(m.reject_hint);
  mb.add_snapshot(snapshot);
  mb.add_context(context);
  return mb.Finish();
}

bool travels_compact(const Message& m) {
  const bool plain = m.log_term == 0 && m.index == 0 && !m.reject && m.reject_hint == 0 &&
                     m.entries.empty() && !m.snapshot && m.context.empty();
  if (!plain) return false;
  if (m.type == MessageType::kHeartbeat) return true;
  return m.type == MessageType::kHeartbeatResponse && m.commit == 0;
}

flatbuffers::Offset<fbs::RaftBatch> encode_raft_batch(flatbuffers::FlatBufferBuilder& b,
                                                      std::span<const Message> messages,
                                                      uint64_t incarnation, size_t* compact) {
  // The compact records share the batch's sender and receiver: those of
  // the first compact message (a batch goes to one peer, so all agree; one
  // that does not travels in full).
  const Message* first_compact = nullptr;
  size_t full = 0;
  size_t heartbeats = 0;
  auto compactable = [&first_compact](const Message& m) {
    return travels_compact(m) && m.from == first_compact->from && m.to == first_compact->to;
  };
  for (const Message& m : messages) {
    if (first_compact == nullptr && travels_compact(m)) first_compact = &m;
    if (first_compact != nullptr && compactable(m)) {
      if (m.type == MessageType::kHeartbeat) ++heartbeats;
    } else {
      ++full;
    }
  }
  const size_t acks = messages.size() - full - heartbeats;
  if (compact != nullptr) *compact = heartbeats + acks;
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::Message>>> vec = 0;
  if (full != 0) {
    std::vector<flatbuffers::Offset<fbs::Message>> offsets;
    offsets.reserve(full);
    for (const Message& m : messages) {
      if (first_compact == nullptr || !compactable(m)) offsets.push_back(encode_message(b, m));
    }
    vec = b.CreateVector(offsets);
  }
  // Written in place, in message order.
  auto records = [&](MessageType type, size_t count) {
    flatbuffers::Offset<flatbuffers::Vector<const fbs::GroupHeartbeat*>> out = 0;
    if (count == 0) return out;
    fbs::GroupHeartbeat* dst = nullptr;
    out = b.CreateUninitializedVectorOfStructs(count, &dst);
    for (const Message& m : messages) {
      if (m.type == type && compactable(m)) *dst++ = fbs::GroupHeartbeat(m.group, m.term, m.commit);
    }
    return out;
  };
  auto hb = records(MessageType::kHeartbeat, heartbeats);
  auto hb_acks = records(MessageType::kHeartbeatResponse, acks);
  fbs::RaftBatchBuilder rb(b);
  rb.add_messages(vec);
  rb.add_incarnation(incarnation);
  if (first_compact != nullptr) {
    rb.add_from(first_compact->from);
    rb.add_to(first_compact->to);
  }
  rb.add_heartbeats(hb);
  rb.add_heartbeat_acks(hb_acks);
  return rb.Finish();
}

void decode_raft_batch(const fbs::RaftBatch& batch, const std::shared_ptr<const void>& owner,
                       absl::FunctionRef<void(absl::StatusOr<Message>)> fn) {
  if (const auto* messages = batch.messages()) {
    for (const fbs::Message* fm : *messages) fn(decode_message(*fm, owner));
  }
  auto expand = [&](const flatbuffers::Vector<const fbs::GroupHeartbeat*>* records,
                    MessageType type) {
    if (records == nullptr) return;
    for (const fbs::GroupHeartbeat* r : *records) {
      Message m;
      m.type = type;
      m.group = r->group();
      m.from = batch.from();
      m.to = batch.to();
      m.term = r->term();
      if (type == MessageType::kHeartbeat) m.commit = r->commit();
      fn(std::move(m));
    }
  };
  expand(batch.heartbeats(), MessageType::kHeartbeat);
  expand(batch.heartbeat_acks(), MessageType::kHeartbeatResponse);
}

ConfState decode_conf_state(const fbs::ConfState* cs) {
  ConfState out;
  if (cs == nullptr) return out;
  out.voters = read_u64_vector(cs->voters());
  out.learners = read_u64_vector(cs->learners());
  out.voters_outgoing = read_u64_vector(cs->voters_outgoing());
  out.learners_next = read_u64_vector(cs->learners_next());
  out.auto_leave = cs->auto_leave();
  return out;
}

SnapshotMeta decode_snapshot_meta(const fbs::SnapshotMeta* meta) {
  SnapshotMeta out;
  if (meta == nullptr) return out;
  out.index = meta->index();
  out.term = meta->term();
  out.conf_state = decode_conf_state(meta->conf_state());
  return out;
}

absl::StatusOr<Message> decode_message(const fbs::Message& in,
                                       const std::shared_ptr<const void>& owner) {
  Message m;
  m.type = static_cast<MessageType>(in.type());
  if (!is_remote(m.type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("raft message: type ", in.type(), " is not a remote message type"));
  }
  m.group = in.group();
  m.from = in.from();
  m.to = in.to();
  m.term = in.term();
  m.log_term = in.log_term();
  m.index = in.index();
  m.commit = in.commit();
  m.reject = in.reject();
  m.reject_hint = in.reject_hint();
  if (const auto* entries = in.entries()) {
    m.entries.reserve(entries->size());
    for (const fbs::Entry* e : *entries) {
      if (static_cast<uint8_t>(e->type()) > static_cast<uint8_t>(kLastEntryType)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "raft message: entry ", e->index(), " has unknown type ", static_cast<int>(e->type())));
      }
      m.entries.push_back(Entry{e->term(), e->index(), static_cast<EntryType>(e->type()),
                                slice_of(e->data(), owner)});
    }
  }
  if (const fbs::Snapshot* s = in.snapshot()) {
    m.snapshot = Snapshot{decode_snapshot_meta(s->meta()), slice_of(s->data(), owner)};
  }
  m.context = slice_of(in.context(), owner);
  return m;
}

net::OutFrame encode_raft_batch_frame(std::span<const Message> messages, size_t size_hint,
                                      uint64_t incarnation, size_t* compact) {
  flatbuffers::FlatBufferBuilder b(size_hint + (messages.empty() ? 64 : 1024));
  auto batch = encode_raft_batch(b, messages, incarnation, compact);
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::RaftBatch, batch.Union()));
  return net::frame_from_builder(b);
}

net::OutFrame encode_snapshot_chunk_frame(const Message& announce, uint64_t offset,
                                          std::string_view data, bool last, uint64_t checksum) {
  flatbuffers::FlatBufferBuilder b(data.size() + 1024);
  auto bytes = b.CreateVector(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  flatbuffers::Offset<fbs::SnapshotMeta> meta = 0;
  if (offset == 0) meta = encode_snapshot_meta(b, announce.snapshot->meta);
  fbs::SnapshotChunkBuilder cb(b);
  cb.add_group(announce.group);
  cb.add_from(announce.from);
  cb.add_to(announce.to);
  cb.add_term(announce.term);
  cb.add_snapshot_index(announce.snapshot->meta.index);
  cb.add_snapshot_term(announce.snapshot->meta.term);
  cb.add_offset(offset);
  cb.add_data(bytes);
  cb.add_last(last);
  if (offset == 0) cb.add_meta(meta);
  if (last) cb.add_checksum(checksum);
  auto chunk = cb.Finish();
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::SnapshotChunk, chunk.Union()));
  return net::frame_from_builder(b);
}

}  // namespace raft::protocol
