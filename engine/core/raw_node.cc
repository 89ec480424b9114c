// RawNode: the public facade over the internal Raft state machine; checks
// what callers hand in before the protocol sees it.
#include "engine/core/raw_node.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

absl::StatusOr<std::unique_ptr<RawNode>> RawNode::create(const Config& config,
                                                         LogStorage* storage) {
  absl::Status valid = config.validate();
  if (!valid.ok()) return valid;
  if (storage == nullptr) return absl::InvalidArgumentError("no log storage");
  absl::StatusOr<InitialState> initial = storage->initial_state();
  if (!initial.ok()) return initial.status();
  if (initial->hard_state.commit > storage->last_index()) {
    return absl::DataLossError(absl::StrCat("hard state commit ", initial->hard_state.commit,
                                            " is beyond the last stored index ",
                                            storage->last_index()));
  }
  if (config.applied > initial->hard_state.commit && config.applied > storage->first_index() - 1) {
    return absl::InvalidArgumentError("Config::applied is beyond the commit index");
  }
  return std::unique_ptr<RawNode>(new RawNode(std::make_unique<Raft>(config, storage, *initial)));
}

RawNode::RawNode(const Config& config, LogStorage* storage) {
  absl::StatusOr<std::unique_ptr<RawNode>> node = create(config, storage);
  RAFT_CHECK_MSG(node.ok(), std::string(node.status().message()).c_str());
  raft_ = std::move((*node)->raft_);
}

RawNode::RawNode(std::unique_ptr<Raft> raft) : raft_(std::move(raft)) {}
RawNode::~RawNode() = default;

void RawNode::tick() { raft_->tick(); }

absl::Status RawNode::step(Message message) {
  if (message.group != raft_->group()) {
    return absl::InvalidArgumentError(
        absl::StrCat("message for group ", message.group, " stepped into group ", raft_->group()));
  }
  switch (message.type) {
    case MessageType::kHup:
    case MessageType::kBeat:
    case MessageType::kSnapStatus:
    case MessageType::kUnreachable:
    case MessageType::kCheckQuorum:
      return absl::InvalidArgumentError("local message kinds cannot be stepped");
    case MessageType::kPropose:
    case MessageType::kReadIndex:
    case MessageType::kTransferLeader:
      // Only as forwarded by another node.
      if (message.from == kNoNode || message.from == raft_->id()) {
        return absl::InvalidArgumentError("use the RawNode calls for local requests");
      }
      break;
    default:
      if (static_cast<uint8_t>(message.type) > static_cast<uint8_t>(MessageType::kQuiesce)) {
        return absl::InvalidArgumentError("unknown message type");
      }
      if (message.from == kNoNode) return absl::InvalidArgumentError("message without a sender");
      break;
  }
  if (message.to != kNoNode && message.to != raft_->id()) {
    return absl::InvalidArgumentError(
        absl::StrCat("message for node ", message.to, " stepped into node ", raft_->id()));
  }
  return raft_->step(std::move(message));
}

bool RawNode::can_quiesce(absl::FunctionRef<bool(NodeId)> live) const {
  return raft_->can_quiesce(live);
}
void RawNode::quiesce(absl::FunctionRef<bool(NodeId)> live) { raft_->quiesce(live); }
bool RawNode::quiesced() const { return raft_->quiesced(); }
void RawNode::wake(bool leader_lost) { raft_->wake(leader_lost); }

absl::Status RawNode::campaign() { return raft_->campaign_now(); }

absl::Status RawNode::propose(Slice data) {
  return raft_->propose(std::move(data), EntryType::kNormal);
}

absl::Status RawNode::propose_typed(Slice data, EntryType type) {
  RAFT_CHECK(type != EntryType::kConfChange);
  return raft_->propose(std::move(data), type);
}

absl::Status RawNode::propose_conf_change(const ConfChange& change) {
  if (raft_->role() == Role::kLeader) {
    absl::Status ok = raft_->check_conf_change_proposal(change);
    if (!ok.ok()) return ok;
  }
  return raft_->propose(Slice(encode_conf_change(change)), EntryType::kConfChange);
}

absl::Status RawNode::read_index(Slice ctx) { return raft_->read_index(std::move(ctx)); }

absl::Status RawNode::transfer_leader(NodeId target) { return raft_->transfer_leader(target); }

void RawNode::report_unreachable(NodeId peer) { raft_->report_unreachable(peer); }

void RawNode::report_snapshot(NodeId peer, bool ok) { raft_->report_snapshot(peer, ok); }

ConfState RawNode::apply_conf_change(const ConfChange& change) {
  return raft_->apply_conf_change(change);
}

bool RawNode::has_ready() const { return raft_->has_ready(); }
Ready RawNode::ready() { return raft_->ready(); }
void RawNode::advance(const Ready& rd) { raft_->advance(rd); }
void RawNode::on_persisted(Index index, Term term) { raft_->on_persisted(index, term); }

NodeStatus RawNode::status() const { return raft_->status(); }
NodeId RawNode::id() const { return raft_->id(); }
GroupId RawNode::group() const { return raft_->group(); }
Term RawNode::term() const { return raft_->term(); }
Role RawNode::role() const { return raft_->role(); }
NodeId RawNode::leader() const { return raft_->leader(); }
Index RawNode::commit_index() const { return raft_->log().committed(); }
Index RawNode::applied_index() const { return raft_->log().applied(); }
Index RawNode::last_index() const { return raft_->log().last_index(); }
ConfState RawNode::conf_state() const { return raft_->tracker().config().to_conf_state(); }
bool RawNode::is_learner() const { return raft_->is_learner(); }
bool RawNode::conf_change_pending() const { return raft_->conf_change_pending(); }
NodeId RawNode::lead_transferee() const { return raft_->lead_transferee(); }

}  // namespace raft
