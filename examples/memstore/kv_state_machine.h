// memstore's replicated state: an in-memory ordered map from key to value.
//
// Commands are encoded by encode_put / encode_delete and applied through the
// engine; apply returns a small result (the previous value's presence) so the
// proposer learns what its command did. Snapshots write the whole map in a
// length-prefixed binary format with a trailing entry count.
//
// The map is split into kBuckets buckets by key hash, each an immutable
// std::map shared through a shared_ptr and copied on write: a snapshot view
// is a copy of the bucket pointers (O(kBuckets) on the shard thread,
// whatever the state's size), and the background thread writes the buckets
// it shares while the shard keeps applying. The price is paid by the
// writes: the first write to a bucket that a view still shares copies that
// bucket (1/kBuckets of the state), so one snapshot costs at most one copy
// of the state, spread over the writes made while it is written.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "engine/node/state_machine.h"

namespace raft::memstore {

std::string encode_put(std::string_view key, std::string_view value);
std::string encode_delete(std::string_view key);

// Results of apply: "created", "updated", "deleted", "absent", or
// "error: ..." for a command that could not be decoded (every replica reports
// the same, so the log stays consistent).
class KvStateMachine : public StateMachine {
 public:
  static constexpr size_t kBuckets = 256;
  using Map = std::map<std::string, std::string, std::less<>>;

  KvStateMachine();

  std::string apply(uint64_t index, std::string_view data) override;
  // Query format: the key. Returns NotFound for an absent key.
  absl::StatusOr<std::string> query(std::string_view key) const override;
  // A copy of the bucket pointers; see above.
  absl::StatusOr<std::unique_ptr<SnapshotView>> snapshot_view() override;
  // The same bytes, written here (tests, and machines that embed this one).
  absl::Status snapshot(SnapshotWriter& writer) override;
  absl::Status restore(SnapshotReader& reader) override;

  size_t size() const { return size_; }
  uint64_t last_applied() const { return last_applied_; }
  // The whole map, merged (a copy: for tests).
  Map map() const;

 private:
  using Buckets = std::array<std::shared_ptr<const Map>, kBuckets>;
  static size_t bucket_of(std::string_view key);
  // The bucket of `key`, made private to this machine first if a snapshot
  // view may still share it.
  Map& writable(size_t bucket);

  Buckets buckets_;
  // own_[b]: bucket b was made by this machine since the last view was
  // taken, so no view has seen it and it may be written in place.
  std::array<bool, kBuckets> own_;
  // Views not yet destroyed. A view decrements it (release) once it is done
  // reading; writable() reads it (acquire) before writing a bucket a view
  // may have read in place, which orders the view's reads before the write.
  std::shared_ptr<std::atomic<uint64_t>> views_alive_ = std::make_shared<std::atomic<uint64_t>>(0);
  size_t size_ = 0;
  uint64_t last_applied_ = 0;
};

}  // namespace raft::memstore
