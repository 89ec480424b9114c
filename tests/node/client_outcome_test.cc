// raft::Client and raft::AsyncClient against a scripted node: it retries only answers whose
// outcome is *refused*, never one that may have been applied (*unknown*),
// and a lost connection after a propose was sent is unknown too. Also the
// outcome's trip over the wire (fbs::Error.outcome) and the runtime's
// tagging of its own errors (errors.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "engine/node/async_client.h"
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
enum class Action { kAnswer, kClose, kIgnore };
struct Step {
  Action action = Action::kAnswer;
  absl::Status status;  // The answer's error (OK: success).
  uint64_t index = 0;   // The answer's index (a session's id, for an open).
};

// A node that speaks the handshake and answers requests from a script, one
// connection at a time, counting the requests it saw. The last step repeats.
// With hold_until, it sends no answer before it has seen that many requests,
// so a test knows they were all sent before the client heard anything.
class ScriptedNode {
 public:
  explicit ScriptedNode(std::vector<Step> script, int hold_until = 0)
      : script_(std::move(script)), hold_until_(hold_until) {
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
  // The requests answered or ignored, in order (not those it closed on).
  std::vector<protocol::ClientRequest> seen() const {
    std::lock_guard l(mu_);
    return seen_;
  }

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
    std::vector<std::string> held;  // Answers not sent yet (hold_until).
    while (!closed && !stop_) {
      size_t cap = 0;
      char* buf = decoder.prepare_write(&cap);
      ssize_t n = ::recv(fd, buf, cap, 0);
      if (n <= 0) return;
      decoder.commit_write(static_cast<size_t>(n));
      std::vector<std::string> out;  // The handshake's answer: never held.
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
          if (step.action == Action::kIgnore) continue;
          {
            std::lock_guard l(mu_);
            seen_.push_back(req);
          }
          protocol::ClientResponse r;
          r.request_id = req.request_id;
          r.kind = req.kind;
          r.index = step.index;
          protocol::set_response_error(r, step.status);
          responses.push_back(std::move(r));
        }
        if (!responses.empty()) {
          held.push_back(net::frame_to_string(protocol::encode_client_responses(responses)));
        }
        return true;
      });
      if (e != net::FrameError::kNone) return;
      if (requests_.load() >= hold_until_) {
        for (std::string& bytes : held) out.push_back(std::move(bytes));
        held.clear();
      }
      for (const std::string& bytes : out) {
        if (::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(bytes.size()))
          return;
      }
    }
  }

  std::vector<Step> script_;
  const int hold_until_;
  int listen_fd_ = -1;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::vector<protocol::ClientRequest> seen_;
  std::thread thread_;
};

ClientOptions fast_options() {
  ClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.request_timeout = std::chrono::milliseconds(5000);
  o.backoff_initial = std::chrono::milliseconds(1);
  o.backoff_max = std::chrono::milliseconds(2);
  o.max_attempts = 5;
  // These tests are about plain proposals; sessions have their own below.
  o.sessions = false;
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

// ---------------------------------------------------------------- AsyncClient

using SteadyClock = std::chrono::steady_clock;

// Polls `cond` until it holds or `timeout` passes.
bool poll_until(const std::function<bool()>& cond,
                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return cond();
}

TEST(AsyncClientOutcome, RefusedIsRetriedUntilAnswered) {
  ScriptedNode node({{Action::kAnswer, refused(absl::UnavailableError("no leader"))},
                     {Action::kAnswer, refused(absl::ResourceExhaustedError("full"))},
                     {Action::kAnswer, absl::OkStatus()}});
  AsyncClient client({node.address()}, fast_options());
  absl::StatusOr<ProposeResult> r = client.propose(1, "x").get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(node.requests(), 3);
}

TEST(AsyncClientOutcome, UnknownAndFailedAreNeverRetried) {
  const absl::Status answers[] = {
      unknown(absl::DeadlineExceededError("proposal timed out; its outcome is unknown")),
      unknown(absl::UnavailableError("outcome unknown: replaced by a snapshot")),
      unknown(absl::CancelledError("group is shutting down")),
      failed(absl::InvalidArgumentError("empty proposal")),
  };
  for (const absl::Status& answer : answers) {
    ScriptedNode node({{Action::kAnswer, answer}, {Action::kAnswer, absl::OkStatus()}});
    AsyncClient client({node.address()}, fast_options());
    absl::StatusOr<ProposeResult> r = client.propose(1, "x").get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), answer.code()) << r.status();
    EXPECT_EQ(outcome_of(r.status()), outcome_of(answer)) << r.status();
    EXPECT_EQ(node.requests(), 1) << answer;
  }
}

TEST(AsyncClientOutcome, ConnectionLostIsUnknownForAProposeAndRetriedForARead) {
  {
    ScriptedNode node({{Action::kClose, {}}, {Action::kAnswer, absl::OkStatus()}});
    AsyncClient client({node.address()}, fast_options());
    absl::StatusOr<ProposeResult> r = client.propose(1, "x").get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(outcome_of(r.status()), Outcome::kUnknown) << r.status();
    EXPECT_EQ(node.requests(), 1);
  }
  {
    ScriptedNode node({{Action::kClose, {}}, {Action::kAnswer, absl::OkStatus()}});
    AsyncClient client({node.address()}, fast_options());
    absl::StatusOr<std::string> r = client.read(1, "k").get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(node.requests(), 2);
  }
}

