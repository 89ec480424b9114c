// ringraft_loadgen: drives a ringraft cluster through the native client
// protocol and reports throughput, latency, CPU, fsyncs and bytes written.
//
// The load goes through raft::AsyncClient (engine/node/async_client.h), the
// project's client library: C connections to each node it sends to, split
// over its shards (each group's puts go to that group's leader, on the
// shard that owns the group; --no-route: all to shard 0), requests
// pipelined and batched
// (every request queued on a connection during one loop turn of the
// client's IO thread goes out in one frame); refused answers are retried by
// the client, as for any other user.
//
//   closed loop: --window W keeps W puts in flight (spread over the
//                connections); a reply immediately sends the next put.
//   open loop:   --rate R sends puts on a fixed schedule (R per second over
//                all connections); latency is measured from the SCHEDULED
//                send time, so queueing in the client is counted (no
//                coordinated omission).
//
// Every put writes a fresh key (prefix + sequence number) with a value
// derived from the key, to group (connection's group). At the end it drains
// the requests in flight and verifies that the cluster applied everything
// acknowledged: a linearizable count query per group (bench_node: count and
// key digest must equal the acknowledged ones exactly when no outcome is
// unknown) and linearizable reads of a random sample of acknowledged keys
// (value must match; needs a node that keeps values: bench_node --fsm kv or
// memstore).
//
// Node processes given with --node PID[:METRICS] are measured over the
// measurement window: CPU (utime+stime of /proc/PID/stat), bytes written to
// the block layer (write_bytes of /proc/PID/io: the kernel's page-cache
// accounting, which on this kernel counts several times what reaches the
// disk), bytes and flushes that reached the device holding the nodes' data
// (/proc/diskstats, whole device: other writers count too), and the engine's counters
// (fsync_commits, write_batches, entries_persisted) from METRICS: a data
// dir (the node writes DIR/metrics.txt on SIGUSR1: bench_node,
// ringraft_test_node) or an http:// URL (memstore's GET /metrics).
//
// --probe DIR measures, before the load, the two floors of a W=1 write: one
// LMDB commit of a 1-entry batch (storage's LogEnv, full sync, in DIR) and
// a loopback TCP round trip of a request-sized message.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/loadgen/bench_fsm.h"
#include "bench/loadgen/histogram.h"
#include "common/trace.h"
#include "engine/node/async_client.h"
#include "engine/node/client.h"
#include "examples/memstore/kv_state_machine.h"
#include "net/address.h"
#include "net/frame.h"
#include "net/handshake.h"
#include "net/socket.h"
#include "protocol/client_codec.h"
#include "protocol/client_errors.h"
#include "storage/log_env.h"

namespace raft::bench {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "ringraft_loadgen: %s\n", what.c_str());
  std::exit(1);
}

// ---------------------------------------------------------------- options

struct NodeProc {
  int pid = 0;
  std::string metrics;  // Data dir (SIGUSR1 + metrics.txt), http:// URL, or empty.
};

struct Options {
  std::vector<std::string> nodes;
  uint32_t groups = 1;
  uint32_t conns = 0;  // 0: min(window, 16) (closed) or 16 (open), at least one per group.
  uint32_t window = 1;
  double rate = 0;  // > 0: open loop.
  size_t size = 128;
  double duration = 10;
  double warmup = 2;
  double drain_timeout = 10;
  uint32_t max_batch = 512;
  uint32_t max_outstanding = 100000;  // Open loop: cap on requests in flight.
  uint32_t verify_sample = 200;
  uint64_t cluster_id = 1;
  uint64_t seed = 1;
  ClientOptions::Tls tls;  // --cacert / --cert / --key / --server-name.
  std::string key_prefix;
  std::string label;
  std::vector<NodeProc> procs;
  std::string probe_dir;
  double probe_seconds = 2;
  bool json = false;
  bool no_verify = false;
  bool sessions = true;  // Puts in a client session per group (exactly-once).
  bool route = true;     // Connections per shard, each put to its group's shard.
  // --wake K: instead of the load, one put to each of groups
  // wake_first..wake_first+K-1 in turn (W=1, expected quiesced), timed, then
  // a second put to the same group (awake by then), timed.
  uint32_t wake = 0;
  uint32_t wake_first = 1;
  uint32_t wake_gap_ms = 20;  // Pause before each put of the probe.
};

constexpr char kUsage[] = R"(usage: ringraft_loadgen --nodes HOST:PORT[,...] [options]
  --groups G            keys spread over groups 1..G (each must exist on the nodes) [1]
  --window W            closed loop: W puts in flight [1]
  --rate R              open loop: R puts/s on a fixed schedule (latency from schedule)
  --conns C             connections per node [min(W,16); open loop 16]
  --size BYTES          value bytes per put [128]
  --duration S          measured seconds (bounded: <= 600) [10]
  --warmup S            seconds before measuring [2]
  --drain-timeout S     wait for replies in flight at the end [10]
  --max-batch N         requests per frame at most [512]
  --node PID[:METRICS]  measure this node process (repeat, in the order of
                        --nodes); METRICS: its data dir
                        (SIGUSR1 -> DIR/metrics.txt) or http://host:port/metrics
  --verify-sample N     linearizable reads of N acknowledged keys [200]; --no-verify
  --probe DIR           first measure LMDB 1-entry commit latency (in DIR) and
                        loopback RTT [--probe-seconds 2]
  --no-sessions         plain puts (default: in one client session per group,
                        exactly-once, an unknown outcome retried)
  --no-route            every connection to shard 0 of its node (default: to
                        the shard that owns the put's group, group % shards,
                        --conns split over the shards, at least one each)
  --cacert FILE [--cert FILE --key FILE] [--server-name N]
                        TLS to the nodes (their [tls])
  --wake K [--wake-first G] [--wake-gap-ms MS]
                        wake-up probe instead of the load: for each of groups
                        G..G+K-1 in turn, one put (the first since the group
                        quiesced), then a second one, each after a pause of
                        MS [20] (so that both follow an idle cluster);
                        prints both latencies
  --cluster-id N --seed N --key-prefix P --label TEXT --json)";

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    auto num = [&](auto* out) {
      std::string v = next();
      if (!absl::SimpleAtoi(v, out)) die(a + ": not a number: " + v);
    };
    auto dbl = [&](double* out) {
      std::string v = next();
      if (!absl::SimpleAtod(v, out)) die(a + ": not a number: " + v);
    };
    if (a == "--cacert") {
      o.tls.ca_file = next();
    } else if (a == "--cert") {
      o.tls.cert_file = next();
    } else if (a == "--key") {
      o.tls.key_file = next();
    } else if (a == "--server-name") {
      o.tls.server_name = next();
    } else if (a == "--nodes") {
      o.nodes = absl::StrSplit(next(), ',', absl::SkipEmpty());
    } else if (a == "--groups") {
      num(&o.groups);
    } else if (a == "--window") {
      num(&o.window);
    } else if (a == "--rate") {
      dbl(&o.rate);
    } else if (a == "--conns") {
      num(&o.conns);
    } else if (a == "--size") {
      num(&o.size);
    } else if (a == "--duration") {
      dbl(&o.duration);
    } else if (a == "--warmup") {
      dbl(&o.warmup);
    } else if (a == "--drain-timeout") {
      dbl(&o.drain_timeout);
    } else if (a == "--max-batch") {
      num(&o.max_batch);
    } else if (a == "--max-outstanding") {
      num(&o.max_outstanding);
    } else if (a == "--verify-sample") {
      num(&o.verify_sample);
    } else if (a == "--no-verify") {
      o.no_verify = true;
    } else if (a == "--no-sessions") {
      o.sessions = false;
    } else if (a == "--no-route") {
      o.route = false;
    } else if (a == "--cluster-id") {
      num(&o.cluster_id);
    } else if (a == "--seed") {
      num(&o.seed);
    } else if (a == "--key-prefix") {
      o.key_prefix = next();
    } else if (a == "--wake") {
      num(&o.wake);
    } else if (a == "--wake-first") {
      num(&o.wake_first);
    } else if (a == "--wake-gap-ms") {
      num(&o.wake_gap_ms);
    } else if (a == "--label") {
      o.label = next();
    } else if (a == "--node") {
      std::string v = next();
      NodeProc p;
      size_t colon = v.find(':');
      if (!absl::SimpleAtoi(v.substr(0, colon), &p.pid) || p.pid <= 0) die("--node: bad pid " + v);
      if (colon != std::string::npos) p.metrics = v.substr(colon + 1);
      o.procs.push_back(p);
    } else if (a == "--probe") {
      o.probe_dir = next();
    } else if (a == "--probe-seconds") {
      dbl(&o.probe_seconds);
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--help" || a == "-h") {
      std::puts(kUsage);
      std::exit(0);
    } else {
      die("unknown argument " + a + "\n" + kUsage);
    }
  }
  if (o.nodes.empty()) die(std::string("--nodes is required\n") + kUsage);
  if (o.groups == 0 || o.window == 0 || o.size == 0) die("groups, window, size must be > 0");
  if (!(o.duration > 0 && o.duration <= 600) || o.warmup < 0 || o.warmup > 120) {
    die("--duration must be in (0, 600], --warmup in [0, 120]");
  }
  if (o.conns == 0) o.conns = o.rate > 0 ? 16 : std::min<uint32_t>(o.window, 16);
  if (o.rate <= 0) o.conns = std::min(o.conns, o.window);
  if (o.key_prefix.empty()) {
    o.key_prefix = absl::StrCat("lg", ::getpid(), "-", std::time(nullptr) % 100000, "-");
  }
  return o;
}

