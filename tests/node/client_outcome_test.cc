// raft::Client against a scripted node: it retries only answers whose
// outcome is *refused*, never one that may have been applied (*unknown*),
// and a lost connection after a propose was sent is unknown too. Also the
// outcome's trip over the wire (fbs::Error.outcome) and the runtime's
// tagging of its own errors (errors.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "engine/node/client.h"
#include "engine/node/errors.h"
#include "fbs/frame_generated.h"
#include "net/frame.h"
#include "net/handshake.h"
#include "protocol/client_codec.h"
#include "protocol/client_errors.h"

namespace raft {
namespace {

// What the fake node does with the n-th request (0-based) it receives.
enum class Action { kAnswer, kClose };
struct Step {
  Action action = Action::kAnswer;
  absl::Status status;  // The answer's error (OK: success).
};

// A node that speaks the handshake and answers requests from a script, one
// connection at a time, counting the requests it saw. The last step repeats.
class ScriptedNode {
 public:
  explicit ScriptedNode(std::vector<Step> script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof(a);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    address_ = absl::StrCat("127.0.0.1:", ntohs(a.sin_port));
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedNode() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  const std::string& address() const { return address_; }
  int requests() const { return requests_.load(); }

 private:
  void serve() {
    while (!stop_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      serve_connection(fd);
      ::close(fd);
    }
  }

  void serve_connection(int fd) {
    net::FrameDecoder decoder;
    bool closed = false;
    while (!closed && !stop_) {
      size_t cap = 0;
      char* buf = decoder.prepare_write(&cap);
      ssize_t n = ::recv(fd, buf, cap, 0);
      if (n <= 0) return;
      decoder.commit_write(static_cast<size_t>(n));
      std::vector<std::string> out;
      net::FrameError e = decoder.decode([&](const net::ReceivedFrame& f) {
        if (f.frame->body_type() == fbs::FrameBody::Handshake) {
          net::HandshakeInfo hello;
          hello.cluster_id = 1;
          hello.node_id = 1;
          hello.role = net::ConnectionRole::kClient;
          out.push_back(net::frame_to_string(net::encode_handshake(hello)));
          return true;
        }
        auto requests = protocol::decode_client_requests(f);
        if (!requests.ok()) return false;
        std::vector<protocol::ClientResponse> responses;
        for (const protocol::ClientRequest& req : *requests) {
          const int n = requests_++;
          const Step& step = script_[std::min<size_t>(n, script_.size() - 1)];
          if (step.action == Action::kClose) {
            closed = true;
            return false;
          }
          protocol::ClientResponse r;
          r.request_id = req.request_id;
          r.kind = req.kind;
          protocol::set_response_error(r, step.status);
          responses.push_back(std::move(r));
        }
        out.push_back(net::frame_to_string(protocol::encode_client_responses(responses)));
        return true;
      });
      if (e != net::FrameError::kNone) return;
      for (const std::string& bytes : out) {
        if (::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(bytes.size()))
          return;
      }
    }
  }

  std::vector<Step> script_;
  int listen_fd_ = -1;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

ClientOptions fast_options() {
  ClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.request_timeout = std::chrono::milliseconds(5000);
  o.backoff_initial = std::chrono::milliseconds(1);
  o.backoff_max = std::chrono::milliseconds(2);
  o.max_attempts = 5;
  return o;
}

protocol::ClientRequest propose_request() {
  protocol::ClientRequest req;
  req.kind = protocol::RequestKind::kPropose;
  req.group = 1;
  req.data = Slice(std::string("x"));
  return req;
}

TEST(ClientOutcome, RefusedIsRetriedUntilAnswered) {
  ScriptedNode node({{Action::kAnswer, refused(absl::UnavailableError("no leader"))},
                     {Action::kAnswer, refused(absl::ResourceExhaustedError("full"))},
                     {Action::kAnswer, absl::OkStatus()}});
  Client client({node.address()}, fast_options());
  absl::StatusOr<protocol::ClientResponse> r = client.call(propose_request());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(protocol::response_status(*r).ok()) << protocol::response_status(*r);
  EXPECT_EQ(node.requests(), 3);
}

TEST(ClientOutcome, UnknownIsNeverRetried) {
  // Each is an answer that the write may have been applied, whatever its
  // code: Unavailable used to be retried on its code alone.
  const absl::Status answers[] = {
      unknown(absl::DeadlineExceededError("proposal timed out; its outcome is unknown")),
      unknown(absl::UnavailableError("outcome unknown: replaced by a snapshot")),
      unknown(absl::AbortedError("replaced in this node's log")),
      unknown(absl::CancelledError("group is shutting down")),
  };
  for (const absl::Status& answer : answers) {
    ScriptedNode node({{Action::kAnswer, answer}, {Action::kAnswer, absl::OkStatus()}});
    Client client({node.address()}, fast_options());
    absl::StatusOr<protocol::ClientResponse> r = client.call(propose_request());
    ASSERT_TRUE(r.ok()) << r.status();
    absl::Status got = protocol::response_status(*r);
    EXPECT_EQ(outcome_of(got), Outcome::kUnknown) << got;
    EXPECT_EQ(got.code(), answer.code()) << got;
    EXPECT_EQ(node.requests(), 1) << answer;
  }
}

TEST(ClientOutcome, FailedIsNotRetried) {
  ScriptedNode node({{Action::kAnswer, failed(absl::InvalidArgumentError("empty proposal"))},
                     {Action::kAnswer, absl::OkStatus()}});
  Client client({node.address()}, fast_options());
  absl::StatusOr<protocol::ClientResponse> r = client.call(propose_request());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(outcome_of(protocol::response_status(*r)), Outcome::kFailed);
  EXPECT_EQ(node.requests(), 1);
}

TEST(ClientOutcome, ConnectionLostAfterAProposeIsUnknownAndNotRetried) {
  ScriptedNode node({{Action::kClose, {}}, {Action::kAnswer, absl::OkStatus()}});
  Client client({node.address()}, fast_options());
  absl::StatusOr<protocol::ClientResponse> r = client.call(propose_request());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(outcome_of(r.status()), Outcome::kUnknown) << r.status();
  EXPECT_EQ(node.requests(), 1);
}

TEST(ClientOutcome, ConnectionLostDuringAReadIsRetried) {
  ScriptedNode node({{Action::kClose, {}}, {Action::kAnswer, absl::OkStatus()}});
  Client client({node.address()}, fast_options());
  protocol::ClientRequest req;
  req.kind = protocol::RequestKind::kRead;
  req.group = 1;
  absl::StatusOr<protocol::ClientResponse> r = client.call(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(protocol::response_status(*r).ok());
  EXPECT_EQ(node.requests(), 2);
}

TEST(ClientOutcome, NoNodeToReachIsRefused) {
  ClientOptions o = fast_options();
  o.max_attempts = 2;
  Client client({"127.0.0.1:1"}, o);  // Nothing listens on port 1.
  absl::StatusOr<protocol::ClientResponse> r = client.call(propose_request());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(outcome_of(r.status()), Outcome::kRefused) << r.status();
}

TEST(Outcome, TravelsOverTheWire) {
  for (Outcome o : {Outcome::kRefused, Outcome::kUnknown, Outcome::kFailed}) {
    protocol::ClientResponse r;
    r.request_id = 7;
    // A code whose default outcome differs from every tag.
    protocol::set_response_error(r, with_outcome(absl::DataLossError("x"), o));
    net::OutFrame frame = protocol::encode_client_responses({r});
    net::FrameDecoder decoder;
    std::vector<protocol::ClientResponse> got;
    ASSERT_EQ(decoder.feed(net::frame_to_string(frame),
                           [&](const net::ReceivedFrame& f) {
                             auto rs = protocol::decode_client_responses(f);
                             EXPECT_TRUE(rs.ok());
                             if (rs.ok()) got = *rs;
                             return true;
                           }),
              net::FrameError::kNone);
    ASSERT_EQ(got.size(), 1u);
    absl::Status s = protocol::response_status(got[0]);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(outcome_of(s), o) << s;
  }
}

TEST(Outcome, NotLeaderIsRefusedAndKeepsItsHint) {
  absl::Status s = not_leader_error(2, "127.0.0.1:7002");
  EXPECT_EQ(outcome_of(s), Outcome::kRefused);
  protocol::ClientResponse r;
  protocol::set_response_error(r, s);
  absl::Status back = protocol::response_status(r);
  EXPECT_EQ(outcome_of(back), Outcome::kRefused);
  ASSERT_TRUE(not_leader_hint(back).has_value());
  EXPECT_EQ(not_leader_hint(back)->leader_id, 2u);
  EXPECT_EQ(outcome_of(not_leader_error(0, "")), Outcome::kRefused);
}

TEST(Outcome, ATagReplacesAnEarlierOne) {
  absl::Status s = refused(absl::DeadlineExceededError("t"));
  EXPECT_EQ(outcome_of(s), Outcome::kRefused);
  EXPECT_EQ(outcome_of(unknown(s)), Outcome::kUnknown);
  EXPECT_STREQ(outcome_name(Outcome::kFailed), "failed");
}

}  // namespace
}  // namespace raft
