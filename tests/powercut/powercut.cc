#include "tests/powercut/powercut.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"

namespace raft::storage::powercut {
namespace {

struct Write {
  uint64_t offset = 0;
  std::string pre_image;
  uint64_t number = 0;  // Among all 'W' records.
  bool durable = false;
};

template <typename T>
bool read_pod(std::ifstream& in, T& v) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(&v), sizeof(v)));
}

absl::StatusOr<std::map<std::string, std::vector<Write>>> parse(const std::string& log,
                                                                uint64_t& uring_writes) {
  std::ifstream in(log, std::ios::binary);
  std::map<std::string, std::vector<Write>> files;
  if (!in) return files;  // Nothing written.
  uint64_t number = 0;
  for (;;) {
    uint8_t kind = 0, durable = 0;
    uint16_t path_len = 0;
    uint32_t len = 0;
    uint64_t offset = 0, old_size = 0;
    if (!read_pod(in, kind)) break;
    if (!read_pod(in, durable) || !read_pod(in, path_len) || !read_pod(in, len) ||
        !read_pod(in, offset) || !read_pod(in, old_size)) {
      break;  // A record cut by the kill: its write never happened.
    }
    std::string path(path_len, '\0');
    if (!in.read(path.data(), path_len)) break;
    std::vector<Write>& writes = files[path];
    if (kind == 'S') {  // Writes begun before the sync began are durable.
      for (Write& w : writes) w.durable |= w.number < offset;
      continue;
    }
    if (kind == 'D') {  // The newest write at that offset completed.
      for (size_t i = writes.size(); i-- > 0;) {
        if (writes[i].offset == offset) {
          writes[i].durable = true;
          break;
        }
      }
      continue;
    }
    if (kind != 'W') return absl::DataLossError(absl::StrCat(log, ": bad record kind"));
    // Durable only once its 'D' says it completed.
    if (durable & 2) ++uring_writes;
    Write w{offset, std::string(len, '\0'), number++, false};
    // A pre-image cut by the kill: its write had not begun.
    if (!in.read(w.pre_image.data(), len)) break;
    writes.push_back(std::move(w));
  }
  return files;
}

// Puts back [from, to) of `w`'s pre-image where no newer kept write covers,
// in runs.
void put_back(int fd, const Write& w, uint64_t from, uint64_t to, const std::vector<bool>& kept) {
  uint64_t b = from;
  while (b < to) {
    auto covered = [&](uint64_t i) { return w.offset + i < kept.size() && kept[w.offset + i]; };
    while (b < to && covered(b)) ++b;
    uint64_t e = b;
    while (e < to && !covered(e)) ++e;
    if (e > b) (void)::pwrite(fd, &w.pre_image[b], e - b, static_cast<off_t>(w.offset + b));
    b = e;
  }
}

void mark(std::vector<bool>& kept, uint64_t from, uint64_t to) {
  if (kept.size() < to) kept.resize(to, false);
  for (uint64_t b = from; b < to; ++b) kept[b] = true;
}

}  // namespace

std::string CutSummary::to_string() const {
  return absl::StrCat(writes, " writes (", uring_writes, " by io_uring), ", volatile_writes,
                      " not durable, ", lost, " lost, ", torn, " torn");
}

absl::StatusOr<CutSummary> cut(const std::string& log, uint64_t seed) {
  CutSummary s;
  auto files = parse(log, s.uring_writes);
  if (!files.ok()) return files.status();
  std::mt19937_64 rng(seed);
  for (auto& [path, writes] : *files) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;    // Unlinked since.
    std::vector<bool> kept;  // Bytes a newer kept write put there.
    bool newest_volatile = true;
    for (size_t i = writes.size(); i-- > 0;) {
      const Write& w = writes[i];
      const uint64_t n = w.pre_image.size();
      ++s.writes;
      if (w.durable) {
        mark(kept, w.offset, w.offset + n);
        continue;
      }
      ++s.volatile_writes;
      const bool tear = newest_volatile && n > 0 && rng() % 3 == 0;
      newest_volatile = false;
      if (tear) {
        // Keep up to a 512-byte boundary of the file, lose the rest.
        const uint64_t end = w.offset + n;
        uint64_t keep_to = w.offset + rng() % n;
        keep_to -= keep_to % 512;
        if (keep_to < w.offset) keep_to = w.offset;
        if (keep_to >= end) keep_to = w.offset;
        put_back(fd, w, keep_to - w.offset, n, kept);
        mark(kept, w.offset, keep_to);
        ++s.torn;
      } else if (rng() % 2 == 0) {
        put_back(fd, w, 0, n, kept);
        ++s.lost;
      } else {
        mark(kept, w.offset, w.offset + n);
      }
    }
    ::close(fd);
  }
  ::truncate(log.c_str(), 0);
  return s;
}

}  // namespace raft::storage::powercut
