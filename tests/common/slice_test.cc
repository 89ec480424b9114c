#include "common/slice.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace raft {
namespace {

TEST(Slice, CopiesShareTheBytes) {
  Slice a(std::string("hello world"));
  Slice b = a;
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(b.view(), "hello world");
}

TEST(Slice, SubKeepsOwnerAlive) {
  Slice sub;
  {
    Slice whole(std::string("0123456789"));
    sub = whole.sub(3, 4);
  }
  EXPECT_EQ(sub.view(), "3456");
}

TEST(Slice, ViewIntoForeignOwner) {
  auto buffer = std::make_shared<std::string>("frame-bytes");
  std::weak_ptr<std::string> weak = buffer;
  Slice s(buffer, std::string_view(*buffer).substr(6));
  buffer.reset();
  ASSERT_FALSE(weak.expired());
  EXPECT_EQ(s.view(), "bytes");
  s = Slice();
  EXPECT_TRUE(weak.expired());
}

TEST(Slice, EqualityComparesContent) {
  EXPECT_EQ(Slice::copy_of("abc"), Slice(std::string("abc")));
  EXPECT_FALSE(Slice::copy_of("abc") == Slice::copy_of("abd"));
  EXPECT_TRUE(Slice().empty());
}

}  // namespace
}  // namespace raft