// ---------------------------------------------------------------- keys

std::string key_of(const Options& o, uint64_t seq) { return absl::StrCat(o.key_prefix, seq); }

// A value of `size` bytes derived from the sequence number.
void append_value(std::string* out, uint64_t seq, size_t size) {
  char head[24];
  int n = std::snprintf(head, sizeof(head), "%016llx", static_cast<unsigned long long>(seq));
  for (size_t i = 0; i < size; ++i) {
    out->push_back(i < static_cast<size_t>(n) ? head[i] : static_cast<char>('a' + (i + seq) % 26));
  }
}

std::string value_of(uint64_t seq, size_t size) {
  std::string v;
  append_value(&v, seq, size);
  return v;
}

// Appends memstore's put encoding of (key_of(seq), value_of(seq)).
void append_put(const Options& o, uint64_t seq, std::string* out) {
  const std::string key = key_of(o, seq);
  uint32_t kl = static_cast<uint32_t>(key.size());
  uint32_t vl = static_cast<uint32_t>(o.size);
  out->push_back('P');
  out->append(reinterpret_cast<const char*>(&kl), 4);
  out->append(key);
  out->append(reinterpret_cast<const char*>(&vl), 4);
  append_value(out, seq, o.size);
}

// ---------------------------------------------------------------- /proc

struct ProcSample {
  double cpu_s = 0;
  uint64_t write_bytes = 0;
  bool ok = false;
};

ProcSample sample_proc(int pid) {
  ProcSample s;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return s;
  size_t rp = line.rfind(')');
  if (rp == std::string::npos) return s;
  std::vector<std::string> f = absl::StrSplit(line.substr(rp + 2), ' ');
  // After "pid (comm) ": field 3 is f[0]; utime = field 14, stime = field 15.
  uint64_t ut = 0, st = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &ut) || !absl::SimpleAtoi(f[12], &st)) return s;
  s.cpu_s = static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream io(absl::StrCat("/proc/", pid, "/io"));
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "write_bytes:") s.write_bytes = value;
  }
  s.ok = true;
  return s;
}

// The block devices holding the nodes' data: the data dir's (when METRICS is
// one) or else the process's working directory's.
std::vector<dev_t> node_devices(const std::vector<NodeProc>& procs) {
  std::vector<dev_t> out;
  for (const NodeProc& p : procs) {
    struct stat st {};
    const bool is_dir = !p.metrics.empty() && p.metrics.rfind("http", 0) != 0;
    const std::string path = is_dir ? p.metrics : absl::StrCat("/proc/", p.pid, "/cwd");
    if (::stat(path.c_str(), &st) != 0) continue;
    if (std::find(out.begin(), out.end(), st.st_dev) == out.end()) out.push_back(st.st_dev);
  }
  return out;
}

struct DiskSample {
  std::string names;  // Device names, comma separated.
  uint64_t bytes_written = 0;
  uint64_t flushes = 0;
  bool ok = false;
};

// Sectors written (512 bytes each) and flush requests completed, summed
// over `devices`, from /proc/diskstats.
DiskSample sample_disks(const std::vector<dev_t>& devices) {
  DiskSample s;
  std::ifstream in("/proc/diskstats");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    unsigned maj = 0, min = 0;
    uint64_t sectors = 0, flushes = 0;
    if (f.size() < 10 || !absl::SimpleAtoi(f[0], &maj) || !absl::SimpleAtoi(f[1], &min)) continue;
    if (std::find(devices.begin(), devices.end(), makedev(maj, min)) == devices.end()) continue;
    if (!absl::SimpleAtoi(f[9], &sectors)) continue;
    if (f.size() >= 19) (void)absl::SimpleAtoi(f[18], &flushes);
    s.names += (s.names.empty() ? "" : ",") + f[2];
    s.bytes_written += sectors * 512;
    s.flushes += flushes;
    s.ok = true;
  }
  return s;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Machine-wide busy CPU seconds (user+nice+system+irq+softirq+steal).
double machine_busy_s() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {};
  in >> cpu;
  for (auto& x : v) in >> x;
  return static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ---------------------------------------------------------------- metrics

using Metrics = std::map<std::string, double>;

Metrics parse_prometheus(const std::string& text) {
  Metrics m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    double v = 0;
    if (absl::SimpleAtod(line.substr(sp + 1), &v)) m[line.substr(0, sp)] = v;
  }
  return m;
}

