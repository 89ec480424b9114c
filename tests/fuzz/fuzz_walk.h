// Touches every field of a verified frame, so that a Verifier gap shows up
// as an ASan/UBSan finding in the fuzzers rather than in production.
#pragma once

#include <cstdint>

#include "net/frame.h"
#include "net/handshake.h"
#include "protocol/client_codec.h"
#include "protocol/fbs_read.h"

namespace raft::net::fuzz {

inline uint64_t walk_bytes(const flatbuffers::Vector<uint8_t>* v) {
  uint64_t sum = 0;
  if (v) {
    for (uint8_t b : *v) sum += b;
  }
  return sum;
}

// Through protocol::read_u64_vector, as the codecs read them: the Verifier lets a
// [ulong]'s elements sit at 4 mod 8, so iterating the vector in place is a
// misaligned load (regressions/frame_decoder_fuzz/misaligned-conf-state-vector).
inline uint64_t walk_ids(const flatbuffers::Vector<uint64_t>* v) {
  uint64_t sum = 0;
  for (uint64_t x : protocol::read_u64_vector(v)) sum += x;
  return sum;
}

inline uint64_t walk_conf(const fbs::ConfState* c) {
  if (!c) return 0;
  return walk_ids(c->voters()) + walk_ids(c->learners()) + walk_ids(c->voters_outgoing()) +
         walk_ids(c->learners_next()) + c->auto_leave();
}

inline uint64_t walk_raft_batch(const fbs::RaftBatch& batch) {
  uint64_t sum = batch.from() + batch.to() + batch.incarnation();
  for (const auto* records : {batch.heartbeats(), batch.heartbeat_acks()}) {
    if (records == nullptr) continue;
    for (const fbs::GroupHeartbeat* r : *records) sum += r->group() + r->term() + r->commit();
  }
  if (!batch.messages()) return sum;
  for (const fbs::Message* m : *batch.messages()) {
    sum += m->type() + m->group() + m->from() + m->to() + m->term() + m->log_term() + m->index() +
           m->commit() + m->reject() + m->reject_hint() + walk_bytes(m->context());
    if (m->entries()) {
      for (const fbs::Entry* e : *m->entries()) {
        sum += e->term() + e->index() + static_cast<uint8_t>(e->type()) + walk_bytes(e->data());
      }
    }
    if (const fbs::Snapshot* s = m->snapshot()) {
      sum += walk_bytes(s->data());
      if (s->meta())
        sum += s->meta()->index() + s->meta()->term() + walk_conf(s->meta()->conf_state());
    }
  }
  return sum;
}

// Returns a value derived from every field (so nothing is optimized away).
inline uint64_t walk_frame(const ReceivedFrame& f) {
  uint64_t sum = 0;
  switch (f.frame->body_type()) {
    case fbs::FrameBody::Handshake: {
      HandshakeInfo h = decode_handshake(*f.frame->body_as_Handshake());
      sum += h.cluster_id + h.node_id + h.shard + h.target_shard;
      break;
    }
    case fbs::FrameBody::HandshakeReject: {
      const auto* r = f.frame->body_as_HandshakeReject()->reason();
      sum += r ? r->size() : 0;
      break;
    }
    case fbs::FrameBody::RaftBatch:
      sum += walk_raft_batch(*f.frame->body_as_RaftBatch());
      break;
    case fbs::FrameBody::SnapshotChunk: {
      const fbs::SnapshotChunk* c = f.frame->body_as_SnapshotChunk();
      sum += c->group() + c->snapshot_index() + c->offset() + c->last() + walk_bytes(c->data());
      if (c->meta()) sum += walk_conf(c->meta()->conf_state());
      break;
    }
    case fbs::FrameBody::ClientRequestBatch: {
      auto r = protocol::decode_client_requests(f);
      if (r.ok()) {
        for (const protocol::ClientRequest& q : *r)
          sum += q.request_id + q.data.size() + q.changes.size();
        // Re-encoding what was decoded must decode to the same requests.
        OutFrame again = protocol::encode_client_requests(*r);
        FrameDecoder d;
        d.feed(frame_to_string(again), [&](const ReceivedFrame& g) {
          auto r2 = protocol::decode_client_requests(g);
          fuzz_check(r2.ok() && *r2 == *r);
          return true;
        });
      }
      break;
    }
    case fbs::FrameBody::ClientResponseBatch: {
      auto r = protocol::decode_client_responses(f);
      if (r.ok()) {
        for (const protocol::ClientResponse& q : *r)
          sum += q.request_id + q.result.size() + q.peers.size();
      }
      break;
    }
    case fbs::FrameBody::NONE:
      break;
  }
  return sum;
}

}  // namespace raft::net::fuzz
