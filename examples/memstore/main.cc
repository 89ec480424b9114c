// memstore: a replicated in-memory key-value node with an HTTP/1.1 API.
//
//   memstore --config node.toml --http 127.0.0.1:8001
//   memstore --config cluster.toml --id 1 --address 127.0.0.1:7001
//            --data-dir /tmp/n1 --http 127.0.0.1:8001
//   memstore --id 4 --address 127.0.0.1:7004 --data-dir /tmp/n4
//            --join 127.0.0.1:7001 --http 127.0.0.1:8004 [--learner]
//
// The HTTP server runs on the node's first reactor (shard 0). SIGTERM and
// SIGINT stop it gracefully: the HTTP server closes, the helper threads
// finish, the node stops (flushing its log) and the process exits 0.
// SIGHUP reloads the [tls] files (the node's and, with --https, the HTTP
// server's); a failed reload keeps the old files and logs why.
//
// The config file may carry an [http] table, memstore's own (the runtime
// does not see it): header_timeout_ms, idle_timeout_ms, max_connections
// (HttpServerOptions). /metrics is the runtime's text followed by the HTTP
// server's (memstore_http_*).
#include <signal.h>
#include <sys/resource.h>
#include <toml++/toml.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/node/client.h"
#include "engine/node/config.h"
#include "engine/node/node.h"
#include "examples/memstore/api.h"
#include "examples/memstore/http_server.h"
#include "examples/memstore/kv_state_machine.h"
#include "spdlog/spdlog.h"

namespace raft::memstore {
namespace {

constexpr char kUsage[] = R"(usage: memstore [options]
  --config FILE        TOML config ([node] [raft] [snapshot] [storage] [network]
                       [client] [[peers]], and memstore's [http]: header_timeout_ms,
                       idle_timeout_ms, max_connections; see README); one
                       cluster file listing only [[peers]] serves every node when
                       --id, --address and --data-dir are given
  --id N               node id (static members; optional when joining)
  --address HOST:PORT  Raft + client protocol listener
  --data-dir DIR       log, snapshots and node id
  --join HOST:PORT     join the cluster through any member (fresh data dir only)
  --learner            stay a learner after joining ([node] join_as = "learner";
                       default: promoted to voter once caught up)
  --http HOST:PORT     HTTP API listener (default 127.0.0.1:0, printed at start)
  --no-forward         followers answer 421 instead of forwarding writes
  --https              serve the HTTP API over TLS with [tls] cert_file / key_file
  --tick-ms N          Raft tick interval (overrides the config)
  --log-level LEVEL    trace, debug, info, warn, error (default info)
Flags override the config file (--id, --address, --data-dir and --join before
it is validated).)";

struct Flags {
  std::string config_path;
  NodeConfig config;
  bool have_id = false, have_address = false, have_data_dir = false, have_join = false;
  uint64_t id = 0;
  std::string address, data_dir, join;
  bool learner = false;
  std::string http = "127.0.0.1:0";
  bool forward = true;
  bool https = false;
  uint32_t tick_ms = 0;
  std::string log_level = "info";
  HttpServerOptions http_options;  // From the config's [http] table.
};

// Takes memstore's [http] table out of `root` (the runtime's parser refuses
// tables it does not know) into `options`.
absl::Status take_http_table(toml::table& root, HttpServerOptions& options) {
  if (!root.contains("http")) return absl::OkStatus();
  const toml::table* http = root["http"].as_table();
  if (http == nullptr) return absl::InvalidArgumentError("[http] must be a table");
  for (const auto& [key, value] : *http) {
    const std::optional<int64_t> n = value.value<int64_t>();
    if (!value.is_integer() || !n || *n <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("[http] ", std::string(key.str()), " must be a positive integer"));
    }
    if (key == "header_timeout_ms") {
      options.header_timeout = std::chrono::milliseconds(*n);
    } else if (key == "idle_timeout_ms") {
      options.idle_timeout = std::chrono::milliseconds(*n);
    } else if (key == "max_connections") {
      options.max_connections = static_cast<size_t>(*n);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown key [http] ", std::string(key.str())));
    }
  }
  root.erase("http");
  return absl::OkStatus();
}

