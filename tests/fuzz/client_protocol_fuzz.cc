// Fuzz target: the client protocol decoder. The input is the FlatBuffers
// payload of one frame; it is framed with a valid checksum so that every
// input reaches the Verifier, then decode_client_requests /
// decode_client_responses, and decoded requests must re-encode to the same.
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/fuzz_walk.h"

using namespace raft::net;
using namespace raft::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1 << 16)) return 0;
  std::string_view payload(reinterpret_cast<const char*>(data), size);
  FrameDecoder decoder(1 << 20, 64 * 1024);
  decoder.feed(frame_to_string(frame_from_bytes(payload)), [](const ReceivedFrame& f) {
    auto requests = decode_client_requests(f);
    auto responses = decode_client_responses(f);
    // A frame is at most one of the two.
    fuzz::fuzz_check(!(requests.ok() && responses.ok()));
    fuzz::walk_frame(f);
    return true;
  });
  return 0;
}

namespace raft::net::fuzz {

std::vector<std::string> fuzz_seed_corpus() {
  std::vector<std::string> seeds;
  auto add = [&](const OutFrame& f) { seeds.emplace_back(f.payload.view()); };
  std::vector<ClientRequest> all;
  for (int k = 0; k <= static_cast<int>(RequestKind::kRemoveGroup); ++k) {
    ClientRequest& r = all.emplace_back();
    r.kind = static_cast<RequestKind>(k);
    r.request_id = 1 + k;
    r.group = 1;
    r.data = Slice::copy_of("payload");
    r.node_id = 5;
    r.address = "127.0.0.1:9";
    if (r.kind == RequestKind::kCreateGroup) r.members = {{5, "127.0.0.1:9", PeerRole::kVoter}};
    if (r.kind == RequestKind::kChangeConfig) {
      r.changes = {{MemberChangeKind::kAddLearner, 5, "127.0.0.1:9"},
                   {MemberChangeKind::kRemove, 2, ""}};
    }
    if (r.kind != RequestKind::kPropose && r.kind != RequestKind::kRead) r.data = Slice();
    if (r.kind != RequestKind::kJoin && r.kind != RequestKind::kRequestId) r.address.clear();
    add(encode_client_requests({r}));
  }
  add(encode_client_requests(all));
  std::vector<ClientResponse> responses;
  for (int k = 0; k <= static_cast<int>(RequestKind::kRemoveGroup); ++k) {
    ClientResponse& r = responses.emplace_back();
    r.kind = static_cast<RequestKind>(k);
    r.request_id = 1 + k;
    r.result = Slice::copy_of("result");
    r.peers = {{1, "127.0.0.1:1", PeerRole::kVoter}};
    r.voters = {1, 2};
    r.json = "{}";
  }
  ClientResponse& err = responses.emplace_back();
  err.error = ClientError::kNotLeader;
  err.leader_id = 2;
  err.leader_address = "127.0.0.1:2";
  add(encode_client_responses(responses));
  // Truncations (Verifier failures) of the biggest seed.
  std::string big = seeds[seeds.size() - 2];
  for (size_t cut = 8; cut < big.size(); cut += big.size() / 16 + 1)
    seeds.push_back(big.substr(0, cut));
  return seeds;
}

}  // namespace raft::net::fuzz
