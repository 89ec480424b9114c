// The user's replicated state machine, as the runtime sees it.
//
// The runtime calls these methods inline on the shard thread that owns the
// group, in log order, once entries are committed. Methods must not block on
// other groups' threads; a slow apply slows its shard (that is the price of
// zero hand-off latency, and the reason groups can be spread over shards).
// The one exception is SnapshotView::write, which the runtime calls on a
// background thread while the shard goes on applying (see snapshot_view).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/export.h"
#include "engine/node/events.h"

namespace raft {

// Sink for a snapshot being taken. The runtime's writer puts the bytes into
// the snapshot file as they come, in chunks of about 1 MiB (it never holds
// the whole snapshot), then fsyncs the file and renames it into place once
// SnapshotView::write returned OK. Any size of write is fine.
class RINGRAFT_API SnapshotWriter {
 public:
  virtual ~SnapshotWriter() = default;
  virtual absl::Status write(std::string_view bytes) = 0;
};

// Source for a snapshot being restored, read in chunks from the snapshot
// file (never loaded whole). The file's checksum is checked as the end is
// reached: a damaged file fails the read that reaches its end (DataLoss),
// so a restore that reads to the end learns of it. Whatever restore()
// leaves unread is read by the runtime afterwards, so the check is made
// either way.
class RINGRAFT_API SnapshotReader {
 public:
  virtual ~SnapshotReader() = default;
  // Reads up to buffer.size() bytes; returns 0 at the end of the snapshot.
  virtual absl::StatusOr<size_t> read(std::span<char> buffer) = 0;
  // The log index the snapshot covers (0 when the reader does not know, e.g.
  // one made over bytes in a test). A state machine that persists itself
  // records it as its applied index once the restored state is durable.
  virtual uint64_t snapshot_index() const { return 0; }
};

// Reads exactly buffer.size() bytes; DataLoss if the snapshot ends first.
inline absl::Status read_exactly(SnapshotReader& reader, std::span<char> buffer) {
  while (!buffer.empty()) {
    absl::StatusOr<size_t> n = reader.read(buffer);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::DataLossError("snapshot ends early");
    buffer = buffer.subspan(*n);
  }
  return absl::OkStatus();
}

// A point-in-time view of a state machine's state, made on the shard thread
// by StateMachine::snapshot_view() and written out on a background thread
// while the shard goes on applying entries. write() must produce the state
// as it was when the view was made, so it may read only what the view holds
// (an immutable copy, shared immutable parts, a read transaction, open file
// descriptors of files the machine no longer changes), never the machine's
// live, mutable state without synchronisation. It is called once; the view is
// destroyed on the background thread (or on the shard thread if the
// snapshot is abandoned before it is written).
class RINGRAFT_API SnapshotView {
 public:
  virtual ~SnapshotView() = default;
  virtual absl::Status write(SnapshotWriter& writer) = 0;
};

// A view over bytes already serialised in memory (the default
// snapshot_view() makes one from snapshot()).
class RINGRAFT_API BytesSnapshotView : public SnapshotView {
 public:
  explicit BytesSnapshotView(std::string bytes) : bytes_(std::move(bytes)) {}
  absl::Status write(SnapshotWriter& writer) override {
    constexpr size_t kChunk = 1 << 20;
    for (size_t off = 0; off < bytes_.size(); off += kChunk) {
      if (absl::Status s = writer.write(std::string_view(bytes_).substr(off, kChunk)); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string bytes_;
};

// A SnapshotWriter that appends to a string (the default snapshot_view()
// serialises this way; handy in tests too).
class RINGRAFT_API StringSnapshotWriter : public SnapshotWriter {
 public:
  explicit StringSnapshotWriter(std::string* out) : out_(out) {}
  absl::Status write(std::string_view bytes) override {
    out_->append(bytes);
    return absl::OkStatus();
  }

 private:
  std::string* out_;
};

// A SnapshotReader over bytes in memory; `bytes` must outlive it.
class RINGRAFT_API StringSnapshotReader : public SnapshotReader {
 public:
  explicit StringSnapshotReader(std::string_view bytes, uint64_t index = 0)
      : bytes_(bytes), index_(index) {}
  absl::StatusOr<size_t> read(std::span<char> buffer) override {
    const size_t n = std::min(buffer.size(), bytes_.size());
    bytes_.copy(buffer.data(), n);
    bytes_.remove_prefix(n);
    return n;
  }
  uint64_t snapshot_index() const override { return index_; }

 private:
  std::string_view bytes_;
  uint64_t index_;
};

// One committed entry handed to apply_batch().
struct ApplyItem {
  uint64_t index;
  std::string_view data;
};

class RINGRAFT_API StateMachine {
 public:
  virtual ~StateMachine() = default;

  // Applies one committed entry; the returned bytes go back to the proposer
  // (if it is still waiting on this node). Must be deterministic: every
  // replica applies the same entries in the same order.
  virtual std::string apply(uint64_t index, std::string_view data) = 0;

  // Batch form: results->at(i) answers items[i]. The default calls apply() for
  // each; override it to amortise per-entry costs (one transaction, one lock).
  virtual void apply_batch(std::span<const ApplyItem> items, std::vector<std::string>* results) {
    results->clear();
    results->reserve(items.size());
    for (const ApplyItem& item : items) results->push_back(apply(item.index, item.data));
  }

  // Like apply_batch(), but a machine that cannot apply an entry says so
  // instead of inventing a result (a replica that skips an entry diverges
  // silently). On an error, results->size() entries (a prefix of `items`)
  // were applied, each with its result, and items[results->size()] could
  // not be: the runtime halts the group on this node. It stops applying,
  // fails the requests waiting on it and refuses new ones with an error
  // naming the group and the index, logs it once, and shows it in the
  // status JSON ("halted") and the ringraft_fsm_halted_groups metric; a
  // restart (from the same log) tries the entry again. The default calls
  // apply_batch() and never fails.
  virtual absl::Status apply_batch_checked(std::span<const ApplyItem> items,
                                           std::vector<std::string>* results) {
    apply_batch(items, results);
    return absl::OkStatus();
  }

  // Answers a read-only query against the current state (used by the client
  // protocol's reads, after the runtime has made the read linearizable, or
  // for stale reads). Must not change the state. The default refuses.
  virtual absl::StatusOr<std::string> query(std::string_view request) const {
    (void)request;
    return absl::UnimplementedError("this state machine does not answer queries");
  }

  // Snapshots are taken in two steps. On the shard thread, between applies,
  // the runtime calls snapshot_view() for a consistent point-in-time view of
  // the state; then, on a background thread, SnapshotView::write streams it
  // into the snapshot file while the shard keeps applying and serving. Make
  // the view cheap: the shard (every group on it) waits for this call. Good
  // views: a copy of a small state, a handle on immutable (copy-on-write)
  // data, a read transaction of the machine's own database, open file
  // descriptors of files it only replaces by rename (then the snapshot is
  // streamed from the machine's own files).
  //
  // The default serialises snapshot() into memory here, on the shard thread,
  // and writes those bytes in the background: right for small states, but it
  // stalls the shard for the time snapshot() takes and holds the whole image
  // in memory until it is written. Override snapshot_view() for large states.
  virtual absl::StatusOr<std::unique_ptr<SnapshotView>> snapshot_view() {
    std::string bytes;
    StringSnapshotWriter writer(&bytes);
    if (absl::Status s = snapshot(writer); !s.ok()) return s;
    return std::make_unique<BytesSnapshotView>(std::move(bytes));
  }

  // Writes the whole state, for the default snapshot_view(). Called on the
  // shard thread between applies, so the state does not change while it
  // runs. A machine that overrides snapshot_view() need not implement it.
  virtual absl::Status snapshot(SnapshotWriter& writer) {
    (void)writer;
    return absl::UnimplementedError(
        "this state machine implements neither snapshot_view() nor snapshot()");
  }

  // Replaces the whole state with a snapshot's, read as a stream (a large
  // state need not be held in memory twice). Runs on the shard thread.
  virtual absl::Status restore(SnapshotReader& reader) = 0;

  // For state machines that persist themselves: the last index whose effects
  // are durably in the machine's own storage (every entry up to it applied,
  // nothing after it), or after a restore the snapshot's index
  // (SnapshotReader::snapshot_index). When the group opens, the runtime
  // re-applies only entries after max(snapshot index, applied_index()), and
  // it does not restore a snapshot that the machine's state already covers
  // (the snapshot's peer table is still read). Every entry a machine is
  // given is committed, so the runtime trusts the value even beyond its own
  // log (it warns: that happens after a crash right after restoring a
  // snapshot from the leader, or with files from another data dir). Called
  // once, when the group opens. The default (nullopt) means "in memory":
  // restore from the last snapshot and
  // re-apply everything after it.
  virtual std::optional<uint64_t> applied_index() const { return std::nullopt; }

  // Leadership, membership and snapshot events of this group
  // (engine/node/events.h), on the same thread as apply() and in log order
  // with it. Like apply(), it must not block; from here use only the
  // asynchronous Node calls. The default ignores them.
  virtual void on_event(const Event& event) { (void)event; }
};

}  // namespace raft
