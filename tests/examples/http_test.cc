#include "examples/memstore/http.h"

#include <gtest/gtest.h>

#include <string>

namespace raft::memstore {
namespace {

TEST(Http, ParsesARequestFedByteByByte) {
  const std::string raw =
      "PUT /store/k%2F1?stale=true&x=a+b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  HttpRequestParser p;
  for (char c : raw) ASSERT_TRUE(p.feed(std::string_view(&c, 1))) << p.error();
  ASSERT_TRUE(p.has_request());
  HttpRequest r = p.pop_request();
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.path, "/store/k/1");
  ASSERT_EQ(r.segments.size(), 2u);
  EXPECT_EQ(r.segments[1], "k/1");  // An escaped '/' stays inside the key.
  EXPECT_EQ(r.query["stale"], "true");
  EXPECT_EQ(r.query["x"], "a b");
  EXPECT_EQ(r.headers["host"], "h");
  EXPECT_EQ(r.body, "hello");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(p.has_request());
}

TEST(Http, PipelinedRequestsComeOutInOrder) {
  HttpRequestParser p;
  ASSERT_TRUE(
      p.feed("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nDELETE /c HTTP/1.1\r\nConnection: "
             "close\r\n\r\n"));
  std::vector<std::string> paths;
  while (p.has_request()) {
    HttpRequest r = p.pop_request();
    paths.push_back(r.method + " " + r.path);
    if (paths.size() == 3) {
      EXPECT_FALSE(r.keep_alive);
    }
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"GET /a", "GET /b", "DELETE /c"}));
}

TEST(Http, GarbageIsA400) {
  HttpRequestParser p;
  EXPECT_FALSE(p.feed("\x01\x02 not http\r\n\r\n"));
  EXPECT_EQ(p.error_status(), 400);
  EXPECT_FALSE(p.error().empty());
  EXPECT_FALSE(p.feed("GET / HTTP/1.1\r\n\r\n"));  // Stays failed.
}

TEST(Http, BadEscapeIsA400) {
  HttpRequestParser p;
  EXPECT_FALSE(p.feed("GET /store/%zz HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(p.error_status(), 400);
}

TEST(Http, OversizedBodyIsA413BeforeItArrives) {
  HttpRequestParser p(HttpRequestParser::Limits{.max_header_bytes = 1024, .max_body_bytes = 10});
  EXPECT_FALSE(p.feed("PUT /store/k HTTP/1.1\r\nContent-Length: 11\r\n\r\n"));
  EXPECT_EQ(p.error_status(), 413);
}

TEST(Http, OversizedChunkedBodyIsA413) {
  HttpRequestParser p(HttpRequestParser::Limits{.max_header_bytes = 1024, .max_body_bytes = 10});
  EXPECT_TRUE(
      p.feed("PUT /store/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n"));
  EXPECT_FALSE(p.feed("8\r\n12345678\r\n"));
  EXPECT_EQ(p.error_status(), 413);
}

TEST(Http, OversizedHeadersAreA431) {
  HttpRequestParser p(HttpRequestParser::Limits{.max_header_bytes = 64, .max_body_bytes = 10});
  EXPECT_FALSE(p.feed("GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(p.error_status(), 431);
}

TEST(Http, PercentDecode) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%20b%2f", false, &out));
  EXPECT_EQ(out, "a b/");
  EXPECT_FALSE(percent_decode("%2", false, &out));
  EXPECT_FALSE(percent_decode("%", false, &out));
  EXPECT_FALSE(percent_decode("%g0", false, &out));
  EXPECT_TRUE(percent_decode("a+b", false, &out));
  EXPECT_EQ(out, "a+b");
}

TEST(Http, ResponseFormat) {
  EXPECT_EQ(http_response(404, "text/plain", "nope", false),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
            "Connection: close\r\n\r\nnope");
  EXPECT_EQ(http_response(307, "application/json", "", true, "Location: /x\r\n"),
            "HTTP/1.1 307 Temporary Redirect\r\nContent-Type: application/json\r\nContent-Length: "
            "0\r\nConnection: keep-alive\r\nLocation: /x\r\n\r\n");
}

}  // namespace
}  // namespace raft::memstore
