// The project's own fault test: a real 3-node memstore cluster under kill -9,
// SIGSTOP/SIGCONT and (as root) network partitions, while client threads
// read and write a few keys through the HTTP API; the history they record is
// then checked for linearizability (tests/nemesis/linearizability.h).
//
//   NEMESIS_SECONDS  length of the faulty phase (default 30)
//   NEMESIS_SEED     the fault schedule and the clients' choices (default 1;
//                    0 draws one); printed at start and on failure
//   NEMESIS_CLIENTS  client threads (4), NEMESIS_KEYS keys (5)
//   NEMESIS_HISTORY  write the whole history to this file (always written,
//                    to nemesis-history-<seed>.txt, on a violation)
//   NEMESIS_STALE_READS=1  self-check: the clients read with ?stale=true,
//                    which is not linearizable; the test must then fail
//   NEMESIS_TRUST_REFUSED=1  writes answered with "outcome":"refused" or
//                    "failed" count as not applied (default: indeterminate,
//                    like any other error but 400)
//   NEMESIS_CHECK_STEPS  the checker's search cap per key (20000000)
//
// The same seed gives the same schedule of faults (kind, target, timing) in
// the same environment: whether partitions are possible changes it. A target
// may be "the leader", resolved when the fault starts.
//
// Partitions. As root the test moves itself into a network namespace of its
// own (unshare(CLONE_NEWNET); the nodes inherit it), so it never touches the
// host's network. Each node listens on its own address (127.0.0.2, .3, .4,
// all on lo) and runs as its own uid (setpriv). Outgoing connections are not
// bound to the node's address, so the source address does not name the
// sender; the uid does: a policy-routing rule `ip rule add uidrange U-U to
// 127.0.0.X blackhole` drops everything node U's sockets send to node X
// (connects fail, established connections stall and resume once the rule is
// gone). Cutting both directions isolates a pair. A one-way cut of X stops
// what X's sockets send to the others' addresses: X cannot dial them (its
// Raft messages and forwarded writes travel on connections it dials), while
// what X sends back on connections the others dialled goes to their source
// address, 127.0.0.1, and still flows. Faults come one at a time and are
// healed before the next. Without root, `ip` or `setpriv`, the test says so
// and runs kills and pauses only.
#include <gtest/gtest.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "tests/examples/memstore_cluster.h"
#include "tests/nemesis/linearizability.h"

namespace raft::nemesis_test {
namespace {

using namespace std::chrono_literals;
using raft::examples_test::CommandResult;
using raft::examples_test::eventually;
using raft::examples_test::free_port;
using raft::examples_test::parse_responses;
using raft::examples_test::Process;
using raft::examples_test::request_bytes;
using raft::examples_test::run_command;
using raft::examples_test::temp_dir;
using raft::nemesis::check_linearizability;
using raft::nemesis::CheckOptions;
using raft::nemesis::CheckResult;
using raft::nemesis::Operation;
using raft::nemesis::OpKind;
using raft::nemesis::Outcome;
using raft::nemesis::Verdict;
using Clock = std::chrono::steady_clock;

constexpr int kNodes = 3;
constexpr auto kOpTimeout = 3s;  // Client side, per operation.

// --- Settings -------------------------------------------------------------

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  uint64_t out = 0;
  return v != nullptr && absl::SimpleAtoi(v, &out) ? out : fallback;
}

struct Settings {
  uint64_t seed = 1;
  int seconds = 30;
  int clients = 4;
  int keys = 5;
  bool stale_reads = false;
  bool trust_refused = false;
};

Settings settings() {
  Settings s;
  s.seed = env_u64("NEMESIS_SEED", 1);
  if (s.seed == 0) s.seed = (uint64_t{std::random_device{}()} << 20) ^ std::random_device{}();
  s.seconds = static_cast<int>(env_u64("NEMESIS_SECONDS", 30));
  s.clients = std::max(1, static_cast<int>(env_u64("NEMESIS_CLIENTS", 4)));
  s.keys = std::max(1, static_cast<int>(env_u64("NEMESIS_KEYS", 5)));
  s.stale_reads = env_u64("NEMESIS_STALE_READS", 0) != 0;
  s.trust_refused = env_u64("NEMESIS_TRUST_REFUSED", 0) != 0;
  return s;
}

void say(const std::string& line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stdout, "[nemesis] %s\n", line.c_str());
  std::fflush(stdout);
}

