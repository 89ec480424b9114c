// MemstoreApi: routes, status mapping and forwarding to the leader.
#include "examples/memstore/api.h"

#include <charconv>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "examples/memstore/kv_state_machine.h"

namespace raft::memstore {
namespace {

// A write's place in a client session, from its Request-Id header
// ("<session>.<sequence>[.<floor>]"; floor 1 when left out). A SessionRef
// with session 0 without the header; nullopt (and `error`) when malformed.
std::optional<SessionRef> parse_request_id(const HttpRequest& request, std::string* error) {
  auto it = request.headers.find("request-id");
  if (it == request.headers.end()) return SessionRef{};
  std::vector<std::string> parts = absl::StrSplit(it->second, '.');
  SessionRef ref;
  if ((parts.size() != 2 && parts.size() != 3) || !absl::SimpleAtoi(parts[0], &ref.session) ||
      !absl::SimpleAtoi(parts[1], &ref.sequence) || ref.session == 0 || ref.sequence == 0 ||
      (parts.size() == 3 && !absl::SimpleAtoi(parts[2], &ref.floor))) {
    *error =
        "Request-Id must be <session>.<sequence>[.<floor>] (numbers; session from POST /sessions)";
    return std::nullopt;
  }
  if (parts.size() == 2) ref.floor = 1;
  return ref;
}

HttpReply json(int status, std::string body) {
  return HttpReply{status, "application/json", std::move(body) + "\n", ""};
}

HttpReply error_json(int status, absl::string_view message) {
  return json(status, absl::StrCat("{\"error\":", json_quote(message), "}"));
}

std::string ids_json(const std::vector<NodeId>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) absl::StrAppend(&out, i ? "," : "", ids[i]);
  return out + "]";
}

std::string conf_json(const ConfState& cs) {
  return absl::StrCat("{\"voters\":", ids_json(cs.voters), ",\"learners\":", ids_json(cs.learners),
                      "}");
}

// "true"/"false" (or absent: `fallback`); anything else is a bad request.
std::optional<bool> flag(const HttpRequest& request, const std::string& name, bool fallback) {
  auto it = request.query.find(name);
  if (it == request.query.end()) return fallback;
  if (it->second == "true" || it->second == "1" || it->second.empty()) return true;
  if (it->second == "false" || it->second == "0") return false;
  return std::nullopt;
}

HttpReply write_reply(const std::string& key, const absl::StatusOr<ProposeResult>& r,
                      const std::string& forwarded_to) {
  if (!r.ok()) return error_reply(r.status());
  if (absl::StartsWith(r->result, "error")) return error_json(400, r->result);
  int status = 200;
  if (r->result == "created") status = 201;
  if (r->result == "absent") status = 404;
  HttpReply reply =
      json(status, absl::StrCat("{\"key\":", json_quote(key), ",\"result\":", json_quote(r->result),
                                ",\"index\":", r->index, ",\"term\":", r->term,
                                forwarded_to.empty() ? "" : ",\"forwarded_to\":",
                                forwarded_to.empty() ? "" : json_quote(forwarded_to), "}"));
  if (!forwarded_to.empty()) reply.extra_headers = "X-Forwarded-To: " + forwarded_to + "\r\n";
  return reply;
}

// A transfer's answer; one forwarded through the leader names it, like a
// forwarded write.
HttpReply transfer_reply(NodeId target, const absl::Status& s, const std::string& forwarded_to) {
  if (!s.ok()) return error_reply(s);
  if (forwarded_to.empty()) return json(200, absl::StrCat("{\"leader_id\":", target, "}"));
  HttpReply reply = json(200, absl::StrCat("{\"leader_id\":", target,
                                           ",\"forwarded_to\":", json_quote(forwarded_to), "}"));
  reply.extra_headers = "X-Forwarded-To: " + forwarded_to + "\r\n";
  return reply;
}

// 503: refused before anything was proposed (no leader, no capacity);
// worth retrying shortly.
HttpReply unavailable(absl::string_view message) {
  return error_reply(refused(absl::UnavailableError(message)));
}

HttpReply not_allowed(absl::string_view allow) {
  HttpReply reply = error_json(405, "method not allowed");
  reply.extra_headers = absl::StrCat("Allow: ", allow, "\r\n");
  return reply;
}

}  // namespace

