// Unit tests: MemoryLogStorage, the inflight window and quorum arithmetic.
#include <map>

#include "engine/core/log_storage.h"
#include "engine/core/progress.h"
#include "engine/core/quorum.h"
#include "gtest/gtest.h"

namespace raft {
namespace {

std::vector<Entry> make_entries(Index from, Index to, Term term) {
  std::vector<Entry> out;
  for (Index i = from; i <= to; ++i) {
    out.push_back(Entry{term, i, EntryType::kNormal, Slice::copy_of("e" + std::to_string(i))});
  }
  return out;
}

TEST(MemoryLogStorage, EmptyStorage) {
  MemoryLogStorage s;
  EXPECT_EQ(s.first_index(), 1u);
  EXPECT_EQ(s.last_index(), 0u);
  ASSERT_TRUE(s.term(0).ok());
  EXPECT_EQ(*s.term(0), 0u);
  EXPECT_TRUE(is_unavailable(s.term(1).status()));
  EXPECT_TRUE(s.snapshot()->empty());
}

TEST(MemoryLogStorage, AppendAndRead) {
  MemoryLogStorage s;
  ASSERT_TRUE(s.append(make_entries(1, 5, 1)).ok());
  EXPECT_EQ(s.last_index(), 5u);
  auto ents = s.entries(2, 5, kNoLimit);
  ASSERT_TRUE(ents.ok());
  ASSERT_EQ(ents->size(), 3u);
  EXPECT_EQ((*ents)[0].index, 2u);
  EXPECT_EQ((*ents)[2].data.view(), "e4");
  EXPECT_TRUE(is_unavailable(s.entries(2, 7, kNoLimit).status()));
  EXPECT_TRUE(is_compacted(s.entries(0, 2, kNoLimit).status()));
}

TEST(MemoryLogStorage, ByteLimitReturnsAtLeastOneEntry) {
  MemoryLogStorage s;
  ASSERT_TRUE(s.append(make_entries(1, 5, 1)).ok());  // 2 bytes each.
  EXPECT_EQ(s.entries(1, 6, 0)->size(), 1u);
  EXPECT_EQ(s.entries(1, 6, 4)->size(), 2u);
  EXPECT_EQ(s.entries(1, 6, 5)->size(), 2u);
  EXPECT_EQ(s.entries(1, 6, kNoLimit)->size(), 5u);
}

TEST(MemoryLogStorage, AppendTruncatesConflictingSuffix) {
  MemoryLogStorage s;
  ASSERT_TRUE(s.append(make_entries(1, 5, 1)).ok());
  ASSERT_TRUE(s.append(make_entries(3, 4, 2)).ok());
  EXPECT_EQ(s.last_index(), 4u);
  EXPECT_EQ(*s.term(2), 1u);
  EXPECT_EQ(*s.term(3), 2u);
  EXPECT_EQ(*s.term(4), 2u);
}

TEST(MemoryLogStorage, AppendRejectsGapsAndNonContiguous) {
  MemoryLogStorage s;
  ASSERT_TRUE(s.append(make_entries(1, 2, 1)).ok());
  EXPECT_FALSE(s.append(make_entries(4, 5, 1)).ok());
  std::vector<Entry> bad = make_entries(3, 3, 1);
  bad.push_back(make_entries(5, 5, 1)[0]);
  EXPECT_FALSE(s.append(bad).ok());
  EXPECT_EQ(s.last_index(), 2u);
}

TEST(MemoryLogStorage, CompactKeepsTermOfCompactedIndex) {
  MemoryLogStorage s;
  ASSERT_TRUE(s.append(make_entries(1, 10, 3)).ok());
  ASSERT_TRUE(s.compact(6).ok());
  EXPECT_EQ(s.first_index(), 7u);
  EXPECT_EQ(s.last_index(), 10u);
  EXPECT_EQ(*s.term(6), 3u);
  EXPECT_TRUE(is_compacted(s.term(5).status()));
  EXPECT_TRUE(is_compacted(s.entries(6, 8, kNoLimit).status()));
  EXPECT_EQ(s.entries(7, 11, kNoLimit)->size(), 4u);
  EXPECT_TRUE(is_compacted(s.compact(6)));
  // Appending below the compaction point skips the covered part.
  ASSERT_TRUE(s.append(make_entries(5, 11, 3)).ok());
  EXPECT_EQ(s.first_index(), 7u);
  EXPECT_EQ(s.last_index(), 11u);
}

TEST(MemoryLogStorage, CreateAndApplySnapshot) {
  MemoryLogStorage s;
  ASSERT_TRUE(s.append(make_entries(1, 10, 2)).ok());
  ConfState cs;
  cs.voters = {1, 2, 3};
  auto snap = s.create_snapshot(8, cs, Slice::copy_of("state"));
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->meta.index, 8u);
  EXPECT_EQ(snap->meta.term, 2u);
  EXPECT_EQ(snap->data.view(), "state");
  EXPECT_FALSE(s.create_snapshot(8, cs, Slice()).ok());  // Out of date.
  EXPECT_TRUE(is_unavailable(s.create_snapshot(11, cs, Slice()).status()));

