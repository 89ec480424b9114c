// Corpus-replay driver for the fuzz targets in gcc builds (ctest label
// `fuzz`): runs the target on its generated seed corpus, then on any files
// or directories given as arguments (e.g. crash-* files from libFuzzer).
// With `--write-corpus DIR` it only writes the seeds (for libFuzzer runs).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/fuzz/fuzz_target.h"

namespace {

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> seeds = raft::net::fuzz::fuzz_seed_corpus();
  if (argc == 3 && std::string(argv[1]) == "--write-corpus") {
    std::filesystem::create_directories(argv[2]);
    for (size_t i = 0; i < seeds.size(); ++i) {
      std::ofstream out(std::filesystem::path(argv[2]) / ("seed-" + std::to_string(i)),
                        std::ios::binary);
      out << seeds[i];
    }
    std::printf("wrote %zu seeds to %s\n", seeds.size(), argv[2]);
    return 0;
  }
  size_t runs = 0;
  for (const std::string& s : seeds) run(s), ++runs;
  // Every prefix of every seed: truncated input of every length.
  for (const std::string& s : seeds) {
    for (size_t len = 0; len < s.size(); len += 1 + s.size() / 64) run(s.substr(0, len)), ++runs;
  }
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) run(read_file(e.path())), ++runs;
    } else {
      run(read_file(p)), ++runs;
    }
  }
  std::printf("replayed %zu inputs (%zu seeds): no crash\n", runs, seeds.size());
  return runs > seeds.size() && !seeds.empty() ? 0 : 1;
}
