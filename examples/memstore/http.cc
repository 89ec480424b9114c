#include "examples/memstore/http.h"

#include <http_parser.h>

#include <cctype>
#include <string>

#include "common/check.h"

namespace raft::memstore {

struct HttpRequestParser::Impl {
  http_parser parser;
  http_parser_settings settings;
  HttpRequestParser* owner = nullptr;
  HttpRequest current;
  std::string url;
  std::string field;
  std::string value;
  bool in_value = false;
  size_t header_bytes = 0;

  void flush_header() {
    if (!field.empty()) {
      for (char& c : field) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      current.headers[field] = value;
    }
    field.clear();
    value.clear();
    in_value = false;
  }

  static Impl* self(http_parser* p) { return static_cast<Impl*>(p->data); }

  // Header bytes are counted across URL, field and value callbacks so that a
  // client cannot grow memory with an endless header section.
  bool count_header(size_t n) {
    header_bytes += n;
    if (header_bytes > owner->limits_.max_header_bytes) {
      owner->error_status_ = 431;
      owner->error_ = "request header section too large";
      return false;
    }
    return true;
  }

  static int on_message_begin(http_parser* p) {
    Impl* s = self(p);
    s->current = HttpRequest();
    s->url.clear();
    s->field.clear();
    s->value.clear();
    s->in_value = false;
    s->header_bytes = 0;
    return 0;
  }
  static int on_url(http_parser* p, const char* at, size_t n) {
    Impl* s = self(p);
    if (!s->count_header(n)) return 1;
    s->url.append(at, n);
    return 0;
  }
  static int on_header_field(http_parser* p, const char* at, size_t n) {
    Impl* s = self(p);
    if (!s->count_header(n)) return 1;
    if (s->in_value) s->flush_header();
    s->field.append(at, n);
    return 0;
  }
  static int on_header_value(http_parser* p, const char* at, size_t n) {
    Impl* s = self(p);
    if (!s->count_header(n)) return 1;
    s->in_value = true;
    s->value.append(at, n);
    return 0;
  }
  static int on_headers_complete(http_parser* p) {
    Impl* s = self(p);
    s->flush_header();
    if (p->content_length != ULLONG_MAX && p->content_length > s->owner->limits_.max_body_bytes) {
      s->owner->error_status_ = 413;
      s->owner->error_ = "request body too large";
      return -1;  // Any value other than 0/1/2 is an error for this callback.
    }
    s->current.method = http_method_str(static_cast<http_method>(p->method));
    if (!s->split_url()) {
      s->owner->error_status_ = 400;
      s->owner->error_ = "malformed URL";
      return -1;
    }
    return 0;
  }
  static int on_body(http_parser* p, const char* at, size_t n) {
    Impl* s = self(p);
    if (s->current.body.size() + n > s->owner->limits_.max_body_bytes) {
      s->owner->error_status_ = 413;
      s->owner->error_ = "request body too large";
      return 1;
    }
    s->current.body.append(at, n);
    return 0;
  }
  static int on_message_complete(http_parser* p) {
    Impl* s = self(p);
    s->current.keep_alive = http_should_keep_alive(p) != 0;
    s->owner->ready_.push_back(std::move(s->current));
    s->current = HttpRequest();
    return 0;
  }

  bool split_url() {
    std::string_view u = url;
    if (u.empty() || u[0] != '/') return false;
    std::string_view raw_path = u;
    std::string_view raw_query;
    if (size_t q = u.find('?'); q != std::string_view::npos) {
      raw_path = u.substr(0, q);
      raw_query = u.substr(q + 1);
    }
    if (size_t h = raw_query.find('#'); h != std::string_view::npos) {
      raw_query = raw_query.substr(0, h);
    }
    // Segments are decoded one by one, so an escaped '/' stays inside its key.
    current.path.clear();
    size_t start = 1;
    while (start <= raw_path.size()) {
      size_t end = raw_path.find('/', start);
      if (end == std::string_view::npos) end = raw_path.size();
      std::string segment;
      if (!percent_decode(raw_path.substr(start, end - start), false, &segment)) return false;
      current.path += '/';
      current.path += segment;
      if (!segment.empty()) current.segments.push_back(std::move(segment));
      start = end + 1;
    }
    while (!raw_query.empty()) {
      size_t amp = raw_query.find('&');
      std::string_view pair = raw_query.substr(0, amp);
      raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      std::string key;
      std::string val;
      if (!percent_decode(pair.substr(0, eq), true, &key)) return false;
      if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), true, &val)) {
        return false;
      }
      current.query[std::move(key)] = std::move(val);
    }
    return true;
  }
};

HttpRequestParser::HttpRequestParser() : HttpRequestParser(Limits()) {}

HttpRequestParser::HttpRequestParser(Limits limits)
    : impl_(std::make_unique<Impl>()), limits_(limits) {
  http_parser_init(&impl_->parser, HTTP_REQUEST);
  impl_->parser.data = impl_.get();
  impl_->owner = this;
  http_parser_settings_init(&impl_->settings);
  impl_->settings.on_message_begin = &Impl::on_message_begin;
  impl_->settings.on_url = &Impl::on_url;
  impl_->settings.on_header_field = &Impl::on_header_field;
  impl_->settings.on_header_value = &Impl::on_header_value;
  impl_->settings.on_headers_complete = &Impl::on_headers_complete;
  impl_->settings.on_body = &Impl::on_body;
  impl_->settings.on_message_complete = &Impl::on_message_complete;
}

HttpRequestParser::~HttpRequestParser() = default;

bool HttpRequestParser::feed(std::string_view bytes) {
  if (error_status_ != 0) return false;
  size_t parsed = http_parser_execute(&impl_->parser, &impl_->settings, bytes.data(), bytes.size());
  auto err = HTTP_PARSER_ERRNO(&impl_->parser);
  if (err != HPE_OK || impl_->parser.upgrade) {
    if (error_status_ == 0) {
      error_status_ = 400;
      error_ =
          impl_->parser.upgrade ? "protocol upgrade is not supported" : http_errno_description(err);
    }
    return false;
  }
  RAFT_CHECK(parsed == bytes.size());
  return true;
}

HttpRequest HttpRequestParser::pop_request() {
  RAFT_CHECK(!ready_.empty());
  HttpRequest r = std::move(ready_.front());
  ready_.pop_front();
  return r;
}

bool percent_decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex(in[i + 1]);
      int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

const char* http_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 421:
      return "Misdirected Request";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 507:
      return "Insufficient Storage";
    default:
      return "Unknown";
  }
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive, std::string_view extra_headers) {
  std::string out;
  out.reserve(128 + body.size() + extra_headers.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += http_reason(status);
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

}  // namespace raft::memstore
