// Client protocol: every request and response kind survives encode ->
// frame -> decode; invalid requests are refused with InvalidArgument; the
// API's enums map to the wire's values and back (and nothing else does).
#include "protocol/client_codec.h"

#include <gtest/gtest.h>

#include "net/handshake.h"

namespace raft::protocol {
namespace {

using net::encode_handshake;
using net::frame_from_builder;
using net::frame_to_string;
using net::FrameDecoder;
using net::FrameError;
using net::OutFrame;
using net::ReceivedFrame;

// Encodes `out`, runs it through a decoder (checksum + Verifier) and gives
// the received frame to `use`.
template <typename F>
void through_decoder(const OutFrame& out, F use) {
  FrameDecoder d;
  int frames = 0;
  ASSERT_EQ(d.feed(frame_to_string(out),
                   [&](const ReceivedFrame& f) {
                     ++frames;
                     use(f);
                     return true;
                   }),
            FrameError::kNone);
  ASSERT_EQ(frames, 1);
}

std::vector<ClientRequest> every_request() {
  std::vector<ClientRequest> v;
  auto add = [&](RequestKind kind) -> ClientRequest& {
    ClientRequest& r = v.emplace_back();
    r.kind = kind;
    r.request_id = v.size() * 10;
    r.group = 3;
    r.timeout_ms = 250;
    return r;
  };
  add(RequestKind::kPropose).data = Slice::copy_of("set x=1");
  auto& read = add(RequestKind::kRead);
  read.consistency = ReadConsistency::kStale;
  read.data = Slice::copy_of("get x");
  add(RequestKind::kChangeConfig).changes = {{MemberChangeKind::kAddVoter, 4, "127.0.0.1:7004"},
                                             {MemberChangeKind::kAddLearner, 5, "127.0.0.1:7005"},
                                             {MemberChangeKind::kPromote, 6, ""},
                                             {MemberChangeKind::kRemove, 2, ""}};
  add(RequestKind::kRequestId).address = "127.0.0.1:7009";
  auto& join = add(RequestKind::kJoin);
  join.node_id = 9;
  join.address = "127.0.0.1:7009";
  join.as_learner = true;
  auto& promote = add(RequestKind::kJoin);  // A joiner's own promotion request.
  promote.node_id = 9;
  promote.address = "[::1]:7009";
  promote.when_caught_up = true;
  add(RequestKind::kLeave).node_id = 9;
  add(RequestKind::kTransferLeader).node_id = 2;
  add(RequestKind::kSnapshot);
  add(RequestKind::kStatus);
  add(RequestKind::kLeader);
  add(RequestKind::kPeers);
  add(RequestKind::kCreateGroup).members = {{1, "127.0.0.1:7001", PeerRole::kVoter},
                                            {4, "[::1]:7004", PeerRole::kLearner}};
  add(RequestKind::kRemoveGroup);
  return v;
}

TEST(ClientCodec, EveryRequestKindRoundTrips) {
  std::vector<ClientRequest> sent = every_request();
  ASSERT_EQ(sent.size(), 14u);
  through_decoder(encode_client_requests(sent), [&](const ReceivedFrame& f) {
    auto got = decode_client_requests(f);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
      EXPECT_EQ((*got)[i], sent[i]) << request_kind_name(sent[i].kind);
    }
    // Zero copy: the propose data points into the frame's bytes.
    const Slice& data = (*got)[0].data;
    EXPECT_GE(data.data(), f.payload.data());
    EXPECT_LE(data.data() + data.size(), f.payload.data() + f.payload.size());
  });
}

TEST(ClientCodec, EveryResponseKindAndErrorsRoundTrip) {
  std::vector<ClientResponse> sent;
  for (int k = 0; k <= static_cast<int>(RequestKind::kRemoveGroup); ++k) {
    ClientResponse& r = sent.emplace_back();
    r.request_id = 100 + k;
    r.kind = static_cast<RequestKind>(k);
    switch (r.kind) {
      case RequestKind::kPropose:
        r.index = 7, r.term = 2, r.result = Slice::copy_of("ok");
        break;
      case RequestKind::kRead:
        r.index = 8, r.result = Slice::copy_of("1");
        break;
      case RequestKind::kChangeConfig:
        // A joint configuration: every ConfState field travels.
        r.index = 9, r.voters = {1, 2, 4}, r.learners = {5};
        r.voters_outgoing = {1, 2, 3}, r.learners_next = {3}, r.auto_leave = true;
        break;
      case RequestKind::kRequestId:
        r.node_id = 9;
        r.peers = {{1, "127.0.0.1:7001", PeerRole::kVoter},
                   {5, "127.0.0.1:7005", PeerRole::kLearner}};
        break;
      case RequestKind::kJoin:
        r.node_id = 9;
        r.peers = {{1, "127.0.0.1:7001", PeerRole::kVoter},
                   {5, "127.0.0.1:7005", PeerRole::kLearner}};
        r.voters = {1, 2, 3}, r.learners = {5, 9};  // The configuration after the join.
        break;
      case RequestKind::kLeave:
        r.index = 12;
        r.voters = {1, 2}, r.voters_outgoing = {1, 2, 3}, r.auto_leave = true;
        break;
      case RequestKind::kTransferLeader:
        r.leader_id = 2;
        break;
      case RequestKind::kSnapshot:
        r.index = 100, r.term = 3;
        break;
      case RequestKind::kStatus:
        r.json = R"({"leader":1})";
        break;
      case RequestKind::kLeader:
        r.leader_id = 1, r.leader_address = "127.0.0.1:7001", r.term = 3;
        break;
      case RequestKind::kPeers:
        r.peers = {{2, "127.0.0.1:7002", PeerRole::kVoterOutgoing}};
        break;
      case RequestKind::kCreateGroup:
        r.node_id = 2;
        break;
      case RequestKind::kRemoveGroup:
        r.node_id = 3;
        break;
    }
  }
  ClientResponse& not_leader = sent.emplace_back();
  not_leader.request_id = 500;
  not_leader.error = ClientError::kNotLeader;
  not_leader.message = "not the leader";
  not_leader.leader_id = 3;
  not_leader.leader_address = "127.0.0.1:7003";
  ClientResponse& busy = sent.emplace_back();
  busy.request_id = 501;
  busy.error = ClientError::kResourceExhausted;
  busy.message = "too many proposals in flight";
  busy.outcome = Outcome::kRefused;
  through_decoder(encode_client_responses(sent), [&](const ReceivedFrame& f) {
    auto got = decode_client_responses(f);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) EXPECT_EQ((*got)[i], sent[i]) << i;
  });
}

