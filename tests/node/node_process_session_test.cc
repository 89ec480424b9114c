// Exactly-once proposals across processes: the leader is killed (-9) while
// thousands of proposals, each in the client's session, are in flight. The
// async client retries every one whose outcome is unknown with the same
// session and sequence number on the new leader; each is answered once, and
// each was applied once: a put of a fresh key answers "created", and a
// second application would have answered "updated".
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/node/async_client.h"
#include "examples/memstore/kv_state_machine.h"
#include "tests/node/process_fixture.h"

namespace raft::testing {
namespace {

class NodeProcessSession : public ProcessTest {};

TEST_F(NodeProcessSession, LeaderKilledWithSessionProposalsInFlightAppliesEachOnce) {
  ProcessCluster& c = make_cluster("proc-session");
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);

  ClientOptions o;  // Sessions are on by default.
  o.connect_timeout = std::chrono::milliseconds(300);
  o.request_timeout = std::chrono::seconds(60);
  o.max_attempts = 1000;
  o.backoff_max = std::chrono::milliseconds(200);
  AsyncClient client(c.running_addresses(), o);
  ASSERT_TRUE(client.propose(1, memstore::encode_put("warm", "up")).get().ok());

  constexpr int kProposals = 3000;
  std::atomic<int> answered{0};
  std::vector<std::promise<absl::StatusOr<ProposeResult>>> results(kProposals);
  std::vector<std::future<absl::StatusOr<ProposeResult>>> futures;
  for (auto& p : results) futures.push_back(p.get_future());
  for (int i = 0; i < kProposals; ++i) {
    client.propose(1, memstore::encode_put(absl::StrCat("key", i), "v"),
                   [&, i](absl::StatusOr<ProposeResult> r) {
                     results[i].set_value(std::move(r));
                     answered.fetch_add(1);
                   });
  }
  // Some answered, most still in flight: the leader dies.
  ASSERT_TRUE(eventually([&] { return answered.load() >= 100; }));
  c.kill9(leader);
  const int answered_at_kill = answered.load();

  int created = 0;
  for (int i = 0; i < kProposals; ++i) {
    absl::StatusOr<ProposeResult> r = futures[i].get();
    ASSERT_TRUE(r.ok()) << "proposal " << i << ": " << r.status();
    EXPECT_EQ(r->result, "created") << "proposal " << i << " was applied twice";
    if (r->result == "created") ++created;
  }
  std::printf("%d proposals, %d answered before the kill, all answered once, %d created\n",
              kProposals, answered_at_kill, created);
  EXPECT_LT(answered_at_kill, kProposals) << "the kill came after every answer";
  // Every key is there (read linearizably through the new leader), and a
  // put of one that exists answers "updated".
  for (int i = 0; i < kProposals; i += 97) {
    auto v = client.read(1, absl::StrCat("key", i)).get();
    ASSERT_TRUE(v.ok()) << "key" << i << ": " << v.status();
    EXPECT_EQ(*v, "v");
  }
  auto again = client.propose(1, memstore::encode_put("key0", "w")).get();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->result, "updated");
}

}  // namespace
}  // namespace raft::testing
