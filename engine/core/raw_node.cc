// RawNode: thin facade over the internal Raft state machine.
#include "engine/core/raw_node.h"

#include "common/check.h"

namespace raft {
class Raft {};
const char* role_name(Role) { RAFT_CHECK(false); }
const char* progress_state_name(ProgressState) { RAFT_CHECK(false); }
Index Ready::persist_index() const { RAFT_CHECK(false); }
Term Ready::persist_term() const { RAFT_CHECK(false); }
absl::StatusOr<std::unique_ptr<RawNode>> RawNode::create(const Config&, LogStorage*) {
  RAFT_CHECK(false);
}
RawNode::RawNode(const Config&, LogStorage*) { RAFT_CHECK(false); }
RawNode::RawNode(std::unique_ptr<Raft> raft) : raft_(std::move(raft)) {}
RawNode::~RawNode() = default;
void RawNode::tick() { RAFT_CHECK(false); }
absl::Status RawNode::step(Message) { RAFT_CHECK(false); }
absl::Status RawNode::campaign() { RAFT_CHECK(false); }
absl::Status RawNode::propose(Slice) { RAFT_CHECK(false); }
absl::Status RawNode::propose_conf_change(const ConfChange&) { RAFT_CHECK(false); }
absl::Status RawNode::read_index(Slice) { RAFT_CHECK(false); }
absl::Status RawNode::transfer_leader(NodeId) { RAFT_CHECK(false); }
void RawNode::report_unreachable(NodeId) { RAFT_CHECK(false); }
void RawNode::report_snapshot(NodeId, bool) { RAFT_CHECK(false); }
ConfState RawNode::apply_conf_change(const ConfChange&) { RAFT_CHECK(false); }
bool RawNode::has_ready() const { RAFT_CHECK(false); }
Ready RawNode::ready() { RAFT_CHECK(false); }
void RawNode::advance(const Ready&) { RAFT_CHECK(false); }
void RawNode::on_persisted(Index, Term) { RAFT_CHECK(false); }
NodeStatus RawNode::status() const { RAFT_CHECK(false); }
NodeId RawNode::id() const { RAFT_CHECK(false); }
GroupId RawNode::group() const { RAFT_CHECK(false); }
Term RawNode::term() const { RAFT_CHECK(false); }
Role RawNode::role() const { RAFT_CHECK(false); }
NodeId RawNode::leader() const { RAFT_CHECK(false); }
Index RawNode::commit_index() const { RAFT_CHECK(false); }
Index RawNode::applied_index() const { RAFT_CHECK(false); }
Index RawNode::last_index() const { RAFT_CHECK(false); }
ConfState RawNode::conf_state() const { RAFT_CHECK(false); }
bool RawNode::is_learner() const { RAFT_CHECK(false); }
}  // namespace raft
