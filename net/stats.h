// Counters for one reactor's connections: bytes, frames, drops and every kind
// of bad input. Written by the loop thread, read by any thread (status,
// Prometheus), hence relaxed atomics: cheap on x86 and never torn.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "net/tls.h"

namespace raft::net {

struct Counter {
  std::atomic<uint64_t> value{0};
  void add(uint64_t n = 1) { value.fetch_add(n, std::memory_order_relaxed); }
  uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

struct NetStats {
  Counter frames_received;
  Counter frames_sent;
  Counter bytes_received;
  Counter bytes_sent;
  Counter send_calls;  // sendmsg operations: frames_sent / send_calls = coalescing.
  Counter connections_accepted;
  Counter connections_dialed;
  Counter connections_closed;
  // Bad input: each closes the connection it arrived on.
  Counter bad_frame_header;     // Zero length or a length not a multiple of 8 (garbage).
  Counter bad_frame_too_large;  // Length over max_frame_bytes.
  Counter bad_frame_checksum;   // XXH3 mismatch.
  Counter bad_frame_verify;     // FlatBuffers Verifier rejected the bytes.
  Counter bad_frame_truncated;  // Peer closed in the middle of a frame.
  Counter bad_frame_stalled;    // Half a frame, then nothing for idle_read_timeout.
  Counter bad_frame_protocol;   // Well-formed frame at the wrong time (no handshake, ...).
  Counter handshake_rejected;   // Version / cluster / shard mismatch.
  Counter handshake_timeouts;   // No remote handshake within handshake_timeout: closed.
  // Backpressure.
  Counter raft_frames_dropped;            // Peer send queue full or peer down.
  Counter client_connections_overflowed;  // Client response bound hit: closed.
  Counter connect_failures;
  // TLS (net/tls.h): handshakes completed, failures by TlsFailure, the
  // ciphertext bytes (bytes_received / bytes_sent count them too), and TLS
  // ClientHellos that reached a plaintext port.
  Counter tls_handshakes;
  Counter tls_handshake_failures[kTlsFailureKinds];
  Counter tls_bytes_received;
  Counter tls_bytes_sent;
  Counter tls_on_plaintext_port;

  Counter& tls_failure(TlsFailure f) { return tls_handshake_failures[static_cast<size_t>(f)]; }

  uint64_t bad_frames() const {
    return bad_frame_header.get() + bad_frame_too_large.get() + bad_frame_checksum.get() +
           bad_frame_verify.get() + bad_frame_truncated.get() + bad_frame_stalled.get() +
           bad_frame_protocol.get();
  }
};

}  // namespace raft::net
