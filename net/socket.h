// Socket helpers: numeric address parsing and listening sockets. Addresses
// are "ip:port", "[ipv6]:port" or "localhost:port"; no DNS (a lookup would
// block the reactor).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

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
  std::string to_string() const;  // "ip:port"
  std::string host() const;       // "ip", the rate-limit key for a peer.
};

absl::StatusOr<SocketAddress> parse_address(std::string_view host_port);

// A non-blocking listening TCP socket (SO_REUSEADDR, CLOEXEC).
absl::StatusOr<int> listen_tcp(const SocketAddress& address, int backlog);
// A non-blocking TCP socket for `family`, with TCP_NODELAY.
absl::StatusOr<int> tcp_socket(int family);
void set_nodelay(int fd);
SocketAddress local_address(int fd);
SocketAddress remote_address(int fd);

}  // namespace raft::net
