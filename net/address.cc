#include "net/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace raft::net {

namespace {

std::mutex& resolver_mu() {
  static std::mutex mu;
  return mu;
}
ResolveFunction& test_resolver() {
  static ResolveFunction f;
  return f;
}

absl::Status bad_address(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("address \"", std::string(text), "\": ", std::string(why)));
}

bool host_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool dotted_digits(std::string_view h) {
  for (char c : h) {
    if (c != '.' && (c < '0' || c > '9')) return false;
  }
  return true;
}

// Numeric IPv6 (with an optional %zone) through getaddrinfo, which never
// blocks with AI_NUMERICHOST.
std::optional<SocketAddress> ipv6_literal(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_INET6;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || res == nullptr) {
    return std::nullopt;
  }
  SocketAddress a;
  std::memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
  a.length = static_cast<socklen_t>(res->ai_addrlen);
  ::freeaddrinfo(res);
  return a;
}

absl::StatusOr<std::vector<SocketAddress>> getaddrinfo_lookup(const std::string& host,
                                                              uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve \"", host,
                     "\": ", rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc)));
  }
  std::vector<SocketAddress> out;
  for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
    if (p->ai_family != AF_INET && p->ai_family != AF_INET6) continue;
    SocketAddress a;
    std::memcpy(&a.storage, p->ai_addr, p->ai_addrlen);
    a.length = static_cast<socklen_t>(p->ai_addrlen);
    out.push_back(a);
  }
  ::freeaddrinfo(res);
  if (out.empty()) {
    return absl::UnavailableError(absl::StrCat("\"", host, "\" has no IPv4 or IPv6 address"));
  }
  return out;
}

}  // namespace

absl::StatusOr<HostPort> split_host_port(std::string_view text, bool allow_port_zero) {
  HostPort hp;
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return bad_address(text, "'[' without ']'");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return bad_address(text, "expected \"[ipv6]:port\"");
    }
    port_text = text.substr(close + 2);
    if (host.empty()) return bad_address(text, "empty IPv6 address in brackets");
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad_address(text, "not host:port (no port)");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return bad_address(text, "an IPv6 address must be in brackets, as \"[::1]:7001\"");
    }
    if (host.empty()) return bad_address(text, "empty host");
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  const unsigned min_port = allow_port_zero ? 0 : 1;
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      value < min_port || value > 65535) {
    return bad_address(text, allow_port_zero ? "port must be 0..65535" : "port must be 1..65535");
  }
  hp.host = std::string(host);
  hp.port = static_cast<uint16_t>(value);
  if (text.front() == '[') {
    if (!ipv6_literal(hp.host, hp.port)) return bad_address(text, "not an IPv6 address");
    return hp;
  }
  if (dotted_digits(host)) {
    in_addr a{};
    if (inet_pton(AF_INET, hp.host.c_str(), &a) != 1) {
      return bad_address(text, "not an IPv4 address");
    }
    return hp;
  }
  if (host.size() > 253) return bad_address(text, "host name longer than 253 characters");
  for (char c : host) {
    if (!host_name_char(c)) {
      return bad_address(text, absl::StrCat("host name with character '", std::string(1, c),
                                            "' (names are letters, digits, '-', '.', '_')"));
    }
  }
  if (host.front() == '-' || host.front() == '.') {
    return bad_address(text, "host name must start with a letter or digit");
  }
  return hp;
}

std::string join_host_port(std::string_view host, uint16_t port) {
  if (host.find(':') != std::string_view::npos) {
    return absl::StrCat("[", std::string(host), "]:", port);
  }
  return absl::StrCat(std::string(host), ":", port);
}

std::optional<SocketAddress> literal_address(const HostPort& hp) {
  if (hp.host.find(':') != std::string::npos) return ipv6_literal(hp.host, hp.port);
  if (!dotted_digits(hp.host)) return std::nullopt;
  SocketAddress a;
  auto* in4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, hp.host.c_str(), &in4->sin_addr) != 1) return std::nullopt;
  in4->sin_family = AF_INET;
  in4->sin_port = htons(hp.port);
  a.length = sizeof(sockaddr_in);
  return a;
}

void set_resolver_for_testing(ResolveFunction resolve) {
  std::lock_guard<std::mutex> lock(resolver_mu());
  test_resolver() = std::move(resolve);
}

absl::StatusOr<std::vector<SocketAddress>> resolve_blocking(const HostPort& hp) {
  if (auto literal = literal_address(hp)) return std::vector<SocketAddress>{*literal};
  ResolveFunction hook;
  {
    std::lock_guard<std::mutex> lock(resolver_mu());
    hook = test_resolver();
  }
  auto result = hook ? hook(hp.host, hp.port) : getaddrinfo_lookup(hp.host, hp.port);
  if (result.ok() && result->empty()) {
    return absl::UnavailableError(absl::StrCat("\"", hp.host, "\" resolved to no address"));
  }
  return result;
}

absl::StatusOr<std::vector<SocketAddress>> resolve_blocking(std::string_view host_port,
                                                            bool allow_port_zero) {
  auto hp = split_host_port(host_port, allow_port_zero);
  if (!hp.ok()) return hp.status();
  return resolve_blocking(*hp);
}

absl::StatusOr<int> connect_blocking(std::string_view host_port,
                                     std::chrono::milliseconds timeout) {
  auto addrs = resolve_blocking(host_port);
  if (!addrs.ok()) return addrs.status();
  absl::Status last;
  for (const SocketAddress& a : *addrs) {
    auto fd = tcp_socket(a.family());
    if (!fd.ok()) {
      last = fd.status();
      continue;
    }
    int err = 0;
    if (::connect(*fd, a.get(), a.length) != 0) err = errno;
    if (err == EINPROGRESS) {
      pollfd p{*fd, POLLOUT, 0};
      int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
      socklen_t len = sizeof(err);
      if (r == 0) {
        ::close(*fd);
        last = absl::UnavailableError(absl::StrCat("connect to ", std::string(host_port), " (",
                                                   a.to_string(), "): timed out"));
        continue;
      }
      if (r < 0) {
        err = errno;
      } else if (::getsockopt(*fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
      }
    }
    if (err == 0) return *fd;
    ::close(*fd);
    std::string where = std::string(host_port);
    if (a.to_string() != where) absl::StrAppend(&where, " (", a.to_string(), ")");
    last = absl::UnavailableError(absl::StrCat("connect to ", where, ": ", std::strerror(err)));
  }
  return last;
}

absl::StatusOr<int> listen_host_port(std::string_view host_port, int backlog,
                                     std::chrono::milliseconds bind_retry, const char* what) {
  auto addrs = resolve_blocking(host_port, /*allow_port_zero=*/true);
  if (!addrs.ok()) return addrs.status();
  absl::Status first;
  for (const SocketAddress& a : *addrs) {
    auto fd = listen_tcp_retrying(a, backlog, bind_retry, what);
    if (fd.ok()) return fd;
    if (first.ok()) first = fd.status();
  }
  return first;
}

}  // namespace raft::net