  MemoryLogStorage other;
  ASSERT_TRUE(other.append(make_entries(1, 3, 1)).ok());
  ASSERT_TRUE(other.apply_snapshot(*snap).ok());
  EXPECT_EQ(other.first_index(), 9u);
  EXPECT_EQ(other.last_index(), 8u);
  EXPECT_EQ(*other.term(8), 2u);
  EXPECT_EQ(other.conf_state(), cs);
  EXPECT_EQ(other.hard_state().commit, 8u);
  EXPECT_EQ(other.snapshot()->data.view(), "state");
  // An older snapshot is refused.
  Snapshot older = *snap;
  older.meta.index = 5;
  EXPECT_FALSE(other.apply_snapshot(older).ok());
}

TEST(MemoryLogStorage, PayloadsAreShared) {
  MemoryLogStorage s;
  Slice payload = Slice::copy_of("shared-bytes");
  ASSERT_TRUE(s.append({Entry{1, 1, EntryType::kNormal, payload}}).ok());
  auto ents = s.entries(1, 2, kNoLimit);
  ASSERT_TRUE(ents.ok());
  // Same bytes, not a copy.
  EXPECT_EQ((*ents)[0].data.data(), payload.data());
}

TEST(Inflights, WindowFillsAndFrees) {
  Inflights in(4);
  for (Index i = 1; i <= 4; ++i) in.add(i * 10);
  EXPECT_TRUE(in.full());
  in.free_le(25);
  EXPECT_EQ(in.count(), 2u);
  EXPECT_FALSE(in.full());
  in.add(50);
  in.add(60);
  EXPECT_TRUE(in.full());
  in.free_first_one();
  EXPECT_EQ(in.count(), 3u);
  in.free_le(1000);
  EXPECT_EQ(in.count(), 0u);
  // Wraps around the ring many times.
  for (Index i = 1; i <= 100; ++i) {
    in.add(i);
    if (in.full()) in.free_le(i - 2);
  }
  EXPECT_LE(in.count(), 4u);
}

TEST(Quorum, MajorityCommittedIndex) {
  MajorityConfig c({1, 2, 3});
  std::map<NodeId, Index> acked{{1, 5}, {2, 3}, {3, 9}};
  EXPECT_EQ(c.committed_index([&](NodeId id) { return acked[id]; }), 5u);
  MajorityConfig four({1, 2, 3, 4});
  acked[4] = 1;
  EXPECT_EQ(four.committed_index([&](NodeId id) { return acked[id]; }), 3u);
  MajorityConfig empty;
  EXPECT_EQ(empty.committed_index([&](NodeId) { return Index{0}; }), ~Index{0});
}

TEST(Quorum, JointTakesTheMinimumOfBothHalves) {
  JointConfig j;
  j.incoming = MajorityConfig({1, 2, 3});
  j.outgoing = MajorityConfig({3, 4, 5});
  std::map<NodeId, Index> acked{{1, 10}, {2, 10}, {3, 4}, {4, 2}, {5, 1}};
  EXPECT_EQ(j.committed_index([&](NodeId id) { return acked[id]; }), 2u);
}

TEST(Quorum, VoteResults) {
  MajorityConfig c({1, 2, 3});
  EXPECT_EQ(c.vote_result({{1, true}}), VoteResult::kPending);
  EXPECT_EQ(c.vote_result({{1, true}, {2, true}}), VoteResult::kWon);
  EXPECT_EQ(c.vote_result({{1, true}, {2, false}}), VoteResult::kPending);
  EXPECT_EQ(c.vote_result({{1, false}, {2, false}}), VoteResult::kLost);
  JointConfig j;
  j.incoming = MajorityConfig({1, 2, 3});
  j.outgoing = MajorityConfig({4, 5, 6});
  EXPECT_EQ(j.vote_result({{1, true}, {2, true}}), VoteResult::kPending);
  EXPECT_EQ(j.vote_result({{1, true}, {2, true}, {4, true}, {5, true}}), VoteResult::kWon);
  EXPECT_EQ(j.vote_result({{1, true}, {2, true}, {4, false}, {5, false}}), VoteResult::kLost);
}

}  // namespace
}  // namespace raft
