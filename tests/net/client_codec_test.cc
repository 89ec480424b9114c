// Client protocol: every request and response kind survives encode ->
// frame -> decode; invalid requests are refused with InvalidArgument.
#include "net/client_codec.h"

#include <gtest/gtest.h>

#include "net/handshake.h"

namespace raft::net {
namespace {

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
  read.read_mode = ReadMode::kLease;
  read.data = Slice::copy_of("get x");
  add(RequestKind::kChangeConfig).changes = {{ConfChangeKind::kAddVoter, 4, "127.0.0.1:7004"},
                                             {ConfChangeKind::kAddLearner, 5, "127.0.0.1:7005"},
                                             {ConfChangeKind::kPromote, 6, ""},
                                             {ConfChangeKind::kRemove, 2, ""}};
  add(RequestKind::kRequestId).address = "127.0.0.1:7009";
  auto& join = add(RequestKind::kJoin);
  join.node_id = 9;
  join.address = "127.0.0.1:7009";
  join.as_learner = true;
  add(RequestKind::kLeave).node_id = 9;
  add(RequestKind::kTransferLeader).node_id = 2;
  add(RequestKind::kSnapshot);
  add(RequestKind::kStatus);
  add(RequestKind::kLeader);
  add(RequestKind::kPeers);
  return v;
}

TEST(ClientCodec, EveryRequestKindRoundTrips) {
  std::vector<ClientRequest> sent = every_request();
  ASSERT_EQ(sent.size(), 11u);
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
  for (int k = 0; k <= static_cast<int>(RequestKind::kPeers); ++k) {
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
  through_decoder(encode_client_responses(sent), [&](const ReceivedFrame& f) {
    auto got = decode_client_responses(f);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) EXPECT_EQ((*got)[i], sent[i]) << i;
  });
}

TEST(ClientCodec, InvalidRequestsAreRefused) {
  std::vector<std::vector<ClientRequest>> bad(5);
  bad[0].emplace_back().kind = RequestKind::kChangeConfig;  // No changes.
  bad[1].emplace_back().kind = RequestKind::kChangeConfig;
  bad[1][0].changes = {{ConfChangeKind::kAddVoter, 4, ""}};   // No address.
  bad[2].emplace_back().kind = RequestKind::kLeave;           // Node 0.
  bad[3].emplace_back().kind = RequestKind::kTransferLeader;  // Node 0.
  bad[4].emplace_back().kind = RequestKind::kJoin;            // No address.
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

}  // namespace
}  // namespace raft::net
