#include "storage/write_batch.h"

namespace raft::storage {

GroupWrite& WriteBatch::group(GroupId group) {
  auto [it, inserted] = slot_.try_emplace(group, groups_.size());
  if (inserted) {
    groups_.emplace_back();
    groups_.back().group = group;
  }
  return groups_[it->second];
}

void WriteBatch::append(GroupId group, const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  GroupWrite& w = this->group(group);
  // Replace the batch's own suffix that the new entries overwrite.
  while (!w.entries.empty() && w.entries.back().index >= entries.front().index) {
    entry_count_ -= 1;
    payload_bytes_ -= w.entries.back().data.size();
    w.entries.pop_back();
  }
  for (const Entry& e : entries) {
    w.entries.push_back(e);
    payload_bytes_ += e.data.size();
  }
  entry_count_ += entries.size();
}

void WriteBatch::append(GroupId group, std::vector<Entry>&& entries) {
  if (entries.empty()) return;
  GroupWrite& w = this->group(group);
  if (!w.entries.empty()) {
    append(group, static_cast<const std::vector<Entry>&>(entries));
    return;
  }
  for (const Entry& e : entries) payload_bytes_ += e.data.size();
  entry_count_ += entries.size();
  w.entries = std::move(entries);
}

void WriteBatch::apply_snapshot(GroupId group, const StoredSnapshot& snapshot) {
  GroupWrite& w = this->group(group);
  auto& es = w.entries;
  size_t drop = 0;
  while (drop < es.size() && es[drop].index <= snapshot.meta.index) {
    payload_bytes_ -= es[drop].data.size();
    ++drop;
  }
  es.erase(es.begin(), es.begin() + static_cast<ptrdiff_t>(drop));
  entry_count_ -= drop;
  w.save_snapshot.reset();
  w.apply_snapshot = snapshot;
}

void WriteBatch::remove_group(GroupId id) {
  GroupWrite& w = group(id);
  for (const Entry& e : w.entries) payload_bytes_ -= e.data.size();
  entry_count_ -= w.entries.size();
  const bool created = w.create;
  w = GroupWrite{};
  w.group = id;
  w.create = created;
  w.remove = true;
}

void WriteBatch::clear() {
  groups_.clear();
  slot_.clear();
  entry_count_ = 0;
  payload_bytes_ = 0;
  journal_seq_ = 0;
}

std::vector<WriteBatch> split_batch(WriteBatch batch, uint64_t max_bytes) {
  constexpr uint64_t kEntryCost = 64;   // Beside its payload, an upper bound.
  constexpr uint64_t kGroupCost = 512;  // States and snapshot records.
  std::vector<WriteBatch> parts;
  if (batch.payload_bytes() + batch.entry_count() * kEntryCost +
          batch.groups().size() * kGroupCost <=
      max_bytes) {
    parts.push_back(std::move(batch));
    return parts;
  }
  parts.emplace_back();
  uint64_t bytes = 0;
  auto take = [&](uint64_t cost) {
    if (bytes > 0 && bytes + cost > max_bytes) {
      parts.emplace_back();
      bytes = 0;
    }
    bytes += cost;
  };
  for (const GroupWrite& w : batch.groups()) {
    take(kGroupCost);
    if (w.create) parts.back().create_group(w.group);
    if (w.apply_snapshot) parts.back().apply_snapshot(w.group, *w.apply_snapshot);
    std::vector<Entry> run;
    for (const Entry& e : w.entries) {
      const size_t before = parts.size();
      take(e.data.size() + kEntryCost);
      if (parts.size() != before && !run.empty()) {
        parts[before - 1].append(w.group, std::move(run));
        run = {};
      }
      run.push_back(e);
    }
    if (!run.empty()) parts.back().append(w.group, std::move(run));
    GroupWrite& last = parts.back().group(w.group);
    last.hard_state = w.hard_state;
    last.conf_state = w.conf_state;
    last.save_snapshot = w.save_snapshot;
    last.compact_to = w.compact_to;
    last.remove = w.remove;
  }
  return parts;
}

}  // namespace raft::storage
