#include "engine/node/client.h"

#include <algorithm>
#include <future>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "protocol/client_codec.h"
#include "protocol/client_errors.h"

namespace raft {

namespace {

using SteadyClock = std::chrono::steady_clock;

absl::StatusOr<protocol::ClientResponse> checked(absl::StatusOr<protocol::ClientResponse> r) {
  if (!r.ok()) return r.status();
  if (absl::Status s = protocol::response_status(*r); !s.ok()) return s;
  return r;
}

struct Answer {
  absl::StatusOr<protocol::ClientResponse> response = absl::UnknownError("no answer");
  std::string address;
};

}  // namespace

Client::Client(std::vector<std::string> addresses, ClientOptions options)
    : addresses_(std::move(addresses)), options_(options) {}

Client::~Client() = default;

AsyncClient& Client::async() {
  if (async_ == nullptr) async_ = std::make_unique<AsyncClient>(addresses_, options_);
  return *async_;
}

CallOptions Client::call_options() const {
  // Each attempt waits request_timeout for its answer; the whole call is
  // bounded by the attempts (connects, answers, backoffs) it may make.
  CallOptions o;
  o.attempt_timeout = options_.request_timeout;
  o.deadline = SteadyClock::now() + options_.request_timeout +
               std::max(options_.max_attempts, 1) *
                   (options_.backoff_max + options_.connect_timeout + options_.request_timeout);
  return o;
}

absl::StatusOr<protocol::ClientResponse> Client::call(protocol::ClientRequest request) {
  const CallOptions o = call_options();
  std::promise<Answer> promise;
  std::future<Answer> answer = promise.get_future();
  async().call(
      std::move(request),
      [&promise](absl::StatusOr<protocol::ClientResponse>&& r, const CallInfo& info) {
        promise.set_value(Answer{std::move(r), std::string(info.address)});
      },
      o);
  Answer a = answer.get();
  if (!a.address.empty()) connected_address_ = a.address;
  return std::move(a.response);
}

absl::StatusOr<std::vector<protocol::ClientResponse>> Client::call_pipelined(
    std::vector<protocol::ClientRequest> calls) {
  if (calls.empty()) return std::vector<protocol::ClientResponse>{};
  CallOptions o;
  o.retry = false;
  o.attempt_timeout = options_.request_timeout;
  o.deadline =
      SteadyClock::now() + options_.request_timeout +
      static_cast<int64_t>(std::max<size_t>(addresses_.size(), 1)) * options_.connect_timeout;
  const size_t n = calls.size();
  std::vector<std::promise<Answer>> promises(n);
  std::vector<std::future<Answer>> answers;
  std::vector<RawCallback> done;
  answers.reserve(n);
  done.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    answers.push_back(promises[i].get_future());
    done.push_back(
        [p = &promises[i]](absl::StatusOr<protocol::ClientResponse>&& r, const CallInfo& info) {
          p->set_value(Answer{std::move(r), std::string(info.address)});
        });
  }
  async().call_batch(std::move(calls), std::move(done), o);
  std::vector<protocol::ClientResponse> out;
  out.reserve(n);
  absl::Status first_error;
  for (size_t i = 0; i < n; ++i) {
    Answer a = answers[i].get();
    if (!a.address.empty()) connected_address_ = a.address;
    if (!a.response.ok()) {
      if (first_error.ok()) first_error = a.response.status();
      out.emplace_back();
      continue;
    }
    out.push_back(std::move(*a.response));
  }
  if (!first_error.ok()) return first_error;
  return out;
}

namespace {
protocol::ClientRequest request(protocol::RequestKind kind, GroupId group) {
  protocol::ClientRequest c;
  c.kind = kind;
  c.group = group;
  return c;
}

PeerAddresses addresses_of(const std::vector<protocol::PeerInfo>& peers) {
  PeerAddresses out;
  for (const protocol::PeerInfo& p : peers) out[p.id] = p.address;
  return out;
}

}  // namespace

