// The journal (journal.h): record layout, segment files, the recovery scan
// and the write side.
#include "storage/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/checksum.h"
#include "storage/journal_batch_codec.h"
#include "storage/lmdb_util.h"

namespace raft::storage {
namespace {

constexpr uint32_t kMagic = 0x314a5252;  // "RRJ1" little-endian.
constexpr uint16_t kVersion = 2;         // 2: records start on kJournalBlock boundaries.
constexpr uint16_t kKindBatch = 1;

uint64_t load(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
void store(char* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
// A record's bytes on disk: header, payload, zeros to the next block.
uint64_t record_bytes(uint64_t payload) {
  return (kJournalHeaderBytes + payload + kJournalBlock - 1) & ~(kJournalBlock - 1);
}

uint64_t record_checksum(std::string_view header24, std::string_view payload) {
  Checksum64 c;
  c.update(header24);
  c.update(payload);
  return c.digest();
}

// Writes the record (header, payload, zeros to the block's end) into `out`,
// which holds record_bytes(payload.size()).
void encode_record(uint64_t seq, std::string_view payload, char* out) {
  char* h = out;
  store(h, kMagic, 4);
  store(h + 4, kVersion, 2);
  store(h + 6, kKindBatch, 2);
  store(h + 8, seq, 8);
  store(h + 16, payload.size(), 4);
  store(h + 20, 0, 4);
  std::memcpy(out + kJournalHeaderBytes, payload.data(), payload.size());
  store(h + 24, record_checksum(std::string_view(h, 24), payload), 8);
  const uint64_t used = kJournalHeaderBytes + payload.size();
  std::memset(out + used, 0, record_bytes(payload.size()) - used);
}

struct RecordView {
  uint64_t offset = 0;
  uint64_t seq = 0;
  std::string_view payload;
  uint64_t size = 0;  // With header and padding.
};

// The valid record at `offset` of `data`, if any.
std::optional<RecordView> read_record(std::string_view data, uint64_t offset) {
  if (offset + kJournalHeaderBytes > data.size()) return std::nullopt;
  const char* h = data.data() + offset;
  if (load(h, 4) != kMagic || load(h + 4, 2) != kVersion || load(h + 6, 2) != kKindBatch ||
      load(h + 20, 4) != 0) {
    return std::nullopt;
  }
  const uint64_t length = load(h + 16, 4);
  if (length > data.size() - offset - kJournalHeaderBytes) return std::nullopt;
  std::string_view payload(h + kJournalHeaderBytes, length);
  if (load(h + 24, 8) != record_checksum(std::string_view(h, 24), payload)) return std::nullopt;
  return RecordView{offset, load(h + 8, 8), payload, record_bytes(length)};
}

// The records from offset 0 with consecutive seqs.
struct Chain {
  std::vector<RecordView> records;
  uint64_t end = 0;  // Offset after the last one.
  uint64_t first() const { return records.empty() ? 0 : records.front().seq; }
  uint64_t last() const { return records.empty() ? 0 : records.back().seq; }
};

Chain scan_chain(std::string_view data) {
  Chain c;
  while (auto r = read_record(data, c.end)) {
    if (!c.records.empty() && r->seq != c.last() + 1) break;
    c.records.push_back(*r);
    c.end += r->size;
  }
  return c;
}

// The offset of a valid record after `from` with a seq above `above`.
std::optional<uint64_t> later_record(std::string_view data, uint64_t from, uint64_t above) {
  const uint64_t first = (from + kJournalBlock - 1) & ~(kJournalBlock - 1);
  for (uint64_t off = first; off + kJournalHeaderBytes <= data.size(); off += kJournalBlock) {
    if (load(data.data() + off, 4) != kMagic) continue;
    auto r = read_record(data, off);
    if (r && r->seq > above) return off;
  }
  return std::nullopt;
}

std::string segment_name(size_t i) {
  char name[32];
  std::snprintf(name, sizeof(name), "seg-%04zu.jnl", i);
  return name;
}

absl::StatusOr<std::string> read_file(const std::string& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path);
  std::string data(size, '\0');
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, data.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status s = n < 0 ? errno_status("read", path)
                             : absl::DataLossError(absl::StrCat(path, " is shorter than ", size));
      ::close(fd);
      return s;
    }
    done += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return data;
}

absl::Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : errno_status("fsync", dir);
}

// Writes a segment of zeros under a temporary name, syncs, renames it.
absl::Status create_segment(const std::string& path, uint64_t size) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status("create", tmp);
  const std::string zeros(1 << 20, '\0');
  absl::Status s;
  for (uint64_t done = 0; done < size && s.ok();) {
    ssize_t n = ::pwrite(fd, zeros.data(), std::min<uint64_t>(zeros.size(), size - done),
                         static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) s = errno_status("write", tmp);
    if (n > 0) done += static_cast<uint64_t>(n);
  }
  if (s.ok() && ::fdatasync(fd) != 0) s = errno_status("fdatasync", tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = errno_status("rename", tmp);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

// The segment files of `dir` (contiguous from 0) and their common size.
absl::Status list_segments(const std::string& dir, std::vector<std::string>& paths,
                           uint64_t& size) {
  std::error_code ec;
  size_t count = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") continue;
    unsigned index = 0;
    char tail = 0;
    if (std::sscanf(name.c_str(), "seg-%4u.jn%c", &index, &tail) != 2 || tail != 'l' ||
        name != segment_name(index)) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " holds ", name, ", which is not a journal segment"));
    }
    count = std::max<size_t>(count, index + 1);
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", dir, ": ", ec.message()));
  for (size_t i = 0; i < count; ++i) {
    const std::string path = dir + "/" + segment_name(i);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return absl::DataLossError(
          absl::StrCat(path, " is missing (the journal has ", count, " segments)"));
    }
    const uint64_t bytes = static_cast<uint64_t>(st.st_size);
    if (i == 0) size = bytes;
    if (bytes != size || bytes == 0 || bytes % 4096 != 0) {
      return absl::DataLossError(
          absl::StrCat(path, " has ", bytes, " bytes; the journal's ", "segments have ", size));
    }
    paths.push_back(path);
  }
  return absl::OkStatus();
}

