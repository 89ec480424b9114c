// ShardRuntime: everything one shard thread of a Node runs: its groups, its
// LMDB env and the group-commit pipeline into it, its peer transport, the
// snapshot streams in and out, and the client requests for its groups.
//
// The loop, per turn (see ARCHITECTURE.md):
//   ticks (timer) -> step received messages -> every dirty group's Ready is
//   turned into writes on the open batch, sends and applies (Group::process)
//   -> outgoing Raft messages leave batched per peer -> the open batch is
//   submitted (when it holds a durable write) -> on the writer's completion
//   (an eventfd polled by the ring) groups release what waited for it.
//
// The groups' writes go through the shard's WritePipeline
// (write_pipeline.h: group commit, in-order completion, retries). All
// methods run on the shard thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "engine/node/client_service.h"
#include "engine/node/config.h"
#include "engine/node/group.h"
#include "engine/node/metrics.h"
#include "engine/node/node_context.h"
#include "engine/node/node_liveness.h"
#include "engine/node/snapshot_streams.h"
#include "engine/node/write_pipeline.h"
#include "net/connection.h"
#include "net/peer_transport.h"
#include "net/reactor.h"
#include "net/shard.h"
#include "storage/log_env.h"
#include "storage/snapshot_file.h"

namespace raft {

// The shard gives its groups their ports (ports.h): the log writer is its
// WritePipeline over the LMDB env; the shard itself is the outbox (over the
// peer transport) and the snapshot store (files in the env's directory).
// `node` (the node's id, config and handshakes) outlives the runtime.
class ShardRuntime final : public Outbox, public SnapshotStore {
 public:
  ShardRuntime(const NodeContext& node, net::Shard& shard, std::unique_ptr<storage::LogEnv> env);
  ~ShardRuntime() override;
  ShardRuntime(const ShardRuntime&) = delete;
  ShardRuntime& operator=(const ShardRuntime&) = delete;

  // Writes the static peer list into every group of `groups` that has no
  // durable state yet, all together in a few synced transactions
  // (LogWriter::bootstrap_groups) instead of one commit per group: call it
  // before opening them. Shard thread, before start().
  absl::Status bootstrap_groups(const std::vector<GroupId>& groups,
                                const std::vector<PeerConfig>& bootstrap);
  // Opens a group this shard hosts: before start() for the configured and
  // stored ones, or at runtime (create_group). Shard thread.
  absl::Status open_group(GroupId group, std::unique_ptr<StateMachine> fsm,
                          const std::vector<PeerConfig>& bootstrap);
  // Creates group `id` here at runtime with `members` as its bootstrap
  // (written with the group's creation record in one synchronous write, so
  // a crash leaves the group either fully there or not at all). OK at once
  // if it is open with the same member ids; AlreadyExists if it was removed
  // (or is being removed) or has other members; InvalidArgument for bad
  // members. With no members: an empty replica (no bootstrap), for a node
  // the group's leader adds later (change_membership). `make_fsm` is called
  // only when the group is opened.
  absl::Status create_group(GroupId id, const std::vector<PeerConfig>& members,
                            absl::FunctionRef<std::unique_ptr<StateMachine>()> make_fsm);
  // Removes this node's replica of group `id`: the group closes at once
  // (its waiting requests fail: "group G was removed from this node"),
  // its removal is written, and `done` is called once that is durable (its
  // snapshot files go once LMDB holds the removal). OK if already removed;
  // NotFound if never hosted. The group is closed in a task of its own, never
  // inside one of its callbacks.
  void remove_group(GroupId id, DoneCallback done);
  bool removed(GroupId id) const { return removed_.contains(id); }
  // Starts the tick timer, the storage completion poller and the transport.
  void start();
  // Stops timers and connections; joins background file work. Shard thread.
  void shutdown();

  Group* group(GroupId id);
  uint32_t shard_id() const { return shard_.id(); }
  net::Reactor& reactor() { return shard_.reactor(); }
  ShardMetrics& metrics() { return metrics_; }
  storage::LogEnv& env() { return *env_; }
  // The open groups, ascending. Any thread.
  std::vector<GroupId> group_ids() const;
  // Calls `fn` with each open group's gauges, under the lock that guards
  // the set of groups (created and removed at runtime). Any thread.
  void visit_gauges(absl::FunctionRef<void(GroupId, const GroupGauges&)> fn) const;

  // ---- Inputs. `from` is the peer that sent the frame.
  void on_peer_frame(NodeId from, const net::ReceivedFrame& frame);
  // A peer dialled this shard (see PeerTransport::peer_reachable).
  void on_peer_dialled(NodeId peer);
  // Sends a client request to `leader` over the peer connection and calls
  // `reply` with its answer (DeadlineExceeded if none comes in time).
  void forward(NodeId leader, protocol::ClientRequest request, ClientReply reply);
  // Marks a group for processing at the end of this loop turn.
  void mark_dirty(Group* g);