// --- HTTP with a deadline -------------------------------------------------

struct Reply {
  bool sent = false;  // Some of the request reached the socket.
  int status = 0;     // 0: no complete answer.
  std::string body;
};

bool wait_fd(int fd, short events, Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
}

// One request on a fresh connection ("Connection: close"), answered or not
// within `timeout`. A connect that fails means nothing was sent.
Reply call(const std::string& address, const std::string& method, const std::string& path,
           const std::string& body, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Reply reply;
  const size_t colon = address.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &a.sin_addr);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return reply;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    if (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, deadline)) return reply;
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return reply;
  }
  const std::string bytes = request_bytes(method, path, body, /*close=*/true);
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      reply.sent = true;
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline)) continue;
    return reply;
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      raw.append(buf, static_cast<size_t>(n));
      auto responses = parse_responses(raw);
      if (!responses.empty()) {
        reply.status = responses[0].status;
        reply.body = std::move(responses[0].body);
        return reply;
      }
      continue;
    }
    if (n == 0) return reply;  // Closed before a complete answer.
    if (errno != EAGAIN || !wait_fd(fd, POLLIN, deadline)) return reply;
  }
}

// --- Outcomes (README, HTTP API) ------------------------------------------

// Writes that memstore answered with an error saying "outcome":"refused" or
// "failed" (counted whether trusted or not).
std::atomic<int> refused_writes{0};

bool says_not_applied(const Reply& r) {
  return r.status >= 400 && (absl::StrContains(r.body, "\"outcome\":\"refused\"") ||
                             absl::StrContains(r.body, "\"outcome\":\"failed\""));
}

// A 2xx is an answer; GET 404 is an answer too (the key is absent), and so is
// DELETE 404 with "result":"absent" (applied, nothing to delete). 400 was
// refused before anything was proposed (or applied as a no-op "error:"
// result), and a request that never reached the node did nothing: both are
// failed. Anything else (no answer, a timeout, 409, 421, 429, 5xx) may hide
// an applied write: indeterminate (and a read without an answer is dropped).
// With `trust_refused`, an error whose body says "outcome":"refused" or
// "failed" (memstore's claim that nothing was or will be applied) is failed
// too: the checker then also tests those claims.
void classify(Operation& op, const Reply& r, bool trust_refused = false) {
  op.outcome = Outcome::kIndeterminate;
  if (!r.sent) {
    op.outcome = Outcome::kFailed;
    return;
  }
  if (trust_refused && op.kind != OpKind::kGet && says_not_applied(r)) {
    op.outcome = Outcome::kFailed;
    return;
  }
  const bool ok2xx = r.status >= 200 && r.status < 300;
  switch (op.kind) {
    case OpKind::kGet:
      if (r.status == 200) {
        op.outcome = Outcome::kOk;
        op.found = true;
        op.value = r.body;
      } else if (r.status == 404 && absl::StrContains(r.body, "not found")) {
        op.outcome = Outcome::kOk;
        op.found = false;
      }
      return;
    case OpKind::kPut:
      if (ok2xx) {
        op.outcome = Outcome::kOk;
        if (r.status == 201 && absl::StrContains(r.body, "\"result\":\"created\"")) {
          op.existed = false;
        } else if (r.status == 200 && absl::StrContains(r.body, "\"result\":\"updated\"")) {
          op.existed = true;
        }
      } else if (r.status == 400) {
        op.outcome = Outcome::kFailed;
      }
      return;
    case OpKind::kDelete:
      if (ok2xx) {
        op.outcome = Outcome::kOk;
        if (absl::StrContains(r.body, "\"result\":\"deleted\"")) op.existed = true;
      } else if (r.status == 404 && absl::StrContains(r.body, "\"result\":\"absent\"")) {
        op.outcome = Outcome::kOk;
        op.existed = false;
      } else if (r.status == 400) {
        op.outcome = Outcome::kFailed;
      }
      return;
  }
}

// --- The network: a namespace of our own, partitions by uid ---------------

std::string find_program(const char* name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    std::string path = std::string(dir) + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

bool bring_up_loopback() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  ::close(fd);
  return ok;
}

