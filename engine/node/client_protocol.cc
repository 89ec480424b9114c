#include "engine/node/client_protocol.h"

#include "absl/strings/str_cat.h"
#include "engine/node/codec.h"
#include "engine/node/errors.h"

namespace raft {
namespace {

using Builder = flatbuffers::FlatBufferBuilder;

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> bytes(Builder& b, const std::string& s) {
  return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string string_of(const flatbuffers::Vector<uint8_t>* v) {
  if (v == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(v->data()), v->size());
}

std::string string_of(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::Peer>>> peers_of(
    Builder& b, const PeerAddresses& peers) {
  std::vector<flatbuffers::Offset<fbs::Peer>> v;
  for (const auto& [id, address] : peers) {
    v.push_back(fbs::CreatePeer(b, id, b.CreateString(address)));
  }
  return b.CreateVector(v);
}

PeerAddresses peers_from(const flatbuffers::Vector<flatbuffers::Offset<fbs::Peer>>* v) {
  PeerAddresses out;
  if (v == nullptr) return out;
  for (const fbs::Peer* p : *v) out[p->id()] = string_of(p->address());
  return out;
}

flatbuffers::Offset<fbs::ClientRequest> encode_call(Builder& b, const ClientCall& c) {
  flatbuffers::Offset<void> body;
  fbs::Request type = fbs::Request::NONE;
  switch (c.kind) {
    case CallKind::kPropose:
      type = fbs::Request::ProposeRequest;
      body = fbs::CreateProposeRequest(b, bytes(b, c.data)).Union();
      break;
    case CallKind::kRead:
      type = fbs::Request::ReadRequest;
      body = fbs::CreateReadRequest(b, static_cast<fbs::ReadMode>(c.read_mode), bytes(b, c.data))
                 .Union();
      break;
    case CallKind::kChangeConfig: {
      std::vector<flatbuffers::Offset<fbs::ConfChangeItem>> items;
      for (const MemberChange& ch : c.changes) {
        items.push_back(fbs::CreateConfChangeItem(b, static_cast<fbs::ConfChangeKind>(ch.kind),
                                                  ch.node, b.CreateString(ch.address)));
      }
      type = fbs::Request::ChangeConfigRequest;
      body = fbs::CreateChangeConfigRequest(b, b.CreateVector(items)).Union();
      break;
    }
    case CallKind::kRequestId:
      type = fbs::Request::RequestIdRequest;
      body = fbs::CreateRequestIdRequest(b, b.CreateString(c.address)).Union();
      break;
    case CallKind::kJoin:
      type = fbs::Request::JoinRequest;
      body = fbs::CreateJoinRequest(b, c.node_id, b.CreateString(c.address), c.as_learner).Union();
      break;
    case CallKind::kLeave:
      type = fbs::Request::LeaveRequest;
      body = fbs::CreateLeaveRequest(b, c.node_id).Union();
      break;
    case CallKind::kTransferLeader:
      type = fbs::Request::TransferLeaderRequest;
      body = fbs::CreateTransferLeaderRequest(b, c.target).Union();
      break;
    case CallKind::kSnapshot:
      type = fbs::Request::SnapshotRequest;
      body = fbs::CreateSnapshotRequest(b).Union();
      break;
    case CallKind::kStatus:
      type = fbs::Request::StatusRequest;
      body = fbs::CreateStatusRequest(b).Union();
      break;
    case CallKind::kLeader:
      type = fbs::Request::LeaderRequest;
      body = fbs::CreateLeaderRequest(b).Union();
      break;
    case CallKind::kPeers:
      type = fbs::Request::PeersRequest;
      body = fbs::CreatePeersRequest(b).Union();
      break;
  }
  return fbs::CreateClientRequest(b, c.request_id, c.group, c.timeout_ms, type, body);
}

flatbuffers::Offset<fbs::Error> encode_error(Builder& b, const absl::Status& s) {
  if (s.ok()) return 0;
  std::optional<LeaderHint> hint = not_leader_hint(s);
  fbs::ErrorCode code = hint ? fbs::ErrorCode::NotLeader : static_cast<fbs::ErrorCode>(s.code());
  auto message = b.CreateString(std::string(s.message()));
  auto address = b.CreateString(hint ? hint->address : std::string());
  return fbs::CreateError(b, code, message, hint ? hint->leader_id : 0, address);
}

absl::Status decode_error(const fbs::Error* e) {
  if (e == nullptr || e->code() == fbs::ErrorCode::Ok) return absl::OkStatus();
  if (e->code() == fbs::ErrorCode::NotLeader) {
    return not_leader_error(e->leader_id(), string_of(e->leader_address()));
  }
  auto code = static_cast<int>(e->code());
  if (code < 0 || code > 16) code = static_cast<int>(absl::StatusCode::kUnknown);
  return absl::Status(static_cast<absl::StatusCode>(code), string_of(e->message()));
}

flatbuffers::Offset<fbs::ClientResponse> encode_reply(Builder& b, const ClientReply& r) {
  auto error = encode_error(b, r.status);
  fbs::Response type = fbs::Response::NONE;
  flatbuffers::Offset<void> body;
  if (r.status.ok()) {
    switch (r.kind) {
      case CallKind::kPropose:
        type = fbs::Response::ProposeResponse;
        body = fbs::CreateProposeResponse(b, r.index, r.term, bytes(b, r.result)).Union();
        break;
      case CallKind::kRead:
        type = fbs::Response::ReadResponse;
        body = fbs::CreateReadResponse(b, r.index, bytes(b, r.result)).Union();
        break;
      case CallKind::kChangeConfig:
        type = fbs::Response::ChangeConfigResponse;
        body =
            fbs::CreateChangeConfigResponse(b, r.index, encode_conf_state(b, r.conf_state)).Union();
        break;
      case CallKind::kRequestId:
        type = fbs::Response::RequestIdResponse;
        body = fbs::CreateRequestIdResponse(b, r.node_id, peers_of(b, r.peers)).Union();
        break;
      case CallKind::kJoin:
        type = fbs::Response::JoinResponse;
        body = fbs::CreateJoinResponse(b, r.node_id, peers_of(b, r.peers)).Union();
        break;
      case CallKind::kLeave:
        type = fbs::Response::LeaveResponse;
        body = fbs::CreateLeaveResponse(b, r.index).Union();
        break;
      case CallKind::kTransferLeader:
        type = fbs::Response::TransferLeaderResponse;
        body = fbs::CreateTransferLeaderResponse(b, r.node_id).Union();
        break;
      case CallKind::kSnapshot:
        type = fbs::Response::SnapshotResponse;
        body = fbs::CreateSnapshotResponse(b, r.index, r.term).Union();
        break;
      case CallKind::kStatus:
        type = fbs::Response::StatusResponse;
        body = fbs::CreateStatusResponse(b, b.CreateString(r.result)).Union();
        break;
      case CallKind::kLeader:
        type = fbs::Response::LeaderResponse;
        body = fbs::CreateLeaderResponse(b, r.node_id, b.CreateString(r.address), r.term).Union();
        break;
      case CallKind::kPeers:
        type = fbs::Response::PeersResponse;
        body = fbs::CreatePeersResponse(b, peers_of(b, r.peers)).Union();
        break;
    }
  }
  return fbs::CreateClientResponse(b, r.request_id, error, type, body);
}

}  // namespace

const char* call_kind_name(CallKind kind) {
  switch (kind) {
    case CallKind::kPropose:
      return "propose";
    case CallKind::kRead:
      return "read";
    case CallKind::kChangeConfig:
      return "change_config";
    case CallKind::kRequestId:
      return "request_id";
    case CallKind::kJoin:
      return "join";
    case CallKind::kLeave:
      return "leave";
    case CallKind::kTransferLeader:
      return "transfer_leader";
    case CallKind::kSnapshot:
      return "snapshot";
    case CallKind::kStatus:
      return "status";
    case CallKind::kLeader:
      return "leader";
    case CallKind::kPeers:
      return "peers";
  }
  return "unknown";
}

net::OutFrame encode_calls(const std::vector<ClientCall>& calls) {
  size_t hint = 256;
  for (const ClientCall& c : calls) hint += c.data.size() + 64;
  Builder b(hint);
  std::vector<flatbuffers::Offset<fbs::ClientRequest>> v;
  v.reserve(calls.size());
  for (const ClientCall& c : calls) v.push_back(encode_call(b, c));
  auto batch = fbs::CreateClientRequestBatch(b, b.CreateVector(v));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::ClientRequestBatch, batch.Union()));
  return net::frame_from_builder(b);
}

net::OutFrame encode_replies(const std::vector<ClientReply>& replies) {
  size_t hint = 256;
  for (const ClientReply& r : replies) hint += r.result.size() + 64;
  Builder b(hint);
  std::vector<flatbuffers::Offset<fbs::ClientResponse>> v;
  v.reserve(replies.size());
  for (const ClientReply& r : replies) v.push_back(encode_reply(b, r));
  auto batch = fbs::CreateClientResponseBatch(b, b.CreateVector(v));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::ClientResponseBatch, batch.Union()));
  return net::frame_from_builder(b);
}