std::optional<std::string> http_get(const std::string& url) {
  // http://host:port/path
  std::string rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto addrs = net::resolve_blocking(hostport);  // Literal or host name.
  if (!addrs.ok()) return std::nullopt;
  const net::SocketAddress& addr = addrs->front();
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (::connect(fd, addr.get(), addr.length) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string req =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", hostport, "\r\nConnection: close\r\n\r\n");
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string resp;
  char buf[16384];
  size_t want = std::string::npos;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
    size_t hdr = resp.find("\r\n\r\n");
    if (hdr != std::string::npos && want == std::string::npos) {
      std::string head = resp.substr(0, hdr);
      for (auto& c : head) c = static_cast<char>(std::tolower(c));
      size_t cl = head.find("content-length:");
      if (cl != std::string::npos) {
        size_t len = 0;
        std::string v = head.substr(cl + 15, head.find("\r\n", cl) - cl - 15);
        if (absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &len)) want = hdr + 4 + len;
      }
    }
    if (want != std::string::npos && resp.size() >= want) break;
  }
  ::close(fd);
  size_t hdr = resp.find("\r\n\r\n");
  if (hdr == std::string::npos) return std::nullopt;
  return resp.substr(hdr + 4);
}

std::optional<Metrics> fetch_metrics(const NodeProc& p) {
  if (p.metrics.empty()) return std::nullopt;
  if (p.metrics.rfind("http://", 0) == 0) {
    auto body = http_get(p.metrics);
    if (!body) return std::nullopt;
    return parse_prometheus(*body);
  }
  const std::string file = p.metrics + "/metrics.txt";
  std::remove(file.c_str());
  if (::kill(p.pid, SIGUSR1) != 0) return std::nullopt;
  auto deadline = Clock::now() + std::chrono::seconds(3);
  while (Clock::now() < deadline) {
    std::ifstream in(file);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      return parse_prometheus(ss.str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return std::nullopt;
}

struct NodeSnapshot {
  ProcSample proc;
  std::optional<Metrics> metrics;
};

std::vector<NodeSnapshot> snapshot_nodes(const std::vector<NodeProc>& procs) {
  std::vector<NodeSnapshot> out(procs.size());
  for (size_t i = 0; i < procs.size(); ++i) out[i].proc = sample_proc(procs[i].pid);
  return out;
}

void add_metrics(const std::vector<NodeProc>& procs, std::vector<NodeSnapshot>* snaps) {
  for (size_t i = 0; i < procs.size(); ++i) (*snaps)[i].metrics = fetch_metrics(procs[i]);
}

// ---------------------------------------------------------------- probe

struct ProbeResult {
  LatencyHistogram lmdb;
  LatencyHistogram rtt;
  std::string error;
};

ProbeResult run_probe(const Options& o) {
  ProbeResult r;
  const double each = o.probe_seconds / 2;
  {
    const std::string dir = o.probe_dir + "/loadgen-probe-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    storage::EnvOptions eo;
    eo.dir = dir + "/shard-0";
    auto env = storage::LogEnv::open(eo);
    if (!env.ok()) {
      r.error = std::string(env.status().message());
    } else {
      const Slice payload(std::string(o.size + 32, 'x'));
      Index next = 1;
      auto end = Clock::now() + std::chrono::duration<double>(each);
      while (Clock::now() < end) {
        storage::WriteBatch batch;
        batch.append(1, std::vector<Entry>{Entry{1, next, EntryType::kNormal, payload}});
        batch.set_hard_state(1, HardState{1, 1, next});
        ++next;
        uint64_t t0 = now_ns();
        if (auto s = (*env)->write(batch); !s.ok()) {
          r.error = std::string(s.message());
          break;
        }
        r.lmdb.record(now_ns() - t0);
      }
      env->reset();
    }
    std::filesystem::remove_all(dir);
  }
  {
    // Loopback ping-pong between two threads, a request-sized message each way.
    auto addr = net::parse_address("127.0.0.1:0");
    auto lfd = net::listen_tcp(*addr, 4);
    if (!lfd.ok()) {
      r.error = std::string(lfd.status().message());
      return r;
    }
    int fl = ::fcntl(*lfd, F_GETFL);
    ::fcntl(*lfd, F_SETFL, fl & ~O_NONBLOCK);
    net::SocketAddress bound = net::local_address(*lfd);
    const size_t msg = o.size + 64;
    std::atomic<bool> stop{false};
    std::thread echo([&] {
      int c = ::accept(*lfd, nullptr, nullptr);
      if (c < 0) return;
      net::set_nodelay(c);
      std::string buf(msg, '\0');
      while (!stop.load()) {
        size_t got = 0;
        while (got < msg) {
          ssize_t n = ::recv(c, buf.data() + got, msg - got, 0);
          if (n <= 0) {
            ::close(c);
            return;
          }
          got += static_cast<size_t>(n);
        }
        if (::send(c, buf.data(), msg, MSG_NOSIGNAL) != static_cast<ssize_t>(msg)) break;
      }
      ::close(c);
    });
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd, bound.get(), bound.length) == 0) {
      net::set_nodelay(fd);
      std::string buf(msg, 'p');
      auto end = Clock::now() + std::chrono::duration<double>(each);
      while (Clock::now() < end) {
        uint64_t t0 = now_ns();
        if (::send(fd, buf.data(), msg, MSG_NOSIGNAL) != static_cast<ssize_t>(msg)) break;
        size_t got = 0;
        bool ok = true;
        while (got < msg) {
          ssize_t n = ::recv(fd, buf.data() + got, msg - got, 0);
          if (n <= 0) {
            ok = false;
            break;
          }
          got += static_cast<size_t>(n);
        }
        if (!ok) break;
        r.rtt.record(now_ns() - t0);
      }
    }
    stop.store(true);
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    echo.join();
    ::close(*lfd);
  }
  return r;
}

// ---------------------------------------------------------------- load

struct GroupTally {
  uint64_t acked = 0;
  uint64_t digest = 0;
  uint64_t unknown = 0;  // Outcome unknown (connection lost, timeout).
  uint64_t refused = 0;  // Answered with an error: not applied.
};

struct RunResult {
  double measured_s = 0;
  uint64_t measured_ops = 0;
  LatencyHistogram latency;
  uint64_t total_acked = 0, total_refused = 0, total_unknown = 0, sent = 0;
  std::map<std::string, uint64_t> errors;            // By message (first words).
  std::vector<GroupTally> groups;                    // [g-1]
  std::vector<std::pair<GroupId, uint64_t>> sample;  // Acked (group, seq).
  std::vector<NodeSnapshot> before, after;
  double loadgen_cpu_s = 0;
  double machine_busy_s = 0;
  DiskSample disk_before, disk_after;
  bool drained = true;
  std::vector<std::string> leaders;
};

// The load goes through one raft::AsyncClient (the project's one client
// stack): its IO thread sends, receives and runs the completions, which in
// the closed loop send the next put at once. This thread keeps the clock:
// the phases (warm-up, measurement, drain), the open loop's schedule and
// the /proc samples. What the completions tally is read only after the
// client is gone.
class LoadRunner {
 public:
  explicit LoadRunner(const Options& o) : o_(o), rng_(o.seed) {}