TEST(ClientCodec, InvalidRequestsAreRefused) {
  std::vector<std::vector<ClientRequest>> bad(8);
  bad[0].emplace_back().kind = RequestKind::kChangeConfig;  // No changes.
  bad[1].emplace_back().kind = RequestKind::kChangeConfig;
  bad[1][0].changes = {{MemberChangeKind::kAddVoter, 4, ""}};  // No address.
  bad[2].emplace_back().kind = RequestKind::kLeave;            // Node 0.
  bad[3].emplace_back().kind = RequestKind::kTransferLeader;   // Node 0.
  bad[4].emplace_back().kind = RequestKind::kJoin;             // No address.
  bad[5].emplace_back().kind = RequestKind::kCreateGroup;
  bad[5][0].members = {{0, "127.0.0.1:7001", PeerRole::kVoter}};  // Member 0.
  bad[6].emplace_back().kind = RequestKind::kCreateGroup;
  bad[6][0].members = {{1, "", PeerRole::kVoter}};  // No address.
  bad[7].emplace_back().kind = RequestKind::kCreateGroup;
  bad[7][0].members = {{1, "127.0.0.1:7001", PeerRole::kVoterOutgoing}};  // Not a plain role.
  for (size_t i = 0; i < bad.size(); ++i) {
    through_decoder(encode_client_requests(bad[i]), [&](const ReceivedFrame& f) {
      auto got = decode_client_requests(f);
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << i;
    });
  }
  // A frame of another type is not a request batch.
  through_decoder(encode_handshake({}), [&](const ReceivedFrame& f) {
    EXPECT_FALSE(decode_client_requests(f).ok());
    EXPECT_FALSE(decode_client_responses(f).ok());
  });
}