std::string json_quote(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::optional<uint64_t> json_number(absl::string_view json, absl::string_view key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = json.find(needle);
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = json.substr(at + needle.size());
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
  if (ec != std::errc() || p == rest.data()) return std::nullopt;
  return v;
}

// The status code follows the outcome first (README, "Errors and outcomes"):
// refused is 421 (not leader), 429 (backpressure) or 503, each safe to retry;
// unknown is 504 (the write may have been applied); failed is 4xx/500 by
// code. The body always names the outcome.
HttpReply error_reply(const absl::Status& status) {
  const Outcome outcome = outcome_of(status);
  const std::string tail = absl::StrCat(",\"outcome\":\"", outcome_name(outcome), "\"}");
  auto reply = [&](int code, absl::string_view retry_after) {
    HttpReply r = json(code, absl::StrCat("{\"error\":", json_quote(status.message()), tail));
    if (!retry_after.empty()) r.extra_headers = absl::StrCat("Retry-After: ", retry_after, "\r\n");
    return r;
  };
  switch (outcome) {
    case Outcome::kRefused:
      if (auto hint = not_leader_hint(status)) {
        return json(421, absl::StrCat("{\"error\":\"not leader\",\"leader_id\":", hint->leader_id,
                                      ",\"leader_address\":", json_quote(hint->address), tail));
      }
      if (status.code() == absl::StatusCode::kResourceExhausted) return reply(429, "1");
      return reply(503, "1");
    case Outcome::kUnknown:
      return reply(504, "");
    case Outcome::kFailed:
      break;
  }
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return reply(400, "");
    case absl::StatusCode::kNotFound:
      return reply(404, "");
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return reply(409, "");
    default:
      return reply(500, "");
  }
}

MemstoreApi::MemstoreApi(Node& node, ApiOptions options)
    : node_(node),
      options_(std::move(options)),
      pool_(std::make_unique<BlockingPool>(options_.helper_threads, options_.helper_queue)) {
  options_.client.cluster_id = node_.config().cluster_id;
}

MemstoreApi::~MemstoreApi() { stop(); }

namespace {

// "1=host:port,2=host:port" into `out`, with `role`.
absl::Status parse_group_members(absl::string_view text, PeerRole role,
                                 std::vector<PeerConfig>& out) {
  for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const size_t eq = piece.find('=');
    PeerConfig p;
    p.role = role;
    if (eq == absl::string_view::npos || !absl::SimpleAtoi(piece.substr(0, eq), &p.id) ||
        p.id == 0 || eq + 1 == piece.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("member \"", piece, "\" is not id=host:port (id > 0)"));
    }
    p.address = std::string(piece.substr(eq + 1));
    out.push_back(std::move(p));
  }
  return absl::OkStatus();
}

// The string value of `"key":"..."` in a flat JSON text (no escapes).
std::optional<std::string> json_string_field(absl::string_view json, absl::string_view key) {
  const std::string needle = absl::StrCat("\"", key, "\"");
  size_t at = json.find(needle);
  if (at == absl::string_view::npos) return std::nullopt;
  at = json.find('"', json.find(':', at + needle.size()));
  if (at == absl::string_view::npos) return std::nullopt;
  const size_t end = json.find('"', at + 1);
  if (end == absl::string_view::npos) return std::nullopt;
  return std::string(json.substr(at + 1, end - at - 1));
}

// One node's answer to a create or remove, as a JSON object.
std::string group_answer_json(NodeId node, const std::string& address,
                              const absl::StatusOr<NodeId>& answer, const char* done) {
  return absl::StrCat(
      "{\"node\":", answer.ok() ? *answer : node, ",\"address\":", json_quote(address),
      ",\"ok\":", answer.ok() ? "true" : "false", ",\"result\":",
      json_quote(answer.ok() ? std::string(done) : std::string(answer.status().message())), "}");
}

}  // namespace