class Network {
 public:
  // Must run before any thread is started: the namespace is per thread, and
  // threads and processes started afterwards inherit it.
  void setup(const std::string& scratch) {
    scratch_ = scratch;
    setpriv_ = find_program("setpriv");
    if (::geteuid() != 0) {
      why_not_ = "not running as root";
      return;
    }
    if (::unshare(CLONE_NEWNET) != 0) {
      why_not_ = absl::StrCat("unshare(CLONE_NEWNET) failed: ", std::strerror(errno));
      return;
    }
    own_namespace_ = true;
    loopback_up_ = bring_up_loopback();
    if (!loopback_up_) {
      why_not_ = "cannot bring up lo in the new namespace";
      return;
    }
    ip_ = find_program("ip");
    if (ip_.empty() || setpriv_.empty()) {
      why_not_ = ip_.empty() ? "no `ip` (iproute2)" : "no `setpriv` (util-linux)";
      return;
    }
    // Our rules must come before the local table's (preference 0). This is
    // our own namespace: nothing else uses its rules.
    std::string err;
    if (!ip("rule add pref 100 lookup local", &err) || !ip("rule del pref 0", &err) ||
        !ip(absl::StrCat("rule add pref 999 uidrange ", uid(1), "-", uid(1), " to ", address(2),
                         "/32 blackhole"),
            &err) ||
        !ip("rule del pref 999", &err)) {
      why_not_ = absl::StrCat("policy routing rules unavailable: ", err);
      return;
    }
    partitions_ = true;
  }

  bool own_namespace() const { return own_namespace_; }
  bool loopback_up() const { return loopback_up_; }
  bool partitions() const { return partitions_; }
  const std::string& why_not() const { return why_not_; }
  const std::string& setpriv() const { return setpriv_; }

  // Node `id`'s IP address, and the uid it runs as (0: the test's own).
  std::string address(int id) const {
    return own_namespace_ ? absl::StrCat("127.0.0.", 1 + id) : "127.0.0.1";
  }
  static uid_t uid(int id) { return static_cast<uid_t>(64000 + id); }

  // Drops whatever node `from` sends to node `to`.
  void block(int from, int to) {
    const int pref = 1000 + 10 * from + to;
    if (!partitions_ || active_.contains(pref)) return;
    std::string err;
    if (ip(absl::StrCat("rule add pref ", pref, " uidrange ", uid(from), "-", uid(from), " to ",
                        address(to), "/32 blackhole"),
           &err)) {
      active_.insert(pref);
    } else {
      say(absl::StrCat("cannot cut ", from, "->", to, ": ", err));
    }
  }
  void heal_all() {
    for (int pref : active_) {
      std::string err;
      if (!ip(absl::StrCat("rule del pref ", pref), &err)) say("cannot heal: " + err);
    }
    active_.clear();
  }
  bool cut() const { return !active_.empty(); }

 private:
  bool ip(const std::string& args, std::string* err) {
    CommandResult r = run_command(ip_ + " " + args, scratch_);
    if (r.status != 0) *err = absl::StrCat("`ip ", args, "`: ", r.err);
    return r.status == 0;
  }

  std::string scratch_;
  bool own_namespace_ = false;
  bool loopback_up_ = false;
  bool partitions_ = false;
  std::string why_not_;
  std::string ip_;
  std::string setpriv_;
  std::set<int> active_;
};

// --- The cluster ----------------------------------------------------------

