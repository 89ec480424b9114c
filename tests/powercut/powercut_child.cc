// The process the power-cut test (powercut_test.cc) runs under the shim
// (powercut_shim.c, LD_PRELOAD) and SIGKILLs.
//
//   powercut_child journal <dir> <round> <seed> <fd>
//     Writes batches as a shard does with the journal in front: each batch
//     is one journal record written with one pwrite on the journal's O_DSYNC
//     segment fd (the durability point; io_uring would bypass the shim), then
//     reported on <fd>, then handed to LMDB behind it, with checkpoints when
//     LMDB's forced syncs cover a segment. A full journal waits for LMDB.
//   powercut_child lifecycle <dir> <round> <seed> <fd>
//     The same, and each batch also creates a group and removes the one the
//     batch before created (powercut::add_churn).
//   powercut_child scribble <file> <fd>
//     Writes "A" over 8 KiB, fsyncs, writes "B" over it, reports, then waits
//     to be killed: the shim's own check.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>

#include "storage/journal.h"
#include "storage/journal_batch_codec.h"
#include "storage/log_env.h"
#include "tests/powercut/powercut_workload.h"

namespace raft::storage {
namespace {

[[noreturn]] void fail(int code, const std::string& what) {
  std::cerr << "powercut_child: " << what << "\n";
  ::_exit(code);
}

void report(int fd, const powercut::Report& r) {
  if (::write(fd, &r, sizeof(r)) != static_cast<ssize_t>(sizeof(r))) fail(5, "report pipe");
}

[[noreturn]] void run_journal(const std::string& dir, int round, uint64_t seed, int out_fd,
                              bool churn) {
  auto opened = LogEnv::open(powercut::env_options(dir));
  if (!opened.ok()) fail(3, opened.status().ToString());
  LogEnv& env = **opened;
  Journal& journal = *env.journal();
  std::mt19937_64 rng(seed);
  const Term term = static_cast<Term>(round) + 1;
  uint64_t batch = env.hard_state(1).term + 1;
  Index last[powercut::kGroups + 1];
  for (GroupId g = 1; g <= powercut::kGroups; ++g) last[g] = env.last_index(g);
  std::vector<Completion> done;
  auto drain = [&] {
    done.clear();
    env.drain_completions(done);
    for (const Completion& c : done) {
      if (!c.status.ok()) fail(4, "LMDB commit failed: " + c.status.ToString());
    }
    if (env.synced_journal_seq() > journal.checkpoint_seq()) {
      journal.checkpoint(env.synced_journal_seq());
    }
  };
  auto wait = [&] {
    pollfd p{env.completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 5);
    drain();
  };
  std::string record;
  for (uint64_t n = 0; n < powercut::kMaxBatchesPerChild; ++n, ++batch) {
    WriteBatch b = powercut::make_batch(rng, batch, term, last);
    if (churn) powercut::add_churn(b, batch, term);
    record.clear();
    encode_batch(b, record);
    absl::StatusOr<JournalWrite> w = journal.prepare(record);
    while (absl::IsResourceExhausted(w.status())) {  // Full: LMDB must catch up.
      wait();
      w = journal.prepare(record);
    }
    if (!w.ok()) fail(6, w.status().ToString());
    size_t off = 0;
    while (off < w->size) {
      ssize_t k =
          ::pwrite(w->fd, w->data + off, w->size - off, static_cast<off_t>(w->offset + off));
      if (k <= 0) fail(7, std::string("journal pwrite: ") + std::strerror(errno));
      off += static_cast<size_t>(k);
    }
    journal.written(w->seq);
    report(out_fd, powercut::Report{batch, last[1], last[2], last[3]});
    b.set_journal_seq(w->seq);
    for (;;) {
      auto id = env.try_submit(b);
      if (id.ok()) break;
      wait();
    }
    drain();
  }
  while (env.batches_in_flight() > 0) wait();
  ::_exit(0);
}

[[noreturn]] void run_scribble(const std::string& file, int out_fd) {
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(3, "open " + file);
  std::string a(8192, 'A'), b(8192, 'B');
  if (::pwrite(fd, a.data(), a.size(), 0) != static_cast<ssize_t>(a.size())) fail(4, "write A");
  if (::fsync(fd) != 0) fail(4, "fsync");
  if (::pwrite(fd, b.data(), b.size(), 0) != static_cast<ssize_t>(b.size())) fail(4, "write B");
  report(out_fd, powercut::Report{1, 0, 0, 0});
  for (;;) ::pause();
}

}  // namespace
}  // namespace raft::storage

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if ((mode == "journal" || mode == "lifecycle") && argc == 6) {
    raft::storage::run_journal(argv[2], std::atoi(argv[3]), std::strtoull(argv[4], nullptr, 10),
                               std::atoi(argv[5]), mode == "lifecycle");
  }
  if (mode == "scribble" && argc == 4) raft::storage::run_scribble(argv[2], std::atoi(argv[3]));
  std::cerr << "usage: powercut_child journal|lifecycle <dir> <round> <seed> <fd> | scribble "
               "<file> <fd>\n";
  return 2;
}
