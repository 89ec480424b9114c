#include "engine/node/client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "net/address.h"
#include "net/frame.h"
#include "net/handshake.h"
#include "net/socket.h"
#include "protocol/client_codec.h"
#include "protocol/client_errors.h"

namespace raft {

namespace {

using SteadyClock = std::chrono::steady_clock;

int remaining_ms(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

absl::Status errno_status(const char* what, const std::string& address) {
  // Refused when connecting; call_pipelined marks a send's or a receive's unknown.
  return refused(absl::UnavailableError(absl::StrCat(what, " ", address, ": ", strerror(errno))));
}

// Only a refusal guarantees the request did not take effect: an unknown
// outcome is never retried (it could apply a write twice).
bool retryable(const absl::Status& s) { return outcome_of(s) == Outcome::kRefused; }

}  // namespace

Client::Client(std::vector<std::string> addresses, ClientOptions options)
    : addresses_(std::move(addresses)), options_(options), rng_(options.seed) {}

Client::~Client() { disconnect(); }

void Client::disconnect() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  connected_address_.clear();
  decoder_.reset();
}

absl::Status Client::connect_to(const std::string& address) {
  disconnect();
  // Literals, "[ipv6]:port" and host names (resolved here, on every
  // connect, so a node that moved is found again): net/address.h.
  auto connected = net::connect_blocking(address, options_.connect_timeout);
  if (!connected.ok()) {
    if (absl::IsInvalidArgument(connected.status())) return connected.status();
    return refused(connected.status());
  }
  int fd = *connected;
  fd_ = fd;
  connected_address_ = address;
  decoder_ = std::make_unique<net::FrameDecoder>(options_.max_frame_bytes, 64 * 1024);
  net::HandshakeInfo hello;
  hello.cluster_id = options_.cluster_id;
  hello.role = net::ConnectionRole::kClient;
  if (auto s = write_all(net::frame_to_string(net::encode_handshake(hello))); !s.ok()) {
    disconnect();
    return s;
  }
  // The node answers with its own handshake (or a reject naming the reason).
  auto deadline = SteadyClock::now() + options_.connect_timeout;
  bool got = false;
  absl::Status result;
  while (!got) {
    pollfd rp{fd_, POLLIN, 0};
    int pr = ::poll(&rp, 1, remaining_ms(deadline));
    if (pr <= 0) {
      result = absl::UnavailableError(absl::StrCat("handshake with ", address, ": timed out"));
      break;
    }
    size_t cap = 0;
    char* buf = decoder_->prepare_write(&cap);
    ssize_t n = ::recv(fd_, buf, cap, 0);
    if (n <= 0) {
      result = absl::UnavailableError(absl::StrCat("handshake with ", address, ": closed"));
      break;
    }
    decoder_->commit_write(static_cast<size_t>(n));
    net::FrameError e = decoder_->decode([&](const net::ReceivedFrame& f) {
      if (f.frame->body_type() == fbs::FrameBody::HandshakeReject) {
        const auto* rej = f.frame->body_as_HandshakeReject();
        result = absl::FailedPreconditionError(
            absl::StrCat("node ", address,
                         " refused the connection: ", rej->reason() ? rej->reason()->str() : ""));
      } else if (f.frame->body_type() != fbs::FrameBody::Handshake) {
        result = absl::InternalError("expected a handshake");
      }
      got = true;
      return false;
    });
    if (e != net::FrameError::kNone) {
      result = absl::DataLossError(
          absl::StrCat("bad frame from ", address, ": ", net::frame_error_name(e)));
      break;
    }
  }
  if (!result.ok()) disconnect();
  return result;
}

absl::Status Client::ensure_connected() {
  if (fd_ >= 0) return absl::OkStatus();
  if (!preferred_.empty()) {
    std::string p = std::move(preferred_);
    preferred_.clear();
    if (connect_to(p).ok()) return absl::OkStatus();
  }
  absl::Status last = absl::UnavailableError("no address to connect to");
  for (size_t i = 0; i < addresses_.size(); ++i) {
    const std::string& a = addresses_[next_address_ % addresses_.size()];
    ++next_address_;
    last = connect_to(a);
    if (last.ok()) return last;
  }
  return last;
}

absl::Status Client::write_all(const std::string& bytes) {
  size_t off = 0;
  auto deadline = SteadyClock::now() + options_.request_timeout;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
        return absl::UnavailableError("send timed out");
      }
      continue;
    }
    return errno_status("send to", connected_address_);
  }
  return absl::OkStatus();
}