void MemstoreApi::stop() { pool_->stop(); }

void MemstoreApi::on_helper(absl::AnyInvocable<void(Responder&)> fn, Responder respond) {
  auto shared = std::make_shared<Responder>(std::move(respond));
  bool queued = pool_->submit([fn = std::move(fn), shared]() mutable { fn(*shared); });
  if (!queued) (*shared)(unavailable("server busy: helper queue full"));
}

void MemstoreApi::forward_or_refuse(const absl::Status& status, bool forward,
                                    absl::AnyInvocable<HttpReply(Client&)> via_leader,
                                    Responder respond) {
  std::optional<LeaderHint> hint = not_leader_hint(status);
  if (!hint || hint->leader_id == kNoNode || hint->address.empty() || !forward) {
    return respond(error_reply(status));
  }
  on_helper(
      [this, address = hint->address, via_leader = std::move(via_leader)](Responder& r) mutable {
        Client client({address}, options_.client);
        r(via_leader(client));
      },
      std::move(respond));
}

void MemstoreApi::handle(HttpRequest request, Responder respond) {
  const auto& seg = request.segments;
  const std::string& method = request.method;
  std::optional<bool> forward = flag(request, "forward", options_.forward);
  if (!forward) return respond(error_json(400, "forward must be true or false"));
  if (seg.empty()) return respond(error_json(404, "no such route; see README (HTTP API)"));
  const std::string& route = seg[0];
  if (route == "store") return store(request, std::move(respond));
  if (route == "sessions") return sessions(request, std::move(respond));
  if (seg.size() == 1 && route == "leader") {
    return method == "GET" ? leader(std::move(respond)) : respond(not_allowed("GET"));
  }
  if (seg.size() == 1 && route == "peers") {
    return method == "GET" ? peers(std::move(respond)) : respond(not_allowed("GET"));
  }
  if (seg.size() == 1 && route == "status") {
    return method == "GET" ? status(std::move(respond)) : respond(not_allowed("GET"));
  }
  if (seg.size() == 1 && route == "metrics") {
    return method == "GET" ? metrics(std::move(respond)) : respond(not_allowed("GET"));
  }
  if (seg.size() == 1 && route == "leave") {
    if (method != "POST") return respond(not_allowed("POST"));
    return if_leader(
        *forward, [this, forward](Responder r) { leave(*forward, std::move(r)); },
        std::move(respond));
  }
  if (seg.size() == 1 && route == "snapshot") {
    return method == "POST" ? snapshot(std::move(respond)) : respond(not_allowed("POST"));
  }
  if (route == "groups") return groups(request, std::move(respond));
  if (route == "transfer_leader") {
    if (method != "POST") return respond(not_allowed("POST"));
    NodeId target = 0;
    if (seg.size() != 2 || !absl::SimpleAtoi(seg[1], &target) || target == kNoNode) {
      return respond(error_json(400, "usage: POST /transfer_leader/{id} with a node id > 0"));
    }
    return transfer_leader(target, *forward, std::move(respond));
  }
  respond(error_json(404, "no such route; see README (HTTP API)"));
}

void MemstoreApi::store(HttpRequest& request, Responder respond) {
  const auto& seg = request.segments;
  const bool forward = flag(request, "forward", options_.forward).value_or(true);
  if (seg.size() < 2 || seg[1].empty()) {
    return respond(error_json(400, "a key is required: /store/{key}"));
  }
  const std::string& key = seg[1];
  // Exactly-once writes: "Request-Id: <session>.<sequence>[.<floor>]".
  std::string bad_id;
  std::optional<SessionRef> session = parse_request_id(request, &bad_id);
  if (!session) return respond(error_json(400, bad_id));
  if (request.method == "PUT" || request.method == "POST") {
    if (seg.size() > 3) return respond(error_json(400, "usage: PUT /store/{key}[/{value}]"));
    std::string value = seg.size() == 3 ? seg[2] : std::move(request.body);
    return if_leader(
        forward,
        [this, key, command = encode_put(key, value), forward, s = *session](Responder r) mutable {
          write(key, std::move(command), forward, s, std::move(r));
        },
        std::move(respond));
  }
  if (seg.size() != 2) return respond(error_json(400, "usage: /store/{key}"));
  if (request.method == "GET") {
    std::optional<bool> stale = flag(request, "stale", false);
    if (!stale) return respond(error_json(400, "stale must be true or false"));
    return get(key, *stale, std::move(respond));
  }
  if (request.method == "DELETE") {
    return if_leader(
        forward,
        [this, key, forward, s = *session](Responder r) {
          write(key, encode_delete(key), forward, s, std::move(r));
        },
        std::move(respond));
  }
  respond(not_allowed("GET, PUT, DELETE"));
}