// One request or response built with the generated code directly, to put
// wire values on the wire that the API types cannot express.
OutFrame read_request_frame(fbs::ReadMode mode) {
  flatbuffers::FlatBufferBuilder b;
  auto body = fbs::CreateReadRequest(b, mode, b.CreateVector(std::vector<uint8_t>{'q'}));
  auto req = fbs::CreateClientRequest(b, 1, 1, 0, fbs::Request::ReadRequest, body.Union());
  auto batch = fbs::CreateClientRequestBatch(b, b.CreateVector(std::vector{req}));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::ClientRequestBatch, batch.Union()));
  return frame_from_builder(b);
}

OutFrame change_request_frame(fbs::ConfChangeKind kind) {
  flatbuffers::FlatBufferBuilder b;
  auto item = fbs::CreateConfChangeItem(b, kind, 4, b.CreateString("127.0.0.1:7004"));
  auto body = fbs::CreateChangeConfigRequest(b, b.CreateVector(std::vector{item}));
  auto req = fbs::CreateClientRequest(b, 1, 1, 0, fbs::Request::ChangeConfigRequest, body.Union());
  auto batch = fbs::CreateClientRequestBatch(b, b.CreateVector(std::vector{req}));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::ClientRequestBatch, batch.Union()));
  return frame_from_builder(b);
}

OutFrame peers_response_frame(fbs::PeerRole role, fbs::Outcome outcome, bool error) {
  flatbuffers::FlatBufferBuilder b;
  flatbuffers::Offset<fbs::ClientResponse> resp;
  if (error) {
    auto e = fbs::CreateError(b, fbs::ErrorCode::Unavailable, b.CreateString("x"), 0,
                              b.CreateString(""), outcome);
    resp = fbs::CreateClientResponse(b, 1, e);
  } else {
    auto peer = fbs::CreatePeer(b, 2, b.CreateString("127.0.0.1:7002"), role);
    auto body = fbs::CreatePeersResponse(b, b.CreateVector(std::vector{peer}));
    resp = fbs::CreateClientResponse(b, 1, 0, fbs::Response::PeersResponse, body.Union());
  }
  auto batch = fbs::CreateClientResponseBatch(b, b.CreateVector(std::vector{resp}));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::ClientResponseBatch, batch.Union()));
  return frame_from_builder(b);
}

