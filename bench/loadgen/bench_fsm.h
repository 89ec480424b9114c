// The benchmark state machine of bench_node, and the bits of its protocol the
// load generator shares: commands are memstore puts (encode_put), so the
// same load drives memstore nodes too; a count query returns how many puts
// were applied and an order-independent digest of their keys, which the load
// generator compares with what it saw acknowledged.
//
// Two modes: kCount keeps only (count, bytes, digest), a 24-byte state like
// the canonical/raft benchmark's counting FSM, so snapshots cost nothing;
// kKv also keeps every key and value (memstore's KvStateMachine), so sampled
// reads can check values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/node/state_machine.h"

namespace raft::memstore {
class KvStateMachine;
}

namespace raft::bench {

// The query answered with the counts ("count bytes digest" in decimal).
inline constexpr std::string_view kCountQuery = "\x01count";

struct BenchCounts {
  uint64_t count = 0;   // Puts applied.
  uint64_t bytes = 0;   // Bytes of those commands.
  uint64_t digest = 0;  // Sum (mod 2^64) of key_digest(key) over applied puts.
};

uint64_t key_digest(std::string_view key);
std::string format_counts(const BenchCounts& c);
absl::StatusOr<BenchCounts> parse_counts(std::string_view text);

// Extracts the key of a memstore put command (false if `command` is not one).
bool put_key(std::string_view command, std::string_view* key);

enum class FsmMode : uint8_t { kCount, kKv };

class BenchStateMachine : public StateMachine {
 public:
  explicit BenchStateMachine(FsmMode mode);
  ~BenchStateMachine() override;

  std::string apply(uint64_t index, std::string_view data) override;
  absl::StatusOr<std::string> query(std::string_view request) const override;
  // kCount: a copy of the 24-byte state; kKv: that and memstore's
  // copy-on-write view (KvStateMachine::snapshot_view). O(1) in the state's
  // size on the shard thread either way.
  absl::StatusOr<std::unique_ptr<SnapshotView>> snapshot_view() override;
  absl::Status snapshot(SnapshotWriter& writer) override;
  absl::Status restore(SnapshotReader& reader) override;

  const BenchCounts& counts() const { return counts_; }

 private:
  FsmMode mode_;
  BenchCounts counts_;
  std::unique_ptr<memstore::KvStateMachine> kv_;  // kKv only.
};

}  // namespace raft::bench
