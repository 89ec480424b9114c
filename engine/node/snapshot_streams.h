// SnapshotStreams: the snapshot transfers of one shard, both ways. Sending
// streams a held snapshot file to a follower in SnapshotChunk frames, read
// from the file as they go (up to kChunksPerTick chunks per stream per tick,
// so one stream never holds the loop, and none while the peer's send queue
// holds more than max_queued_bytes(), so the sender never holds more than a
// few chunks in memory); receiving writes one stream per group into a temporary file, checks
// it against the sender's XXH3, fsyncs and renames it off the loop, then
// hands it to the group (Group::snapshot_received). A duplicate of a snapshot
// the group covers, or of one still being finished, is not received (its
// file would have the same name as a file in use).
//
// Everything runs on the shard thread; the shard gives it its groups, the
// peer transport, background work and the dirty list through Host.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "engine/node/group.h"
#include "engine/node/metrics.h"
#include "net/connection.h"
#include "net/frame.h"
#include "storage/snapshot_file.h"

namespace raft {

class SnapshotStreams {
 public:
  static constexpr int kChunksPerTick = 16;

  struct Host {
    absl::AnyInvocable<Group*(GroupId)> group;
    // Sends a frame to a peer; false if it cannot be queued.
    absl::AnyInvocable<bool(NodeId, net::OutFrame)> send;
    // Bytes waiting in the send queue to a peer.
    absl::AnyInvocable<uint64_t(NodeId)> queued_bytes;
    // The group has work for the end of this loop turn.
    absl::AnyInvocable<void(Group*)> dirty;
    // Runs `work` off the loop, then `done` with its result on the loop.
    absl::AnyInvocable<void(absl::AnyInvocable<absl::StatusOr<std::string>()> work,
                            absl::AnyInvocable<void(absl::StatusOr<std::string>)> done)>
        run_blocking;
  };

  SnapshotStreams(NodeId self, uint32_t chunk_bytes, std::string dir, ShardMetrics& metrics,
                  Host host);

  // Streams the held snapshot at `path` to m.to behind the announce `m`
  // (one stream per group and follower); the outcome goes to
  // Group::snapshot_sent.
  void send(const Message& m, const std::string& path, const StoredSnapshot& snapshot);
  // Sends the next chunks of every outgoing stream (each tick).
  void pump();
  // A chunk of an incoming stream.
  void on_chunk(const fbs::SnapshotChunk& chunk, const net::ReceivedFrame& frame);
  // Drops every stream (shutdown).
  void clear();
  // Drops the streams of one group (removed from the node); an unfinished
  // received file is deleted.
  void drop_group(GroupId group);
  // A stream waits for the next tick while its peer's send queue holds more.
  uint64_t max_queued_bytes() const { return std::max<uint64_t>(4ull * chunk_bytes_, 8u << 20); }

 private:
  struct Outgoing {
    GroupId group = 0;
    Message announce;
    std::unique_ptr<storage::SnapshotFileReader> reader;
    uint64_t checksum = 0;
  };
  struct Incoming {
    GroupId group = 0;
    NodeId from = kNoNode;
    Index index = 0;
    Term term = 0;
    uint64_t next_offset = 0;
    Message announce;
    std::unique_ptr<storage::SnapshotFileWriter> writer;
  };

  const NodeId self_;
  const uint32_t chunk_bytes_;
  const std::string dir_;
  ShardMetrics& metrics_;
  Host host_;
  std::deque<Outgoing> outgoing_;
  std::map<std::pair<GroupId, NodeId>, Incoming> incoming_;
  // Received snapshots being fsynced and renamed off the loop: (group,
  // index, term). A second stream of the same snapshot would reopen (and
  // truncate) the same temporary file under the first one.
  std::set<std::tuple<GroupId, Index, Term>> finishing_;
};

}  // namespace raft