// Three memstore processes with static membership. Processes are started,
// killed and reaped by PID; the destructor SIGCONTs and SIGKILLs whatever is
// left, also when the test failed.
class Cluster {
 public:
  Cluster(Network& net, std::string dir) : net_(net), dir_(std::move(dir)) {
    for (int id = 1; id <= kNodes; ++id) {
      const std::string ip = net_.address(id);
      const int raft_port = net_.own_namespace() ? 7000 + id : free_port();
      const int http_port = net_.own_namespace() ? 8000 + id : free_port();
      raft_.push_back(absl::StrCat(ip, ":", raft_port));
      http_.push_back(absl::StrCat(ip, ":", http_port));
    }
    procs_.resize(kNodes);
    paused_.assign(kNodes, false);
    for (int id = 1; id <= kNodes; ++id) write_config(id);
  }
  ~Cluster() {
    for (int id = 1; id <= kNodes; ++id) {
      Process* p = procs_[id - 1].get();
      if (p == nullptr || !p->running()) continue;
      p->kill(SIGCONT);
      p->kill(SIGKILL);  // Waits for the exit.
    }
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const std::string& http(int id) const { return http_[id - 1]; }
  const std::vector<std::string>& http_addresses() const { return http_; }
  std::string log_path(int id) const { return absl::StrCat(dir_, "/n", id, ".log"); }
  bool running(int id) const { return procs_[id - 1] && procs_[id - 1]->running(); }
  bool paused(int id) const { return paused_[id - 1]; }

  // Starts node `id` and waits until its HTTP API answers. (A restart right
  // after a kill -9 may find its ports still held by the dead process's
  // sockets for a moment; the node retries the bind itself, bind_retry_ms.)
  bool start(int id) {
    // setpriv: the node's own uid (partitions), and SIGKILL when the test
    // process dies, whatever way (no node outlives it).
    std::vector<std::string> argv;
    if (!net_.setpriv().empty()) {
      argv = {net_.setpriv(), "--pdeathsig", "KILL"};
      if (net_.partitions()) {
        for (std::string a :
             {absl::StrCat("--reuid=", Network::uid(id)),
              absl::StrCat("--regid=", Network::uid(id)), std::string("--clear-groups")}) {
          argv.push_back(std::move(a));
        }
      }
    }
    for (std::string a :
         {std::string(MEMSTORE_BIN), std::string("--config"), absl::StrCat(dir_, "/n", id, ".toml"),
          std::string("--http"), http(id), std::string("--log-level"), std::string("warn")}) {
      argv.push_back(std::move(a));
    }
    std::error_code ec;
    const auto log_before = std::filesystem::file_size(log_path(id), ec);
    procs_[id - 1] = std::make_unique<Process>(argv, log_path(id));
    paused_[id - 1] = false;
    Process& p = *procs_[id - 1];
    const bool up = eventually(
        [&] {
          if (p.wait_exit(0ms)) return true;
          return call(http(id), "GET", "/metrics", "", 500ms).status == 200;
        },
        30s);
    if (up && p.running()) return true;
    std::string fresh = p.log();
    fresh = fresh.substr(std::min<size_t>(ec ? 0 : log_before, fresh.size()));
    if (p.running()) {
      say(absl::StrCat("node ", id, " started but its HTTP API does not answer; log:\n", fresh));
    } else {
      say(absl::StrCat("node ", id, " exited at start (status ", *p.wait_exit(0ms), ")",
                       absl::StrContains(fresh, "in use")
                           ? " with its address still in use after the node's own bind retries"
                           : "",
                       "; log:\n", fresh));
    }
    return false;
  }

  void kill9(int id) {
    Process* p = procs_[id - 1].get();
    if (p == nullptr || !p->running()) return;
    p->kill(SIGCONT);
    p->kill(SIGKILL);
    paused_[id - 1] = false;
  }
  void pause(int id) {
    if (!running(id)) return;
    procs_[id - 1]->kill(SIGSTOP);
    paused_[id - 1] = true;
  }
  void resume(int id) {
    if (running(id)) procs_[id - 1]->kill(SIGCONT);
    paused_[id - 1] = false;
  }

  // The leader as running, unpaused nodes see it (0 if none or they disagree).
  int leader() {
    int leader = 0;
    for (int id = 1; id <= kNodes; ++id) {
      if (!running(id) || paused(id)) continue;
      Reply r = call(http(id), "GET", "/leader", "", 300ms);
      int l = 0;
      size_t at = r.body.find("\"leader_id\":");
      if (r.status != 200 || at == std::string::npos) continue;
      std::string rest = r.body.substr(at + 12);
      if (!absl::SimpleAtoi(rest.substr(0, rest.find_first_not_of("0123456789")), &l)) continue;
      if (l < 1 || l > kNodes) continue;
      if (leader != 0 && leader != l) return 0;
      leader = l;
    }
    return leader;
  }

  // SIGTERM to each running node; the exit statuses (nullopt: did not exit).
  std::vector<std::optional<int>> stop_all() {
    std::vector<std::optional<int>> out(kNodes);
    for (int id = 1; id <= kNodes; ++id) {
      if (running(id)) {
        resume(id);
        procs_[id - 1]->kill(SIGTERM);
      }
    }
    for (int id = 1; id <= kNodes; ++id) {
      if (procs_[id - 1]) out[id - 1] = procs_[id - 1]->wait_exit(20s);
    }
    return out;
  }

  std::string log_tails(size_t lines) const {
    std::string out;
    for (int id = 1; id <= kNodes; ++id) {
      std::ifstream in(log_path(id));
      std::vector<std::string> all;
      for (std::string line; std::getline(in, line);) all.push_back(line);
      absl::StrAppend(&out, "--- node ", id, " (", log_path(id), "), last lines:\n");
      for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
        absl::StrAppend(&out, all[i], "\n");
      }
    }
    return out;
  }

