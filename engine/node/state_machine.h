// The user's replicated state machine, as the runtime sees it.
//
// The runtime calls these methods inline on the shard thread that owns the
// group, in log order, once entries are committed. Methods must not block on
// other groups' threads; a slow apply slows its shard (that is the price of
// zero hand-off latency, and the reason groups can be spread over shards).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/export.h"
#include "engine/node/events.h"

namespace raft {

// Sink for a snapshot being taken. Bytes go to a file in chunks; the runtime
// fsyncs and renames it into place after snapshot() returns OK.
class RINGRAFT_API SnapshotWriter {
 public:
  virtual ~SnapshotWriter() = default;
  virtual absl::Status write(std::string_view bytes) = 0;
};

// Source for a snapshot being restored, read in chunks from a local file.
class RINGRAFT_API SnapshotReader {
 public:
  virtual ~SnapshotReader() = default;
  // Reads up to buffer.size() bytes; returns 0 at the end of the snapshot.
  virtual absl::StatusOr<size_t> read(std::span<char> buffer) = 0;
};

// A SnapshotWriter that appends to a string (the runtime builds snapshot
// images this way; handy in tests too).
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
  explicit StringSnapshotReader(std::string_view bytes) : bytes_(bytes) {}
  absl::StatusOr<size_t> read(std::span<char> buffer) override {
    const size_t n = std::min(buffer.size(), bytes_.size());
    bytes_.copy(buffer.data(), n);
    bytes_.remove_prefix(n);
    return n;
  }

 private:
  std::string_view bytes_;
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

  // Answers a read-only query against the current state (used by the client
  // protocol's reads, after the runtime has made the read linearizable, or
  // for stale reads). Must not change the state. The default refuses.
  virtual absl::StatusOr<std::string> query(std::string_view request) const {
    (void)request;
    return absl::UnimplementedError("this state machine does not answer queries");
  }

  // Writes the whole state. Called on the shard thread between applies, so the
  // state does not change while it runs.
  virtual absl::Status snapshot(SnapshotWriter& writer) = 0;

  // Replaces the whole state with a snapshot's.
  virtual absl::Status restore(SnapshotReader& reader) = 0;

  // For state machines that persist themselves: the last index they applied
  // durably. On restart the runtime re-applies only entries after it. The
  // default (nullopt) means "in memory": restore from the last snapshot and
  // re-apply everything after the snapshot.
  virtual std::optional<uint64_t> applied_index() const { return std::nullopt; }

  // Leadership, membership and snapshot events of this group
  // (engine/node/events.h), on the same thread as apply() and in log order
  // with it. Like apply(), it must not block; from here use only the
  // asynchronous Node calls. The default ignores them.
  virtual void on_event(const Event& event) { (void)event; }
};

}  // namespace raft
