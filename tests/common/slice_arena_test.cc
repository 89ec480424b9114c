#include "common/slice_arena.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace raft {
namespace {

Slice make_string(SliceArena& arena, const std::string& s) {
  char* bytes = nullptr;
  Slice out = arena.allocate(s.size(), &bytes);
  s.copy(bytes, s.size());
  return out;
}

TEST(SliceArena, SmallSlicesShareAChunkAndKeepTheirBytes) {
  SliceArena arena;
  Slice a = make_string(arena, "first");
  Slice b = make_string(arena, "second");
  EXPECT_EQ(a.view(), "first");
  EXPECT_EQ(b.view(), "second");
  EXPECT_EQ(a.owner(), b.owner());
  EXPECT_EQ(a.data() + a.size(), b.data());  // Packed, in order.
}

TEST(SliceArena, SlicesOutliveTheArenaAndTheirChunk) {
  std::vector<Slice> kept;
  {
    SliceArena arena;
    // Enough to fill several chunks.
    for (int i = 0; i < 3000; ++i)
      kept.push_back(make_string(arena, std::string(100, 'a' + i % 26)));
  }
  EXPECT_NE(kept.front().owner(), kept.back().owner());
  for (int i = 0; i < 3000; ++i) {
    ASSERT_EQ(kept[i].view(), std::string(100, 'a' + i % 26)) << i;
  }
}

TEST(SliceArena, AStringThatDoesNotFitStartsANewChunk) {
  SliceArena arena;
  Slice first = make_string(arena, std::string(SliceArena::kMaxShared, 'x'));
  std::vector<Slice> rest;
  for (size_t used = first.size(); used + SliceArena::kMaxShared <= SliceArena::kChunkBytes;
       used += SliceArena::kMaxShared) {
    rest.push_back(make_string(arena, std::string(SliceArena::kMaxShared, 'y')));
    EXPECT_EQ(rest.back().owner(), first.owner());
  }
  Slice next = make_string(arena, "z");
  EXPECT_NE(next.owner(), first.owner());
  EXPECT_EQ(next.view(), "z");
  EXPECT_EQ(first.view(), std::string(SliceArena::kMaxShared, 'x'));
}

TEST(SliceArena, LargeStringsGetTheirOwnBuffer) {
  SliceArena arena;
  Slice small = make_string(arena, "s");
  Slice large = make_string(arena, std::string(SliceArena::kMaxShared + 1, 'L'));
  Slice after = make_string(arena, "t");
  EXPECT_NE(large.owner(), small.owner());
  EXPECT_EQ(after.owner(), small.owner());
  EXPECT_EQ(large.view(), std::string(SliceArena::kMaxShared + 1, 'L'));
}

TEST(SliceArena, EmptyStrings) {
  SliceArena arena;
  char* bytes = nullptr;
  Slice e = arena.allocate(0, &bytes);
  EXPECT_TRUE(e.empty());
}

}  // namespace
}  // namespace raft
