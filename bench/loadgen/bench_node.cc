// bench_node: a node process for the load generator. It loads a TOML node
// config, hosts the configured groups with BenchStateMachine (bench_fsm.h),
// and waits for signals:
//   SIGTERM / SIGINT: stop the node cleanly and exit 0;
//   SIGUSR1: write <data_dir>/metrics.txt (Prometheus text) and
//            <data_dir>/status.json, each renamed into place (the load
//            generator reads the engine's counters this way);
//   SIGUSR2: turn leader balance ([balance] leaders) on if it is off, off
//            if it is on (Node::set_leader_balance; bench/balance_leaders.sh).
// Once serving it writes <data_dir>/ready ("<node id> <address>\n").
// The same signal protocol as tests/node's ringraft_test_node.
//
//   bench_node --config n1.toml [--fsm count|kv]
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/loadgen/bench_fsm.h"
#include "engine/node/config.h"
#include "engine/node/node.h"

namespace {

bool write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return false;
  }
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s --config PATH [--fsm count|kv]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  raft::bench::FsmMode mode = raft::bench::FsmMode::kCount;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--fsm" && i + 1 < argc) {
      std::string m = argv[++i];
      if (m == "count") {
        mode = raft::bench::FsmMode::kCount;
      } else if (m == "kv") {
        mode = raft::bench::FsmMode::kKv;
      } else {
        return usage(argv[0]);
      }
    } else {
      return usage(argv[0]);
    }
  }
  if (config_path.empty()) return usage(argv[0]);
  auto config = raft::load_config_toml(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "bench_node: %s\n", config.status().ToString().c_str());
    return 2;
  }
  // Block the signals before any thread starts, so only sigwait() sees them.
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGTERM);
  sigaddset(&waited, SIGINT);
  sigaddset(&waited, SIGUSR1);
  sigaddset(&waited, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &waited, nullptr);

  const std::string data_dir = config->data_dir;
  auto node = raft::Node::start(*config, [mode](raft::GroupId) {
    return std::make_unique<raft::bench::BenchStateMachine>(mode);
  });
  if (!node.ok()) {
    std::fprintf(stderr, "bench_node: start: %s\n", node.status().ToString().c_str());
    return 1;
  }
  write_file_atomically(data_dir + "/ready",
                        absl::StrCat((*node)->id(), " ", (*node)->address(), "\n"));
  for (;;) {
    int sig = 0;
    if (sigwait(&waited, &sig) != 0) continue;
    if (sig == SIGUSR1) {
      write_file_atomically(data_dir + "/status.json", (*node)->status_json());
      write_file_atomically(data_dir + "/metrics.txt", (*node)->metrics_text());
      continue;
    }
    if (sig == SIGUSR2) {
      (*node)->set_leader_balance(!(*node)->leader_balance());
      continue;
    }
    break;
  }
  (*node)->stop();
  node->reset();
  std::remove((data_dir + "/ready").c_str());
  return 0;
}
