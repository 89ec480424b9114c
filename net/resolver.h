// AsyncResolver: name lookups (getaddrinfo, which blocks) off a reactor's
// loop. One worker thread per resolver, started at the first lookup, runs
// the lookups in order and posts each result back to the loop
// (Reactor::post), where `done` runs. A loop thread therefore never waits
// for DNS. A slow lookup (getaddrinfo's own bound: resolv.conf's timeout and
// attempts) delays the dials queued behind it on this resolver, never the
// loop. The queue is bounded by its user: the peer transport has at most one
// lookup per peer outstanding.
//
// Lifetime: create, use and destroy on the loop thread; the reactor must
// outlive the resolver. Destroying it does not wait for a lookup in
// progress: the worker finishes it, drops the result and exits (it holds
// only the shared queue, never the resolver). Callbacks of lookups not yet
// delivered are dropped with the resolver, without running.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "net/address.h"
#include "net/reactor.h"

namespace raft::net {

class AsyncResolver {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<std::vector<SocketAddress>>)>;

  explicit AsyncResolver(Reactor& reactor);
  ~AsyncResolver();
  AsyncResolver(const AsyncResolver&) = delete;
  AsyncResolver& operator=(const AsyncResolver&) = delete;

  // Looks `hp` up (resolve_blocking on the worker); `done` runs on the loop.
  void resolve(HostPort hp, Done done);
  // Lookups queued or running whose result has not been delivered.
  size_t pending() const { return waiting_.size(); }

 private:
  struct Shared;
  void deliver(uint64_t token, absl::StatusOr<std::vector<SocketAddress>> result);

  Reactor& reactor_;
  std::shared_ptr<Shared> shared_;
  uint64_t next_token_ = 1;
  absl::flat_hash_map<uint64_t, Done> waiting_;
};

}  // namespace raft::net
