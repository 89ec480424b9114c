#include "common/checksum.h"

#include <gtest/gtest.h>

#include <string>

namespace raft {
namespace {

TEST(Checksum, KnownVectors) {
  // XXH3-64 with seed 0, from the reference implementation's test vectors.
  EXPECT_EQ(checksum64(""), 0x2D06800538D394C2ULL);
  EXPECT_EQ(checksum64("a"), 0xE6C632B61E964E1FULL);
}

TEST(Checksum, DetectsEverySingleBitFlip) {
  std::string data(200, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  const uint64_t clean = checksum64(data);
  for (size_t byte = 0; byte < data.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      data[byte] ^= static_cast<char>(1 << bit);
      EXPECT_NE(checksum64(data), clean) << "byte " << byte << " bit " << bit;
      data[byte] ^= static_cast<char>(1 << bit);
    }
  }
  EXPECT_EQ(checksum64(data), clean);
}

TEST(Checksum, StreamingMatchesOneShotForEverySplit) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i % 251));
  const uint64_t expected = checksum64(data);
  for (size_t split : {0UL, 1UL, 63UL, 64UL, 240UL, 999UL, 1000UL}) {
    Checksum64 stream;
    stream.update(std::string_view(data).substr(0, split));
    stream.update(std::string_view(data).substr(split));
    EXPECT_EQ(stream.digest(), expected) << "split at " << split;
  }
}

}  // namespace
}  // namespace raft
