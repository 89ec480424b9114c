// Socket helpers: socket addresses and listening sockets. parse_address
// takes literals only ("ip:port", "[ipv6]:port"); host names are resolved
// through net/address.h (blocking) or net/resolver.h (off the loop).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace raft::net {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  std::string to_string() const;  // "ip:port", "[ipv6]:port"
  std::string host() const;       // "ip", the rate-limit key for a peer.
};

// A literal "ip:port" / "[ipv6]:port" (port 0 allowed); InvalidArgument for
// anything else, host names included.
absl::StatusOr<SocketAddress> parse_address(std::string_view host_port);

// A non-blocking listening TCP socket (SO_REUSEADDR, CLOEXEC).
absl::StatusOr<int> listen_tcp(const SocketAddress& address, int backlog);
// listen_tcp, retried while the address is in use for up to `max_wait`
// (backoff from 20 ms doubling to 1 s, each try logged), then an error
// naming the address. A node restarted right after a crash needs it: the
// kernel releases the dead process's io_uring, and with it the listening
// socket, in a worker after the process is reaped, so for a moment the
// port is still listening. Blocks the calling thread: call it before
// serving. `what` names the listener in the log ("raft", "http").
absl::StatusOr<int> listen_tcp_retrying(const SocketAddress& address, int backlog,
                                        std::chrono::milliseconds max_wait, const char* what);
// A non-blocking TCP socket for `family`, with TCP_NODELAY.
absl::StatusOr<int> tcp_socket(int family);
void set_nodelay(int fd);
SocketAddress local_address(int fd);
SocketAddress remote_address(int fd);

}  // namespace raft::net
