// Node: one process's part of a cluster. It owns the shards (reactor
// threads), the listener, the data dir and the groups hosted here, and is the
// public API an embedding service calls.
//
// Every method is safe from any thread. Asynchronous forms take a callback
// that runs on the shard thread owning the group (keep it short; do not call
// the blocking forms from it). Blocking forms wait for the answer with the
// configured request timeout and refuse to run on a shard thread (they would
// deadlock it).
//
// Errors: NotLeader is FailedPrecondition carrying a LeaderHint
// (engine/node/errors.h; not_leader_hint(status)); Unavailable when no leader
// is known or the shard is overloaded; ResourceExhausted for backpressure;
// DeadlineExceeded when the outcome is unknown; NotFound for an unknown group.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/export.h"
#include "engine/core/types.h"
#include "engine/node/api_types.h"
#include "engine/node/config.h"
#include "engine/node/errors.h"
#include "engine/node/state_machine.h"

namespace raft {

namespace net {
class Reactor;  // net/reactor.h: a shard's io_uring loop (run_on_shard).
}  // namespace net

class NodeImpl;
namespace protocol {
struct ClientRequest;  // protocol/client_codec.h (not a public header).
}

// Makes the state machine of each group hosted here (called once per group,
// on the group's shard thread, at start).
using StateMachineFactory = absl::AnyInvocable<std::unique_ptr<StateMachine>(GroupId)>;

struct MemberInfo {
  NodeId id = kNoNode;
  std::string address;
  bool voter = true;
};

class RINGRAFT_API Node {
 public:
  // Opens (or creates) the data dir, restores every group from its snapshot
  // and log, binds the listener and starts the shard threads. A fresh data
  // dir bootstraps from config.peers, or joins through config.join_address
  // (asking that member for an id first). The config is validated first.
  static absl::StatusOr<std::unique_ptr<Node>> start(NodeConfig config,
                                                     StateMachineFactory factory);
  // Stops the shards (in-flight requests are answered Cancelled), flushes the
  // storage writers and closes the data dir.
  ~Node();
  void stop();

  NodeId id() const;
  // The bound listener address ("127.0.0.1:port"; the real port if 0 was
  // configured).
  std::string address() const;
  const NodeConfig& config() const;

  // ---- Asynchronous API.
  void propose(GroupId group, std::string data, ProposeCallback done);
  void read(GroupId group, std::string query, ReadConsistency consistency, ReadCallback done);
  void change_membership(GroupId group, std::vector<MemberChange> changes, ConfCallback done);
  // Removes this node from the group (through the leader).
  void leave(GroupId group, ConfCallback done);
  void transfer_leader(GroupId group, NodeId target, DoneCallback done);
  void make_snapshot(GroupId group, IndexCallback done);
  // Client sessions: a proposal in a session is applied once however often
  // it is proposed (after an unknown outcome, retry it with the same
  // SessionRef); a duplicate gets the first one's result. open_session's
  // result index is the session's id. Errors: NotFound for an unknown or
  // expired session, OutOfRange below its floor, ResourceExhausted over
  // NodeConfig::max_sessions or max_session_result_bytes.
  void open_session(GroupId group, ProposeCallback done);
  void close_session(GroupId group, uint64_t session, ProposeCallback done);
  void propose(GroupId group, SessionRef session, std::string data, ProposeCallback done);

  // Groups at runtime. create_group: on a node that is one of `members`,
  // creates group `group` (non-zero) with `members` as its initial
  // membership, durably (it is reopened at every start). Call it on every
  // initial member with the same list: like static groups, each writes the
  // same bootstrap entries, and they elect a leader among themselves. OK if
  // the group is already here with the same member ids; AlreadyExists if it
  // was removed from this node (a removed id is never reused) or is here
  // with other members; InvalidArgument for id 0, a member twice or with a
  // bad address, no voter, or this node not among them. With no members it
  // creates an empty replica (no log yet, reopened at every start): for a
  // node that the group's leader then adds (add_learner / add_voter), since
  // a node outside the initial members must not write their bootstrap.
  // remove_group: removes this node's replica (not a membership change: the
  // other members keep theirs until removed there too): the group stops at
  // once (its waiting requests fail, later ones are NotFound), and its log
  // and snapshots are deleted; `done` once the removal is durable. OK if
  // already removed; NotFound if the group was never hosted here. A group
  // of [node] groups may be removed too; it then stays removed.
  void create_group(GroupId group, std::vector<PeerConfig> members, DoneCallback done);
  void remove_group(GroupId group, DoneCallback done);
  // The groups open on this node, ascending.
  std::vector<GroupId> groups() const;