  RunResult run() {
    RunResult res;
    res.groups.resize(o_.groups);
    res_ = &res;
    ClientOptions co;
    co.cluster_id = o_.cluster_id;
    co.seed = o_.seed;
    co.connections_per_node = o_.conns;
    co.route_by_shard = o_.route;
    co.max_batch = o_.max_batch;
    co.tls = o_.tls;
    co.request_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(std::max(10.0, o_.drain_timeout) * 1000));
    client_ = std::make_unique<AsyncClient>(o_.nodes, co);
    // Start times by sequence number, in a ring far longer than what can be
    // in flight within a request timeout.
    start_ns_.assign(size_t{1} << 21, 0);
    start_mask_ = start_ns_.size() - 1;
    // Leaders first: the client then sends each group's puts to its leader.
    for (GroupId g = 1; g <= o_.groups; ++g) {
      std::string addr = o_.nodes[(g - 1) % o_.nodes.size()];
      for (int attempt = 0; attempt < 50; ++attempt) {
        auto l = client_->leader(g).get();
        if (l.ok() && !l->address.empty()) {
          addr = l->address;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      res.leaders.push_back(addr);
    }
    if (o_.sessions && !open_sessions()) {
      res.errors["could not open a client session"] = 1;
      res.drained = false;
      return res;
    }
    const uint64_t t0 = now_ns();
    const uint64_t warm_end = t0 + static_cast<uint64_t>(o_.warmup * 1e9);
    const uint64_t meas_end = warm_end + static_cast<uint64_t>(o_.duration * 1e9);
    const bool open = o_.rate > 0;
    open_ = open;
    const double interval_ns = open ? 1e9 / o_.rate : 0;
    uint64_t scheduled = 0;  // Open loop: requests scheduled so far.
    double cpu0 = 0, busy0 = 0;
    uint64_t wall0 = 0;
    bool measuring = false;
    bool sending = true;
    uint64_t drain_deadline = 0;
    const std::vector<dev_t> devices = node_devices(o_.procs);
    if (!open) {
      std::vector<uint64_t> starts(o_.window, now_ns());
      send_puts(starts);
    }
    std::vector<uint64_t> due_now;
    for (;;) {
      uint64_t now = now_ns();
      if (!measuring && now >= warm_end) {
        // Engine counters first (it takes a few ms), then the CPU and clock.
        measuring = true;
        res.before.resize(o_.procs.size());
        add_metrics(o_.procs, &res.before);
        std::vector<NodeSnapshot> procs = snapshot_nodes(o_.procs);
        for (size_t i = 0; i < procs.size(); ++i) res.before[i].proc = procs[i].proc;
        cpu0 = self_cpu_s();
        busy0 = machine_busy_s();
        res.disk_before = sample_disks(devices);
        wall0 = now_ns();
        measure_from_.store(wall0, std::memory_order_release);
      }
      if (sending && now >= meas_end) {
        sending = false;
        sending_.store(false, std::memory_order_release);
        const uint64_t wall1 = now_ns();
        measure_to_.store(wall1, std::memory_order_release);
        res.after = snapshot_nodes(o_.procs);
        res.disk_after = sample_disks(devices);
        res.loadgen_cpu_s = self_cpu_s() - cpu0;
        res.machine_busy_s = machine_busy_s() - busy0;
        res.measured_s = static_cast<double>(wall1 - wall0) / 1e9;
        add_metrics(o_.procs, &res.after);
        drain_deadline = now_ns() + static_cast<uint64_t>(o_.drain_timeout * 1e9);
      }
      const uint64_t outstanding = outstanding_.load(std::memory_order_acquire);
      if (!sending && outstanding == 0 && backlog_head_ == backlog_times_.size()) break;
      if (!sending && now_ns() >= drain_deadline) {
        res.drained = false;
        break;
      }
      if (open && sending) {
        // Every request whose time has come is scheduled now; it is sent when
        // the in-flight cap allows, its latency counted from its schedule.
        uint64_t due = static_cast<uint64_t>((static_cast<double>(now - t0)) / interval_ns) + 1;
        while (scheduled < due) {
          backlog_times_.push_back(t0 + static_cast<uint64_t>(scheduled * interval_ns));
          ++scheduled;
        }
      }
      if (open) {
        due_now.clear();
        uint64_t room = o_.max_outstanding > outstanding ? o_.max_outstanding - outstanding : 0;
        while (backlog_head_ < backlog_times_.size() && room > 0) {
          due_now.push_back(backlog_times_[backlog_head_++]);
          --room;
        }
        if (!due_now.empty()) send_puts(due_now);
        if (backlog_head_ > 4096 && backlog_head_ * 2 > backlog_times_.size()) {
          backlog_times_.erase(backlog_times_.begin(),
                               backlog_times_.begin() + static_cast<ptrdiff_t>(backlog_head_));
          backlog_head_ = 0;
        }
      }
      // Sleep until the next scheduled put (open loop) or the next phase.
      uint64_t wake = now_ns() + (open ? 2000000 : 10000000);
      if (open && sending) {
        wake = std::min(wake,
                        t0 + static_cast<uint64_t>(static_cast<double>(scheduled) * interval_ns));
      }
      if (!measuring) wake = std::min(wake, warm_end);
      if (sending) wake = std::min(wake, meas_end);
      const uint64_t n2 = now_ns();
      if (wake > n2) std::this_thread::sleep_for(std::chrono::nanoseconds(wake - n2));
    }
    // What is still in flight completes now (Cancelled, unknown if sent).
    client_.reset();
    res.sent = sent_.load();
    res.sample = std::move(sample_);
    return res;
  }

 private:
  // The put of `seq` in one allocation (bytes and reference count).
  static Slice put_slice_of(const Options& o, uint64_t seq, std::string* scratch) {
    scratch->clear();
    append_put(o, seq, scratch);
    std::shared_ptr<char[]> bytes = std::make_shared<char[]>(scratch->size());
    std::memcpy(bytes.get(), scratch->data(), scratch->size());
    std::string_view view(bytes.get(), scratch->size());
    return Slice(std::move(bytes), view);
  }
  Slice put_slice(uint64_t seq) {
    thread_local std::string scratch;
    return put_slice_of(o_, seq, &scratch);
  }

  // Sessions: one per group. Put `seq` is sequence seq / groups + 1 of its
  // group's session; the floor is the lowest sequence not completed yet,
  // advanced on the IO thread as completions come in.
  struct GroupSession {
    uint64_t id = 0;
    std::vector<uint8_t> done;  // Ring of completed sequences (IO thread).
    std::atomic<uint64_t> floor{1};
  };
  static constexpr size_t kSessionRing = size_t{1} << 18;  // > puts in flight per group.

  bool open_sessions() {
    sessions_ = std::vector<GroupSession>(o_.groups);
    for (GroupId g = 1; g <= o_.groups; ++g) {
      protocol::ClientRequest r;
      r.group = g;
      r.kind = protocol::RequestKind::kPropose;
      r.session_op = protocol::SessionOp::kOpen;
      std::promise<absl::StatusOr<protocol::ClientResponse>> p;
      auto f = p.get_future();
      client_->call(std::move(r), [&p](absl::StatusOr<protocol::ClientResponse>&& resp,
                                       const CallInfo&) { p.set_value(std::move(resp)); });
      absl::StatusOr<protocol::ClientResponse> resp = f.get();
      const absl::Status s = resp.ok() ? protocol::response_status(*resp) : resp.status();
      if (!s.ok()) {
        std::fprintf(stderr, "loadgen: opening a session for group %" PRIu64 ": %s\n", g,
                     s.ToString().c_str());
        return false;
      }
      sessions_[g - 1].id = resp->index;
      sessions_[g - 1].done.assign(kSessionRing, 0);
    }
    return true;
  }

  void in_session(uint64_t seq, protocol::ClientRequest& r) {
    if (sessions_.empty()) return;
    GroupSession& s = sessions_[r.group - 1];
    r.session = s.id;
    r.sequence = seq / o_.groups + 1;
    r.floor = s.floor.load(std::memory_order_acquire);
  }

  // IO thread: `seq` completed (answered or given up).
  void session_done(uint64_t seq) {
    if (sessions_.empty()) return;
    GroupSession& s = sessions_[seq % o_.groups];
    const uint64_t sequence = seq / o_.groups + 1;
    s.done[sequence & (kSessionRing - 1)] = 1;
    uint64_t floor = s.floor.load(std::memory_order_relaxed);
    while (s.done[floor & (kSessionRing - 1)] != 0) {
      s.done[floor & (kSessionRing - 1)] = 0;
      ++floor;
    }
    s.floor.store(floor, std::memory_order_release);
  }

  // One put (the closed loop's refill, from a completion).
  void send_put(uint64_t start) {
    const uint64_t seq = next_seq_.fetch_add(1, std::memory_order_relaxed);
    protocol::ClientRequest r;
    r.group = seq % o_.groups + 1;
    r.kind = protocol::RequestKind::kPropose;
    r.data = put_slice(seq);
    in_session(seq, r);
    start_ns_[seq & start_mask_] = start;
    sent_.fetch_add(1, std::memory_order_relaxed);
    outstanding_.fetch_add(1, std::memory_order_acq_rel);
    RAFT_TRACE_POINT("lg_send");
    client_->call(std::move(r),
                  [this, seq](absl::StatusOr<protocol::ClientResponse>&& resp, const CallInfo&) {
                    on_done(seq, start_ns_[seq & start_mask_], resp);
                  });
  }

  // One put per start time, queued together.
  void send_puts(const std::vector<uint64_t>& starts) {
    std::vector<protocol::ClientRequest> requests(starts.size());
    std::vector<RawCallback> done;
    done.reserve(starts.size());
    for (size_t k = 0; k < starts.size(); ++k) {
      const uint64_t seq = next_seq_.fetch_add(1, std::memory_order_relaxed);
      protocol::ClientRequest& r = requests[k];
      r.group = seq % o_.groups + 1;
      r.kind = protocol::RequestKind::kPropose;
      r.data = put_slice(seq);
      in_session(seq, r);
      start_ns_[seq & start_mask_] = starts[k];
      // Two words: the callback stays inside AnyInvocable (no allocation).
      done.push_back([this, seq](absl::StatusOr<protocol::ClientResponse>&& resp, const CallInfo&) {
        on_done(seq, start_ns_[seq & start_mask_], resp);
      });
    }
    sent_.fetch_add(starts.size(), std::memory_order_relaxed);
    outstanding_.fetch_add(starts.size(), std::memory_order_acq_rel);
    RAFT_TRACE_POINT("lg_send");
    if (requests.size() == 1) {
      client_->call(std::move(requests[0]), std::move(done[0]));
    } else {
      client_->call_batch(std::move(requests), std::move(done));
    }
  }

  // On the client's IO thread.
  void on_done(uint64_t seq, uint64_t start_ns, const absl::StatusOr<protocol::ClientResponse>& r) {
    RAFT_TRACE_POINT("lg_recv");
    session_done(seq);
    const uint64_t now = now_ns();
    const GroupId group = seq % o_.groups + 1;
    GroupTally& t = res_->groups[group - 1];
    const absl::Status status = r.ok() ? protocol::response_status(*r) : r.status();
    if (status.ok()) {
      ++t.acked;
      ++res_->total_acked;
      t.digest += key_digest(key_of(o_, seq));
      if (start_ns >= measure_from_.load(std::memory_order_acquire) &&
          now <= measure_to_.load(std::memory_order_acquire)) {
        res_->latency.record(now - start_ns);
        ++res_->measured_ops;
      }
      // Reservoir sample of acknowledged keys for the verification reads.
      ++acked_seen_;
      if (sample_.size() < o_.verify_sample) {
        sample_.emplace_back(group, seq);
      } else if (o_.verify_sample > 0) {
        uint64_t j = std::uniform_int_distribution<uint64_t>(0, acked_seen_ - 1)(rng_);
        if (j < sample_.size()) sample_[j] = {group, seq};
      }
    } else {
      std::string msg(status.message().substr(0, 60));
      ++res_->errors[absl::StrCat(absl::StatusCodeToString(status.code()), ": ", msg)];
      if (outcome_of(status) == Outcome::kUnknown) {
        // It may have been applied.
        ++t.unknown;
        ++res_->total_unknown;
      } else {
        ++t.refused;
        ++res_->total_refused;
      }
    }
    if (!open_ && sending_.load(std::memory_order_acquire)) send_put(now);
    outstanding_.fetch_sub(1, std::memory_order_acq_rel);
  }

  const Options& o_;
  std::mt19937_64 rng_;  // IO thread.
  std::unique_ptr<AsyncClient> client_;
  std::vector<uint64_t> start_ns_;  // [seq & start_mask_]: send (closed) or scheduled (open) time.
  uint64_t start_mask_ = 0;
  bool open_ = false;
  std::atomic<bool> sending_{true};
  std::atomic<uint64_t> outstanding_{0};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> next_seq_{0};
  std::vector<GroupSession> sessions_;  // Empty without sessions.
  std::atomic<uint64_t> measure_from_{UINT64_MAX};
  std::atomic<uint64_t> measure_to_{UINT64_MAX};
  std::vector<uint64_t> backlog_times_;  // Open loop: scheduled, not sent yet.
  size_t backlog_head_ = 0;
  uint64_t acked_seen_ = 0;                           // IO thread.
  std::vector<std::pair<GroupId, uint64_t>> sample_;  // IO thread.
  RunResult* res_ = nullptr;
};

// ---------------------------------------------------------------- verify

struct Verification {
  std::string count_check = "skipped";  // ok / FAILED ... / unsupported
  std::string sample_check = "skipped";
  bool ok = true;
  uint64_t sample_reads = 0;
};

std::optional<BenchCounts> read_counts(Client& client, GroupId g, std::string* why) {
  auto r = client.read(g, std::string(kCountQuery), ReadConsistency::kLinearizable);
  if (!r.ok()) {
    *why = std::string(r.status().message());
    return std::nullopt;
  }
  auto c = parse_counts(*r);
  if (!c.ok()) {
    *why = std::string(c.status().message());
    return std::nullopt;
  }
  return *c;
}

Verification verify(const Options& o, const RunResult& res,
                    const std::vector<std::optional<BenchCounts>>& before) {
  Verification v;
  Client client(o.nodes,
                ClientOptions{.cluster_id = o.cluster_id, .seed = o.seed + 7, .tls = o.tls});
  std::vector<std::string> notes;
  bool counted = false;
  for (GroupId g = 1; g <= o.groups; ++g) {
    const GroupTally& t = res.groups[g - 1];
    if (!before[g - 1]) {
      notes.push_back(absl::StrCat("g", g, ": no count query"));
      continue;
    }
    std::string why;
    auto after = read_counts(client, g, &why);
    if (!after) {
      v.ok = false;
      notes.push_back(absl::StrCat("g", g, ": count read failed: ", why));
      continue;
    }
    counted = true;
    const uint64_t applied = after->count - before[g - 1]->count;
    const uint64_t digest = after->digest - before[g - 1]->digest;
    if (t.unknown == 0) {
      bool good = applied == t.acked && digest == t.digest;
      v.ok = v.ok && good;
      notes.push_back(absl::StrCat("g", g, ": applied ", applied, " acked ", t.acked,
                                   good ? " digest equal" : " MISMATCH"));
    } else {
      bool good = applied >= t.acked && applied <= t.acked + t.unknown;
      v.ok = v.ok && good;
      notes.push_back(absl::StrCat("g", g, ": applied ", applied, " acked ", t.acked, " unknown ",
                                   t.unknown, good ? " (in range)" : " OUT OF RANGE"));
    }
  }
  v.count_check = counted ? absl::StrJoin(notes, "; ")
                          : "unsupported by the nodes (" + absl::StrJoin(notes, "; ") + ")";
  // Sampled linearizable reads of acknowledged keys.
  uint64_t good = 0, unsupported = 0, bad = 0;
  std::string first_bad;
  for (const auto& [g, seq] : res.sample) {
    auto r = client.read(g, key_of(o, seq), ReadConsistency::kLinearizable);
    if (!r.ok()) {
      if (r.status().code() == absl::StatusCode::kUnimplemented) {
        ++unsupported;
        break;
      }
      ++bad;
      if (first_bad.empty()) first_bad = std::string(r.status().message());
      continue;
    }
    if (*r == value_of(seq, o.size)) {
      ++good;
    } else {
      ++bad;
      if (first_bad.empty()) first_bad = "value differs for " + key_of(o, seq);
    }
  }
  v.sample_reads = good + bad;
  if (unsupported > 0) {
    v.sample_check = "unsupported (node keeps no values; use bench_node --fsm kv or memstore)";
  } else if (!res.sample.empty()) {
    v.sample_check = absl::StrCat(good, "/", good + bad, " acknowledged keys read back",
                                  bad ? " FAILED: " + first_bad : "");
    v.ok = v.ok && bad == 0;
  }
  if (!res.drained) v.ok = false;
  return v;
}

// ---------------------------------------------------------------- report

double metric_delta(const RunResult& r, const std::string& name, size_t* nodes_with) {
  double sum = 0;
  *nodes_with = 0;
  for (size_t i = 0; i < r.before.size() && i < r.after.size(); ++i) {
    if (!r.before[i].metrics || !r.after[i].metrics) continue;
    auto a = r.before[i].metrics->find(name);
    auto b = r.after[i].metrics->find(name);
    if (a == r.before[i].metrics->end() || b == r.after[i].metrics->end()) continue;
    sum += b->second - a->second;
    ++*nodes_with;
  }
  return sum;
}

// Median LMDB commit latency of node i during the run, in µs, from the
// deltas of its ringraft_commit_latency_seconds histogram (linear inside the
// bucket); -1 without the histogram or without commits.
double commit_p50_us(const RunResult& r, size_t i) {
  if (i >= r.before.size() || i >= r.after.size() || !r.before[i].metrics || !r.after[i].metrics)
    return -1;
  const std::string prefix = "ringraft_commit_latency_seconds_bucket{le=\"";
  std::vector<std::pair<double, double>> buckets;  // (upper bound us, cumulative delta)
  for (const auto& [key, after] : *r.after[i].metrics) {
    if (key.rfind(prefix, 0) != 0) continue;
    const std::string le = key.substr(prefix.size(), key.size() - prefix.size() - 2);
    double bound = 0;
    if (le == "+Inf") {
      bound = std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(le, &bound)) {
      continue;
    }
    auto b = r.before[i].metrics->find(key);
    const double before = b == r.before[i].metrics->end() ? 0 : b->second;
    buckets.emplace_back(bound * 1e6, after - before);
  }
  std::sort(buckets.begin(), buckets.end());
  if (buckets.empty() || buckets.back().second <= 0) return -1;
  const double half = buckets.back().second / 2;
  double lo_bound = 0, lo_count = 0;
  for (const auto& [bound, cumulative] : buckets) {
    if (cumulative >= half) {
      if (std::isinf(bound)) return lo_bound;
      return lo_bound + (bound - lo_bound) * (half - lo_count) / (cumulative - lo_count);
    }
    lo_bound = bound;
    lo_count = cumulative;
  }
  return -1;
}

// Index in --nodes (and --node, given in the same order) of the first
// leader; -1 when unknown.
int leader_index(const Options& o, const RunResult& r) {
  if (r.leaders.empty() || o.procs.size() != o.nodes.size()) return -1;
  for (size_t i = 0; i < o.nodes.size(); ++i) {
    if (o.nodes[i] == r.leaders.front()) return static_cast<int>(i);
  }
  return -1;
}

std::string fmt(double v, int prec = 2) {
  char b[64];
  std::snprintf(b, sizeof(b), "%.*f", prec, v);
  return b;
}

void report(const Options& o, const RunResult& r, const Verification& v,
            const std::optional<ProbeResult>& probe) {
  const double ops_s = r.measured_s > 0 ? r.measured_ops / r.measured_s : 0;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  double node_cpu = 0;
  uint64_t node_wb = 0;
  std::vector<double> cpu(r.before.size());
  std::vector<uint64_t> wb(r.before.size());
  for (size_t i = 0; i < r.before.size(); ++i) {
    cpu[i] = r.after[i].proc.cpu_s - r.before[i].proc.cpu_s;
    wb[i] = r.after[i].proc.write_bytes - r.before[i].proc.write_bytes;
    node_cpu += cpu[i];
    node_wb += wb[i];
  }
  size_t mf = 0, me = 0, mb = 0;
  const double fsyncs = metric_delta(r, "ringraft_journal_writes_total", &mf);
  const double entries = metric_delta(r, "ringraft_entries_persisted_total", &me);
  const double batches = metric_delta(r, "ringraft_write_batches_total", &mb);
  size_t mx = 0;
  const double cross = metric_delta(r, "ringraft_client_cross_shard_total", &mx);
  const double ops = static_cast<double>(r.measured_ops);
  const double cpu_us_op = ops > 0 ? node_cpu * 1e6 / ops : 0;
  const bool disk_ok = r.disk_before.ok && r.disk_after.ok;
  const double dev_bytes =
      disk_ok ? static_cast<double>(r.disk_after.bytes_written - r.disk_before.bytes_written) : 0;
  const double dev_flushes =
      disk_ok ? static_cast<double>(r.disk_after.flushes - r.disk_before.flushes) : 0;
  const double foreign =
      r.measured_s > 0
          ? std::max(0.0, (r.machine_busy_s - node_cpu - r.loadgen_cpu_s) / r.measured_s)
          : 0;
  const std::string mode = o.rate > 0 ? "open" : "closed";
  if (o.json) {
    std::string j = "{";
    auto kv = [&](const std::string& k, const std::string& val, bool quote = false) {
      if (j.size() > 1) j += ",";
      j += "\"" + k + "\":" + (quote ? "\"" + val + "\"" : val);
    };
    auto esc = [](std::string s) {
      std::string out;
      for (char ch : s) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
      }
      return out;
    };
    kv("label", esc(o.label), true);
    kv("mode", mode, true);
    kv("window", std::to_string(o.window));
    kv("rate", fmt(o.rate, 0));
    kv("conns", std::to_string(o.conns));
    kv("route", o.route ? "true" : "false");
    kv("groups", std::to_string(o.groups));
    kv("size", std::to_string(o.size));
    kv("seconds", fmt(r.measured_s, 3));
    kv("ops", std::to_string(r.measured_ops));
    kv("ops_per_s", fmt(ops_s, 1));
    kv("p50_us", fmt(us(r.latency.percentile(50)), 1));
    kv("p99_us", fmt(us(r.latency.percentile(99)), 1));
    kv("p999_us", fmt(us(r.latency.percentile(99.9)), 1));
    kv("max_us", fmt(us(r.latency.max()), 1));
    kv("mean_us", fmt(r.latency.mean() / 1e3, 1));
    kv("sent", std::to_string(r.sent));
    kv("acked", std::to_string(r.total_acked));
    kv("refused", std::to_string(r.total_refused));
    kv("unknown", std::to_string(r.total_unknown));
    kv("node_cpu_s", fmt(node_cpu, 3));
    kv("node_cores", fmt(r.measured_s > 0 ? node_cpu / r.measured_s : 0, 3));
    kv("cpu_us_per_op", fmt(cpu_us_op, 2));
    kv("loadgen_cpu_s", fmt(r.loadgen_cpu_s, 3));
    kv("foreign_cores", fmt(foreign, 2));
    std::string nodes = "[";
    for (size_t i = 0; i < cpu.size(); ++i) {
      nodes += absl::StrCat(i ? "," : "", "{\"pid\":", o.procs[i].pid,
                            ",\"cpu_s\":", fmt(cpu[i], 3), ",\"write_bytes\":", wb[i], "}");
    }
    kv("nodes", nodes + "]");
    kv("fsyncs", mf ? fmt(fsyncs, 0) : "null");
    kv("write_batches", mb ? fmt(batches, 0) : "null");
    kv("entries_persisted", me ? fmt(entries, 0) : "null");
    kv("cross_shard_requests", mx ? fmt(cross, 0) : "null");
    kv("entries_per_fsync", mf && me && fsyncs > 0 ? fmt(entries / fsyncs, 2) : "null");
    kv("fsyncs_per_op", mf && ops > 0 ? fmt(fsyncs / ops, 4) : "null");
    kv("write_bytes", std::to_string(node_wb));
    kv("write_bytes_per_entry", me && entries > 0 ? fmt(node_wb / entries, 1) : "null");
    kv("write_bytes_per_op", ops > 0 ? fmt(node_wb / ops, 1) : "null");
    kv("device", disk_ok ? r.disk_after.names : "", true);
    kv("device_write_bytes", disk_ok ? fmt(dev_bytes, 0) : "null");
    kv("device_write_bytes_per_entry",
       disk_ok && me && entries > 0 ? fmt(dev_bytes / entries, 1) : "null");
    kv("device_write_bytes_per_op", disk_ok && ops > 0 ? fmt(dev_bytes / ops, 1) : "null");
    kv("device_flushes", disk_ok ? fmt(dev_flushes, 0) : "null");
    kv("verified", v.ok ? "true" : "false");
    kv("count_check", esc(v.count_check), true);
    kv("sample_check", esc(v.sample_check), true);
    std::string errs = "{";
    for (const auto& [msg, n] : r.errors) {
      errs += absl::StrCat(errs.size() > 1 ? "," : "", "\"", esc(msg), "\":", n);
    }
    kv("errors", errs + "}");
    std::string commits = "[";
    for (size_t i = 0; i < r.before.size(); ++i) {
      const double p = commit_p50_us(r, i);
      commits += (i ? "," : "") + (p >= 0 ? fmt(p, 1) : std::string("null"));
    }
    kv("commit_p50_us", commits + "]");
    const int li = leader_index(o, r);
    const double leader_commit = li >= 0 ? commit_p50_us(r, static_cast<size_t>(li)) : -1;
    kv("leader_commit_p50_us", leader_commit >= 0 ? fmt(leader_commit, 1) : "null");
    if (probe && leader_commit >= 0) {
      kv("w1_bound_us", fmt(1.2 * (leader_commit + us(probe->rtt.percentile(50))), 1));
    }
    if (probe) {
      kv("probe_lmdb_commit_p50_us", fmt(us(probe->lmdb.percentile(50)), 1));
      kv("probe_lmdb_commit_p99_us", fmt(us(probe->lmdb.percentile(99)), 1));
      kv("probe_rtt_p50_us", fmt(us(probe->rtt.percentile(50)), 1));
      kv("probe_rtt_p99_us", fmt(us(probe->rtt.percentile(99)), 1));
      kv("probe_error", esc(probe->error), true);
    }
    std::printf("%s}\n", j.c_str());
    return;
  }
  std::printf(
      "%s loop: window %u rate %.0f conns %u%s groups %u size %zu B; leaders:", mode.c_str(),
      o.window, o.rate, o.conns, o.route ? "" : " (no-route)", o.groups, o.size);
  for (const auto& l : r.leaders) std::printf(" %s", l.c_str());
  std::printf("\n");
  std::printf(
      "  ops/s        %.0f  (%llu acked in %.2f s; sent %llu, refused %llu, unknown %llu)\n", ops_s,
      static_cast<unsigned long long>(r.measured_ops), r.measured_s,
      static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.total_refused),
      static_cast<unsigned long long>(r.total_unknown));
  std::printf("  latency us   p50 %.0f  p99 %.0f  p99.9 %.0f  max %.0f  mean %.0f\n",
              us(r.latency.percentile(50)), us(r.latency.percentile(99)),
              us(r.latency.percentile(99.9)), us(r.latency.max()), r.latency.mean() / 1e3);
  for (size_t i = 0; i < cpu.size(); ++i) {
    std::printf("  node pid %-7d cpu %.2f s (%.2f cores)  write_bytes %llu\n", o.procs[i].pid,
                cpu[i], r.measured_s > 0 ? cpu[i] / r.measured_s : 0,
                static_cast<unsigned long long>(wb[i]));
  }
  if (!cpu.empty()) {
    std::printf("  nodes cpu    %.2f s = %.2f us/op; loadgen cpu %.2f s; foreign %.2f cores\n",
                node_cpu, cpu_us_op, r.loadgen_cpu_s, foreign);
  }
  if (mf) {
    std::printf(
        "  engine       fsyncs %.0f (%.4f per op)  entries %.0f  entries/fsync %.1f  "
        "write batches %.0f\n",
        fsyncs, ops > 0 ? fsyncs / ops : 0, entries, fsyncs > 0 ? entries / fsyncs : 0, batches);
  }
  if (mx) {
    std::printf("  routing      %.0f client requests took a cross-shard hop (%.4f per op)\n", cross,
                ops > 0 ? cross / ops : 0);
  }
  if (me && entries > 0) {
    std::printf(
        "  disk         %.0f bytes written per entry persisted, %.0f per op "
        "(/proc write_bytes)\n",
        node_wb / entries, ops > 0 ? node_wb / ops : 0);
  }
  if (disk_ok && r.measured_s > 0) {
    std::printf(
        "  device %-6s %.0f bytes per entry persisted, %.0f per op, %.1f MB/s, "
        "%.0f flushes/s (whole device)\n",
        r.disk_after.names.c_str(), me && entries > 0 ? dev_bytes / entries : 0,
        ops > 0 ? dev_bytes / ops : 0, dev_bytes / r.measured_s / 1e6, dev_flushes / r.measured_s);
  }
  {
    std::string line;
    const int li = leader_index(o, r);
    for (size_t i = 0; i < r.before.size(); ++i) {
      const double p = commit_p50_us(r, i);
      if (p < 0) continue;
      absl::StrAppend(&line, line.empty() ? "" : ", ", "node ", i + 1,
                      li == static_cast<int>(i) ? " (leader) " : " ", fmt(p, 0), " us");
    }
    if (!line.empty()) std::printf("  commit p50   %s\n", line.c_str());
    const double leader_commit = li >= 0 ? commit_p50_us(r, static_cast<size_t>(li)) : -1;
    if (probe && leader_commit >= 0) {
      const double bound = 1.2 * (leader_commit + us(probe->rtt.percentile(50)));
      std::printf(
          "  W=1 bound    1.2 x (leader commit p50 %.0f us + loopback RTT p50 %.0f us) = %.0f us; "
          "latency p50 %.0f us = %.2f x bound\n",
          leader_commit, us(probe->rtt.percentile(50)), bound, us(r.latency.percentile(50)),
          us(r.latency.percentile(50)) / bound);
    }
  }
  for (const auto& [msg, n] : r.errors) {
    std::printf("  error x%llu   %s\n", static_cast<unsigned long long>(n), msg.c_str());
  }
  std::printf("  verify       %s\n    count:  %s\n    sample: %s\n", v.ok ? "OK" : "FAILED",
              v.count_check.c_str(), v.sample_check.c_str());
  if (probe) {
    std::printf(
        "  probe        LMDB 1-entry commit p50 %.0f us p99 %.0f us; loopback RTT p50 %.0f us "
        "p99 %.0f us %s\n",
        us(probe->lmdb.percentile(50)), us(probe->lmdb.percentile(99)),
        us(probe->rtt.percentile(50)), us(probe->rtt.percentile(99)), probe->error.c_str());
  }
}

