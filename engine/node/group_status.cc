// The group driver's status, as one JSON object.
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "engine/node/group.h"

namespace raft {
namespace {

void append_ids(std::string* out, const std::vector<NodeId>& ids) {
  out->push_back('[');
  for (size_t i = 0; i < ids.size(); ++i) absl::StrAppend(out, i ? "," : "", ids[i]);
  out->push_back(']');
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Status.

std::string Group::status_json() const {
  NodeStatus st = raw_->status();
  std::string out;
  absl::StrAppend(&out, "{\"group\":", id_, ",\"id\":", self_, ",\"role\":\"", role_name(st.role),
                  "\",\"term\":", st.hard_state.term, ",\"vote\":", st.hard_state.vote,
                  ",\"leader\":", st.leader, ",\"commit\":", st.hard_state.commit,
                  ",\"applied\":", applied_, ",\"first_index\":", st.first_index,
                  ",\"last_index\":", st.last_index, ",\"snapshot_index\":", last_snapshot_index_,
                  ",\"removed\":", removed_ ? "true" : "false");
  out += ",\"conf_state\":{\"voters\":";
  append_ids(&out, st.conf_state.voters);
  out += ",\"learners\":";
  append_ids(&out, st.conf_state.learners);
  out += ",\"voters_outgoing\":";
  append_ids(&out, st.conf_state.voters_outgoing);
  out += "},\"peers\":{";
  bool first = true;
  for (const auto& [node, address] : peers_) {
    absl::StrAppend(&out, first ? "" : ",", "\"", node, "\":\"", json_escape(address), "\"");
    first = false;
  }
  out += "},\"progress\":[";
  for (size_t i = 0; i < st.progress.size(); ++i) {
    const PeerStatus& p = st.progress[i];
    absl::StrAppend(&out, i ? "," : "", "{\"id\":", p.id, ",\"match\":", p.match,
                    ",\"next\":", p.next, ",\"state\":\"", progress_state_name(p.state),
                    "\",\"inflight\":", p.inflight,
                    ",\"recent_active\":", p.recent_active ? "true" : "false",
                    ",\"learner\":", p.learner ? "true" : "false", "}");
  }
  absl::StrAppend(&out, "],\"quiesced\":", quiesced() ? "true" : "false",
                  ",\"pending_proposals\":", proposals_.size(),
                  ",\"pending_reads\":", reads_.size(), ",\"sessions\":", sessions_.size(),
                  ",\"session_log_time_ms\":", sessions_.log_time(), ",\"write_error\":\"",
                  json_escape(write_error_.ok() ? "" : write_error_.ToString()), "\",\"halted\":\"",
                  json_escape(halted_.ok() ? "" : std::string(halted_.message())), "\"}");
  return out;
}

}  // namespace raft
