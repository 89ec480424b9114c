#include "net/socket.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "net/address.h"
#include "net/log.h"

namespace raft::net {

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string SocketAddress::host() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof(buf));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
              sizeof(buf));
  }
  return buf;
}

std::string SocketAddress::to_string() const {
  if (family() == AF_INET6) return absl::StrCat("[", host(), "]:", port());
  return absl::StrCat(host(), ":", port());
}

absl::StatusOr<SocketAddress> parse_address(std::string_view host_port) {
  auto hp = split_host_port(host_port, /*allow_port_zero=*/true);
  if (!hp.ok()) return hp.status();
  auto literal = literal_address(*hp);
  if (!literal) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", std::string(host_port),
                                                   "\": not an IP address (names are resolved)"));
  }
  return *literal;
}

namespace {
// listen_tcp; on failure `*bind_errno` is bind's errno (0 if another step failed).
absl::StatusOr<int> try_listen_tcp(const SocketAddress& address, int backlog, int* bind_errno) {
  *bind_errno = 0;
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, address.get(), address.length) != 0) {
    *bind_errno = errno;
    ::close(fd);
    return absl::ErrnoToStatus(*bind_errno, absl::StrCat("bind ", address.to_string()));
  }
  if (::listen(fd, backlog) != 0) {
    int err = errno;
    ::close(fd);
    return absl::ErrnoToStatus(err, "listen");
  }
  return fd;
}
}  // namespace

absl::StatusOr<int> listen_tcp(const SocketAddress& address, int backlog) {
  int bind_errno = 0;
  return try_listen_tcp(address, backlog, &bind_errno);
}

absl::StatusOr<int> listen_tcp_retrying(const SocketAddress& address, int backlog,
                                        std::chrono::milliseconds max_wait, const char* what) {
  const auto start = std::chrono::steady_clock::now();
  std::chrono::milliseconds delay(20);
  for (int attempt = 1;; ++attempt) {
    int bind_errno = 0;
    absl::StatusOr<int> fd = try_listen_tcp(address, backlog, &bind_errno);
    if (fd.ok() || bind_errno != EADDRINUSE) {
      if (fd.ok() && attempt > 1) {
        net_logger()->info("{} listener: bound {} at try {}", what, address.to_string(), attempt);
      }
      return fd;
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    if (waited + delay > max_wait) {
      return absl::UnavailableError(
          absl::StrCat(what, " listener: ", address.to_string(), " is still in use after ", attempt,
                       " tries in ",
                       static_cast<int64_t>(
                           std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()),
                       " ms (another process listens there): ", fd.status().message()));
    }
    net_logger()->warn("{} listener: {} in use (try {}), retrying in {} ms", what,
                       address.to_string(), attempt, delay.count());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

absl::StatusOr<int> tcp_socket(int family) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  set_nodelay(fd);
  return fd;
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

SocketAddress local_address(int fd) {
  SocketAddress a;
  a.length = sizeof(a.storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) a.length = 0;
  return a;
}

SocketAddress remote_address(int fd) {
  SocketAddress a;
  a.length = sizeof(a.storage);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) a.length = 0;
  return a;
}

}  // namespace raft::net
