// The CPU cost of TLS per frame, without sockets: two TlsSessions (net/tls.h)
// handshaken over memory, then one frame of `bytes` at a time goes from one
// to the other the way FrameConnection moves it (write, take_output, feed,
// read until it asks for more ciphertext). What a W=1 write pays at each TLS
// hop, on one core.
//
//   ./build/release/bench/net/tls_benchmark
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/check.h"
#include "net/tls.h"
#include "tests/net/test_certs.h"

namespace raft::net {
namespace {

struct Pair {
  std::unique_ptr<TlsSession> client, server;
};

std::shared_ptr<TlsContext> context(const std::string& dir, const std::string& name) {
  TlsOptions o;
  o.ca_file = dir + "/ca.pem";
  o.cert_file = dir + "/" + name + ".pem";
  o.key_file = dir + "/" + name + ".key";
  auto ctx = TlsContext::create(o);
  RAFT_CHECK_MSG(ctx.ok(), "TLS context for the benchmark");
  return *ctx;
}

// Moves every byte of ciphertext `from` has into `to`.
void move_output(TlsSession& from, TlsSession& to, std::vector<char>& buf) {
  while (size_t n = from.take_output(buf.data(), buf.size())) to.feed(buf.data(), n);
}

Pair handshaken_pair() {
  static std::string dir = [] {
    std::string d = std::filesystem::temp_directory_path().string() + "/ringraft-tls-bench-" +
                    std::to_string(::getpid());
    std::filesystem::create_directories(d);
    raft::testing::TestCa ca("tls benchmark CA");
    ca.write_ca(d + "/ca.pem");
    ca.issue(d + "/a.pem", d + "/a.key", "a");
    ca.issue(d + "/b.pem", d + "/b.key", "b");
    return d;
  }();
  static std::shared_ptr<TlsContext> server_ctx = context(dir, "a");
  static std::shared_ptr<TlsContext> client_ctx = context(dir, "b");
  Pair p{client_ctx->new_session(TlsRole::kClient), server_ctx->new_session(TlsRole::kServer)};
  std::vector<char> buf(64 * 1024);
  for (int i = 0; i < 10 && !(p.client->established() && p.server->established()); ++i) {
    RAFT_CHECK(p.client->handshake().ok());
    move_output(*p.client, *p.server, buf);
    RAFT_CHECK(p.server->handshake().ok());
    move_output(*p.server, *p.client, buf);
  }
  RAFT_CHECK_MSG(p.client->established() && p.server->established(), "benchmark handshake");
  return p;
}

// One frame one way: encrypt, take, feed, decrypt until more ciphertext is needed.
void BM_TlsFrameOneWay(benchmark::State& state) {
  Pair p = handshaken_pair();
  const size_t bytes = static_cast<size_t>(state.range(0));
  std::string frame(bytes, 'x');
  std::vector<char> wire(bytes + 16 * 1024), plain(bytes + 16 * 1024);
  for (auto _ : state) {
    RAFT_CHECK(p.client->write(frame.data(), frame.size()).ok());
    size_t n = p.client->take_output(wire.data(), wire.size());
    p.server->feed(wire.data(), n);
    size_t got = 0;
    for (;;) {
      auto r = p.server->read(plain.data() + got, plain.size() - got);
      RAFT_CHECK(r.ok());
      if (*r == 0) break;
      got += *r;
    }
    RAFT_CHECK(got == bytes);
    benchmark::DoNotOptimize(plain.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

// The parts alone.
void BM_TlsWrite(benchmark::State& state) {
  Pair p = handshaken_pair();
  std::string frame(static_cast<size_t>(state.range(0)), 'x');
  std::vector<char> wire(frame.size() + 16 * 1024);
  for (auto _ : state) {
    RAFT_CHECK(p.client->write(frame.data(), frame.size()).ok());
    benchmark::DoNotOptimize(p.client->take_output(wire.data(), wire.size()));
  }
}

void BM_TlsReadNothing(benchmark::State& state) {
  Pair p = handshaken_pair();
  std::vector<char> plain(64 * 1024);
  for (auto _ : state) {
    auto r = p.server->read(plain.data(), plain.size());
    RAFT_CHECK(r.ok() && *r == 0);
  }
}

BENCHMARK(BM_TlsFrameOneWay)->Arg(200)->Arg(4096)->Arg(64 * 1024);
BENCHMARK(BM_TlsWrite)->Arg(200);
BENCHMARK(BM_TlsReadNothing);

}  // namespace
}  // namespace raft::net

BENCHMARK_MAIN();