  // ---- Outbox (over the peer transport).
  void send(const Message& m) override;
  void send_snapshot(const Message& m, const StoredSnapshot& snapshot) override;
  void peer_address(NodeId node, const std::string& address) override;
  bool peer_live(NodeId node) const override { return liveness_.live(node); }

  // ---- SnapshotStore (files in the env's snapshot directory).
  std::optional<StoredSnapshot> held(GroupId group) const override { return env_->snapshot(group); }
  absl::StatusOr<std::unique_ptr<SnapshotReader>> open(GroupId group,
                                                       const StoredSnapshot& snapshot) override;
  void write(GroupId group, Index index, Term term, std::string header,
             std::unique_ptr<SnapshotView> view,
             absl::AnyInvocable<void(absl::StatusOr<SnapshotFileSummary>)> done) override;
  void discard(GroupId group, const StoredSnapshot& snapshot) override;

 public:
 private:
  std::string snapshot_path(GroupId group, const StoredSnapshot& snapshot) const;
  void schedule_process();
  void process_dirty();
  void flush_outbox();
  WritePipeline::Callbacks pipeline_callbacks();
  void tick();
  // Node-level liveness: what a frame from `from` tells (a peer back or
  // restarted wakes the quiesced groups that need it), and the beats sent
  // every tick to the peers nothing else went to.
  void heard_from(NodeId from, uint64_t incarnation);
  void send_beats();
  // After a group processed: in the ticked set unless it is quiesced.
  void update_active(Group* g);
  SnapshotStreams::Host streams_host();
  // Runs `work` on a background thread, then `done` with its result on this
  // shard's loop. Used for fsyncs, which must never block the reactor.
  void run_blocking(absl::AnyInvocable<absl::StatusOr<std::string>()> work,
                    absl::AnyInvocable<void(absl::StatusOr<std::string>)> done);

  const NodeContext& node_;
  net::Shard& shard_;
  const NodeConfig& config_;
  std::unique_ptr<storage::LogEnv> env_;
  // Changed on the shard thread only, under groups_mu_; other threads read
  // it under groups_mu_ (group_ids, visit_gauges).
  std::map<GroupId, std::unique_ptr<Group>> groups_;
  mutable std::mutex groups_mu_;
  // Removed groups (tombstones in the env, and removals made since), and
  // removals waiting for their batch to be durable.
  absl::flat_hash_set<GroupId> removed_;
  struct Removal {
    uint64_t seq = 0;  // The write pipeline's batch holding it.
    GroupId group = 0;
    std::vector<DoneCallback> done;
  };
  std::vector<Removal> removals_;
  void close_group(GroupId id);
  ShardMetrics metrics_;
  WritePipeline pipeline_;  // The groups' LogWriter.
  SnapshotStreams streams_;

  std::unique_ptr<net::PeerTransport> transport_;
  absl::flat_hash_map<NodeId, std::string> peer_addresses_;
  absl::flat_hash_map<NodeId, std::vector<Message>> outbox_;
  absl::flat_hash_map<NodeId, uint64_t> outbox_bytes_;

  std::unique_ptr<net::Timer> tick_timer_;

  absl::flat_hash_set<Group*> dirty_;
  // Groups with a write not yet durable or a failure to clear
  // (Group::awaits_durable): the only ones a storage completion visits.
  absl::flat_hash_set<Group*> awaiting_durable_;
  bool process_scheduled_ = false;
  // The groups ticked: all but the quiesced ones (Group::quiesced).
  absl::flat_hash_set<Group*> active_;
  NodeLiveness liveness_{config_.election_ticks};
  // Peers a frame went to since the last tick (they need no beat).
  absl::flat_hash_set<NodeId> sent_since_tick_;

  // join_as = voter: while this node is a learner of `g`, asks the leader
  // every election timeout to promote it once caught up (a kJoin with
  // when_caught_up; the leader decides, Group::promote_learner).
  void ask_for_promotion(Group& g);
  struct PromotionAsk {
    bool in_flight = false;
    net::Clock::time_point next{};
    uint32_t refusals = 0;
  };
  absl::flat_hash_map<GroupId, PromotionAsk> promotion_asks_;  // Outlives forwarded_.

  struct Forwarded {
    uint64_t original_id = 0;
    net::Clock::time_point deadline;
    ClientReply reply;
  };
  void expire_forwards();
  absl::flat_hash_map<uint64_t, Forwarded> forwarded_;
  uint64_t next_forward_id_ = 1;

  struct BackgroundJob {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::vector<BackgroundJob> background_;
  // Set at shutdown: snapshot files still being written give up.
  std::shared_ptr<std::atomic<bool>> cancel_background_ =
      std::make_shared<std::atomic<bool>>(false);
  bool stopping_ = false;
};

}  // namespace raft
