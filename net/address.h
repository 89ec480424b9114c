// Host:port addresses as users write them, and name resolution.
//
// Forms accepted everywhere an address is configured or dialled (peers, the
// listener, clients, memstore's HTTP):
//   "10.0.0.5:7001"         IPv4 literal
//   "[::1]:7001", "[::]:0"  IPv6 literal, always in brackets (a zone is
//                           allowed: "[fe80::1%eth0]:7001")
//   "db-3.example:7001"     host name (letters, digits, '-', '.', '_'),
//                           including "localhost"
// A literal is turned into a socket address at once. A name is resolved with
// getaddrinfo(3) when it is dialled or bound, never when it is parsed, and
// again on every redial, so a peer that moved to another IP is found again.
//
// getaddrinfo blocks (a slow DNS server can take seconds), so a reactor
// never calls it: the peer transport resolves through an AsyncResolver
// (net/resolver.h), a worker thread that posts the result back to the loop.
// The blocking calls here are for threads that may block: the listener's
// start (before the loop serves), the blocking client, tools.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "net/socket.h"

namespace raft::net {

struct HostPort {
  std::string host;  // Without brackets: "::1", "10.0.0.5", "db-3.example".
  uint16_t port = 0;
};

// Splits "host:port" / "[v6]:port". InvalidArgument naming the text and what
// is wrong: no port, a port outside 1..65535 (0 too when `allow_port_zero`,
// for listeners), an empty host, an IPv6 address without brackets, a bad
// literal (dotted digits that are no IPv4 address, bracketed text that is no
// IPv6 address), a character no host name has.
absl::StatusOr<HostPort> split_host_port(std::string_view text, bool allow_port_zero = false);

// "host:port", with brackets around an IPv6 host.
std::string join_host_port(std::string_view host, uint16_t port);

// The socket address of a literal host; nullopt for a name.
std::optional<SocketAddress> literal_address(const HostPort& hp);

// A name lookup as the resolver does it: every address of `host` (TCP),
// with `port` set, in getaddrinfo's order. Blocking.
using ResolveFunction = std::function<absl::StatusOr<std::vector<SocketAddress>>(
    const std::string& host, uint16_t port)>;

// Replaces getaddrinfo for names (literals never reach it); an empty
// function restores getaddrinfo. A test seam: tests map made-up names to
// loopback addresses and change the mapping to exercise re-resolution.
// Thread-safe; affects the whole process.
void set_resolver_for_testing(ResolveFunction resolve);

// Blocking: the literal's address, or the name's addresses (Unavailable
// naming the host when the lookup fails or finds nothing).
absl::StatusOr<std::vector<SocketAddress>> resolve_blocking(const HostPort& hp);
absl::StatusOr<std::vector<SocketAddress>> resolve_blocking(std::string_view host_port,
                                                            bool allow_port_zero = false);

// Blocking connect to `host_port`: resolves it, then tries each address in
// turn, each for at most `timeout`. Returns a connected non-blocking socket
// with TCP_NODELAY. InvalidArgument for a bad address, Unavailable (or
// DeadlineExceeded) naming the address when nothing answered.
absl::StatusOr<int> connect_blocking(std::string_view host_port, std::chrono::milliseconds timeout);

// Blocking: resolves `host_port` (port 0 allowed) and listens on its first
// address (listen_tcp_retrying), or on the next when the first cannot be
// bound for a reason other than "in use" (e.g. no IPv6 on the host).
absl::StatusOr<int> listen_host_port(std::string_view host_port, int backlog,
                                     std::chrono::milliseconds bind_retry, const char* what);

}  // namespace raft::net
