// Multi-process fault tests: kill -9 of the leader under write load (no
// acknowledged write lost), and a node that was down while the log was
// compacted past it catches up by snapshot.
#include <gtest/gtest.h>

#include "tests/node/process_fixture.h"

namespace raft::testing {
namespace {

class NodeProcessFault : public ProcessTest {};

TEST_F(NodeProcessFault, LeaderKilledUnderWriteLoadLosesNoAckedWrite) {
  ProcessCluster& c = make_cluster("proc-kill");
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  const uint64_t old_term = json_uint(c.status(leader), "term").value_or(0);

  BackgroundWriter writer(c.running_addresses(), 1, "w");
  ASSERT_TRUE(eventually([&] { return writer.acked_count() >= 200; }))
      << "writer got only " << writer.acked_count() << " acks";
  c.kill9(leader);
  const uint64_t acked_at_kill = writer.acked_count();

  std::vector<uint64_t> rest;
  for (uint64_t id : {1, 2, 3}) {
    if (id != leader) rest.push_back(id);
  }
  uint64_t new_leader = c.wait_leader(1, rest);
  ASSERT_NE(new_leader, 0u);
  EXPECT_GT(json_uint(c.status(new_leader), "term").value_or(0), old_term);
  // Writes go on under the new leader.
  EXPECT_TRUE(eventually([&] { return writer.acked_count() >= acked_at_kill + 200; }))
      << "writer stalled at " << writer.acked_count() << " after the kill";
  writer.stop();
  auto acked = writer.acked();
  std::printf("acked %zu writes (%lu failed or unknown), %lu before the kill\n", acked.size(),
              static_cast<unsigned long>(writer.failed_count()),
              static_cast<unsigned long>(acked_at_kill));

  // Every acknowledged write is readable linearizably, through both
  // survivors, and once the old leader is back, on it as well.
  for (uint64_t id : rest) expect_linearizable(id, acked);
  ASSERT_RAFT_OK(c.start(leader));
  expect_replicated({leader}, acked);
  expect_linearizable(leader, acked);
}

TEST_F(NodeProcessFault, NodeDownDuringCompactionCatchesUpBySnapshot) {
  ProcessOptions o;
  o.snapshot_every_entries = 50;
  o.keep_entries = 10;
  ProcessCluster& c = make_cluster("proc-snap", o);
  c.define_static(3);
  ASSERT_RAFT_OK(c.start_all());
  uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  auto client = c.client();
  auto first = make_kvs("a", 20);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, first));
  const uint64_t lagger = leader % 3 + 1;
  expect_replicated({lagger}, first);
  const uint64_t lagger_last = json_uint(c.status(lagger), "last_index").value_or(0);
  ASSERT_GT(lagger_last, 0u);
  ASSERT_RAFT_OK(c.terminate(lagger));

  // Write enough for several automatic snapshots; the leader compacts its
  // log past everything the lagger has.
  // (A new client: the first may have been connected to the lagger, since
  // followers forward proposals.)
  client = c.client(2);
  auto second = make_kvs("b", 400);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, second));
  leader = c.wait_leader(1, c.running_ids());
  ASSERT_NE(leader, 0u);
  std::string st;
  ASSERT_TRUE(eventually([&] {
    st = c.status(leader);
    return json_uint(st, "first_index").value_or(0) > lagger_last + 1;
  })) << "leader did not compact past index "
      << lagger_last << ": " << st;
  EXPECT_GT(json_uint(st, "snapshot_index").value_or(0), lagger_last);

  ASSERT_RAFT_OK(c.start(lagger));
  expect_replicated({lagger}, first);
  expect_replicated({lagger}, second);
  // The lagger got there by a snapshot: its metrics count one received, and
  // its log now starts past where it stopped.
  std::string metrics = c.metrics(lagger);
  EXPECT_GE(metric_value(metrics, "ringraft_snapshots_received_total").value_or(0), 1u) << metrics;
  std::string lst = c.status(lagger);
  EXPECT_GT(json_uint(lst, "first_index").value_or(0), lagger_last) << lst;
  // The leader counts the snapshot it sent.
  EXPECT_GE(metric_value(c.metrics(leader), "ringraft_snapshots_sent_total").value_or(0), 1u);
  // And it follows the log afterwards.
  auto third = make_kvs("c", 30);
  ASSERT_RAFT_OK(kv_put_many(*client, 1, third));
  expect_replicated({lagger}, third);
  expect_linearizable(lagger, second);
}

}  // namespace
}  // namespace raft::testing
