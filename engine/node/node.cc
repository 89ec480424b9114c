// Node, the public API: each call reaches the shard that owns its group
// through NodeImpl::with_group (node_impl.cc); the blocking forms wait for
// the asynchronous ones. Startup is in node_startup.cc, the metrics text in
// metrics_text.cc.
#include "engine/node/node.h"

#include <algorithm>
#include <future>

#include "absl/strings/str_cat.h"
#include "engine/node/client_service.h"
#include "engine/node/metrics_text.h"
#include "engine/node/node_impl.h"
#include "protocol/client_errors.h"

namespace raft {

Node::Node(std::unique_ptr<NodeImpl> impl) : impl_(std::move(impl)) {}
Node::~Node() { stop(); }

absl::StatusOr<std::unique_ptr<Node>> Node::start(NodeConfig config, StateMachineFactory factory) {
  auto impl = NodeImpl::start(std::move(config), std::move(factory));
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Node>(new Node(std::move(*impl)));
}

void Node::stop() {
  if (impl_) impl_->stop();
}

NodeId Node::id() const { return impl_->node_id(); }
std::string Node::address() const { return impl_->bound_address(); }
const NodeConfig& Node::config() const { return impl_->config(); }

namespace {
absl::Status not_hosted(GroupId group) {
  return failed(absl::NotFoundError(absl::StrCat("group ", group, " is not hosted here")));
}
absl::Status overloaded() {
  return refused(absl::UnavailableError("node is overloaded or stopping"));
}

// Runs an asynchronous call and waits for its answer.
template <typename T, typename Start>
absl::StatusOr<T> wait_for(const NodeConfig& config, Start start) {
  if (net::ShardSet::current() != nullptr) {
    return failed(absl::FailedPreconditionError("blocking call on a shard thread would deadlock"));
  }
  auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
  std::future<absl::StatusOr<T>> future = promise->get_future();
  start([promise](absl::StatusOr<T> r) { promise->set_value(std::move(r)); });
  // The group answers by its own deadline; this is only a safety net.
  if (future.wait_for(std::chrono::milliseconds(config.request_timeout_ms * 2 + 1000)) !=
      std::future_status::ready) {
    return unknown(absl::DeadlineExceededError("no answer from the shard"));
  }
  return future.get();
}
}  // namespace

void Node::propose(GroupId group, std::string data, ProposeCallback done) {
  protocol::ClientRequest req;
  req.data = Slice(std::move(data));
  propose_request(group, std::move(req), std::move(done));
}

void Node::open_session(GroupId group, ProposeCallback done) {
  protocol::ClientRequest req;
  req.session_op = protocol::SessionOp::kOpen;
  propose_request(group, std::move(req), std::move(done));
}

void Node::close_session(GroupId group, uint64_t session, ProposeCallback done) {
  protocol::ClientRequest req;
  req.session_op = protocol::SessionOp::kClose;
  req.session = session;
  propose_request(group, std::move(req), std::move(done));
}

void Node::propose(GroupId group, SessionRef session, std::string data, ProposeCallback done) {
  protocol::ClientRequest req;
  req.data = Slice(std::move(data));
  req.session = session.session;
  req.sequence = session.sequence;
  req.floor = session.floor;
  propose_request(group, std::move(req), std::move(done));
}

void Node::propose_request(GroupId group, protocol::ClientRequest req, ProposeCallback done) {
  // Through the client service, so that a follower forwards to the leader
  // (NodeConfig::forward_to_leader) and the result still comes back here.
  req.kind = protocol::RequestKind::kPropose;
  req.group = group;
  impl_->with_group(group, [this, req = std::move(req), done = std::move(done)](ShardRuntime* rt,
                                                                                Group* g) mutable {
    execute_client_request(impl_->context(), rt, g, std::move(req),
                           [done = std::move(done)](protocol::ClientResponse r) mutable {
                             absl::Status s = protocol::response_status(r);
                             if (!s.ok()) return done(s);
                             done(ProposeResult{r.index, r.term, r.result.to_string()});
                           });
  });
}

void Node::read(GroupId group, std::string query, ReadConsistency consistency, ReadCallback done) {
  impl_->with_group(group, [query = std::move(query), consistency, done = std::move(done), group](
                               ShardRuntime* rt, Group* g) mutable {
    if (rt == nullptr) return done(overloaded());
    if (g == nullptr) return done(not_hosted(group));
    bump(rt->metrics().reads);
    g->read(std::move(query), consistency, std::move(done));
    rt->mark_dirty(g);
  });
}

void Node::change_membership(GroupId group, std::vector<MemberChange> changes, ConfCallback done) {
  protocol::ClientRequest req;
  req.kind = protocol::RequestKind::kChangeConfig;
  req.group = group;
  req.changes = std::move(changes);
  impl_->with_group(group, [this, req = std::move(req), done = std::move(done)](ShardRuntime* rt,
                                                                                Group* g) mutable {
    execute_client_request(impl_->context(), rt, g, std::move(req),
                           [done = std::move(done)](protocol::ClientResponse r) mutable {
                             absl::Status s = protocol::response_status(r);
                             if (!s.ok()) return done(s);
                             done(protocol::response_conf_state(r));  // Joint-config fields too.
                           });
  });
}

void Node::leave(GroupId group, ConfCallback done) {
  change_membership(group, {MemberChange{MemberChangeKind::kRemove, id(), ""}}, std::move(done));
}

void Node::transfer_leader(GroupId group, NodeId target, DoneCallback done) {
  impl_->with_group(group,
                    [target, done = std::move(done), group](ShardRuntime* rt, Group* g) mutable {
                      if (rt == nullptr) return done(overloaded());
                      if (g == nullptr) return done(not_hosted(group));
                      g->transfer_leader(target, std::move(done));
                      rt->mark_dirty(g);
                    });
}

void Node::make_snapshot(GroupId group, IndexCallback done) {
  impl_->with_group(group, [done = std::move(done), group](ShardRuntime* rt, Group* g) mutable {
    if (rt == nullptr) return done(overloaded());
    if (g == nullptr) return done(not_hosted(group));
    g->make_snapshot(std::move(done));
    rt->mark_dirty(g);
  });
}

void Node::create_group(GroupId group, std::vector<PeerConfig> members, DoneCallback done) {
  if (group == 0) return done(failed(absl::InvalidArgumentError("group id 0 is not a group")));
  // Through the client service, as a client's request would be.
  protocol::ClientRequest req;
  req.kind = protocol::RequestKind::kCreateGroup;
  req.group = group;
  for (const PeerConfig& p : members) req.members.push_back({p.id, p.address, p.role});
  group_request(std::move(req), std::move(done));
}

void Node::remove_group(GroupId group, DoneCallback done) {
  if (group == 0) return done(failed(absl::InvalidArgumentError("group id 0 is not a group")));
  protocol::ClientRequest req;
  req.kind = protocol::RequestKind::kRemoveGroup;
  req.group = group;
  group_request(std::move(req), std::move(done));
}

void Node::group_request(protocol::ClientRequest req, DoneCallback done) {
  const GroupId group = req.group;
  impl_->with_group(group, [this, req = std::move(req), done = std::move(done)](ShardRuntime* rt,
                                                                                Group* g) mutable {
    execute_client_request(impl_->context(), rt, g, std::move(req),
                           [done = std::move(done)](protocol::ClientResponse r) mutable {
                             done(protocol::response_status(r));
                           });
  });
}

std::vector<GroupId> Node::groups() const {
  std::vector<GroupId> out;
  for (ShardRuntime* rt : impl_->runtimes()) {
    if (rt == nullptr) continue;
    for (GroupId g : rt->group_ids()) out.push_back(g);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
absl::Status wait_for_group_call(
    const NodeConfig& config,
    absl::FunctionRef<void(absl::AnyInvocable<void(absl::StatusOr<bool>)>)> start) {
  return wait_for<bool>(
             config,
             [&](absl::AnyInvocable<void(absl::StatusOr<bool>)> cb) { start(std::move(cb)); })
      .status();
}
}  // namespace

absl::Status Node::create_group(GroupId group, std::vector<PeerConfig> members) {
  return wait_for_group_call(config(), [&](absl::AnyInvocable<void(absl::StatusOr<bool>)> cb) {
    create_group(group, std::move(members), [cb = std::move(cb)](absl::Status s) mutable {
      if (s.ok()) return cb(true);
      cb(s);
    });
  });
}

absl::Status Node::remove_group(GroupId group) {
  return wait_for_group_call(config(), [&](absl::AnyInvocable<void(absl::StatusOr<bool>)> cb) {
    remove_group(group, [cb = std::move(cb)](absl::Status s) mutable {
      if (s.ok()) return cb(true);
      cb(s);
    });
  });
}

absl::StatusOr<ProposeResult> Node::propose(GroupId group, std::string data) {
  return wait_for<ProposeResult>(
      config(), [&](ProposeCallback cb) { propose(group, std::move(data), std::move(cb)); });
}

absl::StatusOr<uint64_t> Node::open_session(GroupId group) {
  absl::StatusOr<ProposeResult> r = wait_for<ProposeResult>(
      config(), [&](ProposeCallback cb) { open_session(group, std::move(cb)); });
  if (!r.ok()) return r.status();
  return r->index;
}

absl::Status Node::close_session(GroupId group, uint64_t session) {
  return wait_for<ProposeResult>(
             config(), [&](ProposeCallback cb) { close_session(group, session, std::move(cb)); })
      .status();
}

absl::StatusOr<ProposeResult> Node::propose(GroupId group, SessionRef session, std::string data) {
  return wait_for<ProposeResult>(config(), [&](ProposeCallback cb) {
    propose(group, session, std::move(data), std::move(cb));
  });
}

absl::StatusOr<std::string> Node::read(GroupId group, std::string query,
                                       ReadConsistency consistency) {
  return wait_for<std::string>(config(), [&](ReadCallback cb) {
    read(group, std::move(query), consistency, std::move(cb));
  });
}

absl::StatusOr<ConfState> Node::change_membership(GroupId group,
                                                  std::vector<MemberChange> changes) {
  return wait_for<ConfState>(config(), [&](ConfCallback cb) {
    change_membership(group, std::move(changes), std::move(cb));
  });
}

absl::StatusOr<ConfState> Node::add_voter(GroupId group, NodeId node, std::string address) {
  return change_membership(group, {MemberChange{MemberChangeKind::kAddVoter, node, address}});
}
absl::StatusOr<ConfState> Node::add_learner(GroupId group, NodeId node, std::string address) {
  return change_membership(group, {MemberChange{MemberChangeKind::kAddLearner, node, address}});
}
absl::StatusOr<ConfState> Node::promote(GroupId group, NodeId node) {
  return change_membership(group, {MemberChange{MemberChangeKind::kPromote, node, ""}});
}
absl::StatusOr<ConfState> Node::remove(GroupId group, NodeId node) {
  return change_membership(group, {MemberChange{MemberChangeKind::kRemove, node, ""}});
}
absl::StatusOr<ConfState> Node::leave(GroupId group) { return remove(group, id()); }

absl::Status Node::transfer_leader(GroupId group, NodeId target) {
  auto r = wait_for<bool>(config(), [&](absl::AnyInvocable<void(absl::StatusOr<bool>)> cb) {
    transfer_leader(group, target, [cb = std::move(cb)](absl::Status s) mutable {
      if (s.ok()) {
        cb(true);
      } else {
        cb(s);
      }
    });
  });
  return r.status();
}

absl::StatusOr<Index> Node::make_snapshot(GroupId group) {
  return wait_for<Index>(config(), [&](IndexCallback cb) { make_snapshot(group, std::move(cb)); });
}

void Node::leader(GroupId group, absl::AnyInvocable<void(absl::StatusOr<LeaderHint>)> done) {
  impl_->with_group(
      group, [this, done = std::move(done), group](ShardRuntime* rt, Group* g) mutable {
        if (rt == nullptr) return done(overloaded());
        if (g == nullptr) return done(not_hosted(group));
        done(LeaderHint{g->leader(),
                        g->leader() == id() ? impl_->bound_address() : g->address_of(g->leader())});
      });
}

void Node::group_status_json(GroupId group, ReadCallback done) {
  impl_->with_group(group, [done = std::move(done), group](ShardRuntime* rt, Group* g) mutable {
    if (rt == nullptr) return done(overloaded());
    if (g == nullptr) return done(not_hosted(group));
    done(g->status_json());
  });
}

bool Node::run_on_shard(uint32_t shard, absl::AnyInvocable<void(net::Reactor&)> fn) {
  if (shard >= shard_count()) return false;
  return impl_->on_shard(
      shard, [this, shard, fn = std::move(fn)]() mutable { fn(impl_->runtime(shard)->reactor()); });
}

uint32_t Node::shard_count() const { return impl_->shard_count(); }

absl::StatusOr<LeaderHint> Node::leader(GroupId group) const {
  return wait_for<LeaderHint>(
      config(), [&](absl::AnyInvocable<void(absl::StatusOr<LeaderHint>)> cb) {
        impl_->with_group(
            group, [this, cb = std::move(cb), group](ShardRuntime* rt, Group* g) mutable {
              if (rt == nullptr) return cb(overloaded());
              if (g == nullptr) return cb(not_hosted(group));
              LeaderHint h{g->leader(), g->leader() == id() ? impl_->bound_address()
                                                            : g->address_of(g->leader())};
              cb(h);
            });
      });
}

absl::StatusOr<std::vector<MemberInfo>> Node::members(GroupId group) const {
  using Members = std::vector<MemberInfo>;
  return wait_for<Members>(config(), [&](absl::AnyInvocable<void(absl::StatusOr<Members>)> cb) {
    impl_->with_group(group, [cb = std::move(cb), group](ShardRuntime* rt, Group* g) mutable {
      if (rt == nullptr) return cb(overloaded());
      if (g == nullptr) return cb(not_hosted(group));
      ConfState cs = g->conf_state();
      Members out;
      for (NodeId v : cs.voters) out.push_back(MemberInfo{v, g->address_of(v), true});
      for (NodeId l : cs.learners) out.push_back(MemberInfo{l, g->address_of(l), false});
      cb(std::move(out));
    });
  });
}

absl::StatusOr<std::string> Node::group_status_json(GroupId group) const {
  return wait_for<std::string>(config(), [&](ReadCallback cb) {
    impl_->with_group(group, [cb = std::move(cb), group](ShardRuntime* rt, Group* g) mutable {
      if (rt == nullptr) return cb(overloaded());
      if (g == nullptr) return cb(not_hosted(group));
      cb(g->status_json());
    });
  });
}

std::string Node::status_json() const {
  std::string out = absl::StrCat("{\"node\":", id(), ",\"address\":\"", address(),
                                 "\",\"leader_balance\":", leader_balance() ? "true" : "false",
                                 ",\"leaders\":", groups_led(), ",\"groups\":[");
  bool first = true;
  for (GroupId g : groups()) {
    auto s = group_status_json(g);
    if (!s.ok()) continue;
    absl::StrAppend(&out, first ? "" : ",", *s);
    first = false;
  }
  out += "]}";
  return out;
}

absl::Status Node::reload_tls() { return impl_->reload_tls(); }

void Node::set_leader_balance(bool on) { impl_->balancer().set_enabled(on); }
bool Node::leader_balance() const { return impl_->balancer().enabled(); }

uint64_t Node::groups_led() const { return collect_metrics(impl_->runtimes()).groups_led; }

std::string Node::metrics_text() const {
  MetricsSnapshot m = collect_metrics(impl_->runtimes());
  const LeaderBalancer& b = impl_->balancer();
  m.leader_balance = b.enabled() ? 1 : 0;
  m.balance_transfers = b.transfers();
  m.balance_transfers_failed = b.transfers_failed();
  return render_metrics_text(m);
}

}  // namespace raft
