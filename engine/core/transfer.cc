// Leader transfer: catch the target up, then tell it to campaign at once.
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

absl::Status Raft::transfer_leader(NodeId target) {
  if (target == kNoNode) return absl::InvalidArgumentError("no transfer target");
  if (quiesced_) wake_for(Message{});
  if (role_ == Role::kLeader) {
    const Progress* pr = tracker_.find(target);
    if (pr == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("node ", target, " is not a member"));
    }
    if (pr->is_learner) {
      return absl::InvalidArgumentError(absl::StrCat("node ", target, " is a learner"));
    }
    handle_transfer_leader(target);
    return absl::OkStatus();
  }
  Message m;
  m.type = MessageType::kTransferLeader;
  m.from = id_;
  m.index = target;  // The target travels in `index`.
  return step(std::move(m));
}

void Raft::handle_transfer_leader(NodeId target) {
  const Progress* pr = tracker_.find(target);
  if (pr == nullptr || pr->is_learner) return;
  if (lead_transferee_ != kNoNode) {
    if (lead_transferee_ == target) return;  // Already under way.
    abort_leader_transfer();
  }
  if (target == id_) return;
  // The transfer must finish within an election timeout (tick_heartbeat
  // aborts it otherwise); proposals are refused meanwhile.
  election_elapsed_ = 0;
  lead_transferee_ = target;
  if (pr->match == log_.last_index()) {
    send_timeout_now(target);
  } else {
    maybe_send_append(target, true);
  }
}

void Raft::send_timeout_now(NodeId to) {
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  send(std::move(m));
  // A removed leader's job ends here: the target holds our whole log, so as
  // a follower we can grant it our vote even if it still counts us.
  if (role_ == Role::kLeader && removed_from_config()) become_follower(term_, kNoNode);
}

}  // namespace raft