void MemstoreApi::write(const std::string& key, std::string command, bool forward,
                        SessionRef session, Responder respond) {
  ProposeCallback done = [this, key, command, forward, session,
                          respond = std::move(respond)](absl::StatusOr<ProposeResult> r) mutable {
    if (r.ok() || !is_not_leader(r.status())) return respond(write_reply(key, r, ""));
    // memstore forwards through a plain Client, which has no session of
    // this one: a write with a Request-Id gets the refusal instead.
    if (session.session != 0) return respond(error_reply(r.status()));
    forward_or_refuse(
        r.status(), forward,
        [this, key, command](Client& c) {
          return write_reply(key, c.propose(options_.group, command), c.connected_to());
        },
        std::move(respond));
  };
  if (session.session != 0) {
    return node_.propose(options_.group, session, std::move(command), std::move(done));
  }
  node_.propose(options_.group, std::move(command), std::move(done));
}

void MemstoreApi::sessions(HttpRequest& request, Responder respond) {
  const auto& seg = request.segments;
  if (seg.size() == 1) {
    if (request.method != "POST") return respond(not_allowed("POST"));
    return node_.open_session(
        options_.group, [respond = std::move(respond)](absl::StatusOr<ProposeResult> r) mutable {
          if (!r.ok()) return respond(error_reply(r.status()));
          respond(json(200, absl::StrCat("{\"session\":", r->index, "}")));
        });
  }
  uint64_t id = 0;
  if (seg.size() != 2 || !absl::SimpleAtoi(seg[1], &id) || id == 0) {
    return respond(error_json(400, "usage: POST /sessions, DELETE /sessions/{id}"));
  }
  if (request.method != "DELETE") return respond(not_allowed("DELETE"));
  node_.close_session(options_.group, id,
                      [id, respond = std::move(respond)](absl::StatusOr<ProposeResult> r) mutable {
                        if (!r.ok()) return respond(error_reply(r.status()));
                        respond(json(200, absl::StrCat("{\"closed\":", id, "}")));
                      });
}

void MemstoreApi::get(const std::string& key, bool stale, Responder respond) {
  // Linearizable reads work on followers too: the core asks the leader for
  // a read index, and the value is read here once applied up to it.
  node_.read(options_.group, key, stale ? ReadConsistency::kStale : ReadConsistency::kLinearizable,
             [key, respond = std::move(respond)](absl::StatusOr<std::string> r) mutable {
               if (r.ok()) return respond(HttpReply{200, "text/plain", std::move(*r), ""});
               if (r.status().code() == absl::StatusCode::kNotFound) {
                 return respond(json(
                     404, absl::StrCat("{\"error\":\"not found\",\"key\":", json_quote(key), "}")));
               }
               respond(error_reply(r.status()));
             });
}

void MemstoreApi::leader(Responder respond) {
  node_.leader(
      options_.group, [this, respond = std::move(respond)](absl::StatusOr<LeaderHint> h) mutable {
        if (!h.ok()) return respond(error_reply(h.status()));
        if (h->leader_id == kNoNode) return respond(unavailable("no leader"));
        respond(json(200, absl::StrCat("{\"leader_id\":", h->leader_id, ",\"leader_address\":",
                                       json_quote(h->address), ",\"self\":", node_.id(), "}")));
      });
}

