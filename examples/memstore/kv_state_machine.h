// memstore's replicated state: an in-memory ordered map from key to value.
//
// Commands are encoded by encode_put / encode_delete and applied through the
// engine; apply returns a small result (the previous value's presence) so the
// proposer learns what its command did. Snapshots write the whole map in a
// length-prefixed binary format with a trailing entry count.
#pragma once

#include <map>
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
  std::string apply(uint64_t index, std::string_view data) override;
  // Query format: the key. Returns NotFound for an absent key.
  absl::StatusOr<std::string> query(std::string_view key) const override;
  absl::Status snapshot(SnapshotWriter& writer) override;
  absl::Status restore(SnapshotReader& reader) override;

  size_t size() const { return map_.size(); }
  uint64_t last_applied() const { return last_applied_; }
  const std::map<std::string, std::string, std::less<>>& map() const { return map_; }

 private:
  std::map<std::string, std::string, std::less<>> map_;
  uint64_t last_applied_ = 0;
};

}  // namespace raft::memstore