TEST(AsyncClientOutcome, EachRequestFollowsItsLeaderHint) {
  ScriptedNode leader({{Action::kAnswer, absl::OkStatus()}});
  constexpr int kFirst = 50;
  // The follower answers only once all kFirst are in: each then follows
  // its own hint, whatever the machine's speed (under TSan the first
  // answer used to come back before the last request was sent).
  ScriptedNode follower({{Action::kAnswer, not_leader_error(2, leader.address())}}, kFirst);
  AsyncClient client({follower.address()}, fast_options());
  std::vector<std::future<absl::StatusOr<ProposeResult>>> fs;
  for (int i = 0; i < kFirst; ++i) fs.push_back(client.propose(1, absl::StrCat("x", i)));
  for (auto& f : fs) {
    absl::StatusOr<ProposeResult> r = f.get();
    EXPECT_TRUE(r.ok()) << r.status();
  }
  EXPECT_EQ(follower.requests(), kFirst);
  EXPECT_EQ(leader.requests(), kFirst);
  // The hint is kept for the group: later requests go to the leader first.
  ASSERT_TRUE(client.propose(1, "after").get().ok());
  EXPECT_EQ(follower.requests(), kFirst);
  EXPECT_EQ(leader.requests(), kFirst + 1);
}

// ---------------------------------------------------------------- sessions

ClientOptions session_options() {
  ClientOptions o = fast_options();
  o.sessions = true;
  return o;
}

// In a session, an unknown outcome (an answer saying so, a lost connection)
// is sent again with the same session and sequence: the cluster applies it
// once, so the caller gets one answer.
TEST(AsyncClientSession, AnUnknownOutcomeIsRetriedWithTheSameSequence) {
  ScriptedNode node({{Action::kAnswer, absl::OkStatus(), 42},  // The open: session 42.
                     {Action::kAnswer, unknown(absl::DeadlineExceededError("proposal timed out"))},
                     {Action::kClose, {}},
                     {Action::kAnswer, absl::OkStatus(), 50}});
  AsyncClient client({node.address()}, session_options());
  absl::StatusOr<ProposeResult> r = client.propose(1, "x").get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->index, 50u);
  std::vector<protocol::ClientRequest> seen = node.seen();
  ASSERT_EQ(seen.size(), 3u);  // The open, the unknown try, the answered one.
  EXPECT_EQ(seen[0].session_op, protocol::SessionOp::kOpen);
  for (size_t i : {1, 2}) {
    EXPECT_EQ(seen[i].session_op, protocol::SessionOp::kNone);
    EXPECT_EQ(seen[i].session, 42u);
    EXPECT_EQ(seen[i].sequence, 1u);
    EXPECT_EQ(seen[i].floor, 1u);
    EXPECT_EQ(seen[i].data.view(), "x");
  }
  // The next proposal takes the next sequence number; the floor says the
  // first was answered.
  ASSERT_TRUE(client.propose(1, "y").get().ok());
  seen = node.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[3].session, 42u);
  EXPECT_EQ(seen[3].sequence, 2u);
  EXPECT_EQ(seen[3].floor, 2u);
}

// Pipelined proposals share the session; each carries the lowest sequence
// still waiting as its floor.
TEST(AsyncClientSession, PipelinedProposalsShareOneSessionAndCarryTheFloor) {
  ScriptedNode node({{Action::kAnswer, absl::OkStatus(), 7}, {Action::kAnswer, absl::OkStatus()}});
  AsyncClient client({node.address()}, session_options());
  std::vector<std::future<absl::StatusOr<ProposeResult>>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(client.propose(1, absl::StrCat("x", i)));
  for (auto& f : fs) ASSERT_TRUE(f.get().ok());
  std::vector<protocol::ClientRequest> seen = node.seen();
  ASSERT_EQ(seen.size(), 21u);
  EXPECT_EQ(seen[0].session_op, protocol::SessionOp::kOpen);  // One open for all.
  std::vector<uint64_t> sequences;
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].session, 7u);
    EXPECT_GE(seen[i].sequence, seen[i].floor);
    EXPECT_GE(seen[i].floor, 1u);
    sequences.push_back(seen[i].sequence);
  }
  std::sort(sequences.begin(), sequences.end());
  for (size_t i = 0; i < sequences.size(); ++i) EXPECT_EQ(sequences[i], i + 1);
}