 private:
  void write_config(int id) {
    const std::string data = absl::StrCat(dir_, "/data-", id);
    std::filesystem::create_directories(data);
    if (net_.partitions()) {
      EXPECT_EQ(::chown(data.c_str(), Network::uid(id), Network::uid(id)), 0) << data;
    }
    // Short ticks for quick elections; frequent snapshots so that restarted
    // nodes often catch up from one.
    std::string toml = absl::StrCat("[node]\nid = ", id, "\naddress = \"", raft_[id - 1],
                                    "\"\ndata_dir = \"", data,
                                    "\"\n[raft]\ntick_interval_ms = 20\nelection_ticks = 10\n"
                                    "[snapshot]\nevery_entries = 1000\nkeep_entries = 200\n");
    for (int p = 1; p <= kNodes; ++p) {
      absl::StrAppend(&toml, "[[peers]]\nid = ", p, "\naddress = \"", raft_[p - 1], "\"\n");
    }
    std::ofstream(absl::StrCat(dir_, "/n", id, ".toml")) << toml;
  }

  Network& net_;
  std::string dir_;
  std::vector<std::string> raft_;
  std::vector<std::string> http_;
  std::vector<std::unique_ptr<Process>> procs_;
  std::vector<bool> paused_;
};

// --- History --------------------------------------------------------------

class History {
 public:
  explicit History(Clock::time_point t0) : t0_(t0) {}
  int64_t now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0_).count();
  }
  void add(const Operation& op) {
    std::lock_guard<std::mutex> lock(mu_);
    ops_.push_back(op);
  }
  std::vector<Operation> ops() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ops_;
  }

 private:
  Clock::time_point t0_;
  mutable std::mutex mu_;
  std::vector<Operation> ops_;
};

struct ClientOptions {
  bool stale_reads = false;    // Self-check: "?stale=true" reads.
  bool trust_refused = false;  // See classify().
};

// One operation through node `node`'s HTTP API, recorded.
Operation run_op(const std::string& address, int client, OpKind kind, const std::string& key,
                 const std::string& value, History& history, const ClientOptions& options = {}) {
  const std::string query = kind == OpKind::kGet && options.stale_reads ? "?stale=true" : "";
  Operation op;
  op.client = client;
  op.kind = kind;
  op.key = key;
  op.value = value;
  const char* method = kind == OpKind::kGet ? "GET" : kind == OpKind::kPut ? "PUT" : "DELETE";
  op.invoke_ns = history.now();
  Reply r =
      call(address, method, "/store/" + key + query, kind == OpKind::kPut ? value : "", kOpTimeout);
  op.return_ns = history.now();
  classify(op, r, options.trust_refused);
  if (kind != OpKind::kGet && says_not_applied(r)) refused_writes++;
  history.add(op);
  return op;
}

// Random reads (50 %), puts (40 %, unique values) and deletes on random keys
// through random nodes; a short think time keeps the load modest. With
// `stale_reads` (the self-check) the reads are local ones, which are not
// linearizable: under faults the checker must say so.
void client_loop(int client, uint64_t seed, int keys, ClientOptions options,
                 const std::vector<std::string>& http, History& history,
                 const std::atomic<bool>& stop) {
  std::mt19937_64 rng(seed * 1000003 + static_cast<uint64_t>(client));
  for (uint64_t seq = 0; !stop.load(); ++seq) {
    const std::string& address = http[rng() % http.size()];
    const std::string key = absl::StrCat("k", rng() % static_cast<uint64_t>(keys));
    const uint64_t roll = rng() % 100;
    const OpKind kind = roll < 50 ? OpKind::kGet : roll < 90 ? OpKind::kPut : OpKind::kDelete;
    run_op(address, client, kind, key, absl::StrCat("c", client, "-", seq), history, options);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
  }
}