absl::StatusOr<ClientCall> decode_call(const fbs::ClientRequest& r) {
  ClientCall c;
  c.request_id = r.request_id();
  c.group = r.group();
  c.timeout_ms = r.timeout_ms();
  switch (r.body_type()) {
    case fbs::Request::ProposeRequest:
      c.kind = CallKind::kPropose;
      c.data = string_of(r.body_as_ProposeRequest()->data());
      break;
    case fbs::Request::ReadRequest: {
      const fbs::ReadRequest* rr = r.body_as_ReadRequest();
      c.kind = CallKind::kRead;
      c.data = string_of(rr->query());
      if (static_cast<uint8_t>(rr->mode()) > 2) {
        return absl::InvalidArgumentError("read: unknown read mode");
      }
      c.read_mode = static_cast<WireReadMode>(rr->mode());
      break;
    }
    case fbs::Request::ChangeConfigRequest: {
      c.kind = CallKind::kChangeConfig;
      const auto* items = r.body_as_ChangeConfigRequest()->changes();
      if (items == nullptr || items->size() == 0) {
        return absl::InvalidArgumentError("change_config: no changes");
      }
      for (const fbs::ConfChangeItem* it : *items) {
        if (static_cast<uint8_t>(it->kind()) > 3) {
          return absl::InvalidArgumentError("change_config: unknown change kind");
        }
        c.changes.push_back(MemberChange{static_cast<MemberChangeKind>(it->kind()), it->node_id(),
                                         string_of(it->address())});
      }
      break;
    }
    case fbs::Request::RequestIdRequest:
      c.kind = CallKind::kRequestId;
      c.address = string_of(r.body_as_RequestIdRequest()->address());
      break;
    case fbs::Request::JoinRequest: {
      const fbs::JoinRequest* j = r.body_as_JoinRequest();
      c.kind = CallKind::kJoin;
      c.node_id = j->node_id();
      c.address = string_of(j->address());
      c.as_learner = j->as_learner();
      break;
    }
    case fbs::Request::LeaveRequest:
      c.kind = CallKind::kLeave;
      c.node_id = r.body_as_LeaveRequest()->node_id();
      break;
    case fbs::Request::TransferLeaderRequest:
      c.kind = CallKind::kTransferLeader;
      c.target = r.body_as_TransferLeaderRequest()->target();
      break;
    case fbs::Request::SnapshotRequest:
      c.kind = CallKind::kSnapshot;
      break;
    case fbs::Request::StatusRequest:
      c.kind = CallKind::kStatus;
      break;
    case fbs::Request::LeaderRequest:
      c.kind = CallKind::kLeader;
      break;
    case fbs::Request::PeersRequest:
      c.kind = CallKind::kPeers;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown request type ", static_cast<int>(r.body_type())));
  }
  return c;
}

