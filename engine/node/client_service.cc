#include "engine/node/client_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/node/config.h"
#include "engine/node/errors.h"
#include "engine/node/shard_runtime.h"
#include "protocol/client_errors.h"

namespace raft {
namespace {

std::vector<protocol::PeerInfo> peer_infos(const Group& g) {
  ConfState cs = g.conf_state();
  std::vector<protocol::PeerInfo> out;
  for (const auto& [id, address] : g.peers()) {
    PeerRole role = PeerRole::kVoter;
    if (std::find(cs.learners.begin(), cs.learners.end(), id) != cs.learners.end()) {
      role = PeerRole::kLearner;
    }
    out.push_back(protocol::PeerInfo{id, address, role});
  }
  return out;
}

}  // namespace

void execute_client_request(const NodeContext& node, ShardRuntime* rt, Group* g,
                            protocol::ClientRequest req, ClientReply reply, bool may_forward) {
  protocol::ClientResponse r;
  r.request_id = req.request_id;
  r.kind = req.kind;
  auto fail = [&](const absl::Status& s) {
    protocol::set_response_error(r, s);
    reply(std::move(r));
  };
  if (rt == nullptr) return fail(refused(absl::UnavailableError("node is overloaded or stopping")));
  bump(rt->metrics().client_requests);
  // Groups at runtime: answered here, on the group's shard, whether or not
  // the group is hosted (never forwarded: each member is asked itself).
  if (req.kind == protocol::RequestKind::kCreateGroup) {
    std::vector<PeerConfig> members;
    for (const protocol::PeerInfo& p : req.members) {
      members.push_back(PeerConfig{p.id, p.address, p.role, ""});
    }
    const GroupId id = req.group;
    absl::Status s = rt->create_group(id, members, [&node, id] {
      return node.make_state_machine ? node.make_state_machine(id) : nullptr;
    });
    if (!s.ok()) return fail(failed(s));
    r.node_id = node.node_id;
    return reply(std::move(r));
  }
  if (req.kind == protocol::RequestKind::kRemoveGroup) {
    rt->remove_group(req.group, [r, reply = std::move(reply), &node](absl::Status s) mutable {
      if (s.ok()) {
        r.node_id = node.node_id;
      } else {
        protocol::set_response_error(r, s);
      }
      reply(std::move(r));
    });
    return;
  }
  if (g == nullptr) {
    return fail(
        failed(absl::NotFoundError(absl::StrCat("group ", req.group, " is not hosted here"))));
  }
  // An address that goes into the peer table must be one the transports can
  // dial: refuse a bad one here, naming it, rather than log it on every shard.
  auto check_address = [](const std::string& address) {
    std::string host;
    uint16_t port = 0;
    return parse_host_port(address, &host, &port);
  };
  if ((req.kind == protocol::RequestKind::kRequestId || req.kind == protocol::RequestKind::kJoin) &&
      !req.address.empty()) {
    if (absl::Status s = check_address(req.address); !s.ok()) return fail(failed(s));
  }
  for (const MemberChange& ch : req.changes) {
    if (ch.address.empty()) continue;
    if (absl::Status s = check_address(ch.address); !s.ok()) return fail(failed(s));
  }
  const bool writes = req.kind == protocol::RequestKind::kPropose ||
                      req.kind == protocol::RequestKind::kChangeConfig ||
                      req.kind == protocol::RequestKind::kJoin ||
                      req.kind == protocol::RequestKind::kLeave ||
                      req.kind == protocol::RequestKind::kRequestId;
  if (writes && may_forward && node.config.forward_to_leader && !g->is_leader() &&
      g->leader() != kNoNode && g->leader() != node.node_id) {
    // The leader answers; its answer (the state machine's result included)
    // comes back over the peer connections.
    if (req.kind == protocol::RequestKind::kLeave && req.node_id == kNoNode)
      req.node_id = node.node_id;
    rt->forward(g->leader(), std::move(req), std::move(reply));
    return;
  }
  switch (req.kind) {
    case protocol::RequestKind::kPropose: {
      bump(rt->metrics().proposals);
      // The answer keeps only what identifies it: the response is built
      // when it comes (a copy of an empty one was a visible part of every
      // proposal's CPU).
      ProposeCallback answer = [id = r.request_id, kind = r.kind, reply = std::move(reply),
                                rt](absl::StatusOr<ProposeResult> res) mutable {
        protocol::ClientResponse out;
        out.request_id = id;
        out.kind = kind;
        if (res.ok()) {
          out.index = res->index;
          out.term = res->term;
          out.result = Slice(std::move(res->result));
        } else {
          bump(rt->metrics().proposals_failed);
          protocol::set_response_error(out, res.status());
        }
        reply(std::move(out));
      };
      switch (req.session_op) {
        case protocol::SessionOp::kOpen:
          g->open_session(std::move(answer));
          break;
        case protocol::SessionOp::kClose:
          g->close_session(req.session, std::move(answer));
          break;
        case protocol::SessionOp::kNone:
          if (req.session != 0) {
            g->propose_in_session(req.session, req.sequence, req.floor, std::move(req.data),
                                  std::move(answer));
          } else {
            g->propose(std::move(req.data), std::move(answer));
          }
          break;
      }
      rt->mark_dirty(g);
      return;
    }
    case protocol::RequestKind::kRead: {
      bump(rt->metrics().reads);
      g->read(req.data.to_string(), req.consistency,
              [r, reply = std::move(reply), g](absl::StatusOr<std::string> res) mutable {
                r.index = g->applied();
                if (res.ok()) {
                  r.result = Slice(std::move(*res));
                } else {
                  protocol::set_response_error(r, res.status());
                }
                reply(std::move(r));
              });
      rt->mark_dirty(g);
      return;
    }
    case protocol::RequestKind::kChangeConfig:
    case protocol::RequestKind::kJoin:
    case protocol::RequestKind::kLeave: {
      std::vector<MemberChange> changes = std::move(req.changes);
      ConfCallback answer = [r, reply = std::move(reply),
                             g](absl::StatusOr<ConfState> res) mutable {
        if (res.ok()) {
          protocol::set_response_conf_state(r, *res);
          r.index = g->applied();
          r.node_id = g->self();
          r.peers = peer_infos(*g);
        } else {
          protocol::set_response_error(r, res.status());
        }
        reply(std::move(r));
      };
      if (req.kind == protocol::RequestKind::kJoin) {
        ConfState cs = g->conf_state();
        const bool learner =
            std::find(cs.learners.begin(), cs.learners.end(), req.node_id) != cs.learners.end();
        if (!req.as_learner && req.when_caught_up) {
          // A joiner asking for its own promotion (join_as = voter): the
          // leader waits until it has caught up.
          g->promote_learner(req.node_id, std::move(answer));
          rt->mark_dirty(g);
          return;
        }
        MemberChangeKind kind = req.as_learner ? MemberChangeKind::kAddLearner
                                : learner      ? MemberChangeKind::kPromote
                                               : MemberChangeKind::kAddVoter;
        changes.push_back(MemberChange{kind, req.node_id, req.address});
      } else if (req.kind == protocol::RequestKind::kLeave) {
        changes.push_back(
            MemberChange{MemberChangeKind::kRemove, req.node_id ? req.node_id : node.node_id, ""});
      }
      g->change_membership(std::move(changes), std::move(answer));
      rt->mark_dirty(g);
      return;
    }
    case protocol::RequestKind::kRequestId:
      if (req.address.empty())
        return fail(failed(absl::InvalidArgumentError("request_id: no address")));
      g->reserve_id(req.address,
                    [r, reply = std::move(reply), g](absl::StatusOr<NodeId> id) mutable {
                      if (id.ok()) {
                        r.node_id = *id;
                        r.peers = peer_infos(*g);
                      } else {
                        protocol::set_response_error(r, id.status());
                      }
                      reply(std::move(r));
                    });
      rt->mark_dirty(g);
      return;
    case protocol::RequestKind::kTransferLeader:
      g->transfer_leader(req.node_id, [r, reply = std::move(reply), g](absl::Status s) mutable {
        protocol::set_response_error(r, s);
        r.leader_id = g->leader();
        reply(std::move(r));
      });
      rt->mark_dirty(g);
      return;
    case protocol::RequestKind::kSnapshot:
      g->make_snapshot([r, reply = std::move(reply)](absl::StatusOr<Index> index) mutable {
        if (index.ok()) {
          r.index = *index;
        } else {
          protocol::set_response_error(r, index.status());
        }
        reply(std::move(r));
      });
      rt->mark_dirty(g);
      return;
    case protocol::RequestKind::kStatus:
      r.json = g->status_json();
      return reply(std::move(r));
    case protocol::RequestKind::kLeader:
      r.leader_id = g->leader();
      r.leader_address =
          g->leader() == node.node_id ? node.bound_address : g->address_of(g->leader());
      r.term = g->term();
      return reply(std::move(r));
    case protocol::RequestKind::kPeers:
      r.peers = peer_infos(*g);
      return reply(std::move(r));
    case protocol::RequestKind::kCreateGroup:
    case protocol::RequestKind::kRemoveGroup:
      return;  // Answered above.
  }
}

}  // namespace raft