// --wake K: the first put to each of K groups that have been idle (quiesced
// when the nodes quiesce), one at a time, against a second put to the same
// group right after (the group awake: a normal W=1 put). Leaders are looked
// up first (a Leader request is answered from the group's state and wakes
// nothing), so both puts go straight to the leader. Plain puts (no client
// session): compare with a W=1 run with --no-sessions.
int run_wake(const Options& o) {
  ClientOptions co;
  co.cluster_id = o.cluster_id;
  co.seed = o.seed;
  co.connections_per_node = 1;
  co.tls = o.tls;
  co.request_timeout = std::chrono::seconds(10);
  // Plain puts: in a session the first put to a group would first open the
  // session (one more commit), which is not the wake-up's cost.
  co.sessions = false;
  AsyncClient client(o.nodes, co);
  for (uint32_t k = 0; k < o.wake; ++k) {
    const GroupId g = o.wake_first + k;
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto l = client.leader(g).get();
      if (l.ok() && !l->address.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  LatencyHistogram cold, warm;
  uint64_t failed = 0, seq = 0;
  std::string data;
  auto put = [&](GroupId g) -> int64_t {
    std::this_thread::sleep_for(std::chrono::milliseconds(o.wake_gap_ms));
    data.clear();
    append_put(o, seq++, &data);
    const uint64_t t0 = now_ns();
    auto r = client.propose(g, data).get();
    const uint64_t t1 = now_ns();
    if (!r.ok()) {
      ++failed;
      return -1;
    }
    return static_cast<int64_t>(t1 - t0);
  };
  for (uint32_t k = 0; k < o.wake; ++k) {
    const GroupId g = o.wake_first + k;
    const int64_t c = put(g);
    const int64_t w = put(g);
    if (c >= 0) cold.record(static_cast<uint64_t>(c));
    if (w >= 0) warm.record(static_cast<uint64_t>(w));
  }
  auto q = [](const LatencyHistogram& h, double p) {
    return static_cast<double>(h.percentile(p)) / 1000.0;
  };
  std::printf(
      "{\"label\": \"%s\", \"wake_groups\": %u, \"failed\": %llu, \"cold_p50_us\": %.0f, "
      "\"cold_p90_us\": %.0f, \"cold_max_us\": %.0f, \"warm_p50_us\": %.0f, \"warm_p90_us\": "
      "%.0f, \"warm_max_us\": %.0f}\n",
      o.label.c_str(), o.wake, static_cast<unsigned long long>(failed), q(cold, 50), q(cold, 90),
      q(cold, 100), q(warm, 50), q(warm, 90), q(warm, 100));
  return failed == 0 ? 0 : 3;
}

int run_main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Options o = parse_options(argc, argv);
  if (o.wake > 0) return run_wake(o);
  std::optional<ProbeResult> probe;
  if (!o.probe_dir.empty()) probe = run_probe(o);
  std::vector<std::optional<BenchCounts>> before(o.groups);
  if (!o.no_verify) {
    Client client(o.nodes,
                  ClientOptions{.cluster_id = o.cluster_id, .seed = o.seed + 3, .tls = o.tls});
    for (GroupId g = 1; g <= o.groups; ++g) {
      std::string why;
      before[g - 1] = read_counts(client, g, &why);
    }
  }
  LoadRunner runner(o);
  RunResult r = runner.run();
  Verification v;
  if (!o.no_verify) v = verify(o, r, before);
  report(o, r, v, probe);
  return v.ok ? 0 : 3;
}

}  // namespace
}  // namespace raft::bench

int main(int argc, char** argv) { return raft::bench::run_main(argc, argv); }
