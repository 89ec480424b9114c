#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace raft::net {

namespace {

// Every OpenSSL error queued on this thread, as one line; clears the queue.
std::string take_openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error recorded" : out;
}

absl::Status check_readable(const char* field, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::fclose(f);
  return absl::OkStatus();
}

absl::StatusOr<SSL_CTX*> build_ctx(const TlsOptions& o) {
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError("tls: cert_file and key_file go together");
  }
  if (o.verify_peer && o.ca_file.empty()) {
    return absl::InvalidArgumentError("tls: verify_peer needs ca_file");
  }
  for (auto [field, path] :
       {std::pair{"tls.ca_file", &o.ca_file}, std::pair{"tls.cert_file", &o.cert_file},
        std::pair{"tls.key_file", &o.key_file}}) {
    if (!path->empty()) {
      if (auto s = check_readable(field, *path); !s.ok()) return s;
    }
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return absl::InternalError("tls: SSL_CTX_new: " + take_openssl_errors());
  auto failed = [ctx](std::string what) {
    SSL_CTX_free(ctx);
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", take_openssl_errors()));
  };
  SSL_CTX_set_min_proto_version(ctx, o.allow_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
  // No resumption: connections are long-lived, and tickets would be extra
  // records after every handshake.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  if (!o.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1) {
      return failed(absl::StrCat("tls.cert_file ", o.cert_file, ": not a PEM certificate"));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        return failed(absl::StrCat("tls.cert_file ", o.cert_file, " does not match tls.key_file ",
                                   o.key_file));
      }
      return failed(absl::StrCat("tls.key_file ", o.key_file, ": not a usable PEM private key"));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return failed(
          absl::StrCat("tls.cert_file ", o.cert_file, " does not match tls.key_file ", o.key_file));
    }
  }
  if (!o.ca_file.empty() && SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1) {
    return failed(absl::StrCat("tls.ca_file ", o.ca_file, ": no PEM CA certificate"));
  }
  return ctx;
}

}  // namespace

const char* tls_failure_name(TlsFailure failure) {
  switch (failure) {
    case TlsFailure::kTimeout:
      return "timeout";
    case TlsFailure::kNotTls:
      return "not_tls";
    case TlsFailure::kBadCertificate:
      return "bad_certificate";
    case TlsFailure::kExpired:
      return "expired_certificate";
    case TlsFailure::kNameMismatch:
      return "name_mismatch";
    case TlsFailure::kNoCertificate:
      return "no_certificate";
    case TlsFailure::kRemoteRefused:
      return "refused_by_remote";
    case TlsFailure::kProtocol:
      return "protocol";
  }
  return "protocol";
}

// --- TlsContext ----------------------------------------------------------------

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::create(TlsOptions options) {
  auto ctx = build_ctx(options);
  if (!ctx.ok()) return ctx.status();
  std::shared_ptr<TlsContext> out(new TlsContext());
  out->ctx_ = *ctx;
  out->options_ = std::move(options);
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

absl::Status TlsContext::reload() { return reload(options()); }

absl::Status TlsContext::reload(TlsOptions options) {
  auto ctx = build_ctx(options);
  if (!ctx.ok()) return ctx.status();
  SSL_CTX* old = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = ctx_;
    ctx_ = *ctx;
    options_ = std::move(options);
    ++generation_;
  }
  SSL_CTX_free(old);  // Sessions made from it hold their own reference.
  return absl::OkStatus();
}

uint64_t TlsContext::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

TlsOptions TlsContext::options() const {
  std::lock_guard<std::mutex> lock(mu_);
  return options_;
}

std::unique_ptr<TlsSession> TlsContext::new_session(TlsRole role,
                                                    std::string_view expected_name) const {
  std::unique_ptr<TlsSession> s(new TlsSession());
  bool verify = false;
  bool require = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ERR_clear_error();
    s->ssl_ = SSL_new(ctx_);  // Takes a reference on ctx_.
    verify = options_.verify_peer;
    require = options_.require_client_certificate;
  }
  RAFT_CHECK_MSG(s->ssl_ != nullptr, "SSL_new failed (out of memory)");
  s->in_ = BIO_new(BIO_s_mem());
  s->out_ = BIO_new(BIO_s_mem());
  RAFT_CHECK_MSG(s->in_ != nullptr && s->out_ != nullptr, "BIO_new failed (out of memory)");
  SSL_set_bio(s->ssl_, s->in_, s->out_);
  if (role == TlsRole::kClient) {
    SSL_set_verify(s->ssl_, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    if (!expected_name.empty()) {
      std::string name(expected_name);
      unsigned char ip[16];
      X509_VERIFY_PARAM* param = SSL_get0_param(s->ssl_);
      if (inet_pton(AF_INET, name.c_str(), ip) == 1 || inet_pton(AF_INET6, name.c_str(), ip) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        SSL_set1_host(s->ssl_, name.c_str());
        SSL_set_tlsext_host_name(s->ssl_, name.c_str());
      }
    }
    SSL_set_connect_state(s->ssl_);
  } else {
    int mode = SSL_VERIFY_NONE;
    if (verify) mode = SSL_VERIFY_PEER | (require ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_set_verify(s->ssl_, mode, nullptr);
    SSL_set_accept_state(s->ssl_);
  }
  return s;
}

// --- TlsSession ----------------------------------------------------------------

namespace {
// SSL_get_error needs this thread's error queue empty before the call it
// examines. It nearly always is (a failure's errors are taken by fail()),
// and looking is cheaper than ERR_clear_error, which walks all 16 slots.
void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}
}  // namespace

