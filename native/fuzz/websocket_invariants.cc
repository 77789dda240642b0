// What the WebSocket fuzz target demands: the incremental parser gives the
// same events however the stream is cut, the same events as a plain
// whole-buffer reading of RFC 6455 (each message the concatenation of its
// fragments' payloads), keeps a well-formed event sequence, hands out whole
// single-frame messages without copying, and keeps its buffer bounded.
#include <string>
#include <vector>

#include "invariants.h"
#include "utf8.h"
#include "websocket.h"

namespace fuzzcheck {

using namespace fh;

namespace {

enum class Kind : uint8_t { Binary, Text, Ping, Pong, Close, Error };

struct Event {
  Kind kind;
  uint16_t code;
  std::string data;  // empty for errors: only the reference's kind and code are compared
  bool in_chunk;     // the span pointed into the chunk fed

  bool operator==(const Event& o) const { return kind == o.kind && code == o.code && data == o.data; }
};

// Limits picked by the option byte: around the 7/16/64-bit length
// boundaries, tiny ones so the limit is reachable, and the default.
constexpr size_t kLimits[8] = {0, 1, 125, 126, 1000, 65535, 65536, 5u << 20};

struct Recorder : WsSink {
  std::vector<Event> events;
  Span chunk;
  size_t max_capacity = 0;
  const WsParser* parser = nullptr;