  // ---- Blocking API (not on a shard thread).
  absl::Status create_group(GroupId group, std::vector<PeerConfig> members);
  absl::Status remove_group(GroupId group);
  absl::StatusOr<ProposeResult> propose(GroupId group, std::string data);
  absl::StatusOr<uint64_t> open_session(GroupId group);
  absl::Status close_session(GroupId group, uint64_t session);
  absl::StatusOr<ProposeResult> propose(GroupId group, SessionRef session, std::string data);
  absl::StatusOr<std::string> read(GroupId group, std::string query,
                                   ReadConsistency consistency = ReadConsistency::kLinearizable);
  absl::StatusOr<ConfState> change_membership(GroupId group, std::vector<MemberChange> changes);
  absl::StatusOr<ConfState> add_voter(GroupId group, NodeId node, std::string address);
  absl::StatusOr<ConfState> add_learner(GroupId group, NodeId node, std::string address);
  absl::StatusOr<ConfState> promote(GroupId group, NodeId node);
  absl::StatusOr<ConfState> remove(GroupId group, NodeId node);
  absl::StatusOr<ConfState> leave(GroupId group);
  absl::Status transfer_leader(GroupId group, NodeId target);
  absl::StatusOr<Index> make_snapshot(GroupId group);

  // ---- Asynchronous inspection (safe on a shard thread, e.g. from an HTTP
  // handler served by the node's reactor).
  void leader(GroupId group, absl::AnyInvocable<void(absl::StatusOr<LeaderHint>)> done);
  void group_status_json(GroupId group, ReadCallback done);

  // ---- Embedding: run code on a shard's reactor thread, for servers that
  // share the node's reactors (memstore's HTTP API). False if refused. The
  // Reactor is declared only: code that uses it includes net/reactor.h
  // (not a public header) and links raft_net.
  bool run_on_shard(uint32_t shard, absl::AnyInvocable<void(net::Reactor&)> fn);
  uint32_t shard_count() const;

  // ---- Inspection (blocking, cheap).
  absl::StatusOr<LeaderHint> leader(GroupId group) const;
  absl::StatusOr<std::vector<MemberInfo>> members(GroupId group) const;
  // JSON: {"node":id,"address":...,"leader_balance":bool,"leaders":n,
  // "groups":[<Group::status_json()>...]}.
  std::string status_json() const;
  absl::StatusOr<std::string> group_status_json(GroupId group) const;
  // Prometheus text exposition of the node's metrics.
  std::string metrics_text() const;

  // ---- Leader balance ([balance] leaders; BalanceConfig): on or off at run
  // time, any thread. While on, this node hands leadership of some of the
  // groups it leads to less-loaded voters whenever it leads more than its
  // share by more than the margin.
  void set_leader_balance(bool on);
  bool leader_balance() const;
  // Groups this node leads now (cheap, any thread).
  uint64_t groups_led() const;

  // ---- TLS ([tls]). Reads the certificate, key and CA files again: new
  // connections use them, open ones keep theirs. On failure (unreadable,
  // key not matching the certificate...) the node keeps the files it had
  // and the status says why. FailedPrecondition without [tls]. Any thread.
  absl::Status reload_tls();

 private:
  explicit Node(std::unique_ptr<NodeImpl> impl);
  // A kPropose request (plain, in a session, opening or closing one) through
  // the client service.
  void propose_request(GroupId group, protocol::ClientRequest req, ProposeCallback done);
  // A kCreateGroup / kRemoveGroup request through the client service.
  void group_request(protocol::ClientRequest req, DoneCallback done);
  std::unique_ptr<NodeImpl> impl_;
};

}  // namespace raft