TlsSession::~TlsSession() { SSL_free(ssl_); }  // Frees both BIOs.

void TlsSession::feed(const char* data, size_t n) {
  if (n == 0) return;
  if (!first_byte_seen_) {
    first_byte_seen_ = true;
    first_byte_tls_ = static_cast<unsigned char>(data[0]) == 0x16;
  }
  int written = BIO_write(in_, data, static_cast<int>(n));
  RAFT_CHECK_MSG(written == static_cast<int>(n), "memory BIO write failed (out of memory)");
}

absl::Status TlsSession::handshake() {
  if (established_) return absl::OkStatus();
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    established_ = true;
    return absl::OkStatus();
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return absl::OkStatus();
  return fail("TLS handshake", r);
}

absl::Status TlsSession::fail(const char* what, int ssl_result) {
  const long verify = SSL_get_verify_result(ssl_);
  const unsigned long first = ERR_peek_error();
  const int reason = ERR_GET_REASON(first);
  std::string detail = take_openssl_errors();
  if (!first_byte_tls_) {
    failure_ = TlsFailure::kNotTls;
  } else if (verify != X509_V_OK) {
    if (verify == X509_V_ERR_CERT_HAS_EXPIRED || verify == X509_V_ERR_CERT_NOT_YET_VALID) {
      failure_ = TlsFailure::kExpired;
    } else if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      failure_ = TlsFailure::kNameMismatch;
    } else {
      failure_ = TlsFailure::kBadCertificate;
    }
    detail =
        absl::StrCat("certificate: ", X509_verify_cert_error_string(verify), " (", detail, ")");
  } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    failure_ = TlsFailure::kNoCertificate;
  } else if (reason >= SSL_AD_REASON_OFFSET) {
    failure_ = TlsFailure::kRemoteRefused;
  } else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
             reason == SSL_R_HTTP_REQUEST) {
    failure_ = TlsFailure::kNotTls;
  } else {
    failure_ = TlsFailure::kProtocol;
  }
  if (ssl_result == 0 && first == 0) detail = "connection closed in the middle";
  return absl::UnavailableError(
      absl::StrCat(what, " failed (", tls_failure_name(failure_), "): ", detail));
}

absl::StatusOr<size_t> TlsSession::read(char* buf, size_t capacity) {
  // Nothing fed that OpenSSL has not taken and nothing buffered inside it
  // (decrypted or not; SSL_has_pending, not SSL_pending, so a record it read
  // ahead is never left behind): SSL_read could only ask for more
  // ciphertext. Every recv ends with such a call (the one that finds the
  // input drained), so this skips one OpenSSL call per record received.
  if (BIO_ctrl_pending(in_) == 0 && SSL_has_pending(ssl_) == 0) return size_t{0};
  clear_errors();
  int cap = static_cast<int>(std::min<size_t>(capacity, 1u << 30));
  int r = SSL_read(ssl_, buf, cap);
  if (r > 0) return static_cast<size_t>(r);
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return size_t{0};
  if (e == SSL_ERROR_ZERO_RETURN) return absl::UnavailableError("TLS session closed by the remote");
  absl::Status s = fail("TLS read", r);
  return absl::DataLossError(s.message());
}

absl::Status TlsSession::write(const char* data, size_t n) {
  RAFT_CHECK_MSG(established_, "TlsSession::write before the handshake completed");
  clear_errors();
  size_t written = 0;
  // A memory BIO never pushes back, so SSL_write_ex takes everything.
  if (SSL_write_ex(ssl_, data, n, &written) != 1 || written != n) {
    return absl::InternalError("TLS write: " + take_openssl_errors());
  }
  return absl::OkStatus();
}

size_t TlsSession::pending_output() const { return BIO_ctrl_pending(out_); }

size_t TlsSession::take_output(char* buf, size_t capacity) {
  int r = BIO_read(out_, buf, static_cast<int>(std::min<size_t>(capacity, 1u << 30)));
  return r > 0 ? static_cast<size_t>(r) : 0;
}

bool TlsSession::peer_certificate_verified() const {
  return SSL_get0_peer_certificate(ssl_) != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK;
}

bool TlsSession::peer_certificate_matches(const std::string& name) const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return false;
  unsigned char ip[16];
  if (inet_pton(AF_INET, name.c_str(), ip) == 1 || inet_pton(AF_INET6, name.c_str(), ip) == 1) {
    return X509_check_ip_asc(cert, name.c_str(), 0) == 1;
  }
  return X509_check_host(cert, name.data(), name.size(), 0, nullptr) == 1;
}

std::string TlsSession::peer_subject() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

}  // namespace raft::net
