// raft_sim: runs the deterministic cluster simulator over a range of seeds.
//
//   raft_sim --seed S [--nodes 3|5] [--steps K] [--verbose]   replay one seed
//   raft_sim --seeds N [--first S] [--nodes 3|5] [--steps K]   seeds S..S+N-1
//
// A failing seed prints its reason and the exact command that replays it. If
// the core aborts (a RAFT_CHECK), a SIGABRT handler prints the seed too.
// Exit status: 0 if every seed passed, 1 otherwise, 2 on bad arguments.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "spdlog/spdlog.h"
#include "tests/sim/cluster.h"

namespace {

char g_abort_note[512];

void on_abort(int) {
  const ssize_t unused = write(STDERR_FILENO, g_abort_note, strlen(g_abort_note));
  (void)unused;
  signal(SIGABRT, SIG_DFL);
  raise(SIGABRT);
}

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(
      stderr,
      "usage: %s [--seed S | --seeds N [--first S]] [--nodes 3|5] [--steps K]\n"
      "          [--spares K] [--liveness-ticks T] [--no-membership] [--no-crashes]\n"
      "          [--no-compaction] [--sessions] [--quiesce | --no-quiesce] [--verbose] [--quiet]\n"
      "          [--stop-on-failure]\n",
      argv0);
  std::exit(2);
}

uint64_t parse_u64(const char* argv0, const char* s) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0') usage(argv0);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  // The driver logs through spdlog; --verbose prints the simulator's own trace.
  spdlog::set_level(spdlog::level::err);
  raft::sim::SimOptions options;
  uint64_t first = 1;
  uint64_t count = 1;
  bool quiet = false;
  bool stop_on_failure = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> uint64_t {
      if (i + 1 >= argc) usage(argv[0]);
      return parse_u64(argv[0], argv[++i]);
    };
    if (arg == "--seed") {
      first = value();
      count = 1;
    } else if (arg == "--seeds") {
      count = value();
    } else if (arg == "--first") {
      first = value();
    } else if (arg == "--nodes") {
      options.nodes = static_cast<int>(value());
    } else if (arg == "--steps") {
      options.steps = static_cast<int>(value());
    } else if (arg == "--spares") {
      options.spare_nodes = static_cast<int>(value());
    } else if (arg == "--liveness-ticks") {
      options.liveness_ticks = static_cast<int>(value());
    } else if (arg == "--no-membership") {
      options.membership = false;
    } else if (arg == "--no-crashes") {
      options.crashes = false;
    } else if (arg == "--no-compaction") {
      options.compaction = false;
    } else if (arg == "--sessions") {
      options.sessions = true;
    } else if (arg == "--quiesce") {
      options.quiescence = true;
    } else if (arg == "--no-quiesce") {
      options.quiescence = false;
    } else if (arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg == "--stop-on-failure") {
      stop_on_failure = true;
    } else {
      usage(argv[0]);
    }
  }
  if (options.nodes < 1 || options.nodes > 9 || options.steps < 0) usage(argv[0]);

  std::string flags;
  if (!options.membership) flags += " --no-membership";
  if (!options.crashes) flags += " --no-crashes";
  if (!options.compaction) flags += " --no-compaction";
  if (options.sessions) flags += " --sessions";
  if (options.quiescence) flags += *options.quiescence ? " --quiesce" : " --no-quiesce";
  if (options.spare_nodes != 2) flags += " --spares " + std::to_string(options.spare_nodes);

  signal(SIGABRT, on_abort);
  const auto start = std::chrono::steady_clock::now();
  uint64_t failures = 0, ran = 0, events = 0, ticks = 0, crashes = 0, conf_changes = 0,
           snapshots = 0, made = 0, reads = 0, leaders = 0, acked = 0, write_failures = 0,
           max_liveness = 0, leader_starts = 0, leader_stops = 0, other_events = 0,
           session_retries = 0, session_duplicates = 0;
  raft::Index commits = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    options.seed = seed;
    std::snprintf(g_abort_note, sizeof(g_abort_note),
                  "\nraft_sim: ABORT in seed %" PRIu64 "\n  replay: %s --seed %" PRIu64
                  " --nodes %d --steps %d%s --verbose\n",
                  seed, argv[0], seed, options.nodes, options.steps, flags.c_str());
    const raft::sim::SimResult r = raft::sim::run_simulation(options);
    ++ran;
    events += r.events;
    ticks += r.ticks;
    crashes += r.crashes;
    conf_changes += r.conf_changes;
    snapshots += r.snapshots_installed;
    made += r.snapshots_made;
    acked += r.proposals_acked;
    session_retries += r.session_retries;
    session_duplicates += r.session_duplicates;
    write_failures += r.write_failures;
    reads += r.reads_checked;
    leaders += r.leaders;
    leader_starts += r.leader_starts;
    leader_stops += r.leader_stops;
    other_events += r.leader_changes + r.membership_events + r.snapshot_taken_events +
                    r.snapshot_installed_events;
    commits += r.max_commit;
    if (r.liveness_ticks > max_liveness) max_liveness = r.liveness_ticks;
    if (!r.ok) {
      ++failures;
      std::printf("FAIL seed %" PRIu64 " (nodes %d, steps %d): %s\n  replay: %s --seed %" PRIu64
                  " --nodes %d --steps %d%s --verbose\n",
                  seed, options.nodes, options.steps, r.failure.c_str(), argv[0], seed,
                  options.nodes, options.steps, flags.c_str());
      std::fflush(stdout);
      if (stop_on_failure) break;
    } else if (count == 1 && !quiet) {
      std::printf("seed %" PRIu64 ": ok, trace %016" PRIx64 ", %" PRIu64 " events, %" PRIu64
                  " ticks, max term %" PRIu64 ", commit %" PRIu64 ", %" PRIu64 " crashes, %" PRIu64
                  " conf changes, %" PRIu64 " snapshots, %" PRIu64 " reads, healed in %" PRIu64
                  " ticks\n",
                  seed, r.trace_hash, r.events, r.ticks, r.max_term, r.max_commit, r.crashes,
                  r.conf_changes, r.snapshots_installed, r.reads_checked, r.liveness_ticks);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!quiet || failures > 0) {
    std::printf("raft_sim: nodes %d, steps %d, seeds %" PRIu64 "..%" PRIu64 ": %" PRIu64
                " ran, %" PRIu64 " failed, %.1f s; totals: %" PRIu64 " events, %" PRIu64
                " ticks, %" PRIu64 " leaders, %" PRIu64 " committed, %" PRIu64 " crashes, %" PRIu64
                " conf changes, %" PRIu64 " snapshots installed, %" PRIu64 " made, %" PRIu64
                " proposals acknowledged, %" PRIu64 " reads checked, %" PRIu64
                " failed writes; events: %" PRIu64 " leader starts, %" PRIu64 " stops, %" PRIu64
                " others; slowest heal %" PRIu64 " ticks\n",
                options.nodes, options.steps, first, first + count - 1, ran, failures, secs, events,
                ticks, leaders, commits, crashes, conf_changes, snapshots, made, acked, reads,
                write_failures, leader_starts, leader_stops, other_events, max_liveness);
    if (options.sessions) {
      std::printf("raft_sim: sessions: %" PRIu64 " proposals sent again, %" PRIu64
                  " answered from the session table\n",
                  session_retries, session_duplicates);
    }
  }
  return failures == 0 ? 0 : 1;
}