// Many HTTP clients need many descriptors: the soft limit is raised to the
// hard one (often 1024 -> 4096 or more). Below the connection cap plus some
// room for the node's own files, accept fails (EMFILE) before the cap can
// evict anything.
void raise_fd_limit(size_t http_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      spdlog::warn("memstore: cannot raise the open file limit: {}", std::strerror(errno));
      (void)::getrlimit(RLIMIT_NOFILE, &limit);
    }
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < http_connections + 256) {
    spdlog::warn("memstore: open file limit {} is low for [http] max_connections = {}",
                 static_cast<uint64_t>(limit.rlim_cur), http_connections);
  }
}

// Reads the config file with the identity flags (--id, --address,
// --data-dir, --join) written into its [node] table before it is parsed and
// validated: one cluster.toml that lists only the peers can then serve every
// node, each started with its own id and address.
absl::StatusOr<NodeConfig> load_config_with_identity(Flags& f) {
  toml::table root;
  try {
    root = toml::parse_file(f.config_path);
  } catch (const toml::parse_error&) {
    return load_config_toml(f.config_path).status();  // Its message names line and column.
  }
  if (absl::Status s = take_http_table(root, f.http_options); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(f.config_path, ": ", s.message()));
  }
  if (root.contains("node") && !root["node"].is_table()) {
    return load_config_toml(f.config_path).status();
  }
  if (!root.contains("node")) root.insert("node", toml::table{});
  toml::table& node = *root["node"].as_table();
  if (f.have_id) {
    if (f.id > static_cast<uint64_t>(INT64_MAX)) {
      return absl::InvalidArgumentError("--id is too large");
    }
    node.insert_or_assign("id", static_cast<int64_t>(f.id));
  }
  if (f.have_address) node.insert_or_assign("address", f.address);
  if (f.have_data_dir) node.insert_or_assign("data_dir", f.data_dir);
  if (f.have_join) node.insert_or_assign("join", f.join);
  std::ostringstream text;
  text << root;
  auto config = parse_config_toml(text.str());
  if (!config.ok()) {
    return absl::Status(
        config.status().code(),
        absl::StrCat(f.config_path, " with the flags: ", config.status().message()));
  }
  return config;
}

absl::StatusOr<Flags> parse_flags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> absl::StatusOr<std::string> {
      if (i + 1 >= argc) return absl::InvalidArgumentError(a + " needs a value");
      return std::string(argv[++i]);
    };
    absl::StatusOr<std::string> v;
    if (a == "--help" || a == "-h") {
      std::cout << kUsage << "\n";
      std::exit(0);
    } else if (a == "--learner") {
      f.learner = true;
    } else if (a == "--https") {
      f.https = true;
    } else if (a == "--no-forward") {
      f.forward = false;
    } else if (a == "--config" || a == "--id" || a == "--address" || a == "--data-dir" ||
               a == "--join" || a == "--http" || a == "--tick-ms" || a == "--log-level") {
      v = value();
      if (!v.ok()) return v.status();
      if (a == "--config") f.config_path = *v;
      if (a == "--address") f.address = *v, f.have_address = true;
      if (a == "--data-dir") f.data_dir = *v, f.have_data_dir = true;
      if (a == "--join") f.join = *v, f.have_join = true;
      if (a == "--http") f.http = *v;
      if (a == "--log-level") f.log_level = *v;
      if (a == "--id" && !(absl::SimpleAtoi(*v, &f.id) && f.id > 0)) {
        return absl::InvalidArgumentError("--id must be a positive integer");
      }
      f.have_id = f.have_id || a == "--id";
      if (a == "--tick-ms" && !(absl::SimpleAtoi(*v, &f.tick_ms) && f.tick_ms > 0)) {
        return absl::InvalidArgumentError("--tick-ms must be a positive integer");
      }
    } else {
      return absl::InvalidArgumentError("unknown argument: " + a);
    }
  }
  if (!f.config_path.empty()) {
    auto c = load_config_with_identity(f);
    if (!c.ok()) return c.status();
    f.config = std::move(*c);
  }
  if (f.have_id) f.config.node_id = f.id;
  if (f.have_address) f.config.address = f.address;
  if (f.have_data_dir) f.config.data_dir = f.data_dir;
  if (f.have_join) f.config.join_address = f.join;
  if (f.tick_ms) f.config.tick_interval_ms = f.tick_ms;
  if (!f.forward) f.config.forward_to_leader = false;
  // A joiner enters as a learner; with join_as = voter (the default) the
  // runtime promotes it once it has caught up, --learner keeps it a learner.
  if (f.learner) f.config.join_as = PeerRole::kLearner;
  if (auto s = f.config.validate(); !s.ok()) return s;
  return f;
}

