#include "engine/node/async_client.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "net/address.h"
#include "net/connection.h"
#include "net/handshake.h"
#include "net/reactor.h"
#include "net/resolver.h"
#include "net/socket.h"
#include "protocol/client_codec.h"
#include "protocol/client_errors.h"

namespace raft {

namespace {

using SteadyClock = std::chrono::steady_clock;

// A proposal in a client session: the cluster applies it once however
// often it arrives, so an unknown outcome is retried like a refusal.
bool exactly_once(const protocol::ClientRequest& r) {
  return r.kind == protocol::RequestKind::kPropose && r.session != 0 &&
         r.session_op == protocol::SessionOp::kNone;
}

// Requests sent again after a lost connection or an attempt that timed
// out, where a change would be left unknown: kinds that change nothing, and
// proposals in a session.
bool repeatable(const protocol::ClientRequest& r) {
  const protocol::RequestKind kind = r.kind;
  return kind == protocol::RequestKind::kRead || kind == protocol::RequestKind::kStatus ||
         kind == protocol::RequestKind::kLeader || kind == protocol::RequestKind::kPeers ||
         kind == protocol::RequestKind::kCreateGroup ||
         kind == protocol::RequestKind::kRemoveGroup || exactly_once(r);
}

}  // namespace

class AsyncClient::Impl {
 public:
  struct Conn;

  // One request, from its call until its callback. Owned by reqs_ (on the
  // loop); the queues name requests by id, so a completed one is skipped.
  struct Req {
    enum class Where : uint8_t {
      kNew,      // Not placed yet (or between attempts).
      kQueued,   // Waiting on `conn` (connecting, or for this turn's frame).
      kSent,     // On the wire as `wire_id`.
      kBackoff,  // Waiting until retry_at.
    };
    uint64_t id = 0;
    protocol::ClientRequest request;
    RawCallback done;
    CallOptions options;
    SteadyClock::time_point deadline{};
    SteadyClock::time_point attempt_end{};  // kSent with an attempt timeout.
    SteadyClock::time_point retry_at{};     // kBackoff.
    Where where = Where::kNew;
    uint64_t wire_id = 0;
    Conn* conn = nullptr;
    int attempts = 0;  // Counted toward max_attempts (refusals, rounds of failed connects).
    int sent = 0;
    int hops = 0;  // Leader hints followed in a row without waiting.
    size_t connect_failures = 0;
    std::chrono::milliseconds backoff{0};
    std::string redirect;  // The next attempt's address (a leader hint).
    absl::Status last;     // The last refusal.
    const std::string* answered_by =
        nullptr;  // A Conn's address (they live as long as the client).
  };

  struct Conn {
    Conn(Impl* impl, std::string addr, uint32_t target_shard)
        : address(std::move(addr)),
          shard(target_shard),
          impl_of(impl),
          connect_timer(impl->reactor_, [impl, this] { impl->on_connect_timeout(*this); }),
          connect_op(this) {}
    void on_connect_done(int32_t result, uint32_t /*flags*/) { impl_of->on_connect(*this, result); }

    enum class State : uint8_t { kIdle, kConnecting, kHandshake, kOpen };
    std::string address;
    uint32_t shard = 0;  // The node's shard it is for (the handshake's target_shard).
    Impl* impl_of = nullptr;
    State state = State::kIdle;
    int fd = -1;  // While connecting.
    bool timed_out = false;
    uint64_t lookup = 0;  // The name lookup in progress (0: none).
    net::SocketAddress sockaddr;
    std::shared_ptr<net::FrameConnection> fc;
    std::vector<uint64_t> waiting;  // Request ids queued until the connection opens.
    std::vector<uint64_t> outq;     // Request ids for this turn's frames.
    bool dirty = false;
    net::Timer connect_timer;
    net::MemberOperation<Conn, &Conn::on_connect_done> connect_op;
  };