// A session the cluster no longer knows (expired) fails the proposal; the
// next proposal opens a new session. A failed open refuses what waited.
TEST(AsyncClientSession, AnExpiredSessionFailsAndTheNextProposalOpensAnother) {
  ScriptedNode node(
      {{Action::kAnswer, absl::OkStatus(), 3},
       {Action::kAnswer, failed(absl::NotFoundError("session 3 is unknown or expired"))},
       {Action::kAnswer, absl::OkStatus(), 9},
       {Action::kAnswer, absl::OkStatus()}});
  AsyncClient client({node.address()}, session_options());
  absl::StatusOr<ProposeResult> r = client.propose(1, "x").get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(client.propose(1, "y").get().ok());
  std::vector<protocol::ClientRequest> seen = node.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[2].session_op, protocol::SessionOp::kOpen);
  EXPECT_EQ(seen[3].session, 9u);
  EXPECT_EQ(seen[3].sequence, 1u);

  ScriptedNode refusing({{Action::kAnswer, failed(absl::InvalidArgumentError("no sessions"))}});
  AsyncClient other({refusing.address()}, session_options());
  absl::StatusOr<ProposeResult> never = other.propose(1, "z").get();
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(outcome_of(never.status()), Outcome::kRefused) << never.status();
}

TEST(AsyncClientDeadline, UnansweredIsUnknownAtItsDeadline) {
  ScriptedNode node({{Action::kIgnore, {}}});
  AsyncClient client({node.address()}, fast_options());
  const auto start = SteadyClock::now();
  CallOptions o;
  o.deadline = start + std::chrono::milliseconds(300);
  absl::StatusOr<ProposeResult> r = client.propose(1, "x", o).get();
  const auto took = SteadyClock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_EQ(outcome_of(r.status()), Outcome::kUnknown) << r.status();
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::milliseconds(300 + 1500));
  EXPECT_EQ(node.requests(), 1);
}

TEST(AsyncClientDeadline, NeverSentIsRefusedAtItsDeadline) {
  ClientOptions opts = fast_options();
  opts.max_attempts = 1000000;
  opts.backoff_initial = std::chrono::milliseconds(20);
  opts.backoff_max = std::chrono::milliseconds(50);
  AsyncClient client({"127.0.0.1:1"}, opts);  // Nothing listens on port 1.
  const auto start = SteadyClock::now();
  CallOptions o;
  o.deadline = start + std::chrono::milliseconds(300);
  absl::StatusOr<ProposeResult> r = client.propose(1, "x", o).get();
  const auto took = SteadyClock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_EQ(outcome_of(r.status()), Outcome::kRefused) << r.status();
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::milliseconds(300 + 1500));
}

TEST(AsyncClientShutdown, DestructionCompletesEveryRequestOnce) {
  ScriptedNode silent({{Action::kIgnore, {}}});
  constexpr int kSent = 200;
  constexpr int kUnsent = 50;
  std::vector<std::atomic<int>> calls(kSent + kUnsent);
  std::vector<absl::Status> got(kSent + kUnsent);
  {
    AsyncClient sent_client({silent.address()}, fast_options());
    ClientOptions opts = fast_options();
    opts.max_attempts = 1000000;
    opts.backoff_initial = std::chrono::milliseconds(50);
    AsyncClient unsent_client({"127.0.0.1:1"}, opts);
    for (int i = 0; i < kSent + kUnsent; ++i) {
      AsyncClient& c = i < kSent ? sent_client : unsent_client;
      c.propose(1, absl::StrCat("x", i), [&calls, &got, i](absl::StatusOr<ProposeResult> r) {
        got[i] = r.status();
        calls[i].fetch_add(1, std::memory_order_acq_rel);
      });
    }
    ASSERT_TRUE(poll_until([&] { return silent.requests() == kSent; })) << silent.requests();
    EXPECT_EQ(sent_client.in_flight(), static_cast<size_t>(kSent));
    EXPECT_EQ(unsent_client.in_flight(), static_cast<size_t>(kUnsent));
  }
  for (int i = 0; i < kSent + kUnsent; ++i) {
    ASSERT_EQ(calls[i].load(std::memory_order_acquire), 1) << i;
    EXPECT_EQ(got[i].code(), absl::StatusCode::kCancelled) << i << " " << got[i];
    EXPECT_EQ(outcome_of(got[i]), i < kSent ? Outcome::kUnknown : Outcome::kRefused)
        << i << " " << got[i];
  }
}

TEST(AsyncClientThreads, ManyThreadsPipelineOnOneConnection) {
  ScriptedNode node({{Action::kAnswer, absl::OkStatus()}});
  AsyncClient client({node.address()}, fast_options());
  constexpr int kThreads = 8;
  constexpr int kEach = 500;
  std::vector<std::atomic<int>> calls(kThreads * kEach);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const int k = t * kEach + i;
        client.propose(1, absl::StrCat("x", k), [&calls, &ok, k](absl::StatusOr<ProposeResult> r) {
          if (r.ok()) ok.fetch_add(1);
          calls[k].fetch_add(1);
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(poll_until([&] { return ok.load() == kThreads * kEach; })) << ok.load();
  for (auto& c : calls) EXPECT_EQ(c.load(), 1);
  EXPECT_EQ(node.requests(), kThreads * kEach);
  EXPECT_EQ(client.in_flight(), 0u);
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