// --- The nemesis ----------------------------------------------------------

struct FaultCounts {
  int kills = 0;
  int double_kills = 0;
  int pauses = 0;
  int isolations = 0;
  int link_cuts = 0;
  int one_way_cuts = 0;
  int restart_failures = 0;
};

class Nemesis {
 public:
  Nemesis(uint64_t seed, Cluster& cluster, Network& net, Clock::time_point t0,
          Clock::time_point end)
      : rng_(seed), cluster_(cluster), net_(net), t0_(t0), end_(end) {}

  // Injects faults until the end of the run; a fault in progress then is cut
  // short and healed. Runs on the test's main thread: the nodes are its
  // children, started with a parent-death signal, which follows the thread.
  void run() {
    for (int n = 1;; ++n) {
      // Every draw is made whatever the branch, so the schedule depends on
      // the seed only.
      const double gap = uniform(0.5, 2.0);
      const uint64_t kind = rng_() % 100;
      const bool at_leader = rng_() % 2 == 0;
      const int target = 1 + static_cast<int>(rng_() % kNodes);
      const int other_offset = 1 + static_cast<int>(rng_() % (kNodes - 1));
      const uint64_t variant = rng_() % 4;
      const double duration = uniform(0.2, 3.0);
      if (!sleep(gap)) return;

      int t = target;
      std::string who;
      if (at_leader) {
        int l = cluster_.leader();
        who = l != 0 ? " (the leader)" : " (no leader known: at random)";
        if (l != 0) t = l;
      }
      const int other = 1 + (t - 1 + other_offset) % kNodes;
      const int third = 6 - t - other;
      if (kind < 30) {
        const double down = variant == 0 ? 0.0 : duration * 0.7;
        log(n, absl::StrFormat("kill -9 node %d%s, restart after %.2f s", t, who, down));
        cluster_.kill9(t);
        counts.kills++;
        sleep(down);
        restart(t);
      } else if (kind < 40) {
        const double down = duration * 0.5;
        log(n, absl::StrFormat("kill -9 nodes %d%s and %d (no quorum), restart after %.2f s", t,
                               who, other, down));
        cluster_.kill9(t);
        cluster_.kill9(other);
        counts.double_kills++;
        sleep(down);
        restart(t);
        restart(other);
      } else if (kind < 65 || !net_.partitions()) {
        log(n, absl::StrFormat("SIGSTOP node %d%s for %.2f s%s", t, who, duration,
                               kind >= 65 ? " (partitions unavailable)" : ""));
        cluster_.pause(t);
        counts.pauses++;
        sleep(duration);
        cluster_.resume(t);
      } else if (variant < 2) {
        log(n, absl::StrFormat("isolate node %d%s for %.2f s", t, who, duration));
        for (int o : {other, third}) {
          net_.block(t, o);
          net_.block(o, t);
        }
        counts.isolations++;
        sleep(duration);
        net_.heal_all();
      } else if (variant == 2) {
        log(n, absl::StrFormat("cut the link %d<->%d%s (both still reach %d) for %.2f s", t, other,
                               who, third, duration));
        net_.block(t, other);
        net_.block(other, t);
        counts.link_cuts++;
        sleep(duration);
        net_.heal_all();
      } else {
        log(n, absl::StrFormat("one-way cut: node %d%s cannot dial out (to %d, %d) for %.2f s", t,
                               who, other, third, duration));
        net_.block(t, other);
        net_.block(t, third);
        counts.one_way_cuts++;
        sleep(duration);
        net_.heal_all();
      }
      if (Clock::now() >= end_) return;
    }
  }

  FaultCounts counts;