// The chains of every segment, checked as journal.h says. `data` holds the
// files' bytes; fills `replay` with the records above covered.
struct Scan {
  std::vector<Chain> chains;
  size_t newest = 0;  // Segment of the highest seq (0 when there is none).
  uint64_t last_seq = 0;
};

absl::StatusOr<Scan> scan(const std::vector<std::string>& paths,
                          const std::vector<std::string>& data, uint64_t covered) {
  Scan s;
  std::vector<size_t> live;  // Segments with records above covered.
  for (size_t i = 0; i < data.size(); ++i) {
    s.chains.push_back(scan_chain(data[i]));
    const Chain& c = s.chains.back();
    const uint64_t floor = std::max(covered, c.last());
    if (auto off = later_record(data[i], c.end, floor)) {
      return absl::DataLossError(
          absl::StrCat("journal segment ", paths[i], ": the record at offset ", c.end,
                       " is damaged but a valid later record follows at offset ", *off,
                       " (corruption, not a torn write); nothing was changed"));
    }
    if (c.last() > s.last_seq) {
      s.last_seq = c.last();
      s.newest = i;
    }
    if (c.last() > covered) live.push_back(i);
  }
  std::sort(live.begin(), live.end(),
            [&](size_t a, size_t b) { return s.chains[a].first() < s.chains[b].first(); });
  uint64_t expect = covered + 1;
  for (size_t i : live) {
    const Chain& c = s.chains[i];
    if (c.first() > expect) {
      return absl::DataLossError(absl::StrCat("journal ", paths[i], " starts at record ", c.first(),
                                              " but record ", expect,
                                              " is in no segment; nothing was changed"));
    }
    expect = c.last() + 1;
  }
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Journal>> Journal::open(const JournalOptions& options,
                                                       uint64_t covered_seq,
                                                       std::vector<JournalRecord>* replay) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", options.dir, ": ", ec.message()));
  std::vector<std::string> paths;
  uint64_t size = options.segment_bytes;
  if (auto s = list_segments(options.dir, paths, size); !s.ok()) return s;
  if (paths.empty()) size = options.segment_bytes;
  if (size < 4096 || size % 4096 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("journal segment size ", size, " is not a positive multiple of 4096"));
  }
  std::vector<std::string> data;
  for (const std::string& p : paths) {
    auto d = read_file(p, size);
    if (!d.ok()) return d.status();
    data.push_back(std::move(*d));
  }
  auto found = scan(paths, data, covered_seq);
  if (!found.ok()) return found.status();  // Before anything is written.

  std::unique_ptr<Journal> j(new Journal());
  j->dir_ = options.dir;
  j->segment_bytes_ = size;
  j->checkpoint_ = covered_seq;
  const size_t count = std::max<size_t>(paths.size(), std::max<uint32_t>(options.segments, 2));
  for (size_t i = paths.size(); i < count; ++i) {
    const std::string path = options.dir + "/" + segment_name(i);
    if (auto s = create_segment(path, size); !s.ok()) return s;
    paths.push_back(path);
    data.emplace_back();
    found->chains.emplace_back();
  }
  if (auto s = fsync_dir(options.dir); !s.ok()) return s;
  for (size_t i = 0; i < count; ++i) {
    Segment seg;
    seg.path = paths[i];
    // O_DIRECT when the file system has it (not tmpfs): io_uring then
    // issues the write from the submitting thread instead of handing a
    // buffered O_DSYNC write to a kernel worker.
    seg.fd = ::open(seg.path.c_str(), O_RDWR | O_DSYNC | O_DIRECT | O_CLOEXEC);
    if (seg.fd < 0 && errno == EINVAL) {
      seg.fd = ::open(seg.path.c_str(), O_RDWR | O_DSYNC | O_CLOEXEC);
      j->direct_ = false;
    }
    if (seg.fd < 0) return errno_status("open", seg.path);
    seg.first_seq = found->chains[i].first();
    seg.last_seq = found->chains[i].last();
    j->segments_.push_back(std::move(seg));
  }
  if (found->last_seq >= covered_seq && found->last_seq > 0) {
    j->current_ = found->newest;
    j->offset_ = found->chains[found->newest].end;
    j->next_seq_ = found->last_seq + 1;
  } else {
    // Nothing newer than LMDB: start afresh after it, at a segment's start.
    j->current_ = found->last_seq == 0 ? 0 : (found->newest + 1) % count;
    j->offset_ = 0;
    j->segments_[j->current_].first_seq = 0;
    j->segments_[j->current_].last_seq = 0;
    j->next_seq_ = covered_seq + 1;
  }
  if (replay != nullptr) {
    std::vector<RecordView> out;
    for (const Chain& c : found->chains) {
      for (const RecordView& r : c.records) {
        if (r.seq > covered_seq) out.push_back(r);
      }
    }
    std::sort(out.begin(), out.end(),
              [](const RecordView& a, const RecordView& b) { return a.seq < b.seq; });
    for (const RecordView& r : out) replay->push_back(JournalRecord{r.seq, std::string(r.payload)});
  }
  return j;
}

