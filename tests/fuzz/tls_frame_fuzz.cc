// Fuzz target: the TLS-wrapped frame path (net/tls.h, then the frame
// decoder). The first byte picks a mode:
//   even: the rest is what a remote sends before any handshake (a fake
//         ClientHello, plaintext frames, garbage), fed in two pieces to a
//         server session: it must fail or want more, never crash.
//   odd:  a client and a server session complete a handshake in memory; the
//         rest is a list of [u16 length][payload] records, framed with valid
//         headers and checksums (byte 1 bit 0 clear) or sent as a raw byte
//         stream (set), encrypted by the client; the server decrypts it in
//         pieces of byte 1's size into a FrameDecoder, which must deliver
//         only verified frames or stop at an error. Byte 1 bit 1 set flips
//         one ciphertext byte: the server must refuse the record.
// Certificates are made once per process (tests/net/test_certs.h).
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "net/frame.h"
#include "net/tls.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/fuzz_walk.h"
#include "tests/net/net_test_util.h"
#include "tests/net/test_certs.h"

using namespace raft::net;

namespace {

struct Contexts {
  std::shared_ptr<TlsContext> server, client;
};

const Contexts& contexts() {
  static const Contexts c = [] {
    const std::string dir = std::filesystem::temp_directory_path().string() +
                            "/ringraft-tls-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    raft::testing::TestCa ca("fuzz CA");
    ca.write_ca(dir + "/ca.pem");
    ca.issue(dir + "/s.pem", dir + "/s.key", "server");
    Contexts out;
    out.server = TlsContext::create({dir + "/ca.pem", dir + "/s.pem", dir + "/s.key"}).value();
    TlsOptions co;
    co.ca_file = dir + "/ca.pem";
    out.client = TlsContext::create(co).value();
    std::filesystem::remove_all(dir);
    return out;
  }();
  return c;
}

// Moves every byte one session wrote into the other.
void pass(TlsSession& from, TlsSession& to) {
  char buf[16384];
  while (size_t n = from.take_output(buf, sizeof(buf))) to.feed(buf, n);
}

void before_handshake(std::string_view in, size_t split) {
  auto server = contexts().server->new_session(TlsRole::kServer);
  split = std::min(split, in.size());
  server->feed(in.data(), split);
  bool ok = server->handshake().ok();
  if (ok && split < in.size()) {
    server->feed(in.data() + split, in.size() - split);
    ok = server->handshake().ok();
  }
  // Nothing sent is a complete client handshake: never established.
  fuzz::fuzz_check(!server->established());
  (void)ok;
}

void after_handshake(std::string_view in, uint8_t flags) {
  auto server = contexts().server->new_session(TlsRole::kServer);
  auto client = contexts().client->new_session(TlsRole::kClient);
  for (int i = 0; i < 4 && !(client->established() && server->established()); ++i) {
    fuzz::fuzz_check(client->handshake().ok());
    pass(*client, *server);
    fuzz::fuzz_check(server->handshake().ok());
    pass(*server, *client);
  }
  fuzz::fuzz_check(client->established() && server->established());
  std::string stream;
  if ((flags & 1) != 0) {
    stream.assign(in);
  } else {
    while (in.size() >= 2) {
      uint16_t len;
      std::memcpy(&len, in.data(), 2);
      in.remove_prefix(2);
      std::string_view payload = in.substr(0, len);
      in.remove_prefix(payload.size());
      if (!payload.empty()) stream += frame_to_string(frame_from_bytes(payload));
    }
  }
  if (stream.empty()) return;
  fuzz::fuzz_check(client->write(stream.data(), stream.size()).ok());
  std::string cipher(client->pending_output(), '\0');
  cipher.resize(client->take_output(cipher.data(), cipher.size()));
  const bool damaged = (flags & 2) != 0;
  if (damaged) cipher[cipher.size() / 2] ^= 0x40;
  FrameDecoder decoder(/*max_frame_bytes=*/1 << 16, /*block_bytes=*/64 * 1024);
  const size_t piece = 1 + (flags >> 2) * 61;
  bool refused = false;
  FrameError error = FrameError::kNone;
  size_t plain = 0;
  for (size_t at = 0; at < cipher.size() && !refused && error == FrameError::kNone;) {
    size_t n = std::min(piece, cipher.size() - at);
    server->feed(cipher.data() + at, n);
    at += n;
    for (;;) {
      size_t capacity = 0;
      char* p = decoder.prepare_write(&capacity);
      auto got = server->read(p, capacity);
      if (!got.ok()) {
        refused = true;
        break;
      }
      if (*got == 0) break;
      plain += *got;
      decoder.commit_write(*got);
      error = decoder.decode([](const ReceivedFrame& f) {
        fuzz::fuzz_check(f.frame != nullptr && f.payload.size() % 8 == 4);
        (void)fuzz::walk_frame(f);
        return true;
      });
      if (error != FrameError::kNone) break;
    }
  }
  // A flipped byte fails the record's tag; an intact stream decrypts whole
  // (unless the decoder stopped first).
  if (damaged) fuzz::fuzz_check(refused);
  if (!damaged)
    fuzz::fuzz_check(!refused && (error != FrameError::kNone || plain == stream.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (data[0] % 2 == 0) {
    before_handshake(in, data[1] * 8u);
  } else {
    after_handshake(in, data[1]);
  }
  return 0;
}

namespace raft::net::fuzz {

std::vector<std::string> fuzz_seed_corpus() {
  std::vector<std::string> seeds;
  HandshakeInfo hs;
  hs.cluster_id = 42;
  hs.node_id = 3;
  const std::string hello = frame_to_string(encode_handshake(hs));
  const std::string batch = frame_to_string(testing::raft_frame(3, 20));
  // Before the handshake: plaintext frames, a TLS record header, garbage.
  seeds.push_back(std::string("\x00\x01", 2) + hello);
  seeds.push_back(std::string("\x00\x00", 2) + std::string("\x16\x03\x01\x00\x30", 5) +
                  std::string(48, 'A'));
  seeds.push_back(std::string("\x00\x02", 2) + std::string(300, '\xff'));
  // After it: framed records, a raw stream of valid frames, damaged ones.
  auto records = [](const std::string& payload) {
    std::string r(2, '\0');
    uint16_t len = static_cast<uint16_t>(payload.size());
    std::memcpy(r.data(), &len, 2);
    return r + payload;
  };
  seeds.push_back(std::string("\x01\x00", 2) + records("some payload bytes") + records(batch));
  seeds.push_back(std::string("\x01\x01", 2) + hello + batch);
  seeds.push_back(std::string("\x01\x03", 2) + hello + batch);
  seeds.push_back(std::string("\x01\x41", 2) + batch + std::string(100, '\x07'));
  return seeds;
}

}  // namespace raft::net::fuzz
