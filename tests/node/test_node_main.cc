// ringraft_test_node: a node process for the multi-process tests. It loads a
// TOML config (--config PATH; a few flags override its fields), hosts the
// configured groups with memstore's KV state machine, and then waits for
// signals:
//   SIGTERM / SIGINT: stop the node cleanly and exit 0;
//   SIGUSR1: write <data_dir>/status.json (Node::status_json()) and
//            <data_dir>/metrics.txt (Prometheus text), each renamed into place.
// Once serving it writes <data_dir>/ready holding "<node id> <address>\n", so
// a test learns the id a joiner was assigned.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/node/config.h"
#include "engine/node/node.h"
#include "examples/memstore/kv_state_machine.h"

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
  std::fprintf(stderr,
               "usage: %s --config PATH [--id N] [--address HOST:PORT] [--data-dir DIR] "
               "[--join HOST:PORT]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::string id_flag, address_flag, data_dir_flag, join_flag;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    bool ok = true;
    if (arg == "--config") {
      ok = value(&config_path);
    } else if (arg == "--id") {
      ok = value(&id_flag);
    } else if (arg == "--address") {
      ok = value(&address_flag);
    } else if (arg == "--data-dir") {
      ok = value(&data_dir_flag);
    } else if (arg == "--join") {
      ok = value(&join_flag);
    } else {
      ok = false;
    }
    if (!ok) return usage(argv[0]);
  }
  if (config_path.empty()) return usage(argv[0]);
  auto config = raft::load_config_toml(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "ringraft_test_node: %s\n", config.status().ToString().c_str());
    return 2;
  }
  if (!id_flag.empty() && !absl::SimpleAtoi(id_flag, &config->node_id)) return usage(argv[0]);
  if (!address_flag.empty()) config->address = address_flag;
  if (!data_dir_flag.empty()) config->data_dir = data_dir_flag;
  if (!join_flag.empty()) config->join_address = join_flag;

  // Block the signals we wait for before any thread starts, so that every
  // shard thread inherits the mask and only sigwait() below sees them.
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGTERM);
  sigaddset(&waited, SIGINT);
  sigaddset(&waited, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &waited, nullptr);

  const std::string data_dir = config->data_dir;
  auto node = raft::Node::start(
      *config, [](raft::GroupId) { return std::make_unique<raft::memstore::KvStateMachine>(); });
  if (!node.ok()) {
    std::fprintf(stderr, "ringraft_test_node: start: %s\n", node.status().ToString().c_str());
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
    break;  // SIGTERM or SIGINT.
  }
  (*node)->stop();
  node->reset();
  std::remove((data_dir + "/ready").c_str());
  return 0;
}
