// Proposals: appending client entries on the leader (with the
// uncommitted-bytes cap and the one-pending-conf-change rule), forwarding
// them from followers, and the errors a caller gets when no one can take them.
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

namespace {
uint64_t payload_bytes(const std::vector<Entry>& ents) {
  uint64_t n = 0;
  for (const Entry& e : ents) n += e.data.size();
  return n;
}
}  // namespace

absl::Status Raft::propose(Slice data, EntryType type) {
  // A request wakes a quiesced node; the leader's hot path below does not
  // go through step(), so here (a woken leader that could not hear its
  // followers' answers would otherwise never tick again: sim seed 100146).
  if (quiesced_) wake_for(Message{});
  if (role_ == Role::kLeader && type != EntryType::kConfChange) {
    // Hot path: no Message, no vector.
    if (tracker_.find(id_) == nullptr) {
      return absl::UnavailableError("this leader was removed from the group");
    }
    if (lead_transferee_ != kNoNode) {
      return absl::UnavailableError(
          absl::StrCat("leader transfer to ", lead_transferee_, " in progress"));
    }
    const uint64_t size = data.size();
    if (config_.max_uncommitted_entries_bytes != 0 && uncommitted_bytes_ > 0 && size > 0 &&
        uncommitted_bytes_ + size > config_.max_uncommitted_entries_bytes) {
      return absl::ResourceExhaustedError("too many uncommitted bytes; retry later");
    }
    if (config_.max_uncommitted_entries_bytes != 0) uncommitted_bytes_ += size;
    log_.append_one(Entry{term_, log_.last_index() + 1, type, std::move(data)});
    pending_broadcast_ = true;
    return absl::OkStatus();
  }
  Message m;
  m.type = MessageType::kPropose;
  m.from = id_;
  m.entries.push_back(Entry{0, 0, type, std::move(data)});
  return step(std::move(m));
}

absl::Status Raft::handle_propose(Message& m) {
  if (m.entries.empty()) return absl::InvalidArgumentError("empty proposal");
  if (role_ == Role::kFollower) {
    if (lead_ == kNoNode) return absl::UnavailableError("no leader");
    if (config_.disable_proposal_forwarding) {
      return absl::UnavailableError(absl::StrCat("not leader; leader is ", lead_));
    }
    m.to = lead_;
    send(std::move(m));
    return absl::OkStatus();
  }
  RAFT_CHECK(role_ == Role::kLeader);
  if (tracker_.find(id_) == nullptr) {
    return absl::UnavailableError("this leader was removed from the group");
  }
  if (lead_transferee_ != kNoNode) {
    return absl::UnavailableError(
        absl::StrCat("leader transfer to ", lead_transferee_, " in progress"));
  }
  bool has_conf_change = false;
  for (const Entry& e : m.entries) {
    if (e.type != EntryType::kConfChange) continue;
    if (has_conf_change) return absl::FailedPreconditionError("one conf change per proposal");
    has_conf_change = true;
    absl::StatusOr<ConfChange> cc = decode_conf_change(e.data.view());
    if (!cc.ok()) return cc.status();
    absl::Status ok = check_conf_change_proposal(*cc);
    if (!ok.ok()) return ok;
  }
  if (!append_entries(std::move(m.entries))) {
    return absl::ResourceExhaustedError("too many uncommitted bytes; retry later");
  }
  if (has_conf_change) pending_conf_index_ = log_.last_index();
  return absl::OkStatus();
}

bool Raft::append_entries(std::vector<Entry> ents) {
  const Index last = log_.last_index();
  for (size_t i = 0; i < ents.size(); ++i) {
    ents[i].term = term_;
    ents[i].index = last + 1 + i;
  }
  if (!increase_uncommitted(ents)) return false;
  log_.append(std::move(ents));
  // The leader's own ack waits for on_persisted; followers get the entries
  // at the next ready().
  pending_broadcast_ = true;
  return true;
}

bool Raft::increase_uncommitted(const std::vector<Entry>& ents) {
  if (config_.max_uncommitted_entries_bytes == 0) return true;
  const uint64_t size = payload_bytes(ents);
  // An empty or first proposal always passes, so that a single large entry
  // cannot be refused forever.
  if (uncommitted_bytes_ > 0 && size > 0 &&
      uncommitted_bytes_ + size > config_.max_uncommitted_entries_bytes) {
    return false;
  }
  uncommitted_bytes_ += size;
  return true;
}

void Raft::reduce_uncommitted(const std::vector<Entry>& ents) {
  if (config_.max_uncommitted_entries_bytes == 0) return;
  const uint64_t size = payload_bytes(ents);
  uncommitted_bytes_ = size > uncommitted_bytes_ ? 0 : uncommitted_bytes_ - size;
}

}  // namespace raft