ClientReply decode_reply(const fbs::ClientResponse& r) {
  ClientReply out;
  out.request_id = r.request_id();
  out.status = decode_error(r.error());
  switch (r.body_type()) {
    case fbs::Response::ProposeResponse: {
      const auto* p = r.body_as_ProposeResponse();
      out.kind = CallKind::kPropose;
      out.index = p->index();
      out.term = p->term();
      out.result = string_of(p->result());
      break;
    }
    case fbs::Response::ReadResponse: {
      const auto* p = r.body_as_ReadResponse();
      out.kind = CallKind::kRead;
      out.index = p->index();
      out.result = string_of(p->result());
      break;
    }
    case fbs::Response::ChangeConfigResponse: {
      const auto* p = r.body_as_ChangeConfigResponse();
      out.kind = CallKind::kChangeConfig;
      out.index = p->index();
      out.conf_state = decode_conf_state(p->conf_state());
      break;
    }
    case fbs::Response::RequestIdResponse: {
      const auto* p = r.body_as_RequestIdResponse();
      out.kind = CallKind::kRequestId;
      out.node_id = p->node_id();
      out.peers = peers_from(p->peers());
      break;
    }
    case fbs::Response::JoinResponse: {
      const auto* p = r.body_as_JoinResponse();
      out.kind = CallKind::kJoin;
      out.node_id = p->node_id();
      out.peers = peers_from(p->peers());
      break;
    }
    case fbs::Response::LeaveResponse:
      out.kind = CallKind::kLeave;
      out.index = r.body_as_LeaveResponse()->index();
      break;
    case fbs::Response::TransferLeaderResponse:
      out.kind = CallKind::kTransferLeader;
      out.node_id = r.body_as_TransferLeaderResponse()->leader_id();
      break;
    case fbs::Response::SnapshotResponse:
      out.kind = CallKind::kSnapshot;
      out.index = r.body_as_SnapshotResponse()->index();
      out.term = r.body_as_SnapshotResponse()->term();
      break;
    case fbs::Response::StatusResponse:
      out.kind = CallKind::kStatus;
      out.result = string_of(r.body_as_StatusResponse()->json());
      break;
    case fbs::Response::LeaderResponse: {
      const auto* p = r.body_as_LeaderResponse();
      out.kind = CallKind::kLeader;
      out.node_id = p->leader_id();
      out.address = string_of(p->address());
      out.term = p->term();
      break;
    }
    case fbs::Response::PeersResponse:
      out.kind = CallKind::kPeers;
      out.peers = peers_from(r.body_as_PeersResponse()->peers());
      break;
    default:
      break;
  }
  return out;
}

}  // namespace raft