void MemstoreApi::peers(Responder respond) {
  // Node::members is blocking: it runs on a helper thread.
  on_helper(
      [this](Responder& r) {
        auto members = node_.members(options_.group);
        if (!members.ok()) return r(error_reply(members.status()));
        std::string out = "{\"peers\":[";
        for (size_t i = 0; i < members->size(); ++i) {
          const MemberInfo& m = (*members)[i];
          absl::StrAppend(&out, i ? "," : "", "{\"id\":", m.id,
                          ",\"address\":", json_quote(m.address), ",\"role\":\"",
                          m.voter ? "voter" : "learner", "\"}");
        }
        r(json(200, out + "]}"));
      },
      std::move(respond));
}

void MemstoreApi::leave(bool forward, Responder respond) {
  const NodeId self = node_.id();
  node_.leave(options_.group, [this, self, forward,
                               respond = std::move(respond)](absl::StatusOr<ConfState> r) mutable {
    if (r.ok())
      return respond(
          json(200, absl::StrCat("{\"left\":", self, ",\"conf_state\":", conf_json(*r), "}")));
    if (!is_not_leader(r.status())) return respond(error_reply(r.status()));
    forward_or_refuse(
        r.status(), forward,
        [this, self](Client& c) {
          auto cs = c.leave(options_.group, self);
          if (!cs.ok()) return error_reply(cs.status());
          return json(200, absl::StrCat("{\"left\":", self, ",\"conf_state\":", conf_json(*cs),
                                        ",\"forwarded_to\":", json_quote(c.connected_to()), "}"));
        },
        std::move(respond));
  });
}

void MemstoreApi::snapshot(Responder respond) {
  node_.make_snapshot(options_.group,
                      [respond = std::move(respond)](absl::StatusOr<Index> index) mutable {
                        if (!index.ok()) return respond(error_reply(index.status()));
                        respond(json(200, absl::StrCat("{\"snapshot_index\":", *index, "}")));
                      });
}

void MemstoreApi::transfer_leader(NodeId target, bool forward, Responder respond) {
  // Only the leader can hand leadership over: find it first.
  node_.leader(options_.group, [this, target, forward, respond = std::move(respond)](
                                   absl::StatusOr<LeaderHint> h) mutable {
    if (!h.ok()) return respond(error_reply(h.status()));
    if (h->leader_id == kNoNode) return respond(unavailable("no leader"));
    if (h->leader_id == node_.id()) {
      return node_.transfer_leader(options_.group, target,
                                   [target, respond = std::move(respond)](absl::Status s) mutable {
                                     respond(transfer_reply(target, s, ""));
                                   });
    }
    forward_or_refuse(
        not_leader_error(h->leader_id, h->address), forward,
        [this, target](Client& c) {
          absl::Status s = c.transfer_leader(options_.group, target);
          return transfer_reply(target, s, c.connected_to());
        },
        std::move(respond));
  });
}

void MemstoreApi::status(Responder respond) {
  node_.group_status_json(
      options_.group, [this, respond = std::move(respond)](absl::StatusOr<std::string> g) mutable {
        if (!g.ok()) return respond(error_reply(g.status()));
        respond(json(200, absl::StrCat("{\"node\":", node_.id(),
                                       ",\"address\":", json_quote(node_.address()),
                                       ",\"http\":", json_quote(options_.http_address),
                                       ",\"groups\":[", *g, "]}")));
      });
}

void MemstoreApi::metrics(Responder respond) {
  // Counters, the entries-per-batch histogram and per-group gauges (term,
  // commit, applied, last index, leader, is_leader) come from the runtime;
  // it reads atomics only, so it is fine on the loop thread.
  respond(HttpReply{200, "text/plain; version=0.0.4", node_.metrics_text(), ""});
}

