// Snapshots: the leader sends one when a follower needs compacted entries,
// the follower installs it, and the runtime reports how the send went.
#include "common/check.h"
#include "engine/core/raft.h"

namespace raft {

bool Raft::send_snapshot(NodeId to, Progress& pr) {
  // A peer we have not heard from lately may be down: do not spend a
  // snapshot on it.
  if (!pr.recent_active) return false;
  absl::StatusOr<Snapshot> snap = log_.snapshot();
  if (!snap.ok()) {
    if (is_snapshot_temporarily_unavailable(snap.status())) return false;
    RAFT_CHECK_MSG(false, "log storage failed to provide a snapshot");
  }
  RAFT_CHECK_MSG(!snap->empty(), "entries are compacted but there is no snapshot");
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  pr.become_snapshot(snap->meta.index);
  m.snapshot = std::move(*snap);
  send(std::move(m));
  return true;
}

void Raft::handle_snapshot(const Message& m) {
  if (!m.snapshot) return;
  Message resp;
  resp.type = MessageType::kAppendResponse;
  resp.to = m.from;
  if (restore(*m.snapshot)) {
    resp.index = log_.last_index();
  } else {
    resp.index = log_.committed();
  }
  send(std::move(resp));
}

bool Raft::restore(const Snapshot& snapshot) {
  if (snapshot.meta.index <= log_.committed()) return false;
  if (role_ != Role::kFollower) return false;
  // A snapshot taken before this node was added does not list it; it is
  // installed all the same, and the node learns of itself from the conf
  // change entries that follow.
  if (log_.match_term(snapshot.meta.index, snapshot.meta.term)) {
    // We already have the entries: just learn the commit index.
    log_.commit_to(snapshot.meta.index);
    return false;
  }
  log_.restore(snapshot);
  restore_conf_state(snapshot.meta.conf_state);
  return true;
}

void Raft::report_snapshot(NodeId peer, bool ok) {
  if (role_ != Role::kLeader) return;
  Progress* pr = tracker_.find(peer);
  if (pr == nullptr || pr->state != ProgressState::kSnapshot) return;
  // On failure the follower is probed again from scratch; on success the
  // probe resumes after the snapshot. Either way, wait for the next
  // heartbeat response before probing.
  if (!ok) pr->pending_snapshot = 0;
  pr->become_probe();
  pr->probe_sent = true;
}

void Raft::report_unreachable(NodeId peer) {
  if (role_ != Role::kLeader) return;
  Progress* pr = tracker_.find(peer);
  if (pr != nullptr && pr->state == ProgressState::kReplicate) pr->become_probe();
}

}  // namespace raft
