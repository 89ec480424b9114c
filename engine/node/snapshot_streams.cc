#include "engine/node/snapshot_streams.h"

#include <unistd.h>

#include "fbs/frame_generated.h"
#include "net/frame.h"
#include "protocol/raft_codec.h"
#include "spdlog/spdlog.h"

namespace raft {

SnapshotStreams::SnapshotStreams(NodeId self, uint32_t chunk_bytes, std::string dir,
                                 ShardMetrics& metrics, Host host)
    : self_(self),
      chunk_bytes_(chunk_bytes),
      dir_(std::move(dir)),
      metrics_(metrics),
      host_(std::move(host)) {}

void SnapshotStreams::clear() {
  outgoing_.clear();
  incoming_.clear();
}

void SnapshotStreams::drop_group(GroupId group) {
  std::erase_if(outgoing_, [group](const Outgoing& o) { return o.group == group; });
  std::erase_if(incoming_, [group](const auto& kv) { return kv.first.first == group; });
}

void SnapshotStreams::send(const Message& m, const std::string& path,
                           const StoredSnapshot& snapshot) {
  Group* g = host_.group(m.group);
  for (const Outgoing& o : outgoing_) {
    if (o.group == m.group && o.announce.to == m.to) return;  // Already streaming.
  }
  const uint64_t file_checksum = snapshot.file_checksum;
  auto reader = storage::SnapshotFileReader::open(path, snapshot.file_bytes, file_checksum);
  if (!reader.ok()) {
    spdlog::error("group {}: cannot stream snapshot to {}: {}", m.group, m.to,
                  reader.status().ToString());
    if (g) g->snapshot_sent(m.to, false);
    return;
  }
  Outgoing o;
  o.group = m.group;
  o.announce = m;
  o.reader = std::move(*reader);
  o.checksum = file_checksum;
  outgoing_.push_back(std::move(o));
  pump();
}

void SnapshotStreams::pump() {
  for (auto it = outgoing_.begin(); it != outgoing_.end();) {
    Outgoing& o = *it;
    Group* g = host_.group(o.group);
    bool finished = false;
    bool ok = true;
    for (int i = 0; i < kChunksPerTick && !finished; ++i) {
      // Flow control: the chunks wait in the file, not in memory.
      if (host_.queued_bytes && host_.queued_bytes(o.announce.to) > max_queued_bytes()) break;
      const uint64_t offset = o.reader->offset();
      auto chunk = o.reader->next_chunk(chunk_bytes_);
      if (!chunk.ok()) {
        spdlog::error("group {}: snapshot stream to {}: {}", o.group, o.announce.to,
                      chunk.status().ToString());
        ok = false;
        finished = true;
        break;
      }
      const bool last = o.reader->done();
      net::OutFrame frame =
          protocol::encode_snapshot_chunk_frame(o.announce, offset, *chunk, last, o.checksum);
      if (!host_.send(o.announce.to, std::move(frame))) {
        ok = false;
        finished = true;
        break;
      }
      if (last) finished = true;
    }
    if (finished) {
      if (ok) bump(metrics_.snapshots_sent);
      if (g) {
        g->snapshot_sent(o.announce.to, ok);
        host_.dirty(g);
      }
      it = outgoing_.erase(it);
    } else {
      ++it;
    }
  }
}

void SnapshotStreams::on_chunk(const fbs::SnapshotChunk& c, const net::ReceivedFrame& frame) {
  Group* g = host_.group(c.group());
  if (g == nullptr || c.to() != self_) return;
  auto key = std::make_pair(c.group(), c.from());
  auto it = incoming_.find(key);
  if (c.offset() == 0) {
    if (c.meta() == nullptr) return;
    // One stream per group: a new start abandons any other, also one from a
    // sender that died mid-stream (the same snapshot would share its file).
    for (auto o = incoming_.begin(); o != incoming_.end();) {
      o = o->first.first == c.group() ? incoming_.erase(o) : std::next(o);
    }
    // A duplicate of a snapshot the group already covers, or of one still
    // being finished, is not received: its file name is the same
    // (group-index-term), so writing it would truncate or replace a file in
    // use. The leader's probe goes on after the stream.
    if (!g->wants_snapshot(c.snapshot_index()) ||
        finishing_.contains(std::make_tuple(c.group(), c.snapshot_index(), c.snapshot_term()))) {
      return;
    }
    auto writer =
        storage::SnapshotFileWriter::create(dir_, c.group(), c.snapshot_index(), c.snapshot_term());
    if (!writer.ok()) {
      spdlog::error("group {}: cannot receive snapshot: {}", c.group(), writer.status().ToString());
      return;
    }
    Incoming in;
    in.group = c.group();
    in.from = c.from();
    in.index = c.snapshot_index();
    in.term = c.snapshot_term();
    in.writer = std::move(*writer);
    in.announce.type = MessageType::kSnapshot;
    in.announce.group = c.group();
    in.announce.from = c.from();
    in.announce.to = c.to();
    in.announce.term = c.term();
    in.announce.snapshot = Snapshot{protocol::decode_snapshot_meta(c.meta()), Slice()};
    it = incoming_.emplace(key, std::move(in)).first;
  }
  if (it == incoming_.end()) return;  // Middle of a stream we did not see start.
  Incoming& in = it->second;
  if (c.snapshot_index() != in.index || c.offset() != in.next_offset) {
    // A chunk was lost (dropped frame): give up; the leader retries.
    incoming_.erase(it);
    return;
  }
  Slice data = frame.slice_of(c.data());
  if (absl::Status s = in.writer->write(data.view()); !s.ok()) {
    spdlog::error("group {}: writing received snapshot: {}", c.group(), s.ToString());
    incoming_.erase(it);
    return;
  }
  in.next_offset += data.size();
  if (!c.last()) return;
  // fsync and rename off the loop, then hand the file to the group.
  const uint64_t expected_checksum = c.checksum();
  const uint64_t bytes = in.next_offset;
  const Index in_index = in.index;
  const Term in_term = in.term;
  Message announce = in.announce;
  std::shared_ptr<storage::SnapshotFileWriter> writer(std::move(in.writer));
  incoming_.erase(it);
  const auto finishing = std::make_tuple(announce.group, in_index, in_term);
  finishing_.insert(finishing);
  auto info = std::make_shared<storage::SnapshotFileInfo>();
  host_.run_blocking(
      [writer, info]() -> absl::StatusOr<std::string> {
        auto r = writer->finish();
        if (!r.ok()) return r.status();
        *info = *r;
        return r->path;
      },
      [this, announce, expected_checksum, bytes, info,
       finishing](absl::StatusOr<std::string> path) {
        finishing_.erase(finishing);
        Group* g = host_.group(announce.group);
        if (!path.ok() || g == nullptr) {
          if (path.ok()) ::unlink(path->c_str());  // The group was removed meanwhile.
          if (!path.ok()) {
            spdlog::error("group {}: finishing received snapshot: {}", announce.group,
                          path.status().ToString());
          }
          return;
        }
        if (info->checksum != expected_checksum || info->bytes != bytes) {
          spdlog::error("group {}: received snapshot {} has a bad checksum; dropped",
                        announce.group, *path);
          ::unlink(path->c_str());
          return;
        }
        bump(metrics_.snapshots_received);
        g->snapshot_received(announce,
                             StoredSnapshot{announce.snapshot->meta, info->bytes, info->checksum});
        host_.dirty(g);
      });
}

}  // namespace raft
