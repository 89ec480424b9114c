// Helpers shared by the storage tests: a temporary directory removed at the
// end of the test, and deterministic entries whose payload encodes (group,
// index, term) so that any read can be checked byte for byte.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/core/types.h"
#include "gtest/gtest.h"

namespace raft::storage::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "raft_storage_XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Payload of entry (group, index, term): readable, at least `bytes` long.
inline std::string payload_for(GroupId group, Index index, Term term, size_t bytes = 32) {
  std::string p = absl::StrCat("g", group, "-i", index, "-t", term, "|");
  while (p.size() < bytes) p.push_back(static_cast<char>('a' + (index + p.size()) % 26));
  return p;
}

inline std::vector<Entry> make_entries(GroupId group, Index first, size_t count, Term term,
                                       size_t bytes = 32) {
  std::vector<Entry> out;
  for (size_t i = 0; i < count; ++i) {
    Index index = first + i;
    out.push_back(
        Entry{term, index, EntryType::kNormal, Slice(payload_for(group, index, term, bytes))});
  }
  return out;
}

}  // namespace raft::storage::testing
