#include "protocol/client_codec.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "protocol/fbs_read.h"

namespace raft::protocol {

namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using net::OutFrame;
using net::ReceivedFrame;

// The API's enums and the wire's: explicit in both directions, so that
// neither depends on the other's numbering. Decoding returns nullopt for a
// wire value the API has no name for.

fbs::ReadMode wire_read_mode(ReadConsistency c) {
  switch (c) {
    case ReadConsistency::kLinearizable:
      return fbs::ReadMode::Linearizable;
    case ReadConsistency::kStale:
      return fbs::ReadMode::Stale;
  }
  RAFT_CHECK_MSG(false, "unknown read consistency");
}

// Lease is a linearizable read too; how the serving node confirms it is its
// own NodeConfig::read_mode, whatever the client asked for.
std::optional<ReadConsistency> read_consistency_of(fbs::ReadMode m) {
  switch (m) {
    case fbs::ReadMode::Linearizable:
    case fbs::ReadMode::Lease:
      return ReadConsistency::kLinearizable;
    case fbs::ReadMode::Stale:
      return ReadConsistency::kStale;
  }
  return std::nullopt;
}

fbs::ConfChangeKind wire_change_kind(MemberChangeKind k) {
  switch (k) {
    case MemberChangeKind::kAddVoter:
      return fbs::ConfChangeKind::AddVoter;
    case MemberChangeKind::kAddLearner:
      return fbs::ConfChangeKind::AddLearner;
    case MemberChangeKind::kPromote:
      return fbs::ConfChangeKind::Promote;
    case MemberChangeKind::kRemove:
      return fbs::ConfChangeKind::Remove;
  }
  RAFT_CHECK_MSG(false, "unknown member change kind");
}

std::optional<MemberChangeKind> change_kind_of(fbs::ConfChangeKind k) {
  switch (k) {
    case fbs::ConfChangeKind::AddVoter:
      return MemberChangeKind::kAddVoter;
    case fbs::ConfChangeKind::AddLearner:
      return MemberChangeKind::kAddLearner;
    case fbs::ConfChangeKind::Promote:
      return MemberChangeKind::kPromote;
    case fbs::ConfChangeKind::Remove:
      return MemberChangeKind::kRemove;
  }
  return std::nullopt;
}

fbs::PeerRole wire_peer_role(PeerRole r) {
  switch (r) {
    case PeerRole::kVoter:
      return fbs::PeerRole::Voter;
    case PeerRole::kLearner:
      return fbs::PeerRole::Learner;
    case PeerRole::kVoterOutgoing:
      return fbs::PeerRole::VoterOutgoing;
    case PeerRole::kLearnerNext:
      return fbs::PeerRole::LearnerNext;
  }
  RAFT_CHECK_MSG(false, "unknown peer role");
}

std::optional<PeerRole> peer_role_of(fbs::PeerRole r) {
  switch (r) {
    case fbs::PeerRole::Voter:
      return PeerRole::kVoter;
    case fbs::PeerRole::Learner:
      return PeerRole::kLearner;
    case fbs::PeerRole::VoterOutgoing:
      return PeerRole::kVoterOutgoing;
    case fbs::PeerRole::LearnerNext:
      return PeerRole::kLearnerNext;
  }
  return std::nullopt;
}

fbs::Outcome wire_outcome(std::optional<Outcome> o) {
  if (!o) return fbs::Outcome::Unspecified;
  switch (*o) {
    case Outcome::kRefused:
      return fbs::Outcome::Refused;
    case Outcome::kUnknown:
      return fbs::Outcome::Unknown;
    case Outcome::kFailed:
      return fbs::Outcome::Failed;
  }
  return fbs::Outcome::Unspecified;
}

// Unspecified, or a value this build does not know: not said.
std::optional<Outcome> outcome_of_wire(fbs::Outcome o) {
  switch (o) {
    case fbs::Outcome::Refused:
      return Outcome::kRefused;
    case fbs::Outcome::Unknown:
      return Outcome::kUnknown;
    case fbs::Outcome::Failed:
      return Outcome::kFailed;
    case fbs::Outcome::Unspecified:
      break;
  }
  return std::nullopt;
}

Offset<flatbuffers::Vector<uint8_t>> bytes(FlatBufferBuilder& b, const Slice& s) {
  return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

Offset<flatbuffers::String> str(FlatBufferBuilder& b, const std::string& s) {
  return b.CreateString(s);
}

Offset<flatbuffers::Vector<Offset<fbs::Peer>>> peers(FlatBufferBuilder& b,
                                                     const std::vector<PeerInfo>& list) {
  std::vector<Offset<fbs::Peer>> out;
  out.reserve(list.size());
  for (const PeerInfo& p : list) {
    out.push_back(fbs::CreatePeer(b, p.id, str(b, p.address), wire_peer_role(p.role)));
  }
  return b.CreateVector(out);
}

// The configuration carried by kChangeConfig, kJoin and kLeave answers.
Offset<fbs::ConfState> conf_state(FlatBufferBuilder& b, const ClientResponse& r) {
  auto voters = b.CreateVector(r.voters);
  auto learners = b.CreateVector(r.learners);
  auto outgoing = b.CreateVector(r.voters_outgoing);
  auto next = b.CreateVector(r.learners_next);
  return fbs::CreateConfState(b, voters, learners, outgoing, next, r.auto_leave);
}

std::pair<fbs::Request, Offset<void>> request_body(FlatBufferBuilder& b, const ClientRequest& r) {
  switch (r.kind) {
    case RequestKind::kPropose:
      return {fbs::Request::ProposeRequest,
              fbs::CreateProposeRequest(b, bytes(b, r.data), r.session, r.sequence, r.floor,
                                        static_cast<fbs::SessionOp>(r.session_op))
                  .Union()};
    case RequestKind::kRead:
      return {fbs::Request::ReadRequest,
              fbs::CreateReadRequest(b, wire_read_mode(r.consistency), bytes(b, r.data)).Union()};
    case RequestKind::kChangeConfig: {
      std::vector<Offset<fbs::ConfChangeItem>> items;
      for (const MemberChange& c : r.changes) {
        items.push_back(
            fbs::CreateConfChangeItem(b, wire_change_kind(c.kind), c.node, str(b, c.address)));
      }
      return {fbs::Request::ChangeConfigRequest,
              fbs::CreateChangeConfigRequest(b, b.CreateVector(items)).Union()};
    }
    case RequestKind::kRequestId:
      return {fbs::Request::RequestIdRequest,
              fbs::CreateRequestIdRequest(b, str(b, r.address)).Union()};
    case RequestKind::kJoin:
      return {fbs::Request::JoinRequest, fbs::CreateJoinRequest(b, r.node_id, str(b, r.address),
                                                                r.as_learner, r.when_caught_up)
                                             .Union()};
    case RequestKind::kLeave:
      return {fbs::Request::LeaveRequest, fbs::CreateLeaveRequest(b, r.node_id).Union()};
    case RequestKind::kTransferLeader:
      return {fbs::Request::TransferLeaderRequest,
              fbs::CreateTransferLeaderRequest(b, r.node_id).Union()};
    case RequestKind::kSnapshot:
      return {fbs::Request::SnapshotRequest, fbs::CreateSnapshotRequest(b).Union()};
    case RequestKind::kStatus:
      return {fbs::Request::StatusRequest, fbs::CreateStatusRequest(b).Union()};
    case RequestKind::kLeader:
      return {fbs::Request::LeaderRequest, fbs::CreateLeaderRequest(b).Union()};
    case RequestKind::kPeers:
      return {fbs::Request::PeersRequest, fbs::CreatePeersRequest(b).Union()};
    case RequestKind::kCreateGroup:
      return {fbs::Request::CreateGroupRequest,
              fbs::CreateCreateGroupRequest(b, peers(b, r.members)).Union()};
    case RequestKind::kRemoveGroup:
      return {fbs::Request::RemoveGroupRequest, fbs::CreateRemoveGroupRequest(b).Union()};
  }
  RAFT_CHECK_MSG(false, "unknown request kind");
}

std::pair<fbs::Response, Offset<void>> response_body(FlatBufferBuilder& b,
                                                     const ClientResponse& r) {
  switch (r.kind) {
    case RequestKind::kPropose:
      return {fbs::Response::ProposeResponse,
              fbs::CreateProposeResponse(b, r.index, r.term, bytes(b, r.result)).Union()};
    case RequestKind::kRead:
      return {fbs::Response::ReadResponse,
              fbs::CreateReadResponse(b, r.index, bytes(b, r.result)).Union()};
    case RequestKind::kChangeConfig:
      return {fbs::Response::ChangeConfigResponse,
              fbs::CreateChangeConfigResponse(b, r.index, conf_state(b, r)).Union()};
    case RequestKind::kRequestId:
      return {fbs::Response::RequestIdResponse,
              fbs::CreateRequestIdResponse(b, r.node_id, peers(b, r.peers)).Union()};
    case RequestKind::kJoin: {
      auto list = peers(b, r.peers);
      return {fbs::Response::JoinResponse,
              fbs::CreateJoinResponse(b, r.node_id, list, conf_state(b, r)).Union()};
    }
    case RequestKind::kLeave:
      return {fbs::Response::LeaveResponse,
              fbs::CreateLeaveResponse(b, r.index, conf_state(b, r)).Union()};
    case RequestKind::kTransferLeader:
      return {fbs::Response::TransferLeaderResponse,
              fbs::CreateTransferLeaderResponse(b, r.leader_id).Union()};
    case RequestKind::kSnapshot:
      return {fbs::Response::SnapshotResponse,
              fbs::CreateSnapshotResponse(b, r.index, r.term).Union()};
    case RequestKind::kStatus:
      return {fbs::Response::StatusResponse, fbs::CreateStatusResponse(b, str(b, r.json)).Union()};
    case RequestKind::kLeader:
      return {fbs::Response::LeaderResponse,
              fbs::CreateLeaderResponse(b, r.leader_id, str(b, r.leader_address), r.term).Union()};
    case RequestKind::kPeers:
      return {fbs::Response::PeersResponse, fbs::CreatePeersResponse(b, peers(b, r.peers)).Union()};
    case RequestKind::kCreateGroup:
      return {fbs::Response::CreateGroupResponse,
              fbs::CreateCreateGroupResponse(b, r.node_id).Union()};
    case RequestKind::kRemoveGroup:
      return {fbs::Response::RemoveGroupResponse,
              fbs::CreateRemoveGroupResponse(b, r.node_id).Union()};
  }
  RAFT_CHECK_MSG(false, "unknown response kind");
}

absl::Status invalid(uint64_t request_id, const char* what) {
  return absl::InvalidArgumentError(absl::StrCat("request ", request_id, ": ", what));
}

std::string string_of(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

absl::Status peers_of(const flatbuffers::Vector<Offset<fbs::Peer>>* list, uint64_t request_id,
                      std::vector<PeerInfo>& out) {
  if (list == nullptr) return absl::OkStatus();
  out.reserve(list->size());
  for (const fbs::Peer* p : *list) {
    std::optional<PeerRole> role = peer_role_of(p->role());
    if (!role) {
      return absl::InvalidArgumentError(
          absl::StrCat("response ", request_id, ": peer ", p->id(), " has an unknown role"));
    }
    out.push_back({p->id(), string_of(p->address()), *role});
  }
  return absl::OkStatus();
}

// Absent (an older sender) leaves the configuration empty.
void read_conf_state(const fbs::ConfState* cs, ClientResponse& out) {
  if (cs == nullptr) return;
  out.voters = read_u64_vector(cs->voters());
  out.learners = read_u64_vector(cs->learners());
  out.voters_outgoing = read_u64_vector(cs->voters_outgoing());
  out.learners_next = read_u64_vector(cs->learners_next());
  out.auto_leave = cs->auto_leave();
}

// Fills `out` from the union member; checks what the request kind requires.
absl::Status decode_request_body(const fbs::ClientRequest& in, const ReceivedFrame& frame,
                                 ClientRequest& out) {
  uint64_t id = in.request_id();
  switch (in.body_type()) {
    case fbs::Request::ProposeRequest: {
      const auto* p = in.body_as_ProposeRequest();
      out.kind = RequestKind::kPropose;
      out.data = frame.slice_of(p->data());
      out.session = p->session();
      out.sequence = p->sequence();
      out.floor = p->floor();
      if (static_cast<uint8_t>(p->session_op()) > static_cast<uint8_t>(SessionOp::kClose)) {
        return invalid(id, "unknown session operation");
      }
      out.session_op = static_cast<SessionOp>(p->session_op());
      return absl::OkStatus();
    }
    case fbs::Request::ReadRequest: {
      const auto* r = in.body_as_ReadRequest();
      std::optional<ReadConsistency> consistency = read_consistency_of(r->mode());
      if (!consistency) return invalid(id, "unknown read mode");
      out.kind = RequestKind::kRead;
      out.consistency = *consistency;
      out.data = frame.slice_of(r->query());
      return absl::OkStatus();
    }
    case fbs::Request::ChangeConfigRequest: {
      const auto* r = in.body_as_ChangeConfigRequest();
      out.kind = RequestKind::kChangeConfig;
      if (r->changes() == nullptr || r->changes()->size() == 0) {
        return invalid(id, "change config without changes");
      }
      for (const fbs::ConfChangeItem* c : *r->changes()) {
        std::optional<MemberChangeKind> kind = change_kind_of(c->kind());
        if (!kind) return invalid(id, "unknown change kind");
        if (c->node_id() == 0) return invalid(id, "change config for node 0");
        MemberChange item{*kind, c->node_id(), string_of(c->address())};
        bool adds =
            item.kind == MemberChangeKind::kAddVoter || item.kind == MemberChangeKind::kAddLearner;
        if (adds && item.address.empty()) return invalid(id, "adding a node needs its address");
        out.changes.push_back(std::move(item));
      }
      return absl::OkStatus();
    }
    case fbs::Request::RequestIdRequest:
      out.kind = RequestKind::kRequestId;
      out.address = string_of(in.body_as_RequestIdRequest()->address());
      if (out.address.empty()) return invalid(id, "request id without an address");
      return absl::OkStatus();
    case fbs::Request::JoinRequest: {
      const auto* r = in.body_as_JoinRequest();
      out.kind = RequestKind::kJoin;
      out.node_id = r->node_id();
      out.address = string_of(r->address());
      out.as_learner = r->as_learner();
      out.when_caught_up = r->when_caught_up();
      if (out.address.empty()) return invalid(id, "join without an address");
      return absl::OkStatus();
    }
    case fbs::Request::LeaveRequest:
      out.kind = RequestKind::kLeave;
      out.node_id = in.body_as_LeaveRequest()->node_id();
      if (out.node_id == 0) return invalid(id, "leave for node 0");
      return absl::OkStatus();
    case fbs::Request::TransferLeaderRequest:
      out.kind = RequestKind::kTransferLeader;
      out.node_id = in.body_as_TransferLeaderRequest()->target();
      if (out.node_id == 0) return invalid(id, "transfer leader to node 0");
      return absl::OkStatus();
    case fbs::Request::SnapshotRequest:
      out.kind = RequestKind::kSnapshot;
      return absl::OkStatus();
    case fbs::Request::StatusRequest:
      out.kind = RequestKind::kStatus;
      return absl::OkStatus();
    case fbs::Request::LeaderRequest:
      out.kind = RequestKind::kLeader;
      return absl::OkStatus();
    case fbs::Request::PeersRequest:
      out.kind = RequestKind::kPeers;
      return absl::OkStatus();
    case fbs::Request::CreateGroupRequest: {
      out.kind = RequestKind::kCreateGroup;
      const auto* members = in.body_as_CreateGroupRequest()->members();
      // No members: an empty replica, to be added by the group's leader.
      const uint32_t n = members != nullptr ? members->size() : 0;
      for (uint32_t i = 0; i < n; ++i) {
        const fbs::Peer* p = members->Get(i);
        std::optional<PeerRole> role = peer_role_of(p->role());
        if (!role || (*role != PeerRole::kVoter && *role != PeerRole::kLearner)) {
          return invalid(id, "create group: a member must be a voter or a learner");
        }
        if (p->id() == 0) return invalid(id, "create group: member id 0");
        if (string_of(p->address()).empty())
          return invalid(id, "create group: member without an address");
        out.members.push_back({p->id(), string_of(p->address()), *role});
      }
      return absl::OkStatus();
    }
    case fbs::Request::RemoveGroupRequest:
      out.kind = RequestKind::kRemoveGroup;
      return absl::OkStatus();
    case fbs::Request::NONE:
      break;
  }
  return invalid(id, "unknown or missing request body");
}

absl::Status decode_response_body(const fbs::ClientResponse& in, const ReceivedFrame& frame,
                                  ClientResponse& out) {
  switch (in.body_type()) {
    case fbs::Response::ProposeResponse: {
      const auto* r = in.body_as_ProposeResponse();
      out.kind = RequestKind::kPropose;
      out.index = r->index();
      out.term = r->term();
      out.result = frame.slice_of(r->result());
      return absl::OkStatus();
    }
    case fbs::Response::ReadResponse: {
      const auto* r = in.body_as_ReadResponse();
      out.kind = RequestKind::kRead;
      out.index = r->index();
      out.result = frame.slice_of(r->result());
      return absl::OkStatus();
    }
    case fbs::Response::ChangeConfigResponse: {
      const auto* r = in.body_as_ChangeConfigResponse();
      out.kind = RequestKind::kChangeConfig;
      out.index = r->index();
      read_conf_state(r->conf_state(), out);
      return absl::OkStatus();
    }
    case fbs::Response::RequestIdResponse:
      out.kind = RequestKind::kRequestId;
      out.node_id = in.body_as_RequestIdResponse()->node_id();
      return peers_of(in.body_as_RequestIdResponse()->peers(), in.request_id(), out.peers);
    case fbs::Response::JoinResponse:
      out.kind = RequestKind::kJoin;
      out.node_id = in.body_as_JoinResponse()->node_id();
      read_conf_state(in.body_as_JoinResponse()->conf_state(), out);
      return peers_of(in.body_as_JoinResponse()->peers(), in.request_id(), out.peers);
    case fbs::Response::LeaveResponse:
      out.kind = RequestKind::kLeave;
      out.index = in.body_as_LeaveResponse()->index();
      read_conf_state(in.body_as_LeaveResponse()->conf_state(), out);
      return absl::OkStatus();
    case fbs::Response::TransferLeaderResponse:
      out.kind = RequestKind::kTransferLeader;
      out.leader_id = in.body_as_TransferLeaderResponse()->leader_id();
      return absl::OkStatus();
    case fbs::Response::SnapshotResponse:
      out.kind = RequestKind::kSnapshot;
      out.index = in.body_as_SnapshotResponse()->index();
      out.term = in.body_as_SnapshotResponse()->term();
      return absl::OkStatus();
    case fbs::Response::StatusResponse:
      out.kind = RequestKind::kStatus;
      out.json = string_of(in.body_as_StatusResponse()->json());
      return absl::OkStatus();
    case fbs::Response::LeaderResponse: {
      const auto* r = in.body_as_LeaderResponse();
      out.kind = RequestKind::kLeader;
      out.leader_id = r->leader_id();
      out.leader_address = string_of(r->address());
      out.term = r->term();
      return absl::OkStatus();
    }
    case fbs::Response::PeersResponse:
      out.kind = RequestKind::kPeers;
      return peers_of(in.body_as_PeersResponse()->peers(), in.request_id(), out.peers);
    case fbs::Response::CreateGroupResponse:
      out.kind = RequestKind::kCreateGroup;
      out.node_id = in.body_as_CreateGroupResponse()->node_id();
      return absl::OkStatus();
    case fbs::Response::RemoveGroupResponse:
      out.kind = RequestKind::kRemoveGroup;
      out.node_id = in.body_as_RemoveGroupResponse()->node_id();
      return absl::OkStatus();
    case fbs::Response::NONE:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("response ", in.request_id(), ": success without a body"));
}

bool known_error(uint16_t code) { return code <= 16 || code == 100; }

}  // namespace

const char* request_kind_name(RequestKind kind) {
  switch (kind) {
    case RequestKind::kPropose:
      return "propose";
    case RequestKind::kRead:
      return "read";
    case RequestKind::kChangeConfig:
      return "change_config";
    case RequestKind::kRequestId:
      return "request_id";
    case RequestKind::kJoin:
      return "join";
    case RequestKind::kLeave:
      return "leave";
    case RequestKind::kTransferLeader:
      return "transfer_leader";
    case RequestKind::kSnapshot:
      return "snapshot";
    case RequestKind::kStatus:
      return "status";
    case RequestKind::kLeader:
      return "leader";
    case RequestKind::kPeers:
      return "peers";
    case RequestKind::kCreateGroup:
      return "create_group";
    case RequestKind::kRemoveGroup:
      return "remove_group";
  }
  return "?";
}

OutFrame encode_client_requests(const std::vector<ClientRequest>& requests) {
  FlatBufferBuilder b(256);
  std::vector<Offset<fbs::ClientRequest>> out;
  out.reserve(requests.size());
  for (const ClientRequest& r : requests) {
    auto [type, body] = request_body(b, r);
    out.push_back(fbs::CreateClientRequest(b, r.request_id, r.group, r.timeout_ms, type, body));
  }
  auto batch = fbs::CreateClientRequestBatch(b, b.CreateVector(out));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::ClientRequestBatch, batch.Union()));
  return net::frame_from_builder(b);
}

