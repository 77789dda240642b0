#include "websocket.h"

#include <algorithm>
#include <cstring>

#include "utf8.h"

namespace fh {

namespace {

enum Opcode : uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10,
};

// Close codes of the protocol that drive close() answers, and the codes to
// send back for each kind of error.
constexpr uint16_t kNoStatus = 1005;
constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kInvalidData = 1007;
constexpr uint16_t kTooBig = 1009;

// An assembly buffer above this is freed once its message is out: one
// unusually large message must not pin its memory for the connection's life.
constexpr size_t kKeepBytes = 1 << 20;

const char* opcode_name(uint8_t op) {
  switch (op) {
    case kText: return "text";
    case kBinary: return "binary";
    case kClose: return "close";
    case kPing: return "ping";
    default: return "pong";
  }
}

// The codes a peer may send (RFC 6455 7.4.1 and the IANA registry): 1004,
// 1005, 1006 and 1015 are reserved for local use, 1016-2999 unassigned.
bool close_code_valid(uint16_t c) {
  return (c >= 1000 && c <= 1014 && c != 1004 && c != 1005 && c != 1006) || (c >= 3000 && c <= 4999);
}

}  // namespace

WsParser::WsParser(size_t max_message_bytes) : max_(max_message_bytes) {}

void WsParser::feed(Span chunk, WsSink& sink) {
  const uint8_t* p = chunk.p;
  const uint8_t* const end = chunk.p + chunk.n;
  while (p < end) {
    switch (stage_) {
      case Stage::Failed: return;
      case Stage::Closed: fail(sink, kProtocolError, "data after the close frame"); return;
      case Stage::Header: {
        int size;
        if (hdr_n_ == 0) {
          // The common case: the whole header is in this chunk, read in place.
          size = parse_header(p, size_t(end - p), sink);
          if (size < 0) return;
          if (size == 0) {
            hdr_n_ = size_t(end - p);
            std::memcpy(hdr_, p, hdr_n_);
            return;
          }
          p += size;
        } else {
          size_t add = std::min(sizeof hdr_ - hdr_n_, size_t(end - p));
          std::memcpy(hdr_ + hdr_n_, p, add);
          size = parse_header(hdr_, hdr_n_ + add, sink);
          if (size < 0) return;
          if (size == 0) {
            hdr_n_ += add;
            return;
          }
          p += size_t(size) - hdr_n_;
          hdr_n_ = 0;
        }
        p = begin_payload(p, end, sink);
        break;
      }
      case Stage::Payload: {
        size_t k = size_t(std::min<uint64_t>(left_, uint64_t(end - p)));
        if (op_ >= kClose) {
          std::memcpy(ctl_ + ctl_n_, p, k);
          ctl_n_ += k;
        } else {
          buf_.append(p, k);
        }
        p += k;
        left_ -= k;
        if (left_ == 0) {
          stage_ = Stage::Header;
          if (op_ >= kClose) {
            size_t n = ctl_n_;
            ctl_n_ = 0;
            control(Span(ctl_, n), sink);
          } else {
            end_data_frame(sink);
          }
        }
        break;
      }
    }
  }
}

int WsParser::parse_header(const uint8_t* h, size_t have, WsSink& sink) {
  if (have < 2) return 0;
  // Everything the first two bytes can tell is checked as soon as they are
  // here, whatever follows: errors must not depend on chunk boundaries.
  const uint8_t b0 = h[0], b1 = h[1];
  const uint8_t op = b0 & 0x0f;
  const bool fin = b0 & 0x80;
  const uint8_t len7 = b1 & 0x7f;
  if (b0 & 0x70) {
    std::string bits;
    for (int i = 1; i <= 3; i++) {
      if (b0 & (0x80 >> i)) bits += (bits.empty() ? "RSV" : ", RSV") + std::to_string(i);
    }
    fail(sink, kProtocolError, "frame with " + bits + " set, but no extension was negotiated");
    return -1;
  }
  if (!(op <= kBinary || (op >= kClose && op <= kPong))) {
    static const char hex[] = "0123456789abcdef";
    fail(sink, kProtocolError, std::string("frame with unknown opcode 0x") + hex[op]);
    return -1;
  }
  if (b1 & 0x80) {
    fail(sink, kProtocolError, "masked frame: a server must not mask its frames");
    return -1;
  }
  if (op >= kClose) {
    if (!fin) {
      fail(sink, kProtocolError,
           std::string("fragmented ") + opcode_name(op) + " frame: control frames must have FIN set");
      return -1;
    }
    if (len7 > 125) {
      fail(sink, kProtocolError,
           std::string(opcode_name(op)) + " frame longer than the 125 bytes allowed for control frames");
      return -1;
    }
  } else if (op == kContinuation) {
    if (!msg_op_) {
      fail(sink, kProtocolError, "continuation frame without a message to continue");
      return -1;
    }
  } else if (msg_op_) {
    fail(sink, kProtocolError,
         std::string(opcode_name(op)) + " frame inside a fragmented " + opcode_name(msg_op_) +
             " message, where a continuation frame was due");
    return -1;
  }

  const size_t size = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
  if (have < size) return 0;
  uint64_t len = len7;
  if (len7 == 126) {
    len = uint64_t(h[2]) << 8 | h[3];
    if (len < 126) {
      fail(sink, kProtocolError, "payload length " + std::to_string(len) + " in 16 bits, where 7 bits suffice");
      return -1;
    }
  } else if (len7 == 127) {
    len = 0;
    for (int i = 2; i < 10; i++) len = len << 8 | h[i];
    if (len >> 63) {
      fail(sink, kProtocolError, "64-bit payload length with the most significant bit set");
      return -1;
    }
    if (len <= 0xffff) {
      fail(
          sink, kProtocolError,
          "payload length " + std::to_string(len) + " in 64 bits, where " + (len < 126 ? "7" : "16") + " bits suffice");
      return -1;
    }
  }
  // At the header stage buf_ holds exactly the fragments received so far.
  if (op < kClose && len > max_ - buf_.size()) {
    fail(sink, kTooBig,
         "message larger than the " + std::to_string(max_) + "-byte limit (at least " +
             std::to_string(buf_.size() + len) + " bytes)");
    return -1;
  }
  op_ = op;
  fin_ = fin;
  left_ = len;
  return int(size);
}