Journal::~Journal() {
  for (Segment& s : segments_) {
    if (s.fd >= 0) ::close(s.fd);
  }
  std::free(buffer_);
}

bool Journal::is_free(size_t i) const {
  return i != current_ && segments_[i].last_seq <= checkpoint_;
}

uint32_t Journal::free_segments() const {
  uint32_t n = 0;
  for (size_t i = 0; i < segments_.size(); ++i) n += is_free(i) ? 1 : 0;
  return n;
}

bool Journal::has_room(size_t payload_bytes) const {
  const uint64_t size = record_bytes(payload_bytes);
  if (size > segment_bytes_) return false;
  return offset_ + size <= segment_bytes_ || is_free((current_ + 1) % segments_.size());
}

absl::StatusOr<JournalWrite> Journal::prepare(std::string_view payload) {
  const uint64_t size = record_bytes(payload.size());
  if (size > segment_bytes_) {
    return absl::InvalidArgumentError(absl::StrCat("a journal record of ", payload.size(),
                                                   " bytes does not fit in a segment of ",
                                                   segment_bytes_));
  }
  size_t seg = current_;
  uint64_t offset = offset_;
  if (offset + size > segment_bytes_) {
    // Segments are used in turn: the next one must hold nothing LMDB lacks.
    seg = (current_ + 1) % segments_.size();
    if (!is_free(seg)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the journal ", dir_, " is full (", segments_.size(), " segments of ",
                       segment_bytes_, " bytes hold records LMDB has not synced yet)"));
    }
    offset = 0;
  }
  if (size > buffer_capacity_) {  // Grows to the largest record, then stays.
    void* p = nullptr;
    if (::posix_memalign(&p, kJournalBlock, size) != 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no memory for a journal record of ", size, " bytes"));
    }
    std::free(buffer_);
    buffer_ = static_cast<char*>(p);
    buffer_capacity_ = size;
  }
  encode_record(next_seq_, payload, buffer_);
  buffer_size_ = size;
  prepared_ = true;
  prepared_segment_ = seg;
  if (seg != current_) {
    current_ = seg;
    offset_ = 0;
    segments_[seg].first_seq = 0;  // Its older records are all below the checkpoint.
    segments_[seg].last_seq = 0;
  }
  return JournalWrite{segments_[seg].fd, offset, buffer_, buffer_size_, next_seq_};
}

