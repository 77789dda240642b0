#include <cstdio>
#include <random>

#include "check.h"
#include "invariants.h"
#include "util.h"
#include "websocket.h"

using fh::Span;
using fh::WsEvent;
using fh::WsEventKind;
using fh::WsParser;
using testutil::unhex;

namespace {

constexpr size_t kMiB = 1 << 20;

// Events as one line of text, payloads above 40 bytes by size and hash, so
// that CHECK_EQ shows what differs.
struct Recorder : fh::WsSink {
  std::string log;
  std::vector<std::string> binaries;
  std::vector<bool> zero_copy;
  Span chunk;

  static std::string show(Span s) {
    if (s.n <= 40) return check::quote(s.view());
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s.n; i++) h = (h ^ s.p[i]) * 1099511628211ull;
    char b[64];
    std::snprintf(b, sizeof b, "<%zu bytes %016llx>", s.n, (unsigned long long)h);
    return b;
  }
  void binary(Span m) override {
    log += "binary " + show(m) + "; ";
    binaries.emplace_back(m.view());
    zero_copy.push_back(m.n > 0 && m.p >= chunk.p && m.p + m.n <= chunk.p + chunk.n);
  }
  void event(const WsEvent& e) override {
    static const char* names[] = {"text", "ping", "pong", "close", "error"};
    log += names[int(e.kind)];
    if (e.kind == WsEventKind::Close || e.kind == WsEventKind::Error) log += " " + std::to_string(e.code);
    log += " " + (e.kind == WsEventKind::Error ? std::string(e.data.view()) : show(e.data)) + "; ";
  }
  void feed(WsParser& p, std::string_view s) {
    chunk = Span(s);
    p.feed(chunk, *this);
  }
};

// The stream fed in the given chunk sizes (the last one repeats).
std::string parse(std::string_view stream, std::vector<size_t> sizes = {}, size_t max = 16 * kMiB) {
  WsParser p(max);
  Recorder r;
  size_t k = 0;
  for (size_t i = 0; i < stream.size();) {
    size_t n = sizes.empty() ? stream.size() : sizes[std::min(k++, sizes.size() - 1)];
    n = std::min(n, stream.size() - i);
    r.feed(p, stream.substr(i, n));
    i += n;
  }
  return r.log;
}

// One server frame: b0 is FIN/RSV/opcode; the length in its shortest form
// unless len_bytes (2 or 8) forces the extended one; masked with a zero key
// when asked, so the payload reads the same.
std::string frame(uint8_t b0, std::string_view payload, int len_bytes = 0, bool masked = false) {
  std::string f(1, char(b0));
  uint64_t n = payload.size();
  uint8_t m = masked ? 0x80 : 0;
  if (len_bytes == 0) len_bytes = n < 126 ? 0 : n <= 0xffff ? 2 : 8;
  if (len_bytes == 0) {
    f += char(m | n);
  } else {
    f += char(m | (len_bytes == 2 ? 126 : 127));
    for (int i = len_bytes - 1; i >= 0; i--) f += char(n >> (8 * i));
  }
  if (masked) f += std::string(4, '\0');
  return f + std::string(payload);
}

std::string shown(const std::string& payload) { return Recorder::show(Span(payload)); }

std::string close_payload(uint16_t code, std::string_view reason = {}) {
  return std::string{char(code >> 8), char(code)} + std::string(reason);
}

std::string pattern(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = char(seed + i * 7 + (i >> 8));
  return s;
}

