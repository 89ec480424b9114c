// Throughput between two reactors (two pinned threads) over 127.0.0.1:
// frames of Raft messages (one entry of 128 B or 4 KiB each, batched into
// frames) go one way through PeerTransport -> Listener, with the receiver
// running the full decode (checksum + FlatBuffers Verifier) on every frame.
// The same frames over plain blocking sockets (writev / recv, same decoder)
// are the baseline.
//
//   ./build/release/bench/net/net_benchmark
// Counters: msgs/s (entries of the given size), frames/s, bytes_per_second
// (wire bytes), wire_B/msg.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sys/uio.h>

#include <atomic>
#include <thread>

#include "net/listener.h"
#include "net/peer_transport.h"
#include "tests/net/net_test_util.h"

namespace raft::net {
namespace {

using namespace std::chrono_literals;

// A RaftBatch frame of `messages` Append messages with `entries` entries of
// `payload` bytes each.
OutFrame batch_frame(size_t payload, size_t messages, size_t entries) {
  flatbuffers::FlatBufferBuilder b(messages * entries * (payload + 64) + 1024);
  std::string data(payload, 'x');
  std::vector<flatbuffers::Offset<fbs::Message>> msgs;
  std::vector<flatbuffers::Offset<fbs::Entry>> es;
  uint64_t index = 1;
  for (size_t m = 0; m < messages; ++m) {
    es.clear();
    for (size_t e = 0; e < entries; ++e) {
      auto bytes = b.CreateVector(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      es.push_back(fbs::CreateEntry(b, 3, index++, fbs::EntryType::Normal, bytes));
    }
    auto ev = b.CreateVector(es);
    fbs::MessageBuilder mb(b);
    mb.add_type(10);
    mb.add_group(m + 1);
    mb.add_from(1);
    mb.add_to(2);
    mb.add_term(3);
    mb.add_index(index);
    mb.add_entries(ev);
    msgs.push_back(mb.Finish());
  }
  auto batch = fbs::CreateRaftBatch(b, b.CreateVector(msgs));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::RaftBatch, batch.Union()));
  return frame_from_builder(b);
}

size_t items_in(const ReceivedFrame& f) {
  size_t n = 0;
  for (const fbs::Message* m : *f.frame->body_as_RaftBatch()->messages()) {
    n += m->entries() ? m->entries()->size() : 1;
  }
  return n;
}

void pin(int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core % std::max(1u, std::thread::hardware_concurrency()), &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Spins (yielding) until `done`, at most 30 s; false on timeout.
template <typename F>
bool wait_for(F done) {
  auto deadline = Clock::now() + 30s;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

void BM_ReactorToReactor(benchmark::State& state) {
  const size_t payload = static_cast<size_t>(state.range(0));
  const size_t per_frame = static_cast<size_t>(state.range(1) * state.range(2));
  const OutFrame frame = batch_frame(payload, state.range(1), state.range(2));
  constexpr size_t kFramesPerIteration = 64;
  constexpr size_t kWindowBytes = 4u << 20;  // Keep ~4 MiB queued at the sender.

  std::atomic<uint64_t> received_msgs{0};
  std::atomic<uint16_t> port{0};
  std::atomic<uint64_t> target_frames{0};
  std::atomic<bool> connected{false};
  std::atomic<bool> failed{false};

  Reactor* receiver_reactor = nullptr;
  std::atomic<bool> receiver_ready{false};
  std::thread receiver([&] {
    pin(1);
    Reactor r(ReactorOptions{.single_issuer = true});
    receiver_reactor = &r;
    ListenerOptions o;
    o.local.cluster_id = 1;
    o.local.node_id = 1;
    o.peer_connection.recv_block_bytes = 1u << 20;
    std::vector<std::shared_ptr<FrameConnection>> conns;
    Listener::Callbacks cb;
    cb.on_peer = [&](std::shared_ptr<FrameConnection> c, const HandshakeInfo&) {
      c->set_frame_handler([&](FrameConnection&, const ReceivedFrame& f) {
        received_msgs.fetch_add(items_in(f), std::memory_order_relaxed);
      });
      conns.push_back(std::move(c));
    };
    Listener listener(r, o, std::move(cb));
    if (!listener.start().ok()) failed = true;
    port = listener.port();
    receiver_ready = true;
    r.run();
    conns.clear();
  });
  wait_for([&] { return receiver_ready.load(); });

  Reactor* sender_reactor = nullptr;
  std::atomic<bool> sender_ready{false};
  std::thread sender([&] {
    pin(0);
    Reactor r(ReactorOptions{.single_issuer = true});
    sender_reactor = &r;
    PeerTransportOptions o;
    o.local.cluster_id = 1;
    o.local.node_id = 2;
    PeerTransport t(r, o, {});
    (void)t.add_peer(1, "127.0.0.1:" + std::to_string(port.load()), 0);
    uint64_t sent = 0;
    r.set_turn_hook([&] {
      if (!t.connected(1)) return;
      connected = true;
      uint64_t target = target_frames.load(std::memory_order_acquire);
      while (sent < target && t.stats(1).queued_bytes < kWindowBytes) {
        if (!t.send(1, frame).ok()) break;
        ++sent;
      }
      if (sent < target) r.wake();  // Keep turning while there is work.
    });
    sender_ready = true;
    r.run();
    t.shutdown();
  });
  wait_for([&] { return sender_ready.load(); });
  // Poke the sender until the peer is connected.
  wait_for([&] {
    sender_reactor->wake();
    return connected.load() || failed.load();
  });

  uint64_t frames = 0;
  for (auto _ : state) {
    frames += kFramesPerIteration;
    target_frames.store(frames, std::memory_order_release);
    sender_reactor->wake();
    if (!wait_for(
            [&] { return received_msgs.load(std::memory_order_relaxed) >= frames * per_frame; })) {
      state.SkipWithError("timed out");
      break;
    }
  }
  state.counters["msgs/s"] =
      benchmark::Counter(static_cast<double>(frames * per_frame), benchmark::Counter::kIsRate);
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
  state.counters["wire_B/msg"] = static_cast<double>(frame.wire_bytes()) / per_frame;
  state.SetBytesProcessed(static_cast<int64_t>(frames * frame.wire_bytes()));
  sender_reactor->stop();
  sender.join();
  receiver_reactor->stop();
  receiver.join();
}

// Baseline: the same frames over blocking sockets, one writev per frame,
// recv straight into the same FrameDecoder (same checks on every frame).
void BM_BlockingSocketBaseline(benchmark::State& state) {
  const size_t payload = static_cast<size_t>(state.range(0));
  const size_t per_frame = static_cast<size_t>(state.range(1) * state.range(2));
  const OutFrame frame = batch_frame(payload, state.range(1), state.range(2));
  constexpr size_t kFramesPerIteration = 64;

  auto address = parse_address("127.0.0.1:0");
  int listen_fd = *listen_tcp(*address, 16);
  int flags = fcntl(listen_fd, F_GETFL);
  fcntl(listen_fd, F_SETFL, flags & ~O_NONBLOCK);
  uint16_t port = local_address(listen_fd).port();

  std::atomic<uint64_t> received_msgs{0};
  std::thread receiver([&] {
    pin(1);
    int fd = ::accept(listen_fd, nullptr, nullptr);
    FrameDecoder d(kDefaultMaxFrameBytes, 1u << 20);
    for (;;) {
      size_t cap = 0;
      char* p = d.prepare_write(&cap);
      ssize_t n = ::recv(fd, p, cap, 0);
      if (n <= 0) break;
      d.commit_write(static_cast<size_t>(n));
      if (d.decode([&](const ReceivedFrame& f) {
            received_msgs.fetch_add(items_in(f), std::memory_order_relaxed);
            return true;
          }) != FrameError::kNone) {
        break;
      }
    }
    ::close(fd);
  });

  std::atomic<uint64_t> target_frames{0};
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    pin(0);
    int fd = testing::connect_blocking(port);
    uint64_t sent = 0;
    while (!stop.load(std::memory_order_acquire)) {
      if (sent >= target_frames.load(std::memory_order_acquire)) {
        std::this_thread::yield();
        continue;
      }
      iovec iov[3] = {{const_cast<uint8_t*>(frame.header), kFrameHeaderBytes},
                      {const_cast<char*>(frame.payload.data()), frame.payload.size()},
                      {const_cast<uint8_t*>(kFramePadding), frame.padding}};
      size_t total = frame.wire_bytes();
      size_t done = 0;
      int first = 0;
      while (done < total) {
        ssize_t n = ::writev(fd, iov + first, 3 - first);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
        size_t skip = static_cast<size_t>(n);
        while (first < 3 && skip >= iov[first].iov_len) skip -= iov[first++].iov_len;
        if (first < 3) {
          iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + skip;
          iov[first].iov_len -= skip;
        }
      }
      ++sent;
    }
    ::close(fd);
  });

  uint64_t frames = 0;
  for (auto _ : state) {
    frames += kFramesPerIteration;
    target_frames.store(frames, std::memory_order_release);
    if (!wait_for(
            [&] { return received_msgs.load(std::memory_order_relaxed) >= frames * per_frame; })) {
      state.SkipWithError("timed out");
      break;
    }
  }
  state.counters["msgs/s"] =
      benchmark::Counter(static_cast<double>(frames * per_frame), benchmark::Counter::kIsRate);
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
  state.counters["wire_B/msg"] = static_cast<double>(frame.wire_bytes()) / per_frame;
  state.SetBytesProcessed(static_cast<int64_t>(frames * frame.wire_bytes()));
  stop = true;
  sender.join();
  receiver.join();
  ::close(listen_fd);
}

// CPU cost of the receive-side checks alone: checksum + Verifier per frame.
void BM_DecodeVerify(benchmark::State& state) {
  const OutFrame frame = batch_frame(state.range(0), state.range(1), state.range(2));
  const std::string bytes = frame_to_string(frame);
  FrameDecoder d(kDefaultMaxFrameBytes, 4u << 20);
  size_t items = 0;
  for (auto _ : state) {
    d.feed(bytes, [&](const ReceivedFrame& f) { return items += items_in(f), true; });
  }
  state.counters["msgs/s"] =
      benchmark::Counter(static_cast<double>(items), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}

// CPU cost of building a frame (FlatBuffers + checksum).
void BM_Encode(benchmark::State& state) {
  size_t items = 0;
  for (auto _ : state) {
    OutFrame f = batch_frame(state.range(0), state.range(1), state.range(2));
    benchmark::DoNotOptimize(f.header);
    items += state.range(1) * state.range(2);
  }
  state.counters["msgs/s"] =
      benchmark::Counter(static_cast<double>(items), benchmark::Counter::kIsRate);
}

// Args: {payload bytes, Raft messages per frame, entries per message}. A
// "message" counted in msgs/s is one entry's worth: {128, 256, 1} is 256
// separate Append messages of one 128 B entry (many groups); {128, 4, 64} is
// 4 Appends of 64 entries (few groups, deep batches).
#define RAFT_NET_SHAPES ->Args({128, 256, 1})->Args({128, 4, 64})->Args({4096, 16, 1})
BENCHMARK(BM_ReactorToReactor) RAFT_NET_SHAPES->UseRealTime();
BENCHMARK(BM_BlockingSocketBaseline) RAFT_NET_SHAPES->UseRealTime();
BENCHMARK(BM_DecodeVerify) RAFT_NET_SHAPES;
BENCHMARK(BM_Encode) RAFT_NET_SHAPES;

}  // namespace
}  // namespace raft::net

BENCHMARK_MAIN();