// POST /groups and DELETE /groups/{id}: every member listed is asked
// itself, through a Client on a helper thread (this node too, over its own
// port: one code path), and the answers are reported per node.
void MemstoreApi::groups(HttpRequest& request, Responder respond) {
  const auto& seg = request.segments;
  const bool create = request.method == "POST";
  if (!create && request.method != "DELETE") return respond(not_allowed("POST, DELETE"));
  uint64_t id = 0;
  std::string members_text, learners_text;
  if (auto it = request.query.find("members"); it != request.query.end()) {
    members_text = it->second;
  }
  if (auto it = request.query.find("learners"); it != request.query.end()) {
    learners_text = it->second;
  }
  if (create) {
    if (seg.size() != 1) return respond(error_json(400, "usage: POST /groups?id=G&members=..."));
    if (auto it = request.query.find("id"); it != request.query.end()) {
      if (!absl::SimpleAtoi(it->second, &id)) id = 0;
    } else if (auto n = json_number(request.body, "id")) {
      id = *n;
    }
    if (members_text.empty())
      members_text = json_string_field(request.body, "members").value_or("");
    if (learners_text.empty()) {
      learners_text = json_string_field(request.body, "learners").value_or("");
    }
    if (id == 0) return respond(error_json(400, "a group id > 0 is required (id=G)"));
    if (members_text.empty()) {
      return respond(error_json(400, "members are required: members=1=host:port,2=..."));
    }
  } else if (seg.size() != 2 || !absl::SimpleAtoi(seg[1], &id) || id == 0) {
    return respond(error_json(400, "usage: DELETE /groups/{id} (id > 0)[?members=...]"));
  }
  std::vector<PeerConfig> members;
  absl::Status parsed = parse_group_members(members_text, PeerRole::kVoter, members);
  if (parsed.ok()) parsed = parse_group_members(learners_text, PeerRole::kLearner, members);
  if (!parsed.ok()) return respond(error_reply(parsed));
  if (!create && members.empty()) {
    // This node's replica alone.
    return node_.remove_group(id, [this, id, respond = std::move(respond)](absl::Status s) mutable {
      absl::StatusOr<NodeId> answer = s.ok() ? absl::StatusOr<NodeId>(node_.id()) : s;
      if (!s.ok() && !absl::IsUnavailable(s)) return respond(error_reply(s));
      respond(json(s.ok() ? 200 : 502,
                   absl::StrCat("{\"group\":", id, ",\"nodes\":[",
                                group_answer_json(node_.id(), node_.address(), answer, "removed"),
                                "],\"ok\":", s.ok() ? 1 : 0, ",\"failed\":", s.ok() ? 0 : 1, "}")));
    });
  }
  on_helper(
      [this, id, create, members = std::move(members)](Responder& r) {
        std::string nodes;
        size_t ok = 0;
        for (size_t i = 0; i < members.size(); ++i) {
          Client client({members[i].address}, options_.client);
          absl::StatusOr<NodeId> answer =
              create ? client.create_group(id, members) : client.remove_group(id);
          if (answer.ok()) ++ok;
          absl::StrAppend(&nodes, i ? "," : "",
                          group_answer_json(members[i].id, members[i].address, answer,
                                            create ? "created" : "removed"));
        }
        r(json(ok == members.size() ? 200 : 502,
               absl::StrCat("{\"group\":", id, ",\"nodes\":[", nodes, "],\"ok\":", ok,
                            ",\"failed\":", members.size() - ok, "}")));
      },
      std::move(respond));
}

void MemstoreApi::if_leader(bool forward, absl::AnyInvocable<void(Responder)> go,
                            Responder respond) {
  // The runtime forwards writes from followers by itself; a client that
  // asked for no forwarding gets 421 naming the leader instead.
  if (forward) return go(std::move(respond));
  node_.leader(options_.group, [this, go = std::move(go), respond = std::move(respond)](
                                   absl::StatusOr<LeaderHint> h) mutable {
    if (!h.ok()) return respond(error_reply(h.status()));
    if (h->leader_id == kNoNode) return respond(unavailable("no leader"));
    if (h->leader_id != node_.id()) {
      return respond(error_reply(not_leader_error(h->leader_id, h->address)));
    }
    go(std::move(respond));
  });
}

}  // namespace raft::memstore
