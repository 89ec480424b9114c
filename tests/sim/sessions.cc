// Simulated clients in client sessions (SimOptions::sessions): exactly-once
// proposals through the production driver's session table. A client opens
// a session at some node, proposes with (session, sequence, floor), and on
// anything but an answer keeps the proposal and later sends it again, same
// sequence and payload, to whichever node it picks (across leader changes,
// crashes, partitions and snapshot installs). Checked: no payload of a
// session proposal is applied at two indexes, and every answer, the first
// or a duplicate's, carries the result of that one application.
#include "absl/strings/str_cat.h"
#include "engine/node/errors.h"
#include "tests/sim/cluster.h"
#include "tests/sim/sim_node.h"
#include "tests/sim/sim_util.h"

namespace raft::sim {
namespace {

constexpr size_t kSimClients = 3;

// The payload's tag: "s<session>.<sequence>", up to the '|'.
std::string session_tag(const std::string& data) { return data.substr(0, data.find('|')); }

}  // namespace

void Cluster::random_session_propose(NodeId at, int count) {
  if (clients_.empty()) clients_.resize(kSimClients);
  const size_t c = prng_.below(clients_.size());
  SimClient& client = clients_[c];
  if (client.session == 0) {
    if (client.opening) return;
    Node& n = node(at);
    client.opening = true;
    n.group->open_session([this, c, at](absl::StatusOr<ProposeResult> r) {
      SimClient& cl = clients_[c];
      cl.opening = false;
      log_event(absl::StrCat("client ", c, " open at ", at, ": ",
                             r.ok() ? absl::StrCat("session ", r->index) : r.status().ToString()));
      if (!r.ok()) return;  // Tried again by a later proposal.
      // A new session: what the old one left unanswered is given up.
      cl.session = r->index;
      cl.next_sequence = 1;
      cl.pending.clear();
    });
    settle(n);
    return;
  }
  for (int i = 0; i < count; ++i) {
    uint64_t sequence = 0;
    if (!client.pending.empty() && prng_.chance(400)) {
      // Again, as a client does after a timeout: the oldest unanswered one.
      sequence = client.pending.begin()->first;
      ++result_.session_retries;
    } else {
      sequence = client.next_sequence++;
      std::string data = absl::StrCat("s", client.session, ".", sequence, "|");
      data.append(prng_.below(32), 'x');
      client.pending.emplace(sequence, std::move(data));
    }
    propose_in_session(at, c, sequence);
  }
}

void Cluster::propose_in_session(NodeId at, size_t c, uint64_t sequence) {
  Node& n = node(at);
  if (!n.group) return;
  SimClient& client = clients_[c];
  const std::string data = client.pending.at(sequence);
  const uint64_t session = client.session;
  const uint64_t floor = client.pending.begin()->first;
  const size_t conf_from = n.confs.size() - 1;
  n.group->propose_in_session(
      session, sequence, floor, Slice(data),
      [this, at, c, session, sequence, data, conf_from](absl::StatusOr<ProposeResult> r) {
        SimClient& cl = clients_[c];
        if (cl.session != session) return;  // From a session given up.
        if (!r.ok()) {
          log_event(absl::StrCat("client ", c, " seq ", sequence, " at ", at, ": ",
                                 r.status().ToString()));
          // Refused or unknown: kept, and sent again later. Failed (the
          // session expired): nothing more can be learnt of it.
          if (outcome_of(r.status()) == Outcome::kFailed) {
            cl.pending.erase(sequence);
            if (r.status().code() == absl::StatusCode::kNotFound) cl.session = 0;
          }
          return;
        }
        // Every answer is checked, a retry's answer to an answered one too.
        auto first = session_applied_.find(session_tag(data));
        if (first == session_applied_.end()) {
          fail(absl::StrCat("node ", at, " answered session proposal ", session_tag(data),
                            " at index ", r->index, ", which no state machine applied"));
          return;
        }
        if (first->second.second != checksum64(r->result)) {
          fail(absl::StrCat("node ", at, " answered session proposal ", session_tag(data),
                            " with another result than its application at index ",
                            first->second.first));
          return;
        }
        if (r->index != first->second.first) ++result_.session_duplicates;
        cl.pending.erase(sequence);  // No-op for an answered one.
        check_acknowledged(node(at), data, *r, conf_from, /*own_entry=*/false);
      });
  settle(n);
}

void Cluster::on_session_applied(Node& n, Index index, const std::string& data,
                                 uint64_t result_sum) {
  if (data.empty() || data[0] != 's') return;
  auto [it, inserted] = session_applied_.try_emplace(session_tag(data), index, result_sum);
  if (!inserted && it->second.first != index) {
    fail(absl::StrCat("exactly-once: node ", n.id, " applies session proposal ", it->first,
                      " at index ", index, "; it was applied at index ", it->second.first));
  }
}

}  // namespace raft::sim
