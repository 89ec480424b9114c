// Test certificates made at run time with the OpenSSL API (no private key is
// ever committed): a CA, and leaf certificates it signs, for 127.0.0.1 /
// localhost, valid now or expired. EC P-256 keys: quick to make.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace raft::testing {

class TestCa {
 public:
  explicit TestCa(const std::string& common_name) {
    key_ = new_key();
    cert_ = X509_new();
    fill(cert_, common_name, key_, -3600, 365L * 86400, next_serial());
    X509_set_issuer_name(cert_, X509_get_subject_name(cert_));
    add_ext(cert_, cert_, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert_, cert_, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (X509_sign(cert_, key_, EVP_sha256()) == 0) throw std::runtime_error("X509_sign (CA)");
  }
  ~TestCa() {
    X509_free(cert_);
    EVP_PKEY_free(key_);
  }
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  // The CA certificate, PEM (append to a bundle with `append`).
  void write_ca(const std::string& path, bool append = false) const {
    std::FILE* f = std::fopen(path.c_str(), append ? "a" : "w");
    if (f == nullptr) throw std::runtime_error("open " + path);
    PEM_write_X509(f, cert_);
    std::fclose(f);
  }

  // A leaf certificate and its key, signed by this CA, for `sans` (a
  // subjectAltName list), valid from now + not_before_s to now + not_after_s.
  void issue(const std::string& cert_path, const std::string& key_path,
             const std::string& common_name, const std::string& sans = "IP:127.0.0.1,DNS:localhost",
             long not_before_s = -3600, long not_after_s = 30L * 86400) const {
    EVP_PKEY* key = new_key();
    X509* cert = X509_new();
    fill(cert, common_name, key, not_before_s, not_after_s, next_serial());
    X509_set_issuer_name(cert, X509_get_subject_name(cert_));
    add_ext(cert_, cert, NID_subject_alt_name, sans.c_str());
    add_ext(cert_, cert, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert_, cert, NID_ext_key_usage, "serverAuth,clientAuth");
    if (X509_sign(cert, key_, EVP_sha256()) == 0) throw std::runtime_error("X509_sign (leaf)");
    std::FILE* f = std::fopen(cert_path.c_str(), "w");
    if (f == nullptr) throw std::runtime_error("open " + cert_path);
    PEM_write_X509(f, cert);
    std::fclose(f);
    f = std::fopen(key_path.c_str(), "w");
    if (f == nullptr) throw std::runtime_error("open " + key_path);
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
  }

 private:
  static long next_serial() {
    static long serial = 1000;
    return ++serial;
  }
  static EVP_PKEY* new_key() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (key == nullptr) throw std::runtime_error("EVP_EC_gen");
    return key;
  }
  static void fill(X509* cert, const std::string& cn, EVP_PKEY* key, long not_before_s,
                   long not_after_s, long serial) {
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(cert), not_after_s);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  static void add_ext(X509* issuer, X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) throw std::runtime_error("X509V3_EXT_conf_nid");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
};

}  // namespace raft::testing