absl::StatusOr<ProposeResult> Client::propose(GroupId group, std::string data) {
  // In a session (ClientOptions::sessions): the async client retries an
  // unknown outcome with the same sequence number, applied once.
  if (options_.sessions) {
    std::promise<absl::StatusOr<ProposeResult>> promise;
    std::future<absl::StatusOr<ProposeResult>> answer = promise.get_future();
    std::string address;
    async().propose_addressed(
        group, std::move(data),
        [&](absl::StatusOr<ProposeResult> r, std::string_view by) {
          address = std::string(by);
          promise.set_value(std::move(r));
        },
        call_options());
    absl::StatusOr<ProposeResult> r = answer.get();
    if (!address.empty()) connected_address_ = address;
    return r;
  }
  protocol::ClientRequest c = request(protocol::RequestKind::kPropose, group);
  c.data = Slice(std::move(data));
  auto r = checked(call(std::move(c)));
  if (!r.ok()) return r.status();
  return ProposeResult{r->index, r->term, r->result.to_string()};
}

absl::StatusOr<std::string> Client::read(GroupId group, std::string query,
                                         ReadConsistency consistency) {
  protocol::ClientRequest c = request(protocol::RequestKind::kRead, group);
  c.data = Slice(std::move(query));
  c.consistency = consistency;
  auto r = checked(call(std::move(c)));
  if (!r.ok()) return r.status();
  return r->result.to_string();
}

absl::StatusOr<ConfState> Client::change_config(GroupId group, std::vector<MemberChange> changes) {
  protocol::ClientRequest c = request(protocol::RequestKind::kChangeConfig, group);
  c.changes = std::move(changes);
  auto r = checked(call(std::move(c)));
  if (!r.ok()) return r.status();
  return protocol::response_conf_state(*r);
}

absl::StatusOr<NodeId> Client::request_id(GroupId group, std::string address,
                                          PeerAddresses* peers) {
  protocol::ClientRequest c = request(protocol::RequestKind::kRequestId, group);
  c.address = std::move(address);
  auto r = checked(call(std::move(c)));
  if (!r.ok()) return r.status();
  if (peers != nullptr) *peers = addresses_of(r->peers);
  return r->node_id;
}

absl::StatusOr<ConfState> Client::join(GroupId group, NodeId node, std::string address,
                                       bool as_learner) {
  protocol::ClientRequest c = request(protocol::RequestKind::kJoin, group);
  c.node_id = node;
  c.address = std::move(address);
  c.as_learner = as_learner;
  auto r = checked(call(std::move(c)));
  if (!r.ok()) return r.status();
  return protocol::response_conf_state(*r);
}

absl::StatusOr<ConfState> Client::leave(GroupId group, NodeId node) {
  protocol::ClientRequest c = request(protocol::RequestKind::kLeave, group);
  c.node_id = node;
  auto r = checked(call(std::move(c)));
  if (!r.ok()) return r.status();
  return protocol::response_conf_state(*r);
}

absl::Status Client::transfer_leader(GroupId group, NodeId target) {
  protocol::ClientRequest c = request(protocol::RequestKind::kTransferLeader, group);
  c.node_id = target;
  return checked(call(std::move(c))).status();
}

absl::StatusOr<NodeId> Client::create_group(GroupId group, const std::vector<PeerConfig>& members) {
  protocol::ClientRequest c = request(protocol::RequestKind::kCreateGroup, group);
  for (const PeerConfig& p : members) c.members.push_back({p.id, p.address, p.role});
  auto r = checked(call(std::move(c)));
  if (!r.ok()) return r.status();
  return r->node_id;
}

absl::StatusOr<NodeId> Client::remove_group(GroupId group) {
  auto r = checked(call(request(protocol::RequestKind::kRemoveGroup, group)));
  if (!r.ok()) return r.status();
  return r->node_id;
}

absl::StatusOr<Index> Client::snapshot(GroupId group) {
  auto r = checked(call(request(protocol::RequestKind::kSnapshot, group)));
  if (!r.ok()) return r.status();
  return r->index;
}

absl::StatusOr<std::string> Client::status(GroupId group) {
  auto r = checked(call(request(protocol::RequestKind::kStatus, group)));
  if (!r.ok()) return r.status();
  return std::move(r->json);
}

absl::StatusOr<LeaderHint> Client::leader(GroupId group) {
  auto r = checked(call(request(protocol::RequestKind::kLeader, group)));
  if (!r.ok()) return r.status();
  return LeaderHint{r->leader_id, r->leader_address};
}

absl::StatusOr<PeerAddresses> Client::peers(GroupId group) {
  auto r = checked(call(request(protocol::RequestKind::kPeers, group)));
  if (!r.ok()) return r.status();
  return addresses_of(r->peers);
}

}  // namespace raft