 private:
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(rng_() % 1000000) / 1e6;
  }
  // Waits `seconds` (the schedule), at most until the end of the run; false
  // if that came.
  bool sleep(double seconds) {
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(seconds));
    std::this_thread::sleep_until(std::min(until, end_));
    return Clock::now() < end_;
  }
  void restart(int id) {
    if (!cluster_.start(id)) {
      counts.restart_failures++;
      say(absl::StrCat("restart of node ", id, " failed"));
    }
  }
  void log(int n, const std::string& what) {
    const double at = std::chrono::duration<double>(Clock::now() - t0_).count();
    say(absl::StrFormat("t=%6.2fs fault %d: %s", at, n, what));
  }

  std::mt19937_64 rng_;
  Cluster& cluster_;
  Network& net_;
  Clock::time_point t0_;
  Clock::time_point end_;
};

// --- The test -------------------------------------------------------------

void write_history(const std::string& path, const std::vector<Operation>& ops) {
  std::ofstream out(path);
  for (const Operation& op : ops) out << raft::nemesis::to_string(op) << "\n";
}

TEST(Nemesis, KillsPausesAndPartitionsKeepTheStoreLinearizable) {
  const Settings s = settings();
  const std::string seed_text = absl::StrCat("NEMESIS_SEED=", s.seed);
  say(absl::StrCat(seed_text, " NEMESIS_SECONDS=", s.seconds, ", ", s.clients, " clients, ", s.keys,
                   " keys, ", kNodes, " memstore nodes",
                   s.stale_reads ? "; SELF-CHECK: stale reads, the checker must fail" : "",
                   s.trust_refused ? "; refused/failed outcomes trusted" : ""));
  SCOPED_TRACE(seed_text);

  const std::string dir = temp_dir("nemesis");
  Network net;
  net.setup(dir);  // Before any thread.
  if (net.own_namespace()) {
    ASSERT_TRUE(net.loopback_up()) << "lo in the test's namespace";
  }
  if (net.partitions()) {
    say("partitions: on (private network namespace; nodes on 127.0.0.2-4, one uid each)");
    // The nodes, running as other uids, read their config here.
    std::filesystem::permissions(
        dir, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                 std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                 std::filesystem::perms::others_exec);
  } else {
    say(absl::StrCat("partitions: off (", net.why_not(), "); kills and pauses only",
                     net.own_namespace() ? ", in a private network namespace" : ""));
  }

  bool keep_dir = false;
  {
    Cluster cluster(net, dir);
    for (int id = 1; id <= kNodes; ++id) ASSERT_TRUE(cluster.start(id)) << cluster.log_tails(30);
    ASSERT_TRUE(eventually([&] { return cluster.leader() != 0; }, 30s)) << cluster.log_tails(30);

    const auto t0 = Clock::now();
    History history(t0);
    std::atomic<bool> stop{false};
    Nemesis nemesis(s.seed, cluster, net, t0, t0 + std::chrono::seconds(s.seconds));
    std::vector<std::thread> clients;
    for (int c = 1; c <= s.clients; ++c) {
      clients.emplace_back(client_loop, c, s.seed, s.keys,
                           ClientOptions{s.stale_reads, s.trust_refused},
                           std::cref(cluster.http_addresses()), std::ref(history), std::cref(stop));
    }
    nemesis.run();
    stop = true;
    for (auto& t : clients) t.join();
    const double workload_s = std::chrono::duration<double>(Clock::now() - t0).count();

    // Heal everything; every node must come back and agree.
    net.heal_all();
    for (int id = 1; id <= kNodes; ++id) {
      cluster.resume(id);
      if (!cluster.running(id)) {
        EXPECT_TRUE(cluster.start(id)) << "node " << id;
      }
    }
    const bool agreed = eventually(
        [&] {
          if (cluster.leader() == 0) return false;
          for (int id = 1; id <= kNodes; ++id) {
            if (call(cluster.http(id), "GET", "/status", "", 1s).status != 200) return false;
          }
          return true;
        },
        30s);
    EXPECT_TRUE(agreed) << "the cluster has no leader every node agrees on after healing\n"
                        << cluster.log_tails(40);

    // Convergence: in one round, a linearizable read of each key through each
    // node (recorded: they are part of the history) and a stale read of each
    // key on each node all agree.
    int rounds = 0;
    auto same_everywhere = [&] {
      rounds++;
      for (int key = 0; key < s.keys; ++key) {
        const std::string k = absl::StrCat("k", key);
        std::vector<Operation> seen;
        for (int id = 1; id <= kNodes; ++id) {
          seen.push_back(run_op(cluster.http(id), 100 + id, OpKind::kGet, k, "", history));
          Operation stale = seen.back();
          classify(stale, call(cluster.http(id), "GET", "/store/" + k + "?stale=true", "", 1s));
          seen.push_back(stale);
        }
        for (const Operation& op : seen) {
          if (op.outcome != Outcome::kOk || op.found != seen[0].found ||
              op.value != seen[0].value) {
            return false;
          }
        }
      }
      return true;
    };
    const bool converged = agreed && eventually(same_everywhere, 30s);
    EXPECT_TRUE(converged) << "the nodes' states did not converge after healing (" << rounds
                           << " rounds)\n"
                           << cluster.log_tails(40);

    // Graceful stop: every node exits 0 on SIGTERM.
    std::vector<std::optional<int>> exits = cluster.stop_all();
    for (int id = 1; id <= kNodes; ++id) {
      EXPECT_EQ(exits[id - 1], std::optional<int>(0)) << "node " << id << " on SIGTERM";
    }

    // The check.
    const std::vector<Operation> ops = history.ops();
    CheckOptions options;
    options.max_steps_per_key = env_u64("NEMESIS_CHECK_STEPS", 20'000'000);
    const CheckResult result = check_linearizability(ops, options);

    int counts[3][3] = {};  // [kind][outcome]
    for (const Operation& op : ops) {
      counts[static_cast<int>(op.kind)][static_cast<int>(op.outcome)]++;
    }
    auto row = [&](const char* name, OpKind k) {
      const int* c = counts[static_cast<int>(k)];
      return absl::StrFormat("%s %d ok / %d failed / %d indeterminate", name, c[0], c[1], c[2]);
    };
    const FaultCounts& f = nemesis.counts;
    say(absl::StrFormat("workload %.1f s: %d ops: %s; %s; %s", workload_s, ops.size(),
                        row("puts", OpKind::kPut), row("gets", OpKind::kGet),
                        row("deletes", OpKind::kDelete)));
    say(absl::StrFormat(
        "faults: %d kill -9, %d double kill -9, %d SIGSTOP, %d isolations, %d link cuts, %d "
        "one-way cuts; %d restart failures; %d writes answered \"refused\" or \"failed\"%s",
        f.kills, f.double_kills, f.pauses, f.isolations, f.link_cuts, f.one_way_cuts,
        f.restart_failures, refused_writes.load(),
        s.trust_refused ? " (trusted: not applied)" : " (taken as indeterminate)"));
    std::string per_key;
    for (const auto& k : result.keys) {
      absl::StrAppendFormat(&per_key, " %s: %d ops (%d indeterminate) %s %.3f s %d steps;", k.key,
                            k.ops, k.indeterminate, raft::nemesis::to_string(k.verdict), k.seconds,
                            k.steps);
    }
    say(absl::StrFormat("checker: %s in %.3f s (%d ops checked, %d dropped, %d steps);%s",
                        raft::nemesis::to_string(result.verdict), result.seconds,
                        result.ops_checked, result.ops_dropped, result.steps, per_key));
    if (const char* path = std::getenv("NEMESIS_HISTORY")) write_history(path, ops);

    EXPECT_EQ(f.restart_failures, 0);
    if (result.verdict != Verdict::kLinearizable) {
      keep_dir = true;
      const std::string path = absl::StrCat("nemesis-history-", s.seed, ".txt");
      write_history(path, ops);
      ADD_FAILURE() << seed_text << ": "
                    << (result.verdict == Verdict::kUnknown
                            ? "the checker gave up (raise NEMESIS_CHECK_STEPS)"
                            : "the history is not linearizable")
                    << "\n"
                    << result.explanation << "(whole history: " << path
                    << "; node logs and data: " << dir << ")";
    }
    if (HasFailure()) {
      keep_dir = true;
      std::cout << cluster.log_tails(20);
    }
  }
  if (keep_dir) {
    say(absl::StrCat("failed with ", seed_text, "; kept ", dir));
  } else {
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace raft::nemesis_test
