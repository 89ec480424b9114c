// ringraft_soak: a soak run by hand (tests/node/soak.sh). Three node
// processes; two writer threads (separate clients, separate key spaces)
// propose unique keys and record what was acknowledged, while the leader is
// killed with SIGKILL every --kill-every seconds and restarted 5 s later.
// Automatic snapshots run meanwhile (every 5000 entries). At the end every
// acknowledged key must be readable linearizably with the value written.
// Prints the counts; exits 0 only if no acknowledged write was lost.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "tests/node/process_cluster.h"
#include "tests/node/process_kv.h"

using namespace raft;
using namespace raft::testing;

int main(int argc, char** argv) {
  uint64_t seconds = 300;
  uint64_t kill_every = 30;
  bool keep = false;
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--keep") {
      keep = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) return 2;
    uint64_t v = 0;
    if (!absl::SimpleAtoi(argv[i + 1], &v)) return 2;
    if (flag == "--seconds") {
      seconds = v;
    } else if (flag == "--kill-every") {
      kill_every = v;
    } else {
      std::fprintf(stderr, "usage: %s [--seconds N] [--kill-every N] [--keep]\n", argv[0]);
      return 2;
    }
  }
  ProcessOptions o;
  o.snapshot_every_entries = 5000;
  o.keep_entries = 500;
  ProcessCluster c("soak", o);
  // --keep: the data dirs and logs stay (also kept whenever the run fails).
  c.keep_on_failure(keep);
  // On failure: every running node's view of the group, for the report.
  auto dump_status = [&] {
    c.keep_on_failure(true);
    for (uint64_t id : c.running_ids()) {
      std::fprintf(stderr, "---- node %lu status ----\n%s\n", static_cast<unsigned long>(id),
                   c.status(id).c_str());
    }
  };
  c.define_static(3);
  if (auto s = c.start_all(); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  if (c.wait_leader() == 0) {
    std::fprintf(stderr, "no leader\n");
    return 1;
  }
  const auto addresses = c.running_addresses();
  BackgroundWriter unique_writer(addresses, 1, "u", 11);
  BackgroundWriter second_writer(addresses, 1, "x", 12);

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  int kills = 0;
  auto next_kill = start + std::chrono::seconds(kill_every);
  uint64_t down = 0;
  auto restart_at = Clock::time_point::max();
  while (Clock::now() < end) {
    // A node that died on its own is a bug found, not a leaderless cluster:
    // say so (the probe below would only see "no leader" from then on).
    if (auto dead = c.reap_exited(); !dead.empty()) {
      for (const std::string& d : dead) std::fprintf(stderr, "crash: %s\n", d.c_str());
      unique_writer.stop();
      second_writer.stop();
      dump_status();
      return 1;
    }
    if (down != 0 && Clock::now() >= restart_at) {
      if (auto s = c.start(down); !s.ok()) {
        std::fprintf(stderr, "restart of %lu: %s\n", static_cast<unsigned long>(down),
                     s.ToString().c_str());
        return 1;
      }
      down = 0;
      restart_at = Clock::time_point::max();
    }
    if (Clock::now() >= next_kill && down == 0) {
      uint64_t leader = c.wait_leader(1, {}, std::chrono::seconds(10));
      if (leader != 0) {
        c.kill9(leader);
        ++kills;
        down = leader;
        restart_at = Clock::now() + std::chrono::seconds(5);
        std::printf(
            "t=%lds killed leader %lu (acked so far %lu)\n",
            static_cast<long>(
                std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count()),
            static_cast<unsigned long>(leader),
            static_cast<unsigned long>(unique_writer.acked_count() + second_writer.acked_count()));
        std::fflush(stdout);
      } else {
        std::printf(
            "t=%lds no leader agreed on by the running nodes\n",
            static_cast<long>(
                std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count()));
        std::fflush(stdout);
        dump_status();
      }
      next_kill += std::chrono::seconds(kill_every);
    }
    // Polling the schedule, not synchronising with the nodes.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  unique_writer.stop();
  second_writer.stop();
  if (down != 0 && !c.start(down).ok()) return 1;
  if (c.wait_leader() == 0) {
    std::fprintf(stderr, "no leader at the end\n");
    dump_status();
    return 1;
  }
  auto acked = unique_writer.acked();
  auto acked2 = second_writer.acked();
  acked.insert(acked.end(), acked2.begin(), acked2.end());
  auto client = c.client(99);
  int64_t found = -1;
  eventually(
      [&] {
        found = kv_count_matching(*client, 1, acked, ReadConsistency::kLinearizable);
        return found >= 0;
      },
      std::chrono::seconds(30));
  const uint64_t failed = unique_writer.failed_count() + second_writer.failed_count();
  const int64_t lost = found < 0 ? -1 : static_cast<int64_t>(acked.size()) - found;
  std::printf(
      "soak: %lu s, %d leader kills, %zu acked writes, %lu failed/unknown, %ld found, %ld "
      "lost\n",
      static_cast<unsigned long>(seconds), kills, acked.size(), static_cast<unsigned long>(failed),
      static_cast<long>(found), static_cast<long>(lost));
  return lost == 0 ? 0 : 1;
}
