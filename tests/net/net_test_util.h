// Helpers for net tests: drive a reactor until a condition holds (with a
// deadline, never a bare sleep), build small frames, raw blocking sockets.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "fbs/frame_generated.h"
#include "net/frame.h"
#include "net/reactor.h"

namespace raft::net::testing {

// Runs turns of `reactor` until `done()` or `timeout`; a 5 ms periodic timer
// bounds every wait. Returns done().
template <typename F>
bool run_until(Reactor& reactor, F done,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  Timer tick(reactor, [] {});
  tick.arm_periodic(std::chrono::milliseconds(5));
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    reactor.run_once(true);
  }
  return true;
}

// Runs `turns` more turns (lets in-flight work settle).
inline void run_turns(Reactor& reactor, int turns) {
  Timer tick(reactor, [] {});
  tick.arm_periodic(std::chrono::milliseconds(1));
  for (int i = 0; i < turns; ++i) reactor.run_once(true);
}

// A frame with a RaftBatch of `messages` messages, each with one entry of
// `payload_bytes` bytes; message i has index `first_index + i`.
inline OutFrame raft_frame(size_t messages, size_t payload_bytes, uint64_t first_index = 1,
                           uint64_t group = 7) {
  flatbuffers::FlatBufferBuilder b(messages * (payload_bytes + 128) + 256);
  std::vector<flatbuffers::Offset<fbs::Message>> msgs;
  msgs.reserve(messages);
  std::string payload(payload_bytes, 'x');
  for (size_t i = 0; i < messages; ++i) {
    uint64_t index = first_index + i;
    payload[0] = static_cast<char>('a' + index % 26);
    auto data = b.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    auto entry = fbs::CreateEntry(b, /*term=*/3, index, fbs::EntryType::Normal, data);
    auto entries = b.CreateVector(&entry, 1);
    fbs::MessageBuilder m(b);
    m.add_type(10);
    m.add_group(group);
    m.add_from(1);
    m.add_to(2);
    m.add_term(3);
    m.add_index(index);
    m.add_entries(entries);
    msgs.push_back(m.Finish());
  }
  auto batch = fbs::CreateRaftBatch(b, b.CreateVector(msgs));
  b.Finish(fbs::CreateFrame(b, fbs::FrameBody::RaftBatch, batch.Union()));
  return frame_from_builder(b);
}

// First index carried by a RaftBatch frame (0 if none).
inline uint64_t first_index_of(const ReceivedFrame& f) {
  const auto* batch = f.frame->body_as_RaftBatch();
  if (batch == nullptr || batch->messages() == nullptr || batch->messages()->size() == 0) return 0;
  return batch->messages()->Get(0)->index();
}

// A blocking client socket connected to 127.0.0.1:port, from `source_ip`
// when given (any 127.x.y.z is loopback: a distinct source is a distinct peer
// host for the per-host log rate limit).
inline int connect_blocking(uint16_t port, const char* source_ip = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (source_ip != nullptr) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source_ip, &src.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

inline bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Non-blocking probe: true once the remote closed `fd` (EOF or reset);
// discards any bytes that arrive meanwhile.
inline bool remote_closed(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

}  // namespace raft::net::testing
