// HTTP/1.1 request parsing and response formatting for memstore's API.
//
// Parsing is done by libhttp-parser (Debian's maintained parser), fed with
// whatever bytes a connection received; complete requests queue up in order,
// so pipelined requests are answered in order. Bounds on header and body size
// turn oversized requests into 431/413 errors instead of unbounded buffers.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace raft::memstore {

struct HttpRequest {
  std::string method;                          // "GET", "PUT", ...
  std::string path;                            // Percent-decoded path, without the query.
  std::vector<std::string> segments;           // path split on '/', empty ones dropped.
  std::map<std::string, std::string> query;    // Decoded query parameters.
  std::map<std::string, std::string> headers;  // Field names lower-cased.
  std::string body;
  bool keep_alive = true;
};

class HttpRequestParser {
 public:
  struct Limits {
    size_t max_header_bytes = 16 * 1024;
    size_t max_body_bytes = 16 * 1024 * 1024;
  };

  HttpRequestParser();
  explicit HttpRequestParser(Limits limits);
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Feeds received bytes. Returns false on a malformed or oversized request:
  // then error_status() (400, 413 or 431) and error() say why, and the
  // connection should be answered and closed. Requests completed before the
  // error stay queued.
  bool feed(std::string_view bytes);

  bool has_request() const { return !ready_.empty(); }
  HttpRequest pop_request();

  int error_status() const { return error_status_; }
  const std::string& error() const { return error_; }

 private:
  struct Impl;
  friend struct Impl;
  std::unique_ptr<Impl> impl_;
  Limits limits_;
  std::deque<HttpRequest> ready_;
  int error_status_ = 0;
  std::string error_;
};

// Decodes %XX escapes (and '+' as space when `plus_is_space`). Returns false
// on a malformed escape.
bool percent_decode(std::string_view in, bool plus_is_space, std::string* out);

// Formats a complete response with Content-Length. `extra_headers` lines must
// each end with "\r\n".
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive, std::string_view extra_headers = {});

// Reason phrase for the statuses memstore uses.
const char* http_reason(int status);

}  // namespace raft::memstore