int run(int argc, char** argv) {
  auto flags = parse_flags(argc, argv);
  if (!flags.ok()) {
    std::cerr << "memstore: " << flags.status().message() << "\n\n" << kUsage << "\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(flags->log_level));
  raise_fd_limit(flags->http_options.max_connections);

  // Every thread started from here on inherits the blocked signals, so only
  // sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<net::TlsContext> http_tls;
  if (flags->https) {
    const TlsConfig& t = flags->config.tls;
    if (!t.enabled()) {
      std::cerr << "memstore: --https needs a [tls] section (cert_file, key_file)\n";
      return 2;
    }
    net::TlsOptions o;
    o.cert_file = t.cert_file;
    o.key_file = t.key_file;
    o.verify_peer = false;  // HTTP clients are not asked for certificates.
    o.allow_tls12 = true;   // Common HTTP clients still offer TLS 1.2.
    auto ctx = net::TlsContext::create(o);
    if (!ctx.ok()) {
      std::cerr << "memstore: --https: " << ctx.status() << "\n";
      return 1;
    }
    http_tls = *ctx;
  }
  auto node =
      Node::start(flags->config, [](GroupId) { return std::make_unique<KvStateMachine>(); });
  if (!node.ok()) {
    std::cerr << "memstore: cannot start: " << node.status() << "\n";
    return 1;
  }

  ApiOptions api_options;
  api_options.forward = flags->forward;
  auto api = std::make_unique<MemstoreApi>(**node, api_options);
  std::unique_ptr<HttpServer> server;
  std::promise<absl::Status> started;
  bool queued = (*node)->run_on_shard(0, [&](net::Reactor& reactor) {
    HttpServerOptions so = flags->http_options;
    so.address = flags->http;
    so.tls = http_tls;
    server = std::make_unique<HttpServer>(
        reactor, so, [&api, &server](HttpRequest r, Responder respond) {
          if (r.method == "GET" && r.segments.size() == 1 && r.segments[0] == "metrics") {
            // The HTTP server's own counters follow the runtime's.
            respond = std::move(respond).with_edit([&server](HttpReply& reply) {
              if (reply.status == 200) reply.body += server->metrics_text();
            });
          }
          api->handle(std::move(r), std::move(respond));
        });
    absl::Status s = server->start();
    if (s.ok()) api->set_http_address(server->address());
    started.set_value(s);
  });
  absl::Status http_status =
      queued ? started.get_future().get() : absl::UnavailableError("shard 0 refused the task");
  if (!http_status.ok()) {
    std::cerr << "memstore: " << http_status << "\n";
    api->stop();
    (*node)->stop();
    return 1;
  }
  // The HTTP address is not known to the runtime; it is only ours to show.
  std::cout << "memstore node " << (*node)->id() << " raft=" << (*node)->address()
            << " http=" << server->address() << std::endl;

  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    absl::Status s = (*node)->reload_tls();
    if (s.ok() && http_tls) s = http_tls->reload();
    if (s.ok()) {
      spdlog::info("memstore: SIGHUP: TLS files reloaded");
    } else {
      spdlog::warn("memstore: SIGHUP: TLS reload failed, keeping the old files: {}",
                   std::string(s.message()));
    }
  }
  spdlog::info("memstore: signal {}, stopping", signal_number);

  // Close the HTTP side on its reactor, then the helpers, then the node.
  // The server object outlives the reactor's drain (Node::stop).
  std::promise<void> closed;
  if ((*node)->run_on_shard(0, [&](net::Reactor&) {
        server->stop();
        closed.set_value();
      })) {
    closed.get_future().wait_for(std::chrono::seconds(5));
  }
  api->stop();
  (*node)->stop();
  server.reset();
  api.reset();
  node->reset();
  return 0;
}

}  // namespace
}  // namespace raft::memstore

int main(int argc, char** argv) { return raft::memstore::run(argc, argv); }