const uint8_t* WsParser::begin_payload(const uint8_t* p, const uint8_t* end, WsSink& sink) {
  const size_t avail = size_t(end - p);
  if (op_ >= kClose) {
    if (left_ <= avail) {
      control(Span(p, size_t(left_)), sink);
      return p + left_;
    }
    std::memcpy(ctl_, p, avail);
    ctl_n_ = avail;
    left_ -= avail;
    stage_ = Stage::Payload;
    return end;
  }
  if (op_ != kContinuation && fin_ && left_ <= avail) {
    message(op_, Span(p, size_t(left_)), sink);  // zero-copy
    return p + left_;
  }
  if (op_ != kContinuation && !fin_) msg_op_ = op_;
  if (left_ <= avail) {
    buf_.append(p, size_t(left_));
    p += left_;
    left_ = 0;
    end_data_frame(sink);
    return p;
  }
  // Bounded by the size check in parse_header.
  buf_.reserve(size_t(left_));
  buf_.append(p, avail);
  left_ -= avail;
  stage_ = Stage::Payload;
  return end;
}

void WsParser::end_data_frame(WsSink& sink) {
  if (!fin_) return;
  const uint8_t op = msg_op_ ? msg_op_ : op_;
  msg_op_ = 0;
  message(op, buf_.span(), sink);
  buf_.clear();
  buf_.shrink_to(kKeepBytes);
}

void WsParser::message(uint8_t opcode, Span data, WsSink& sink) {
  if (opcode == kBinary) {
    sink.binary(data);
    return;
  }
  if (!utf8_valid(data.p, data.n)) {
    fail(sink, kInvalidData, "text message is not valid UTF-8");
    return;
  }
  sink.event(WsEvent{WsEventKind::Text, 0, data});
}

void WsParser::control(Span payload, WsSink& sink) {
  if (op_ == kPing) {
    sink.event(WsEvent{WsEventKind::Ping, 0, payload});
    return;
  }
  if (op_ == kPong) {
    sink.event(WsEvent{WsEventKind::Pong, 0, payload});
    return;
  }
  uint16_t code = kNoStatus;
  Span reason;
  if (payload.n == 1) {
    fail(sink, kProtocolError, "close frame with a 1-byte payload: a status code takes 2 bytes");
    return;
  }
  if (payload.n >= 2) {
    code = uint16_t(payload.p[0] << 8 | payload.p[1]);
    if (!close_code_valid(code)) {
      fail(sink, kProtocolError, "close frame with invalid status code " + std::to_string(code));
      return;
    }
    reason = Span(payload.p + 2, payload.n - 2);
    if (!utf8_valid(reason.p, reason.n)) {
      fail(sink, kInvalidData, "close frame reason is not valid UTF-8");
      return;
    }
  }
  stage_ = Stage::Closed;
  sink.event(WsEvent{WsEventKind::Close, code, reason});
}

void WsParser::fail(WsSink& sink, uint16_t code, std::string message) {
  stage_ = Stage::Failed;
  error_ = std::move(message);
  buf_.clear();
  buf_.shrink_to(0);
  sink.event(WsEvent{WsEventKind::Error, code, Span(error_)});
}

}  // namespace fh