void Journal::written(uint64_t seq) {
  if (!prepared_ || seq != next_seq_) return;
  Segment& s = segments_[prepared_segment_];
  if (s.first_seq == 0) s.first_seq = seq;
  s.last_seq = seq;
  offset_ += buffer_size_;
  ++next_seq_;
  prepared_ = false;
}

void Journal::failed(uint64_t seq) {
  if (seq == next_seq_) prepared_ = false;  // Same seq, same place next time.
}

void Journal::checkpoint(uint64_t seq) { checkpoint_ = std::max(checkpoint_, seq); }

absl::StatusOr<JournalDescription> describe_journal(const std::string& dir) {
  std::vector<std::string> paths;
  uint64_t size = 0;
  if (auto s = list_segments(dir, paths, size); !s.ok()) return s;
  if (paths.empty()) return absl::NotFoundError(absl::StrCat("no journal segments in ", dir));
  std::vector<std::string> data;
  for (const std::string& p : paths) {
    auto d = read_file(p, size);
    if (!d.ok()) return d.status();
    data.push_back(std::move(*d));
  }
  // What LMDB holds is unknown here: the oldest record still in a segment
  // is taken as the first one (older ones were checkpointed and their
  // segments reused); from it on, the records must follow one another as
  // open requires.
  uint64_t oldest = 0;
  for (const std::string& d : data) {
    const Chain c = scan_chain(d);
    if (!c.records.empty() && (oldest == 0 || c.first() < oldest)) oldest = c.first();
  }
  auto found = scan(paths, data, oldest == 0 ? 0 : oldest - 1);
  if (!found.ok()) return found.status();
  JournalDescription out;
  out.segment_bytes = size;
  for (size_t i = 0; i < paths.size(); ++i) {
    const Chain& c = found->chains[i];
    JournalDescription::Segment seg{paths[i], c.first(), c.last(), c.records.size(), c.end};
    out.segments.push_back(seg);
    if (!c.records.empty() && (out.first_seq == 0 || c.first() < out.first_seq)) {
      out.first_seq = c.first();
    }
    out.last_seq = std::max(out.last_seq, c.last());
    for (const RecordView& r : c.records) {
      auto batch = decode_batch(r.payload);
      if (!batch.ok()) {
        return absl::DataLossError(
            absl::StrCat(paths[i], " offset ", r.offset, ": ", batch.status().message()));
      }
      for (const GroupWrite& w : batch->groups()) ++out.records_per_group[w.group];
    }
  }
  return out;
}

}  // namespace raft::storage
