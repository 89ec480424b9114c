// Crash safety: over many rounds, a forked child commits a stream of batches
// through the writer thread and reports each persisted completion to the
// parent through a pipe; the parent SIGKILLs it at a random point. After each
// kill the parent reopens the env and checks that everything reported
// persisted is there, that each batch is all-or-nothing (every group's hard
// state names the same last batch and its commit equals the log's end), and
// that every entry reads back intact. Seeded: the seed is printed, and
// RAFT_STORAGE_CRASH_SEED=<n> replays a run's workload and kill points.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"
#include "storage/log_env.h"
#include "tests/storage/test_util.h"

namespace raft::storage {
namespace {

using testing::payload_for;
using testing::TempDir;

constexpr GroupId kGroups = 4;
constexpr int kRounds = 25;
constexpr uint64_t kMaxBatchesPerChild = 3000;

struct Report {
  uint64_t batch;  // The batch number the child wrote into every hard state.
  GroupId group;
  Index last_index;
};

size_t payload_bytes(Index i) { return 40 + i % 90; }

EnvOptions env_options(const std::string& dir) {
  EnvOptions options;
  options.dir = dir;
  options.initial_map_bytes = 1 << 20;  // Small: the map grows during the run.
  options.verify_tail_entries = 256;
  options.compacted_records_per_commit = 64;  // Compacted records outlive kills.
  return options;
}

// The child: never returns. Batch b appends 0..39 entries to every group,
// sets each group's hard state to {term = b, vote = group, commit = last},
// sometimes compacts a group and sets a conf state naming b.
[[noreturn]] void run_child(const std::string& dir, int round, uint64_t seed, int out_fd) {
  auto opened = LogEnv::open(env_options(dir));
  if (!opened.ok()) {
    std::cerr << "child: " << opened.status() << "\n";
    ::_exit(3);
  }
  LogEnv& env = **opened;
  std::mt19937_64 rng(seed);
  const Term term = static_cast<Term>(round) + 1;
  uint64_t batch = env.hard_state(1).term + 1;
  Index last[kGroups + 1];
  for (GroupId g = 1; g <= kGroups; ++g) last[g] = env.last_index(g);
  absl::flat_hash_map<uint64_t, uint64_t> batch_of_id;
  std::vector<Completion> done;
  auto report = [&] {
    done.clear();
    env.drain_completions(done);
    for (const Completion& c : done) {
      if (!c.status.ok()) {
        std::cerr << "child: batch failed: " << c.status << "\n";
        ::_exit(4);
      }
      Report r{batch_of_id.at(c.batch), c.group, c.last_index};
      if (::write(out_fd, &r, sizeof(r)) != sizeof(r)) ::_exit(5);
    }
  };
  for (uint64_t n = 0; n < kMaxBatchesPerChild; ++n, ++batch) {
    WriteBatch b;
    for (GroupId g = 1; g <= kGroups; ++g) {
      size_t count = rng() % 40;
      std::vector<Entry> entries;
      for (size_t k = 0; k < count; ++k) {
        Index i = last[g] + 1 + k;
        entries.push_back(
            Entry{term, i, EntryType::kNormal, Slice(payload_for(g, i, term, payload_bytes(i)))});
      }
      last[g] += count;
      b.append(g, entries);
      b.set_hard_state(g, HardState{batch, g, last[g]});
      if (rng() % 16 == 0 && last[g] > 200) b.compact(g, last[g] - 100);
      if (rng() % 8 == 0) {
        ConfState cs;
        cs.voters = {batch};
        b.set_conf_state(g, cs);
      }
    }
    for (;;) {
      auto id = env.try_submit(b);
      if (id.ok()) {
        batch_of_id[*id] = batch;
        break;
      }
      pollfd p{env.completion_fd(), POLLIN, 0};
      ::poll(&p, 1, 1000);
      report();
    }
    report();
  }
  while (env.batches_in_flight() > 0) {
    pollfd p{env.completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 1000);
    report();
  }
  report();
  ::_exit(0);
}

TEST(CrashTest, EverythingReportedPersistedSurvivesSigkill) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("RAFT_STORAGE_CRASH_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::cout << "crash test seed " << seed << " (RAFT_STORAGE_CRASH_SEED to replay)" << std::endl;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string shard = dir.sub("shard-0");
  uint64_t total_reports = 0;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const uint64_t child_seed = rng();
    const uint64_t kill_after_reports = rng() % 400;
    const uint64_t kill_delay_us = rng() % 3000;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      run_child(shard, round, child_seed, fds[1]);
    }
    ::close(fds[1]);

    uint64_t reported_batch = 0;
    Index reported_last[kGroups + 1] = {};
    uint64_t reports = 0;
    auto read_report = [&]() -> bool {
      Report r;
      size_t got = 0;
      while (got < sizeof(r)) {
        ssize_t n = ::read(fds[0], reinterpret_cast<char*>(&r) + got, sizeof(r) - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += static_cast<size_t>(n);
      }
      EXPECT_GE(r.group, 1u);
      EXPECT_LE(r.group, kGroups);
      reported_batch = std::max(reported_batch, r.batch);
      reported_last[r.group] = std::max(reported_last[r.group], r.last_index);
      ++reports;
      return true;
    };
    while (reports < kill_after_reports && read_report()) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(kill_delay_us));  // The kill point.
    ::kill(pid, SIGKILL);
    // Whatever reached the pipe before the kill was reported persisted.
    while (read_report()) {
    }
    ::close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) == 0 : WTERMSIG(wstatus) == SIGKILL)
        << "child failed with status " << wstatus;
    total_reports += reports;

    auto opened = LogEnv::open(env_options(shard));
    ASSERT_TRUE(opened.ok()) << opened.status();
    LogEnv& env = **opened;
    const uint64_t durable_batch = env.hard_state(1).term;
    EXPECT_GE(durable_batch, reported_batch);
    for (GroupId g = 1; g <= kGroups; ++g) {
      SCOPED_TRACE(::testing::Message() << "group " << g);
      HardState hs = env.hard_state(g);
      // All-or-nothing batches: every group saw the same last batch, and its
      // hard state and its entries went in together.
      EXPECT_EQ(hs.term, durable_batch);
      EXPECT_EQ(hs.commit, env.last_index(g));
      EXPECT_GE(env.last_index(g), reported_last[g]);
      ConfState cs = env.conf_state(g);
      if (!cs.voters.empty()) {
        EXPECT_LE(cs.voters[0], durable_batch);
      }
      ASSERT_TRUE(env.verify_group(g).ok()) << env.verify_group(g);
      Index lo = env.first_index(g);
      Index hi = env.last_index(g) + 1;
      if (hi > lo + 500) lo = hi - 500;
      auto entries = env.entries(g, lo, hi, UINT64_MAX);
      ASSERT_TRUE(entries.ok()) << entries.status();
      for (const Entry& e : *entries) {
        ASSERT_EQ(e.data.view(), payload_for(g, e.index, e.term, payload_bytes(e.index)));
      }
    }
  }
  std::cout << "crash test: " << kRounds << " kills, " << total_reports
            << " persisted completions checked" << std::endl;
  EXPECT_GT(total_reports, 0u);
}

}  // namespace
}  // namespace raft::storage
