// TLS for frame connections, in user space (no kernel TLS on these machines):
// OpenSSL 3 over memory BIOs, driven by the connection's own io_uring
// operations. The reactor receives ciphertext and feeds it in; what OpenSSL
// produces is taken out and sent. Nothing here blocks or makes a thread.
//
// TlsContext: the certificate, key and CA of a node or client, loaded from
// files. Shared by every shard (an SSL_CTX is internally locked in OpenSSL 3).
// `reload()` reads the files again: sessions made afterwards use the new
// ones, sessions already open keep theirs; a failed reload keeps the old
// files and says why.
//
// TlsSession: one connection's TLS state. Used by one thread at a time (a
// connection handed to another shard carries its session with it through
// the shard's task queue, which orders the hand-over).
//
// OpenSSL's types stay out of this header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct ssl_st;
struct ssl_ctx_st;
struct bio_st;

namespace raft::net {

struct TlsOptions {
  std::string ca_file;    // PEM: the CA(s) remote certificates must chain to.
  std::string cert_file;  // PEM: our certificate (chain). Optional for clients.
  std::string key_file;   // PEM: its private key. Set with cert_file.
  // Check the remote's certificate against ca_file. Server side: a client
  // certificate is requested and, if sent, must verify.
  bool verify_peer = true;
  // Server side: a handshake without a client certificate fails.
  bool require_client_certificate = false;
  bool allow_tls12 = false;  // TLS 1.3 only unless set.
};

enum class TlsRole : uint8_t { kClient, kServer };

// Why a TLS handshake failed; a metric label each.
enum class TlsFailure : uint8_t {
  kTimeout,         // No complete handshake within the handshake timeout.
  kNotTls,          // The bytes are not TLS (plaintext frames, garbage).
  kBadCertificate,  // The remote's certificate does not chain to our CA.
  kExpired,         // The remote's certificate is expired (or not yet valid).
  kNameMismatch,    // The remote's certificate is not for the name we expected.
  kNoCertificate,   // The remote sent no certificate where one is required.
  kRemoteRefused,   // The remote sent an alert: it refused us (our certificate...).
  kProtocol,        // Anything else (version, ciphers, malformed TLS).
};
inline constexpr size_t kTlsFailureKinds = 8;
const char* tls_failure_name(TlsFailure failure);

class TlsSession;

class TlsContext {
 public:
  // Loads and checks the files: each readable, the key matching the
  // certificate, the CA parseable. The message names the file at fault.
  static absl::StatusOr<std::shared_ptr<TlsContext>> create(TlsOptions options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Any thread. Reads the same files again (or `options`, if given). On
  // failure the context keeps what it had and the status says why.
  absl::Status reload();
  absl::Status reload(TlsOptions options);
  // Reloads that took effect (0 before any).
  uint64_t generation() const;
  TlsOptions options() const;

  // Any thread. A session over the current files. `expected_name` (client
  // side, optional): the remote certificate must be for this DNS name or IP.
  std::unique_ptr<TlsSession> new_session(TlsRole role, std::string_view expected_name = {}) const;

 private:
  TlsContext() = default;
  mutable std::mutex mu_;
  ssl_ctx_st* ctx_ = nullptr;  // Guarded by mu_ (the pointer; the SSL_CTX locks itself).
  TlsOptions options_;
  uint64_t generation_ = 0;
};

class TlsSession {
 public:
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Ciphertext from the network.
  void feed(const char* data, size_t n);
  // Advances the handshake with what was fed. OK while in progress or done
  // (see established()); an error ends the connection (see failure()).
  absl::Status handshake();
  bool established() const { return established_; }
  // Decrypts into buf. >0: bytes; 0: needs more ciphertext; an error: the
  // remote closed (close_notify) or sent bad records.
  absl::StatusOr<size_t> read(char* buf, size_t capacity);
  // Encrypts all of `data` (only once established).
  absl::Status write(const char* data, size_t n);
  // Ciphertext waiting to be sent; take_output copies up to `capacity` of it.
  size_t pending_output() const;
  size_t take_output(char* buf, size_t capacity);

  TlsFailure failure() const { return failure_; }
  // The remote presented a certificate that verified.
  bool peer_certificate_verified() const;
  // The remote presented a certificate for `name` (a DNS name or an IP).
  bool peer_certificate_matches(const std::string& name) const;
  // The remote certificate's subject, "" if none (for logs and tests).
  std::string peer_subject() const;

 private:
  friend class TlsContext;
  TlsSession() = default;
  absl::Status fail(const char* what, int ssl_result);

  ssl_st* ssl_ = nullptr;
  bio_st* in_ = nullptr;   // Owned by ssl_: what we feed, it reads.
  bio_st* out_ = nullptr;  // Owned by ssl_: what it writes, we take.
  bool established_ = false;
  bool first_byte_seen_ = false;
  bool first_byte_tls_ = true;  // A TLS handshake record starts with 0x16.
  TlsFailure failure_ = TlsFailure::kProtocol;
};

}  // namespace raft::net