// The wire's values are fbs/client.fbs's, whatever the API enums' order.
TEST(ClientCodec, ApiEnumsMapToTheSchemasValues) {
  const std::pair<MemberChangeKind, fbs::ConfChangeKind> kinds[] = {
      {MemberChangeKind::kAddVoter, fbs::ConfChangeKind::AddVoter},
      {MemberChangeKind::kAddLearner, fbs::ConfChangeKind::AddLearner},
      {MemberChangeKind::kPromote, fbs::ConfChangeKind::Promote},
      {MemberChangeKind::kRemove, fbs::ConfChangeKind::Remove}};
  for (auto [api, wire] : kinds) {
    ClientRequest r;
    r.kind = RequestKind::kChangeConfig;
    r.changes = {{api, 4, "127.0.0.1:7004"}};
    through_decoder(encode_client_requests({r}), [&](const ReceivedFrame& f) {
      const auto* c = f.frame->body_as_ClientRequestBatch()->requests()->Get(0);
      EXPECT_EQ(c->body_as_ChangeConfigRequest()->changes()->Get(0)->kind(), wire);
    });
    through_decoder(change_request_frame(wire), [&](const ReceivedFrame& f) {
      auto got = decode_client_requests(f);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ((*got)[0].changes[0].kind, api);
    });
  }
  const std::pair<PeerRole, fbs::PeerRole> roles[] = {
      {PeerRole::kVoter, fbs::PeerRole::Voter},
      {PeerRole::kLearner, fbs::PeerRole::Learner},
      {PeerRole::kVoterOutgoing, fbs::PeerRole::VoterOutgoing},
      {PeerRole::kLearnerNext, fbs::PeerRole::LearnerNext}};
  for (auto [api, wire] : roles) {
    ClientResponse r;
    r.kind = RequestKind::kPeers;
    r.peers = {{2, "127.0.0.1:7002", api}};
    through_decoder(encode_client_responses({r}), [&](const ReceivedFrame& f) {
      const auto* c = f.frame->body_as_ClientResponseBatch()->responses()->Get(0);
      EXPECT_EQ(c->body_as_PeersResponse()->peers()->Get(0)->role(), wire);
    });
  }
  const std::pair<ReadConsistency, fbs::ReadMode> modes[] = {
      {ReadConsistency::kLinearizable, fbs::ReadMode::Linearizable},
      {ReadConsistency::kStale, fbs::ReadMode::Stale}};
  for (auto [api, wire] : modes) {
    ClientRequest r;
    r.kind = RequestKind::kRead;
    r.consistency = api;
    through_decoder(encode_client_requests({r}), [&](const ReceivedFrame& f) {
      const auto* c = f.frame->body_as_ClientRequestBatch()->requests()->Get(0);
      EXPECT_EQ(c->body_as_ReadRequest()->mode(), wire);
    });
  }
  const std::pair<std::optional<Outcome>, fbs::Outcome> outcomes[] = {
      {std::nullopt, fbs::Outcome::Unspecified},
      {Outcome::kRefused, fbs::Outcome::Refused},
      {Outcome::kUnknown, fbs::Outcome::Unknown},
      {Outcome::kFailed, fbs::Outcome::Failed}};
  for (auto [api, wire] : outcomes) {
    ClientResponse r;
    r.error = ClientError::kUnavailable;
    r.outcome = api;
    through_decoder(encode_client_responses({r}), [&](const ReceivedFrame& f) {
      const auto* c = f.frame->body_as_ClientResponseBatch()->responses()->Get(0);
      EXPECT_EQ(c->error()->outcome(), wire);
    });
    through_decoder(peers_response_frame(fbs::PeerRole::Voter, wire, true),
                    [&](const ReceivedFrame& f) {
                      auto got = decode_client_responses(f);
                      ASSERT_TRUE(got.ok()) << got.status();
                      EXPECT_EQ((*got)[0].outcome, api);
                    });
  }
}

// A Lease read is a linearizable read: the serving node's read_mode decides
// how it is confirmed.
TEST(ClientCodec, LeaseReadDecodesAsLinearizable) {
  through_decoder(read_request_frame(fbs::ReadMode::Lease), [&](const ReceivedFrame& f) {
    auto got = decode_client_requests(f);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)[0].consistency, ReadConsistency::kLinearizable);
  });
}

TEST(ClientCodec, WireValuesWithoutAnApiNameAreRefused) {
  through_decoder(read_request_frame(static_cast<fbs::ReadMode>(7)), [&](const ReceivedFrame& f) {
    EXPECT_EQ(decode_client_requests(f).status().code(), absl::StatusCode::kInvalidArgument);
  });
  through_decoder(
      change_request_frame(static_cast<fbs::ConfChangeKind>(9)), [&](const ReceivedFrame& f) {
        EXPECT_EQ(decode_client_requests(f).status().code(), absl::StatusCode::kInvalidArgument);
      });
  through_decoder(
      peers_response_frame(static_cast<fbs::PeerRole>(9), fbs::Outcome::Unspecified, false),
      [&](const ReceivedFrame& f) {
        EXPECT_EQ(decode_client_responses(f).status().code(), absl::StatusCode::kInvalidArgument);
      });
  // An outcome this build does not know is left unsaid (response_status
  // derives it from the code), not an error.
  through_decoder(peers_response_frame(fbs::PeerRole::Voter, static_cast<fbs::Outcome>(9), true),
                  [&](const ReceivedFrame& f) {
                    auto got = decode_client_responses(f);
                    ASSERT_TRUE(got.ok()) << got.status();
                    EXPECT_EQ((*got)[0].outcome, std::nullopt);
                  });
}

}  // namespace
}  // namespace raft::protocol