// A stream with everything a relay may send: messages of every length
// encoding, fragments with control frames between them, a close at the end.
std::string varied_stream() {
  std::string s;
  s += frame(0x82, "");
  s += frame(0x82, pattern(125, 1));
  s += frame(0x82, pattern(126, 2));
  s += frame(0x89, "are you there");
  s += frame(0x82, pattern(65535, 3));
  s += frame(0x82, pattern(65536, 4));
  s += frame(0x81, "h\xc3\xa9llo");
  s += frame(0x02, pattern(300, 5));
  s += frame(0x89, "");
  s += frame(0x00, "");
  s += frame(0x8a, "pong between fragments");
  s += frame(0x80, pattern(70000, 6));
  s += frame(0x01, "\xe2\x82");  // a euro sign cut between fragments
  s += frame(0x80, "\xac");
  s += frame(0x82, "x");
  s += frame(0x88, close_payload(1000, "bye"));
  return s;
}

}  // namespace

// RFC 6455 section 5.7, every example. The masked ones are client frames: a
// server must not send them.
TEST(websocket_rfc_examples) {
  CHECK_EQ(parse(unhex("81 05 48 65 6c 6c 6f")), "text \"Hello\"; ");
  CHECK_EQ(parse(unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")),
           "error 1002 masked frame: a server must not mask its frames; ");
  CHECK_EQ(parse(unhex("01 03 48 65 6c 80 02 6c 6f")), "text \"Hello\"; ");
  CHECK_EQ(parse(unhex("89 05 48 65 6c 6c 6f")), "ping \"Hello\"; ");
  CHECK_EQ(parse(unhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")),
           "error 1002 masked frame: a server must not mask its frames; ");

  std::string b256 = pattern(256, 9), b64k = pattern(65536, 10);
  std::string f256 = unhex("82 7e 01 00") + b256;
  std::string f64k = unhex("82 7f 00 00 00 00 00 01 00 00") + b64k;
  CHECK_EQ(f256, frame(0x82, b256));
  CHECK_EQ(f64k, frame(0x82, b64k));
  WsParser p(kMiB);
  Recorder r;
  r.feed(p, f256);
  r.feed(p, f64k);
  CHECK_EQ(r.binaries.size(), 2u);
  if (r.binaries.size() == 2) {
    CHECK(r.binaries[0] == b256);
    CHECK(r.binaries[1] == b64k);
  }
  CHECK_EQ(p.buffered(), 0u);
}

TEST(websocket_whole_messages_are_not_copied) {
  std::string two = frame(0x82, "first") + frame(0x82, pattern(1000, 1));
  WsParser p(kMiB);
  Recorder r;
  r.feed(p, two);
  CHECK_EQ(r.zero_copy.size(), 2u);
  CHECK(r.zero_copy[0] && r.zero_copy[1]);
  CHECK_EQ(p.buffer_capacity(), 0u);
  // Straddling and fragmented messages are assembled.
  std::string big = frame(0x82, pattern(1000, 2));
  r.feed(p, big.substr(0, 500));
  r.feed(p, big.substr(500));
  r.feed(p, frame(0x02, "frag") + frame(0x80, "ment"));
  CHECK_EQ(r.zero_copy.size(), 4u);
  CHECK(!r.zero_copy[2] && !r.zero_copy[3]);
  CHECK_EQ(r.binaries.back(), "fragment");
  CHECK_EQ(p.buffered(), 0u);
}

TEST(websocket_control_frames_between_fragments) {
  std::string s = frame(0x01, "a") + frame(0x89, "p1") + frame(0x00, "b") + frame(0x8a, "p2") + frame(0x88, "");
  // A close between fragments ends the stream; the message is never complete.
  CHECK_EQ(parse(s), "ping \"p1\"; pong \"p2\"; close 1005 \"\"; ");
  s = frame(0x02, "a") + frame(0x89, "p1") + frame(0x00, "b") + frame(0x8a, "p2") + frame(0x80, "c");
  CHECK_EQ(parse(s), "ping \"p1\"; pong \"p2\"; binary \"abc\"; ");
  CHECK_EQ(parse(s, {1}), "ping \"p1\"; pong \"p2\"; binary \"abc\"; ");
}

TEST(websocket_close) {
  CHECK_EQ(parse(frame(0x88, "")), "close 1005 \"\"; ");
  CHECK_EQ(parse(frame(0x88, close_payload(1000))), "close 1000 \"\"; ");
  CHECK_EQ(parse(frame(0x88, close_payload(4000, "going away \xe2\x9c\x93"))),
           "close 4000 \"going away \\xe2\\x9c\\x93\"; ");
  for (uint16_t ok : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999}) {
    CHECK_EQ(parse(frame(0x88, close_payload(ok))), "close " + std::to_string(ok) + " \"\"; ");
  }
  for (uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    CHECK_EQ(parse(frame(0x88, close_payload(bad))),
             "error 1002 close frame with invalid status code " + std::to_string(bad) + "; ");
  }
  CHECK_EQ(parse(frame(0x88, "\x03")), "error 1002 close frame with a 1-byte payload: a status code takes 2 bytes; ");
  CHECK_EQ(parse(frame(0x88, close_payload(1000, "bad \xc3("))), "error 1007 close frame reason is not valid UTF-8; ");
  CHECK_EQ(parse(frame(0x88, close_payload(1000, std::string(123, 'r')))),
           "close 1000 " + shown(std::string(123, 'r')) + "; ");
  // Nothing may follow a close frame.
  CHECK_EQ(parse(frame(0x88, "") + frame(0x82, "late")), "close 1005 \"\"; error 1002 data after the close frame; ");
  CHECK_EQ(parse(frame(0x88, "") + "\x82", {2, 1}), "close 1005 \"\"; error 1002 data after the close frame; ");
}

TEST(websocket_frame_errors) {
  CHECK_EQ(parse(unhex("c2 00")), "error 1002 frame with RSV1 set, but no extension was negotiated; ");
  CHECK_EQ(parse(unhex("a2 00")), "error 1002 frame with RSV2 set, but no extension was negotiated; ");
  CHECK_EQ(parse(unhex("92 00")), "error 1002 frame with RSV3 set, but no extension was negotiated; ");
  CHECK_EQ(parse(unhex("f2 00")), "error 1002 frame with RSV1, RSV2, RSV3 set, but no extension was negotiated; ");
  for (int op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    char hex[4];
    std::snprintf(hex, sizeof hex, "%x", op);
    CHECK_EQ(parse(std::string{char(0x80 | op), 0}),
             std::string("error 1002 frame with unknown opcode 0x") + hex + "; ");
  }
  CHECK_EQ(parse(frame(0x82, "hi", 0, true)), "error 1002 masked frame: a server must not mask its frames; ");
  CHECK_EQ(parse(frame(0x09, "")), "error 1002 fragmented ping frame: control frames must have FIN set; ");
  CHECK_EQ(parse(frame(0x08, "")), "error 1002 fragmented close frame: control frames must have FIN set; ");
  CHECK_EQ(parse(frame(0x8a, std::string(125, 'p'))), "pong " + shown(std::string(125, 'p')) + "; ");
  CHECK_EQ(parse(frame(0x8a, std::string(126, 'p'))),
           "error 1002 pong frame longer than the 125 bytes allowed for control frames; ");
  CHECK_EQ(parse(frame(0x89, "short", 2)),
           "error 1002 ping frame longer than the 125 bytes allowed for control frames; ");
  CHECK_EQ(parse(frame(0x80, "x")), "error 1002 continuation frame without a message to continue; ");
  CHECK_EQ(parse(frame(0x02, "a") + frame(0x80, "b") + frame(0x00, "c")),
           "binary \"ab\"; error 1002 continuation frame without a message to continue; ");
  CHECK_EQ(parse(frame(0x02, "a") + frame(0x82, "b")),
           "error 1002 binary frame inside a fragmented binary message, where a continuation frame "
           "was due; ");
  CHECK_EQ(parse(frame(0x01, "a") + frame(0x02, "b")),
           "error 1002 binary frame inside a fragmented text message, where a continuation frame "
           "was due; ");
  CHECK_EQ(parse(frame(0x81, "bad \xed\xa0\x80 surrogate")), "error 1007 text message is not valid UTF-8; ");
  CHECK_EQ(parse(frame(0x01, "\xe2\x82") + frame(0x80, "(")), "error 1007 text message is not valid UTF-8; ");
}

TEST(websocket_length_encodings) {
  // 64-bit lengths with the top bit set, at once, before any payload.
  CHECK_EQ(parse(unhex("82 7f 80 00 00 00 00 00 00 00")),
           "error 1002 64-bit payload length with the most significant bit set; ");
  CHECK_EQ(parse(unhex("82 7f ff ff ff ff ff ff ff ff")),
           "error 1002 64-bit payload length with the most significant bit set; ");
  // RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the
  // length"; a longer form is a malformed frame.
  CHECK_EQ(parse(frame(0x82, pattern(125, 0), 2)), "error 1002 payload length 125 in 16 bits, where 7 bits suffice; ");
  CHECK_EQ(parse(frame(0x82, "", 2)), "error 1002 payload length 0 in 16 bits, where 7 bits suffice; ");
  CHECK_EQ(parse(frame(0x82, pattern(65535, 0), 8)),
           "error 1002 payload length 65535 in 64 bits, where 16 bits suffice; ");
  CHECK_EQ(parse(frame(0x82, "abc", 8)), "error 1002 payload length 3 in 64 bits, where 7 bits suffice; ");
  CHECK_EQ(parse(frame(0x82, pattern(126, 0), 2)), "binary " + shown(pattern(126, 0)) + "; ");
  CHECK_EQ(parse(frame(0x82, pattern(65536, 0), 8)), "binary " + shown(pattern(65536, 0)) + "; ");
}

TEST(websocket_message_limit) {
  CHECK_EQ(parse(frame(0x82, pattern(1000, 0)), {}, 1000), "binary " + shown(pattern(1000, 0)) + "; ");
  CHECK_EQ(parse(frame(0x82, pattern(1001, 0)), {}, 1000),
           "error 1009 message larger than the 1000-byte limit (at least 1001 bytes); ");
  // The sum of fragments counts; the error comes with the header that
  // crosses the limit, before its payload.
  std::string frags = frame(0x02, pattern(600, 0)) + frame(0x89, "") + frame(0x80, pattern(400, 1));
  CHECK_EQ(parse(frags, {}, 1000), "ping \"\"; binary " + shown(pattern(600, 0) + pattern(400, 1)) + "; ");
  frags = frame(0x02, pattern(600, 0)) + frame(0x80, pattern(401, 1)).substr(0, 4);
  CHECK_EQ(parse(frags, {}, 1000), "error 1009 message larger than the 1000-byte limit (at least 1001 bytes); ");
  CHECK_EQ(parse(unhex("82 7f 7f ff ff ff ff ff ff ff"), {}, 5 * kMiB),
           "error 1009 message larger than the 5242880-byte limit (at least 9223372036854775807 "
           "bytes); ");
  // Control frames are not messages: a zero limit still lets them through.
  CHECK_EQ(parse(frame(0x89, "ping") + frame(0x82, ""), {}, 0), "ping \"ping\"; binary \"\"; ");
}

TEST(websocket_buffer_is_released) {
  WsParser p(8 * kMiB);
  Recorder r;
  std::string big = frame(0x82, pattern(3 * kMiB, 7));
  r.feed(p, big.substr(0, kMiB));
  CHECK(p.buffer_capacity() >= 3 * kMiB);
  CHECK(p.buffer_capacity() < 6 * kMiB);
  r.feed(p, big.substr(kMiB));
  CHECK_EQ(r.binaries.size(), 1u);
  CHECK_EQ(p.buffer_capacity(), 0u);
  // Small straddling messages keep their buffer.
  std::string small = frame(0x82, pattern(5000, 8));
  r.feed(p, small.substr(0, 100));
  r.feed(p, small.substr(100));
  CHECK_EQ(r.binaries.size(), 2u);
  CHECK(p.buffer_capacity() > 0);
}

TEST(websocket_stays_failed) {
  WsParser p(kMiB);
  Recorder r;
  r.feed(p, frame(0x82, "ok") + unhex("83 00") + frame(0x82, "lost"));
  r.feed(p, frame(0x82, "also lost"));
  CHECK_EQ(r.log, "binary \"ok\"; error 1002 frame with unknown opcode 0x3; ");
  CHECK(p.failed());
  CHECK_EQ(p.error(), "frame with unknown opcode 0x3");
  CHECK_EQ(p.buffer_capacity(), 0u);
}

// The same stream cut at every point, in two and three pieces, byte by byte
// and at random gives the same events; and so do streams that end in each
// kind of error.
TEST(websocket_split_independence) {
  std::string stream = varied_stream();
  std::string expected = parse(stream);
  CHECK_EQ(expected.substr(expected.size() - 18), "close 1000 \"bye\"; ");
  CHECK_EQ(parse(stream, {1}), expected);

  // Every two-piece cut of a smaller stream, and three-piece cuts of it.
  std::string small = frame(0x82, pattern(130, 1)) + frame(0x02, "ab") + frame(0x89, "p") + frame(0x80, "c") +
                      frame(0x81, "\xe2\x82\xac") + frame(0x88, close_payload(1001));
  std::string want = parse(small);
  for (size_t a = 1; a < small.size(); a++) {
    CHECK_EQ(parse(small, {a, small.size()}), want);
    for (size_t b = 1; a + b < small.size(); b += 7) CHECK_EQ(parse(small, {a, b, small.size()}), want);
  }
  // The big stream cut once at every point of its first and last few
  // hundred bytes, and around each length boundary.
  for (size_t a = 1; a < stream.size(); a += (a < 400 || a > stream.size() - 400) ? 1 : 997) {
    CHECK_EQ(parse(stream, {a, stream.size()}), expected);
  }

  std::mt19937 rng(6455);
  for (int round = 0; round < 200; round++) {
    std::vector<size_t> sizes;
    size_t span = size_t(1) << (round % 17);
    for (size_t total = 0; total < stream.size();) {
      sizes.push_back(1 + rng() % span);
      total += sizes.back();
    }
    CHECK_EQ(parse(stream, sizes), expected);
  }

  const std::string errors[] = {
      frame(0x82, "x", 0, true),
      unhex("c2 00"),
      frame(0x02, "a") + frame(0x89, "p") + frame(0x82, "b"),
      frame(0x82, "y", 8),
      unhex("82 7f 80 00 00 00 00 00 00 00"),
      frame(0x88, "\x03"),
      frame(0x88, close_payload(1005)),
      frame(0x88, close_payload(1000, "\xff")),
      frame(0x01, "\xc3") + frame(0x80, "x"),
      frame(0x88, "") + "z",
  };
  for (const std::string& bad : errors) {
    std::string s = frame(0x82, pattern(200, 3)) + bad + frame(0x82, "after");
    std::string want_bad = parse(s);
    CHECK(want_bad.find("error ") != std::string::npos);
    for (size_t a = 1; a < s.size(); a++) CHECK_EQ(parse(s, {a, s.size()}), want_bad);
    CHECK_EQ(parse(s, {1}), want_bad);
  }
}

// The fuzz target's invariants hold on the streams above, under every limit.
TEST(websocket_fuzz_invariants) {
  std::vector<std::string> streams = {varied_stream(), frame(0x82, pattern(2 * kMiB, 1)),
                                      frame(0x02, "a") + frame(0x82, "b")};
  for (const std::string& s : streams) {
    for (int opt = 0; opt < 8; opt++) {
      std::string in = std::string{char(opt), char(opt * 5 + 3)} + s;
      CHECK_EQ(fuzzcheck::check_websocket(reinterpret_cast<const uint8_t*>(in.data()), in.size()), "");
    }
  }
}
