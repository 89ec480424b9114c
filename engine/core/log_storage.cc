// MemoryLogStorage and the storage error helpers.
#include "engine/core/log_storage.h"

#include "common/check.h"

namespace raft {
absl::Status compacted_error() { RAFT_CHECK(false); }
absl::Status unavailable_error() { RAFT_CHECK(false); }
absl::Status snapshot_temporarily_unavailable_error() { RAFT_CHECK(false); }
bool is_compacted(const absl::Status&) { RAFT_CHECK(false); }
bool is_unavailable(const absl::Status&) { RAFT_CHECK(false); }
bool is_snapshot_temporarily_unavailable(const absl::Status&) { RAFT_CHECK(false); }
MemoryLogStorage::MemoryLogStorage() {}
absl::StatusOr<InitialState> MemoryLogStorage::initial_state() const { RAFT_CHECK(false); }
absl::StatusOr<std::vector<Entry>> MemoryLogStorage::entries(Index, Index, uint64_t) const {
  RAFT_CHECK(false);
}
absl::StatusOr<Term> MemoryLogStorage::term(Index) const { RAFT_CHECK(false); }
Index MemoryLogStorage::first_index() const { RAFT_CHECK(false); }
Index MemoryLogStorage::last_index() const { RAFT_CHECK(false); }
absl::StatusOr<Snapshot> MemoryLogStorage::snapshot() const { RAFT_CHECK(false); }
absl::Status MemoryLogStorage::append(const std::vector<Entry>&) { RAFT_CHECK(false); }
absl::Status MemoryLogStorage::apply_snapshot(const Snapshot&) { RAFT_CHECK(false); }
absl::StatusOr<Snapshot> MemoryLogStorage::create_snapshot(Index, const ConfState&, Slice) {
  RAFT_CHECK(false);
}
absl::Status MemoryLogStorage::compact(Index) { RAFT_CHECK(false); }
uint64_t MemoryLogStorage::payload_bytes() const { RAFT_CHECK(false); }
}  // namespace raft