  Impl(std::vector<std::string> addresses, ClientOptions options)
      : reactor_(net::ReactorOptions{.ring_entries = 256}),
        addresses_(std::move(addresses)),
        options_(options),
        rng_(options.seed) {
    if (options_.connections_per_node == 0) options_.connections_per_node = 1;
    if (options_.max_batch == 0) options_.max_batch = 1;
    if (options_.max_attempts <= 0) options_.max_attempts = 1;
    conn_options_.max_frame_bytes = options_.max_frame_bytes;
    conn_options_.handshake_timeout = options_.connect_timeout;
    conn_options_.overflow = net::OverflowPolicy::kCloseConnection;
    // Requests are bounded by the caller, not dropped here.
    conn_options_.max_send_queue_frames = size_t{1} << 20;
    conn_options_.max_send_queue_bytes = size_t{1} << 34;
    if (!options_.tls.ca_file.empty()) {
      net::TlsOptions to;
      to.ca_file = options_.tls.ca_file;
      to.cert_file = options_.tls.cert_file;
      to.key_file = options_.tls.key_file;
      to.allow_tls12 = options_.tls.allow_tls12;
      auto ctx = net::TlsContext::create(std::move(to));
      if (ctx.ok()) {
        conn_options_.tls = *ctx;
        conn_options_.tls_role = net::TlsRole::kClient;
        conn_options_.tls_expected_name = options_.tls.server_name;
      } else {
        tls_error_ = ctx.status();
      }
    }
    reactor_.set_turn_hook([this] { pump(); });
    thread_ = std::thread([this] { reactor_.run(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(inbox_mu_);
      closed_ = true;
    }
    reactor_.post([this] { shutdown_on_loop(); });
    thread_.join();
    // The loop is gone: what remains is destroyed here, on this thread.
    conns_.clear();
    reqs_.clear();
  }

  // Any thread.
  void submit(std::vector<std::unique_ptr<Req>> batch) {
    in_flight_.fetch_add(batch.size(), std::memory_order_relaxed);
    if (std::this_thread::get_id() == thread_.get_id()) {
      for (auto& r : batch) local_.push_back(std::move(r));
      schedule_pump();
      return;
    }
    bool closed;
    {
      std::lock_guard<std::mutex> lock(inbox_mu_);
      closed = closed_;
      if (!closed) {
        for (auto& r : batch) inbox_.push_back(std::move(r));
      }
    }
    if (!closed) {
      reactor_.wake();
      return;
    }
    for (auto& r : batch) {
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      CallInfo info;
      r->done(refused(absl::CancelledError("client is shutting down; not sent")), info);
    }
  }

  std::unique_ptr<Req> make(protocol::ClientRequest request, RawCallback done,
                            const CallOptions& options) {
    auto r = std::make_unique<Req>();
    r->id = next_req_id_.fetch_add(1, std::memory_order_relaxed);
    r->request = std::move(request);
    r->done = std::move(done);
    r->options = options;
    r->deadline = options.deadline == SteadyClock::time_point{}
                      ? SteadyClock::now() + options_.request_timeout
                      : options.deadline;
    r->backoff = options_.backoff_initial;
    return r;
  }

  size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  using Where = Req::Where;

  void schedule_pump() {
    if (pump_deferred_) return;
    pump_deferred_ = true;
    reactor_.defer([this] { pump(); });
  }

  // Loop: takes in what was submitted, then writes this turn's frames.
  void pump() {
    pump_deferred_ = false;
    // A pool spreads by turn, not by request: what one turn sends to a
    // node leaves in one frame on one connection (one sendmsg).
    ++spread_;
    if (!local_.empty()) {
      accepting_.swap(local_);
      for (auto& r : accepting_) accept(std::move(r));
      accepting_.clear();
    }
    {
      std::lock_guard<std::mutex> lock(inbox_mu_);
      incoming_.swap(inbox_);
    }
    for (auto& r : incoming_) accept(std::move(r));
    incoming_.clear();
    flushing_.swap(dirty_);
    for (Conn* c : flushing_) flush(*c);
    flushing_.clear();
  }

  void accept(std::unique_ptr<Req> owned) {
    Req* r = owned.get();
    reqs_.emplace(r->id, std::move(owned));
    // Deadlines mostly come in order (one request_timeout for all): those
    // go to the back of a queue, the others to the timer set.
    if ((r->id & 7) == 0) {
      for (int i = 0; i < 16 && !deadlines_.empty() && find(deadlines_.front().second) == nullptr;
           ++i) {
        deadlines_.pop_front();
      }
    }
    if (deadlines_.empty() || r->deadline >= deadlines_.back().first) {
      deadlines_.emplace_back(r->deadline, r->id);
    } else {
      timers_.emplace(r->deadline, r->id);
    }
    wake_at(r->deadline);
    if (shutting_down_) {
      return complete(r, refused(absl::CancelledError("client is shutting down; not sent")));
    }
    if (addresses_.empty()) {
      return complete(r, failed(absl::InvalidArgumentError("the client has no node address")));
    }
    dispatch(r);
  }

  Req* find(uint64_t id) {
    auto it = reqs_.find(id);
    return it == reqs_.end() ? nullptr : it->second.get();
  }

  // A node's connections: a pool per shard, made when a request first goes
  // to that shard. Conns are never freed before the client (requests and
  // callbacks point to them).
  struct NodeConns {
    uint32_t shard_count = 0;  // From a handshake reply; 0: not known yet.
    std::vector<std::vector<std::unique_ptr<Conn>>> pools;  // By shard.
  };

  // Where the next attempt of `r` goes: a hint it follows, else the group's
  // leader as last heard, else the current address.
  const std::string& target_for(const Req& r) {
    if (!r.redirect.empty()) return r.redirect;
    auto it = leader_.find(r.request.group);
    if (it != leader_.end()) return it->second;
    return addresses_[cursor_ % addresses_.size()];
  }

  // The shard of the node at `node` that owns `group` (group % its shard
  // count, as the node places groups): shard 0 until a handshake told the
  // count, or when routing is off.
  uint32_t shard_for(const NodeConns& node, GroupId group) const {
    if (!options_.route_by_shard || node.shard_count <= 1) return 0;
    return static_cast<uint32_t>(group % node.shard_count);
  }

  // Connections per shard of `node`: connections_per_node split over the
  // shards requests go to (at least one each); one until the first
  // handshake told the shard count (everything waits on it until then).
  uint32_t pool_size(const NodeConns& node) const {
    if (node.shard_count == 0) return 1;
    const uint32_t shards = options_.route_by_shard ? node.shard_count : 1;
    return std::max<uint32_t>(1, (options_.connections_per_node + shards - 1) / shards);
  }

  // A connection to `address` for `group`: to the shard that owns it.
  Conn& conn_for(const std::string& address, GroupId group) {
    NodeConns& node = conns_[address];
    const uint32_t shard = shard_for(node, group);
    if (node.pools.size() <= shard) node.pools.resize(shard + 1);
    auto& pool = node.pools[shard];
    const uint32_t want = pool_size(node);
    while (pool.size() < want) pool.push_back(std::make_unique<Conn>(this, address, shard));
    if (want == 1) return *pool[0];
    return *pool[spread_ % want];
  }

  void dispatch(Req* r) {
    if (reactor_.now() >= r->deadline) return expire(r);
    queue_on(r, conn_for(target_for(*r), r->request.group));
  }

  void queue_on(Req* r, Conn& c) {
    r->conn = &c;
    r->where = Where::kQueued;
    if (c.state == Conn::State::kOpen) {
      c.outq.push_back(r->id);
      mark_dirty(c);
    } else {
      c.waiting.push_back(r->id);
      if (c.state == Conn::State::kIdle) dial(c);
    }
  }

  void mark_dirty(Conn& c) {
    if (c.dirty) return;
    c.dirty = true;
    dirty_.push_back(&c);
    schedule_pump();
  }

  // Opens the connection to c.address: an IPv4 or "[ipv6]" literal is used
  // as it is; a host name is looked up on every dial (so a node that moved
  // is found again) by the resolver's worker thread, never on this loop, and
  // its first address is dialled. A non-blocking connect on the reactor
  // follows; on_connect continues. Everything about turning an address into
  // a socket is here.
  void dial(Conn& c) {
    c.state = Conn::State::kConnecting;
    c.timed_out = false;
    if (!tls_error_.ok()) return dial_failed(c, tls_error_);
    absl::StatusOr<net::HostPort> hp = net::split_host_port(c.address);
    if (!hp.ok()) return dial_failed(c, hp.status());
    if (std::optional<net::SocketAddress> literal = net::literal_address(*hp)) {
      return connect_socket(c, *literal);
    }
    if (shutting_down_) return dial_failed(c, absl::CancelledError("client destroyed"));
    if (resolver_ == nullptr) resolver_ = std::make_unique<net::AsyncResolver>(reactor_);
    c.connect_timer.arm_after(options_.connect_timeout);  // The lookup counts.
    const uint64_t lookup = c.lookup = ++lookups_;
    resolver_->resolve(*hp,
                       [this, &c, lookup](absl::StatusOr<std::vector<net::SocketAddress>> found) {
                         if (shutting_down_ || c.lookup != lookup) return;  // Timed out meanwhile.
                         c.lookup = 0;
                         c.connect_timer.cancel();
                         if (!found.ok()) return dial_failed(c, found.status());
                         if (found->empty())
                           return dial_failed(c, absl::UnavailableError("the name has no address"));
                         connect_socket(c, found->front());
                       });
  }

  void connect_socket(Conn& c, const net::SocketAddress& address) {
    c.sockaddr = address;
    auto fd = net::tcp_socket(c.sockaddr.family());
    if (!fd.ok()) return dial_failed(c, fd.status());
    c.fd = *fd;
    io_uring_prep_connect(reactor_.prepare(c.connect_op), c.fd, c.sockaddr.get(),
                          c.sockaddr.length);
    c.connect_timer.arm_after(options_.connect_timeout);
  }

  // Failed before any IO: reported from the loop, not from inside dispatch.
  void dial_failed(Conn& c, const absl::Status& failure) {
    absl::Status s =
        absl::UnavailableError(absl::StrCat("connect to ", c.address, ": ", failure.message()));
    reactor_.defer([this, &c, s] { connect_failed(c, s); });
  }

  void on_connect_timeout(Conn& c) {
    if (c.lookup != 0) {
      c.lookup = 0;  // Its answer, when it comes, is dropped.
      return connect_failed(c, absl::UnavailableError(absl::StrCat("connect to ", c.address,
                                                                   ": name lookup timed out")));
    }
    if (c.connect_op.in_flight()) {
      c.timed_out = true;
      reactor_.cancel(c.connect_op);
    }
  }

  void on_connect(Conn& c, int32_t result) {
    c.connect_timer.cancel();
    int fd = c.fd;
    c.fd = -1;
    if (shutting_down_) {
      if (fd >= 0) ::close(fd);
      return;
    }
    if (result < 0) {
      if (fd >= 0) ::close(fd);
      return connect_failed(
          c,
          absl::UnavailableError(
              c.timed_out ? absl::StrCat("connect to ", c.address, ": timed out")
                          : absl::StrCat("connect to ", c.address, ": ", std::strerror(-result))));
    }
    c.state = Conn::State::kHandshake;
    c.fc = net::FrameConnection::create(reactor_, fd, c.address, conn_options_);
    net::FrameConnection::Callbacks cb;
    cb.on_handshake = [this, &c](net::FrameConnection&, const net::HandshakeInfo& remote) {
      c.state = Conn::State::kOpen;
      // The node's shard count (0 from a node that predates it: one shard).
      NodeConns& node = conns_[c.address];
      node.shard_count = std::max<uint32_t>(remote.shard_count, 1);
      std::vector<uint64_t> ids;
      ids.swap(c.waiting);
      for (uint64_t id : ids) {
        // Nothing went out before the count was known: what waited here for
        // a group of another shard goes to that shard's connection instead.
        Req* r = find(id);
        if (r != nullptr && r->conn == &c && r->where == Where::kQueued &&
            shard_for(node, r->request.group) != c.shard) {
          queue_on(r, conn_for(c.address, r->request.group));
          continue;
        }
        c.outq.push_back(id);
      }
      if (!c.outq.empty()) mark_dirty(c);
      return absl::OkStatus();
    };
    cb.on_frame = [this, &c](net::FrameConnection& f, const net::ReceivedFrame& frame) {
      if (c.fc.get() == &f) on_frame(c, frame);
    };
    cb.on_close = [this, &c](net::FrameConnection& f, const absl::Status& s) {
      if (c.fc.get() == &f) on_closed(c, s);
    };
    c.fc->start(std::move(cb));
    net::HandshakeInfo hello;
    hello.cluster_id = options_.cluster_id;
    hello.role = net::ConnectionRole::kClient;
    hello.target_shard = c.shard;
    (void)c.fc->send(net::encode_handshake(hello));
  }

  // No connection to c.address: what waited for it tries another node (at
  // once while untried ones remain this round), else backs off.
  void connect_failed(Conn& c, const absl::Status& status) {
    c.state = Conn::State::kIdle;
    if (shutting_down_) return;
    forget(c.address);
    std::vector<uint64_t> ids;
    ids.swap(c.waiting);
    for (uint64_t id : c.outq) ids.push_back(id);
    c.outq.clear();
    for (uint64_t id : ids) {
      Req* r = find(id);
      if (r == nullptr || r->conn != &c || r->where != Where::kQueued) continue;
      r->where = Where::kNew;
      r->redirect.clear();
      r->last = refused(status);
      if (!tls_error_.ok()) {
        complete(r, r->last);  // The client's own files: no retry helps.
      } else if (++r->connect_failures < addresses_.size()) {
        dispatch(r);  // Nothing was sent: another node, at once.
      } else if (!r->options.retry) {
        complete(r, r->last);
      } else {
        r->connect_failures = 0;
        retry_later(r, r->last);
      }
    }
  }

  // c.address is down: later requests go elsewhere.
  void forget(const std::string& address) {
    for (auto it = leader_.begin(); it != leader_.end();) {
      if (it->second == address) {
        leader_.erase(it++);
      } else {
        ++it;
      }
    }
    if (!addresses_.empty() && addresses_[cursor_ % addresses_.size()] == address) ++cursor_;
  }

  void on_closed(Conn& c, const absl::Status& status) {
    const bool was_open = c.state == Conn::State::kOpen;
    // Keep the connection object until the loop is done with this callback.
    std::shared_ptr<net::FrameConnection> keep = std::move(c.fc);
    c.fc.reset();
    if (!was_open) {
      // A handshake for shard > 0 refused: the node may have come back with
      // fewer shards. Shard 0 until a reply tells the count again.
      if (c.shard != 0 && status.code() == absl::StatusCode::kFailedPrecondition) {
        conns_[c.address].shard_count = 0;
      }
      return connect_failed(
          c, absl::UnavailableError(absl::StrCat(
                 "handshake with ", c.address, ": ",
                 status.ok() ? std::string("closed") : std::string(status.message()))));
    }
    c.state = Conn::State::kIdle;
    if (shutting_down_) return;
    forget(c.address);
    std::vector<Req*> lost;
    for (auto& [wire, r] : wire_) {
      if (r->conn == &c) lost.push_back(r);
    }
    std::sort(lost.begin(), lost.end(), [](Req* a, Req* b) { return a->id < b->id; });
    const absl::Status why = unknown(absl::UnavailableError(
        absl::StrCat("connection to ", c.address, " lost",
                     status.ok() ? std::string() : absl::StrCat(": ", status.message()),
                     "; the outcome is unknown")));
    for (Req* r : lost) {
      wire_.erase(r->wire_id);
      r->wire_id = 0;
      r->where = Where::kNew;
      r->answered_by = &c.address;
      if (r->options.retry && repeatable(r->request)) {
        retry_later(r, why);
      } else {
        complete(r, why);
      }
    }
    // Queued, not sent: they go out elsewhere (or here, redialled).
    std::vector<uint64_t> ids;
    ids.swap(c.outq);
    for (uint64_t id : c.waiting) ids.push_back(id);
    c.waiting.clear();
    for (uint64_t id : ids) {
      Req* r = find(id);
      if (r == nullptr || r->conn != &c || r->where != Where::kQueued) continue;
      r->where = Where::kNew;
      dispatch(r);
    }
  }

  // Writes the requests queued on `c` this turn, max_batch per frame.
  void flush(Conn& c) {
    c.dirty = false;
    if (c.state != Conn::State::kOpen || c.fc == nullptr) return;
    flush_ids_.swap(c.outq);
    for (uint64_t id : flush_ids_) {
      Req* r = find(id);
      if (r == nullptr || r->conn != &c || r->where != Where::kQueued) continue;
      if (c.state != Conn::State::kOpen || c.fc == nullptr) {
        // Closed while writing (its close reported what was sent): elsewhere.
        r->where = Where::kNew;
        dispatch(r);
        continue;
      }
      const uint64_t wire = next_wire_id_++;
      r->wire_id = wire;
      r->request.request_id = wire;
      r->where = Where::kSent;
      ++r->sent;
      if (r->options.attempt_timeout.count() > 0) {
        r->attempt_end = SteadyClock::now() + r->options.attempt_timeout;
        timers_.emplace(r->attempt_end, r->id);
        wake_at(r->attempt_end);
      }
      wire_.emplace(wire, r);
      batch_reqs_.push_back(r);
      batch_.push_back(std::move(r->request));
      if (batch_.size() >= options_.max_batch) send_batch(c);
    }
    flush_ids_.clear();
    if (!batch_.empty()) send_batch(c);
    if (c.fc != nullptr) c.fc->flush_now();
  }

  void send_batch(Conn& c) {
    net::OutFrame frame = protocol::encode_client_requests(batch_);
    for (size_t i = 0; i < batch_.size(); ++i) batch_reqs_[i]->request = std::move(batch_[i]);
    batch_.clear();
    batch_reqs_.clear();
    if (c.fc == nullptr) return;
    if (absl::Status s = c.fc->send(std::move(frame)); !s.ok()) {
      // Only a closing connection refuses a frame (the queue is unbounded
      // here); its close reports these requests.
      c.fc->close(s);
    }
  }

  void on_frame(Conn& c, const net::ReceivedFrame& frame) {
    if (frame.frame->body_type() != fbs::FrameBody::ClientResponseBatch) return;
    auto responses = protocol::decode_client_responses(frame);
    if (!responses.ok()) {
      c.fc->close(absl::DataLossError(
          absl::StrCat("bad response from ", c.address, ": ", responses.status().message())));
      return;
    }
    for (protocol::ClientResponse& resp : *responses) {
      auto it = wire_.find(resp.request_id);
      if (it == wire_.end()) continue;  // Completed already (deadline).
      Req* r = it->second;
      wire_.erase(it);
      r->wire_id = 0;
      on_answer(r, resp, c);
    }
  }

  void on_answer(Req* r, protocol::ClientResponse& resp, Conn& c) {
    r->answered_by = &c.address;
    r->where = Where::kNew;
    absl::Status status = protocol::response_status(resp);
    const GroupId group = r->request.group;
    if (status.ok() && resp.kind == protocol::RequestKind::kLeader &&
        !resp.leader_address.empty()) {
      leader_[group] = resp.leader_address;
    }
    const Outcome outcome = status.ok() ? Outcome::kRefused : outcome_of(status);
    const bool retry_unknown = outcome == Outcome::kUnknown && exactly_once(r->request);
    if (status.ok() || !r->options.retry || (outcome != Outcome::kRefused && !retry_unknown)) {
      return complete(r, std::move(resp));
    }
    if (auto hint = not_leader_hint(status); hint && !hint->address.empty()) {
      leader_[group] = hint->address;
      if (hint->address != c.address && r->hops < 3) {
        // Straight to the leader, without waiting.
        ++r->hops;
        r->redirect = hint->address;
        return dispatch(r);
      }
    } else if (!is_not_leader(status)) {
      r->hops = 0;
    }
    r->redirect.clear();
    retry_later(r, status);
  }

  void retry_later(Req* r, const absl::Status& status) {
    r->last = status;
    r->where = Where::kNew;
    if (++r->attempts >= options_.max_attempts || !r->options.retry) return complete(r, status);
    std::uniform_int_distribution<int64_t> jitter(0, r->backoff.count());
    r->retry_at = SteadyClock::now() + r->backoff / 2 + std::chrono::milliseconds(jitter(rng_) / 2);
    r->backoff = std::min(r->backoff * 2, options_.backoff_max);
    r->where = Where::kBackoff;
    timers_.emplace(r->retry_at, r->id);
    wake_at(r->retry_at);
  }

  void wake_at(SteadyClock::time_point at) {
    if (!wake_timer_.armed() || at < wake_timer_.deadline()) wake_timer_.arm_at(at);
  }

  // The client's one timer: deadlines, backoffs, attempt timeouts.
  void on_wake() {
    const SteadyClock::time_point now = SteadyClock::now();
    while (!deadlines_.empty()) {
      const auto [at, id] = deadlines_.front();
      Req* r = find(id);
      if (r != nullptr && at > now) break;
      deadlines_.pop_front();
      if (r != nullptr) expire(r);
    }
    while (!timers_.empty() && timers_.begin()->first <= now) {
      const auto [at, id] = *timers_.begin();
      timers_.erase(timers_.begin());
      if (Req* r = find(id); r != nullptr) on_timer(r, at, now);
    }
    SteadyClock::time_point next = SteadyClock::time_point::max();
    if (!deadlines_.empty()) next = deadlines_.front().first;
    if (!timers_.empty()) next = std::min(next, timers_.begin()->first);
    if (next != SteadyClock::time_point::max()) wake_at(next);
  }

  // `at` came for `r`: one of its times, unless stale.
  void on_timer(Req* r, SteadyClock::time_point at, SteadyClock::time_point now) {
    if (now >= r->deadline) return expire(r);
    if (r->where == Where::kBackoff && r->retry_at == at) {
      r->where = Where::kNew;
      return dispatch(r);
    }
    if (r->where == Where::kSent && r->options.attempt_timeout.count() > 0 &&
        r->attempt_end == at) {
      wire_.erase(r->wire_id);
      r->wire_id = 0;
      r->where = Where::kNew;
      absl::Status s =
          unknown(absl::DeadlineExceededError("no reply in time; the outcome is unknown"));
      if (r->options.retry && repeatable(r->request)) return retry_later(r, s);
      return complete(r, s);
    }
  }

  void expire(Req* r) {
    const bool on_wire = r->where == Where::kSent;
    std::string msg = absl::StrCat(
        "deadline exceeded after ", r->sent, " attempt(s) sent",
        r->last.ok() ? std::string() : absl::StrCat("; last error: ", r->last.message()),
        on_wire ? "; the outcome is unknown" : "; not in flight, not applied");
    absl::Status s = absl::DeadlineExceededError(msg);
    complete(r, on_wire ? unknown(s) : refused(s));
  }

  void complete(Req* r, absl::StatusOr<protocol::ClientResponse>&& result) {
    if (r->wire_id != 0) wire_.erase(r->wire_id);
    auto node = reqs_.extract(r->id);
    std::unique_ptr<Req> owned = std::move(node.mapped());
    CallInfo info;
    if (owned->answered_by != nullptr) info.address = *owned->answered_by;
    info.attempts = owned->sent;
    RawCallback done = std::move(owned->done);
    owned.reset();
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    done(std::move(result), info);
  }

  void shutdown_on_loop() {
    shutting_down_ = true;
    wake_timer_.cancel();
    pump();  // What was submitted completes as Cancelled.
    std::vector<uint64_t> ids;
    ids.reserve(reqs_.size());
    for (const auto& [id, r] : reqs_) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    for (uint64_t id : ids) {
      Req* r = find(id);
      if (r == nullptr) continue;
      if (r->where == Where::kSent) {
        complete(r, unknown(absl::CancelledError("client destroyed; the outcome is unknown")));
      } else {
        complete(r, refused(absl::CancelledError("client destroyed; not sent")));
      }
    }
    // Callbacks may have called again.
    while (!local_.empty()) pump();
    for (auto& [address, node] : conns_) {
      for (auto& pool : node.pools) {
        for (auto& c : pool) {
          c->connect_timer.cancel();
          if (c->connect_op.in_flight()) reactor_.cancel(c->connect_op);
          if (c->fc != nullptr) c->fc->close(absl::CancelledError("client destroyed"));
        }
      }
    }
    resolver_.reset();  // On the loop thread, as it must be.
    reactor_.stop();
  }

  net::Reactor reactor_;
  // Made at the first dial of a host name; destroyed on the loop (shutdown).
  std::unique_ptr<net::AsyncResolver> resolver_;
  uint64_t lookups_ = 0;
  const std::vector<std::string> addresses_;
  ClientOptions options_;
  net::ConnectionOptions conn_options_;
  absl::Status tls_error_;  // ClientOptions::tls files that could not be loaded.
  std::mt19937_64 rng_;
  std::thread thread_;

  std::mutex inbox_mu_;
  std::vector<std::unique_ptr<Req>> inbox_;  // Guarded by inbox_mu_.
  bool closed_ = false;                      // Guarded by inbox_mu_.
  std::atomic<uint64_t> next_req_id_{1};
  std::atomic<size_t> in_flight_{0};

  // Loop thread only.
  std::vector<std::unique_ptr<Req>> local_;     // Submitted from the loop thread.
  std::vector<std::unique_ptr<Req>> incoming_;  // The inbox, being accepted.
  bool pump_deferred_ = false;
  bool shutting_down_ = false;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Req>> reqs_;
  absl::flat_hash_map<uint64_t, Req*> wire_;  // Attempts on the wire, by request id sent.
  uint64_t next_wire_id_ = 1;
  absl::flat_hash_map<std::string, NodeConns> conns_;  // By address.
  std::vector<Conn*> dirty_;
  std::vector<Conn*> flushing_;                  // dirty_, being flushed.
  std::vector<uint64_t> flush_ids_;              // A connection's outq, being written.
  std::vector<std::unique_ptr<Req>> accepting_;  // local_, being accepted.
  absl::flat_hash_map<GroupId, std::string> leader_;
  size_t cursor_ = 0;
  size_t spread_ = 0;
  std::vector<protocol::ClientRequest> batch_;
  std::vector<Req*> batch_reqs_;
  std::deque<std::pair<SteadyClock::time_point, uint64_t>> deadlines_;  // Mostly in order.
  std::set<std::pair<SteadyClock::time_point, uint64_t>> timers_;       // The others.
  net::Timer wake_timer_{reactor_, [this] { on_wake(); }};
};

// ---------------------------------------------------------------- public

namespace {

protocol::ClientRequest make_request(protocol::RequestKind kind, GroupId group) {
  protocol::ClientRequest c;
  c.kind = kind;
  c.group = group;
  return c;
}

PeerAddresses peer_addresses(const std::vector<protocol::PeerInfo>& peers) {
  PeerAddresses out;
  for (const protocol::PeerInfo& p : peers) out[p.id] = p.address;
  return out;
}

// A raw callback that checks the answer and hands `convert(response)` on.
template <typename T, typename Convert>
RawCallback typed(absl::AnyInvocable<void(absl::StatusOr<T>)> done, Convert convert) {
  return [done = std::move(done), convert](absl::StatusOr<protocol::ClientResponse>&& r,
                                           const CallInfo&) mutable {
    if (!r.ok()) return done(r.status());
    if (absl::Status s = protocol::response_status(*r); !s.ok()) return done(s);
    done(convert(*r));
  };
}

RawCallback typed_done(DoneCallback done) {
  return [done = std::move(done)](absl::StatusOr<protocol::ClientResponse>&& r,
                                  const CallInfo&) mutable {
    if (!r.ok()) return done(r.status());
    done(protocol::response_status(*r));
  };
}

template <typename T>
std::pair<absl::AnyInvocable<void(absl::StatusOr<T>)>, std::future<absl::StatusOr<T>>> promised() {
  auto p = std::make_shared<std::promise<absl::StatusOr<T>>>();
  std::future<absl::StatusOr<T>> f = p->get_future();
  return {[p](absl::StatusOr<T> v) { p->set_value(std::move(v)); }, std::move(f)};
}

ProposeResult to_propose(protocol::ClientResponse& r) {
  return ProposeResult{r.index, r.term, r.result.to_string()};
}
std::string to_result(protocol::ClientResponse& r) { return r.result.to_string(); }
ConfState to_conf(protocol::ClientResponse& r) { return protocol::response_conf_state(r); }
IdGrant to_grant(protocol::ClientResponse& r) {
  return IdGrant{r.node_id, peer_addresses(r.peers)};
}
Index to_index(protocol::ClientResponse& r) { return r.index; }
std::string to_json(protocol::ClientResponse& r) { return std::move(r.json); }
LeaderHint to_leader(protocol::ClientResponse& r) {
  return LeaderHint{r.leader_id, r.leader_address};
}
PeerAddresses to_peers(protocol::ClientResponse& r) { return peer_addresses(r.peers); }

}  // namespace

// Per group: the client's session, and the proposals waiting for it to
// open. Shared with the callbacks of the session's requests, which run on
// the IO thread.
struct AsyncClient::Sessions {
  struct Waiting {
    std::string data;
    AddressedProposeCallback done;
    CallOptions options;
  };
  struct Group {
    uint64_t id = 0;  // 0: none open.
    bool opening = false;
    uint64_t next_sequence = 1;
    std::set<uint64_t> outstanding;  // Sequences not answered yet: the floor is the least.
    std::vector<Waiting> waiting;
  };
  std::mutex mu;
  std::condition_variable idle;
  bool closing = false;
  int submitting = 0;  // Callbacks submitting requests (the destructor waits for them).
  std::map<GroupId, Group> groups;

  // The next proposal's place in `g` (under mu).
  static SessionRef next(Group& g) {
    SessionRef ref{g.id, g.next_sequence++, 0};
    g.outstanding.insert(ref.sequence);
    ref.floor = *g.outstanding.begin();
    return ref;
  }
};

AsyncClient::AsyncClient(std::vector<std::string> addresses, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(addresses), options)),
      use_sessions_(options.sessions),
      sessions_(std::make_shared<Sessions>()) {}

AsyncClient::~AsyncClient() {
  {
    // No callback submits once this is set; wait for those under way.
    std::unique_lock l(sessions_->mu);
    sessions_->closing = true;
    sessions_->idle.wait(l, [&] { return sessions_->submitting == 0; });
  }
  impl_.reset();
}

size_t AsyncClient::in_flight() const { return impl_->in_flight(); }

void AsyncClient::call(protocol::ClientRequest request, RawCallback done, CallOptions options) {
  std::vector<std::unique_ptr<Impl::Req>> one;
  one.push_back(impl_->make(std::move(request), std::move(done), options));
  impl_->submit(std::move(one));
}

void AsyncClient::call_batch(std::vector<protocol::ClientRequest> requests,
                             std::vector<RawCallback> done, CallOptions options) {
  std::vector<std::unique_ptr<Impl::Req>> batch;
  batch.reserve(requests.size());
  const size_t n = std::min(requests.size(), done.size());
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(impl_->make(std::move(requests[i]), std::move(done[i]), options));
  }
  // A callback without a request (or the reverse) is a caller's bug: the
  // extra callbacks complete at once.
  for (size_t i = n; i < done.size(); ++i) {
    done[i](failed(absl::InvalidArgumentError("call_batch: more callbacks than requests")),
            CallInfo{});
  }
  impl_->submit(std::move(batch));
}

void AsyncClient::propose(GroupId group, std::string data, ProposeCallback done,
                          CallOptions options) {
  propose_addressed(
      group, std::move(data),
      [done = std::move(done)](absl::StatusOr<ProposeResult> r, std::string_view) mutable {
        done(std::move(r));
      },
      options);
}

void AsyncClient::propose_addressed(GroupId group, std::string data, AddressedProposeCallback done,
                                    CallOptions options) {
  if (!use_sessions_) {
    protocol::ClientRequest c = make_request(protocol::RequestKind::kPropose, group);
    c.data = Slice(std::move(data));
    return call(
        std::move(c),
        [done = std::move(done)](absl::StatusOr<protocol::ClientResponse>&& r,
                                 const CallInfo& info) mutable {
          absl::Status s = r.ok() ? protocol::response_status(*r) : r.status();
          if (!s.ok()) return done(s, info.address);
          done(to_propose(*r), info.address);
        },
        options);
  }
  std::unique_lock l(sessions_->mu);
  Sessions::Group& g = sessions_->groups[group];
  if (g.id == 0) {
    g.waiting.push_back(Sessions::Waiting{std::move(data), std::move(done), options});
    if (g.opening) return;
    g.opening = true;
    l.unlock();
    return open_session(group, options);
  }
  const SessionRef ref = Sessions::next(g);
  l.unlock();
  propose_in_session(group, ref, std::move(data), std::move(done), options);
}

void AsyncClient::propose_in_session(GroupId group, SessionRef ref, std::string data,
                                     AddressedProposeCallback done, CallOptions options) {
  protocol::ClientRequest c = make_request(protocol::RequestKind::kPropose, group);
  c.data = Slice(std::move(data));
  c.session = ref.session;
  c.sequence = ref.sequence;
  c.floor = ref.floor;
  call(
      std::move(c),
      [sessions = sessions_, group, ref, done = std::move(done)](
          absl::StatusOr<protocol::ClientResponse>&& r, const CallInfo& info) mutable {
        absl::Status s = r.ok() ? protocol::response_status(*r) : r.status();
        {
          std::lock_guard l(sessions->mu);
          Sessions::Group& g = sessions->groups[group];
          g.outstanding.erase(ref.sequence);
          // The cluster no longer knows the session (it expired): the next
          // proposal opens another.
          if (s.code() == absl::StatusCode::kNotFound && g.id == ref.session) {
            g.id = 0;
            g.next_sequence = 1;
            g.outstanding.clear();
          }
        }
        if (!s.ok()) return done(s, info.address);
        done(to_propose(*r), info.address);
      },
      options);
}

void AsyncClient::open_session(GroupId group, CallOptions options) {
  protocol::ClientRequest c = make_request(protocol::RequestKind::kPropose, group);
  c.session_op = protocol::SessionOp::kOpen;
  call(
      std::move(c),
      [this, sessions = sessions_, group](absl::StatusOr<protocol::ClientResponse>&& r,
                                          const CallInfo&) {
        absl::Status s = r.ok() ? protocol::response_status(*r) : r.status();
        std::vector<Sessions::Waiting> waiting;
        std::vector<SessionRef> refs;
        {
          std::lock_guard l(sessions->mu);
          Sessions::Group& g = sessions->groups[group];
          g.opening = false;
          waiting.swap(g.waiting);
          if (sessions->closing && s.ok()) {
            s = refused(absl::CancelledError("client destroyed before the session opened"));
          }
          if (s.ok()) {
            g.id = r->index;
            g.next_sequence = 1;
            g.outstanding.clear();
            for (size_t i = 0; i < waiting.size(); ++i) refs.push_back(Sessions::next(g));
            ++sessions->submitting;
          }
        }
        if (!s.ok()) {
          // Nothing of the waiting proposals was sent: a refusal, whatever
          // the open's outcome (a second open only makes an idle session).
          const absl::Status why = refused(absl::Status(
              s.code(), absl::StrCat("could not open a client session: ", s.message())));
          for (Sessions::Waiting& w : waiting) w.done(why, {});
          return;
        }
        for (size_t i = 0; i < waiting.size(); ++i) {
          propose_in_session(group, refs[i], std::move(waiting[i].data), std::move(waiting[i].done),
                             waiting[i].options);
        }
        std::lock_guard l(sessions->mu);
        if (--sessions->submitting == 0) sessions->idle.notify_all();
      },
      options);
}

void AsyncClient::read(GroupId group, std::string query, ReadConsistency consistency,
                       ReadCallback done, CallOptions options) {
  protocol::ClientRequest c = make_request(protocol::RequestKind::kRead, group);
  c.data = Slice(std::move(query));
  c.consistency = consistency;
  call(std::move(c), typed<std::string>(std::move(done), to_result), options);
}

void AsyncClient::change_config(GroupId group, std::vector<MemberChange> changes, ConfCallback done,
                                CallOptions options) {
  protocol::ClientRequest c = make_request(protocol::RequestKind::kChangeConfig, group);
  c.changes = std::move(changes);
  call(std::move(c), typed<ConfState>(std::move(done), to_conf), options);
}

void AsyncClient::request_id(GroupId group, std::string address, IdCallback done,
                             CallOptions options) {
  protocol::ClientRequest c = make_request(protocol::RequestKind::kRequestId, group);
  c.address = std::move(address);
  call(std::move(c), typed<IdGrant>(std::move(done), to_grant), options);
}

void AsyncClient::join(GroupId group, NodeId node, std::string address, bool as_learner,
                       ConfCallback done, CallOptions options) {
  protocol::ClientRequest c = make_request(protocol::RequestKind::kJoin, group);
  c.node_id = node;
  c.address = std::move(address);
  c.as_learner = as_learner;
  call(std::move(c), typed<ConfState>(std::move(done), to_conf), options);
}

void AsyncClient::leave(GroupId group, NodeId node, ConfCallback done, CallOptions options) {
  protocol::ClientRequest c = make_request(protocol::RequestKind::kLeave, group);
  c.node_id = node;
  call(std::move(c), typed<ConfState>(std::move(done), to_conf), options);
}

void AsyncClient::transfer_leader(GroupId group, NodeId target, DoneCallback done,
                                  CallOptions options) {
  protocol::ClientRequest c = make_request(protocol::RequestKind::kTransferLeader, group);
  c.node_id = target;
  call(std::move(c), typed_done(std::move(done)), options);
}

void AsyncClient::snapshot(GroupId group, IndexCallback done, CallOptions options) {
  call(make_request(protocol::RequestKind::kSnapshot, group),
       typed<Index>(std::move(done), to_index), options);
}

void AsyncClient::status(GroupId group, TextCallback done, CallOptions options) {
  call(make_request(protocol::RequestKind::kStatus, group),
       typed<std::string>(std::move(done), to_json), options);
}

void AsyncClient::leader(GroupId group, LeaderCallback done, CallOptions options) {
  call(make_request(protocol::RequestKind::kLeader, group),
       typed<LeaderHint>(std::move(done), to_leader), options);
}

void AsyncClient::peers(GroupId group, PeersCallback done, CallOptions options) {
  call(make_request(protocol::RequestKind::kPeers, group),
       typed<PeerAddresses>(std::move(done), to_peers), options);
}

std::future<absl::StatusOr<ProposeResult>> AsyncClient::propose(GroupId group, std::string data,
                                                                CallOptions options) {
  auto [done, f] = promised<ProposeResult>();
  propose(group, std::move(data), std::move(done), options);
  return std::move(f);
}

std::future<absl::StatusOr<std::string>> AsyncClient::read(GroupId group, std::string query,
                                                           ReadConsistency consistency,
                                                           CallOptions options) {
  auto [done, f] = promised<std::string>();
  read(group, std::move(query), consistency, std::move(done), options);
  return std::move(f);
}

std::future<absl::StatusOr<ConfState>> AsyncClient::change_config(GroupId group,
                                                                  std::vector<MemberChange> changes,
                                                                  CallOptions options) {
  auto [done, f] = promised<ConfState>();
  change_config(group, std::move(changes), std::move(done), options);
  return std::move(f);
}

std::future<absl::StatusOr<IdGrant>> AsyncClient::request_id(GroupId group, std::string address,
                                                             CallOptions options) {
  auto [done, f] = promised<IdGrant>();
  request_id(group, std::move(address), std::move(done), options);
  return std::move(f);
}

std::future<absl::StatusOr<ConfState>> AsyncClient::join(GroupId group, NodeId node,
                                                         std::string address, bool as_learner,
                                                         CallOptions options) {
  auto [done, f] = promised<ConfState>();
  join(group, node, std::move(address), as_learner, std::move(done), options);
  return std::move(f);
}

std::future<absl::StatusOr<ConfState>> AsyncClient::leave(GroupId group, NodeId node,
                                                          CallOptions options) {
  auto [done, f] = promised<ConfState>();
  leave(group, node, std::move(done), options);
  return std::move(f);
}

std::future<absl::Status> AsyncClient::transfer_leader(GroupId group, NodeId target,
                                                       CallOptions options) {
  auto p = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> f = p->get_future();
  transfer_leader(
      group, target, [p](absl::Status s) { p->set_value(std::move(s)); }, options);
  return f;
}

std::future<absl::StatusOr<Index>> AsyncClient::snapshot(GroupId group, CallOptions options) {
  auto [done, f] = promised<Index>();
  snapshot(group, std::move(done), options);
  return std::move(f);
}

std::future<absl::StatusOr<std::string>> AsyncClient::status(GroupId group, CallOptions options) {
  auto [done, f] = promised<std::string>();
  status(group, std::move(done), options);
  return std::move(f);
}

std::future<absl::StatusOr<LeaderHint>> AsyncClient::leader(GroupId group, CallOptions options) {
  auto [done, f] = promised<LeaderHint>();
  leader(group, std::move(done), options);
  return std::move(f);
}

std::future<absl::StatusOr<PeerAddresses>> AsyncClient::peers(GroupId group, CallOptions options) {
  auto [done, f] = promised<PeerAddresses>();
  peers(group, std::move(done), options);
  return std::move(f);
}

}  // namespace raft