  bool inside(Span s) const { return s.n > 0 && s.p >= chunk.p && s.p + s.n <= chunk.p + chunk.n; }
  void binary(Span m) override { events.push_back({Kind::Binary, 0, std::string(m.view()), inside(m)}); }
  void event(const WsEvent& e) override {
    Kind k = Kind(uint8_t(e.kind) + 1);
    events.push_back({k, e.code, k == Kind::Error ? std::string() : std::string(e.data.view()), inside(e.data)});
    if (k == Kind::Error && e.data.empty()) events.back().data = "(no message)";
  }
};

// Feeds the stream in chunks whose sizes come from next_size, and records
// the events and the largest buffer the parser reserved.
template <class NextSize>
Recorder run(Span s, size_t max, NextSize next_size, std::string& why) {
  WsParser parser(max);
  Recorder r;
  for (size_t i = 0; i < s.n;) {
    size_t k = std::min(next_size(), s.n - i);
    r.chunk = Span(s.p + i, k);
    parser.feed(r.chunk, r);
    i += k;
    if (parser.buffer_capacity() > r.max_capacity) r.max_capacity = parser.buffer_capacity();
  }
  bool error = !r.events.empty() && r.events.back().kind == Kind::Error;
  bool close = !r.events.empty() && r.events.back().kind == Kind::Close;
  if (parser.failed() != error) why = "failed() disagrees with the events";
  if (parser.closed() != close) why = "closed() disagrees with the events";
  if (error && parser.error().empty()) why = "failed without an error message";
  return r;
}

bool close_code_ok(unsigned c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

// RFC 6455 read straight from a whole buffer: the oracle.
std::vector<Event> reference(Span s, size_t max, std::vector<bool>& single_frame) {
  std::vector<Event> out;
  auto error = [&](uint16_t code) {
    out.push_back({Kind::Error, code, "", false});
    return out;
  };
  const uint8_t* p = s.p;
  size_t i = 0;
  int msg_op = 0;
  size_t frames = 0;
  std::string msg;
  bool closed = false;
  while (i < s.n) {
    if (closed) return error(1002);
    if (s.n - i < 2) break;
    uint8_t b0 = p[i], b1 = p[i + 1], op = b0 & 15, len7 = b1 & 127;
    bool fin = b0 >> 7, control = op >= 8;
    if (b0 & 0x70 || !(op <= 2 || (op >= 8 && op <= 10)) || b1 >> 7 || (control && (!fin || len7 > 125)) ||
        (op == 0 && !msg_op) || (op == 1 && msg_op) || (op == 2 && msg_op)) {
      return error(1002);
    }
    size_t hs = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
    if (s.n - i < hs) break;
    uint64_t len = len7;
    if (hs > 2) {
      len = 0;
      for (size_t k = 2; k < hs; k++) len = len << 8 | p[i + k];
      if (len >> 63 || len < (hs == 4 ? 126u : 65536u)) return error(1002);
    }
    if (!control && msg.size() + len > max) return error(1009);
    if (s.n - i - hs < len) break;
    std::string payload(reinterpret_cast<const char*>(p + i + hs), size_t(len));
    i += hs + size_t(len);
    if (op == 9 || op == 10) {
      out.push_back({op == 9 ? Kind::Ping : Kind::Pong, 0, payload, false});
    } else if (op == 8) {
      if (payload.size() == 1) return error(1002);
      uint16_t code = 1005;
      if (payload.size() >= 2) {
        code = uint16_t(uint8_t(payload[0]) << 8 | uint8_t(payload[1]));
        if (!close_code_ok(code)) return error(1002);
        payload.erase(0, 2);
        if (!utf8_valid(reinterpret_cast<const uint8_t*>(payload.data()), payload.size())) {
          return error(1007);
        }
      }
      out.push_back({Kind::Close, code, payload, false});
      closed = true;
    } else {
      if (op != 0) msg_op = op;
      msg += payload;
      frames++;
      if (fin) {
        if (msg_op == 1 && !utf8_valid(reinterpret_cast<const uint8_t*>(msg.data()), msg.size())) {
          return error(1007);
        }
        out.push_back({msg_op == 1 ? Kind::Text : Kind::Binary, 0, msg, false});
        single_frame.resize(out.size());
        single_frame.back() = frames == 1;
        msg.clear();
        msg_op = 0;
        frames = 0;
      }
    }
  }
  return out;
}

std::string check_sequence(const std::vector<Event>& ev, size_t max) {
  for (size_t i = 0; i < ev.size(); i++) {
    const Event& e = ev[i];
    bool last = i + 1 == ev.size();
    if (e.kind == Kind::Error && !last) return "an event after an error";
    if (e.kind == Kind::Close && !last && ev[i + 1].kind != Kind::Error) {
      return "a message or control frame after the close frame";
    }
    if ((e.kind == Kind::Binary || e.kind == Kind::Text) && e.data.size() > max) {
      return "a message above the limit";
    }
    if ((e.kind == Kind::Ping || e.kind == Kind::Pong || e.kind == Kind::Close) && e.data.size() > 125) {
      return "a control payload above 125 bytes";
    }
    if (e.kind == Kind::Error && e.code != 1002 && e.code != 1007 && e.code != 1009) {
      return "an error with an unexpected close code";
    }
  }
  return "";
}

}  // namespace

std::string check_websocket(const uint8_t* data, size_t n) {
  if (n < 2) return "";
  const size_t max = kLimits[data[0] & 7];
  Span s(data + 2, n - 2);
  std::string why;

  auto one_chunk = [&] { return s.n; };
  Recorder whole = run(s, max, one_chunk, why);
  if (!why.empty()) return "in one chunk: " + why;
  why = check_sequence(whole.events, max);
  if (!why.empty()) return why;

  std::vector<bool> single;
  std::vector<Event> expected = reference(s, max, single);
  if (whole.events != expected) return "the events differ from the reference reading";
  for (size_t i = 0; i < whole.events.size(); i++) {
    const Event& e = whole.events[i];
    if ((e.kind == Kind::Binary || e.kind == Kind::Text) && !e.data.empty() && e.in_chunk != bool(single[i])) {
      return single[i] ? "a single-frame message was copied" : "a fragmented message was not assembled";
    }
  }

  auto one_byte = [] { return size_t(1); };
  Recorder bytes = run(s, max, one_byte, why);
  if (!why.empty()) return "byte by byte: " + why;
  if (bytes.events != whole.events) return "byte by byte, the events differ";

  // Chunk sizes from data[1]: up to 2^(data[1] % 16) bytes, pseudo-random.
  uint32_t x = 0x9e3779b9u ^ data[1];
  const size_t span = size_t(1) << (data[1] % 16);
  auto random_size = [&] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return 1 + x % span;
  };
  Recorder cut = run(s, max, random_size, why);
  if (!why.empty()) return "in random chunks: " + why;
  if (cut.events != whole.events) return "in random chunks, the events differ";

  const size_t bound = std::max<size_t>(256, 2 * max);
  for (const Recorder* r : {&whole, &bytes, &cut}) {
    if (r->max_capacity > bound) return "the assembly buffer grew beyond twice the message limit";
  }
  return "";
}

}  // namespace fuzzcheck
