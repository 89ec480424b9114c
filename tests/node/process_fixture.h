// GoogleTest fixture for the multi-process tests: owns one ProcessCluster,
// keeps its directory and prints the nodes' log tails when the test failed.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/node/process_cluster.h"
#include "tests/node/process_kv.h"

// Assert / expect that an absl::Status expression is OK, printing it if not.
#define ASSERT_RAFT_OK(expr)                    \
  do {                                          \
    const absl::Status raft_ok_s_ = (expr);     \
    ASSERT_TRUE(raft_ok_s_.ok()) << raft_ok_s_; \
  } while (0)
#define EXPECT_RAFT_OK(expr)                    \
  do {                                          \
    const absl::Status raft_ok_s_ = (expr);     \
    EXPECT_TRUE(raft_ok_s_.ok()) << raft_ok_s_; \
  } while (0)

namespace raft::testing {

class ProcessTest : public ::testing::Test {
 protected:
  ProcessCluster& make_cluster(const std::string& name, ProcessOptions options = {}) {
    cluster_ = std::make_unique<ProcessCluster>(name, std::move(options));
    return *cluster_;
  }
  void TearDown() override {
    if (cluster_) {
      cluster_->keep_on_failure(HasFailure());
      cluster_.reset();
    }
  }

  // Every node in `ids` eventually serves every pair with a stale (local)
  // read.
  void expect_replicated(const std::vector<uint64_t>& ids,
                         const std::vector<std::pair<std::string, std::string>>& kvs,
                         GroupId group = 1) {
    for (uint64_t id : ids) {
      auto probe = probe_client(cluster_->address(id), 3);
      int64_t n = -1;
      EXPECT_TRUE(eventually(
          [&] {
            n = kv_count_matching(*probe, group, kvs, ReadConsistency::kStale);
            return n == static_cast<int64_t>(kvs.size());
          },
          std::chrono::seconds(20)))
          << "node " << id << " has " << n << " of " << kvs.size() << " keys in group " << group;
    }
  }

  // A linearizable read through node `id` sees every pair.
  void expect_linearizable(uint64_t id, const std::vector<std::pair<std::string, std::string>>& kvs,
                           GroupId group = 1) {
    auto probe = probe_client(cluster_->address(id), 5);
    int64_t n = -1;
    // A read may be refused while a leader settles (no leader yet, or its
    // first entry not committed): retry until the deadline.
    EXPECT_TRUE(eventually(
        [&] {
          n = kv_count_matching(*probe, group, kvs, ReadConsistency::kLinearizable);
          return n >= 0;
        },
        std::chrono::seconds(20)))
        << "linearizable reads through node " << id << " kept failing";
    EXPECT_EQ(n, static_cast<int64_t>(kvs.size()))
        << "linearizable reads through node " << id << " miss acknowledged writes";
  }

  std::unique_ptr<ProcessCluster> cluster_;
};

}  // namespace raft::testing