absl::Status Client::read_replies(std::vector<protocol::ClientResponse>& out, size_t count,
                                  SteadyClock::time_point deadline) {
  while (out.size() < count) {
    absl::Status bad;
    net::FrameError e = decoder_->decode([&](const net::ReceivedFrame& f) {
      if (f.frame->body_type() != fbs::FrameBody::ClientResponseBatch) return true;
      auto rs = protocol::decode_client_responses(f);
      if (!rs.ok()) {
        bad = rs.status();
        return false;
      }
      for (protocol::ClientResponse& r : *rs) out.push_back(std::move(r));
      return true;
    });
    if (e != net::FrameError::kNone) {
      return absl::DataLossError(
          absl::StrCat("bad frame from ", connected_address_, ": ", net::frame_error_name(e)));
    }
    if (!bad.ok()) return absl::DataLossError(absl::StrCat("bad response: ", bad.message()));
    if (out.size() >= count) break;
    pollfd p{fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, remaining_ms(deadline));
    if (pr <= 0) return absl::DeadlineExceededError("no reply in time; the outcome is unknown");
    size_t cap = 0;
    char* buf = decoder_->prepare_write(&cap);
    ssize_t n = ::recv(fd_, buf, cap, 0);
    if (n == 0) return absl::UnavailableError("connection closed; the outcome is unknown");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return errno_status("recv from", connected_address_);
    }
    decoder_->commit_write(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<protocol::ClientResponse>> Client::call_pipelined(
    std::vector<protocol::ClientRequest> calls) {
  if (auto s = ensure_connected(); !s.ok()) return s;
  absl::flat_hash_map<uint64_t, size_t> position;
  for (size_t i = 0; i < calls.size(); ++i) {
    calls[i].request_id = next_request_id_++;
    position[calls[i].request_id] = i;
  }
  // From the first byte sent on, a failure leaves the outcome unknown.
  if (auto s = write_all(net::frame_to_string(protocol::encode_client_requests(calls))); !s.ok()) {
    disconnect();
    return unknown(s);
  }
  std::vector<protocol::ClientResponse> got;
  auto deadline = SteadyClock::now() + options_.request_timeout;
  if (auto s = read_replies(got, calls.size(), deadline); !s.ok()) {
    disconnect();
    return unknown(s);
  }
  std::vector<protocol::ClientResponse> ordered(calls.size());
  for (protocol::ClientResponse& r : got) {
    auto it = position.find(r.request_id);
    if (it != position.end()) ordered[it->second] = std::move(r);
  }
  return ordered;
}

absl::StatusOr<protocol::ClientResponse> Client::call(protocol::ClientRequest call) {
  auto backoff = options_.backoff_initial;
  absl::Status last;
  int hops = 0;  // Leader hints followed without waiting.
  bool wait = false;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (wait) {
      std::uniform_int_distribution<int64_t> jitter(0, backoff.count());
      std::this_thread::sleep_for(backoff / 2 + std::chrono::milliseconds(jitter(rng_) / 2));
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
    wait = true;
    if (absl::Status s = ensure_connected(); !s.ok()) {
      last = s;
      continue;  // Nothing was sent: safe to retry.
    }
    auto replies = call_pipelined({call});
    if (!replies.ok()) {
      // Sent, but no answer: a read or status may be retried, a change not.
      last = replies.status();
      if (call.kind == protocol::RequestKind::kRead ||
          call.kind == protocol::RequestKind::kStatus ||
          call.kind == protocol::RequestKind::kLeader ||
          call.kind == protocol::RequestKind::kPeers) {
        continue;
      }
      return last;
    }
    protocol::ClientResponse& r = (*replies)[0];
    absl::Status status = protocol::response_status(r);
    if (status.ok() || !retryable(status)) return r;
    if (!is_not_leader(status)) hops = 0;
    last = status;
    if (auto hint = not_leader_hint(status); hint && !hint->address.empty()) {
      // Go straight to the leader, without waiting.
      // Going straight to the leader costs no wait, a few times in a row
      // (hints can be stale during an election).
      if (hint->address != connected_address_ && hops < 3) {
        ++hops;
        preferred_ = hint->address;
        disconnect();
        wait = false;
        --attempt;
        continue;
      }
    }
  }
  return last.ok() ? refused(absl::UnavailableError("gave up")) : last;
}

absl::StatusOr<protocol::ClientResponse> Client::checked(
    absl::StatusOr<protocol::ClientResponse> r) {
  if (!r.ok()) return r.status();
  if (absl::Status s = protocol::response_status(*r); !s.ok()) return s;
  return r;
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