OutFrame encode_client_responses(const std::vector<ClientResponse>& responses) {
  FlatBufferBuilder b(256);
  std::vector<Offset<fbs::ClientResponse>> out;
  out.reserve(responses.size());
  for (const ClientResponse& r : responses) {
    Offset<fbs::Error> error = 0;
    fbs::Response type = fbs::Response::NONE;
    Offset<void> body = 0;
    if (r.error != ClientError::kOk) {
      error = fbs::CreateError(b, static_cast<fbs::ErrorCode>(r.error), str(b, r.message),
                               r.leader_id, str(b, r.leader_address), wire_outcome(r.outcome));
    } else {
      std::tie(type, body) = response_body(b, r);
    }
    out.push_back(fbs::CreateClientResponse(b, r.request_id, error, type, body));
  }
  auto batch = fbs::CreateClientResponseBatch(b, b.CreateVector(out));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::ClientResponseBatch, batch.Union()));
  return net::frame_from_builder(b);
}

absl::StatusOr<std::vector<ClientRequest>> decode_client_requests(const ReceivedFrame& frame) {
  const fbs::ClientRequestBatch* batch = frame.frame->body_as_ClientRequestBatch();
  if (batch == nullptr) return absl::InvalidArgumentError("frame is not a ClientRequestBatch");
  std::vector<ClientRequest> out;
  if (batch->requests() == nullptr) return out;
  out.reserve(batch->requests()->size());
  for (const fbs::ClientRequest* in : *batch->requests()) {
    ClientRequest r;
    r.request_id = in->request_id();
    r.group = in->group();
    r.timeout_ms = in->timeout_ms();
    // The Verifier lets a union type through without its table.
    if (in->body() == nullptr) return invalid(r.request_id, "request without a body");
    absl::Status s = decode_request_body(*in, frame, r);
    if (!s.ok()) return s;
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<ClientResponse>> decode_client_responses(const ReceivedFrame& frame) {
  const fbs::ClientResponseBatch* batch = frame.frame->body_as_ClientResponseBatch();
  if (batch == nullptr) return absl::InvalidArgumentError("frame is not a ClientResponseBatch");
  std::vector<ClientResponse> out;
  if (batch->responses() == nullptr) return out;
  out.reserve(batch->responses()->size());
  for (const fbs::ClientResponse* in : *batch->responses()) {
    ClientResponse r;
    r.request_id = in->request_id();
    const fbs::Error* e = in->error();
    if (e != nullptr && e->code() != fbs::ErrorCode::Ok) {
      uint16_t code = static_cast<uint16_t>(e->code());
      r.error = known_error(code) ? static_cast<ClientError>(code) : ClientError::kUnknown;
      r.message = string_of(e->message());
      r.leader_id = e->leader_id();
      r.leader_address = string_of(e->leader_address());
      r.outcome = outcome_of_wire(e->outcome());
    } else {
      if (in->body() == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("response ", r.request_id, ": success without a body"));
      }
      absl::Status s = decode_response_body(*in, frame, r);
      if (!s.ok()) return s;
    }
    out.push_back(std::move(r));
  }
  return out;
}

void set_response_conf_state(ClientResponse& r, const ConfState& cs) {
  r.voters = cs.voters;
  r.learners = cs.learners;
  r.voters_outgoing = cs.voters_outgoing;
  r.learners_next = cs.learners_next;
  r.auto_leave = cs.auto_leave;
}

ConfState response_conf_state(const ClientResponse& r) {
  ConfState cs;
  cs.voters = r.voters;
  cs.learners = r.learners;
  cs.voters_outgoing = r.voters_outgoing;
  cs.learners_next = r.learners_next;
  cs.auto_leave = r.auto_leave;
  return cs;
}

}  // namespace raft::protocol
