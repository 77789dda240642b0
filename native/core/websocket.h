// The server-to-client half of RFC 6455 framing: an incremental parser that
// turns the bytes of an upgraded socket, in chunks of any size, into
// messages and control frames. No extension is ever negotiated, so anything
// an extension would need (RSV bits, opcodes 3-7 and 11-15) is an error.
//
// Contract
// - feed(chunk, sink) parses the whole chunk before it returns and reports
//   what it completed through the sink, in stream order: binary messages to
//   sink.binary(), everything else (text, ping, pong, close, error) to
//   sink.event(). Partial frames are kept for the next feed().
// - Spans handed to the sink are valid only during the call. A message that
//   lies whole inside the chunk is a span of the chunk (no copy); one that
//   straddles chunks or was fragmented is assembled in the parser's buffer.
// - Control frames are reported when they arrive, also between the fragments
//   of a message; the message follows when its last fragment does.
// - A message is never larger than max_message_bytes; a frame header that
//   would exceed it is an error at once, before its payload is read. The
//   assembly buffer thus never exceeds twice that (or 256 bytes), and its
//   memory is released after a message above 1 MiB.
// - The sink must not call feed() and should not throw: an exception leaves
//   the rest of the chunk unread, so the connection must be dropped.
// - After a Close event the stream is over: any later byte is an error.
// - An error is reported once, as the last event; the parser stays failed
//   and ignores whatever it is fed afterwards.
// - What a message is and whether it is an error never depends on how the
//   stream was split into chunks.
//
// Strictness, beyond what every receiver must check: payload lengths must use
// their shortest encoding (RFC 6455 5.2: "the minimal number of bytes MUST be
// used to encode the length"), and text messages must be valid UTF-8 (8.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "bytes.h"

namespace fh {

enum class WsEventKind : uint8_t { Text, Ping, Pong, Close, Error };

struct WsEvent {
  WsEventKind kind;
  // Close: the peer's status code, 1005 when the frame had none.
  // Error: the close code to send back (1002 protocol error, 1007 invalid
  // UTF-8, 1009 message too big).
  uint16_t code = 0;
  // Text: the message. Ping, Pong: the payload. Close: the reason (UTF-8).
  // Error: the message, one line.
  Span data;
};

class WsSink {
 public:
  virtual ~WsSink() = default;
  // A complete binary message: the hot path.
  virtual void binary(Span message) = 0;
  // Anything else; rare on a firehose.
  virtual void event(const WsEvent& e) = 0;
};

class WsParser {
 public:
  // Messages larger than this are an error (close code 1009).
  explicit WsParser(size_t max_message_bytes);
  WsParser(const WsParser&) = delete;
  WsParser& operator=(const WsParser&) = delete;

  void feed(Span chunk, WsSink& sink);

  bool failed() const { return stage_ == Stage::Failed; }
  bool closed() const { return stage_ == Stage::Closed; }
  const std::string& error() const { return error_; }
  // Bytes held for frames not yet complete, and the memory reserved for them.
  size_t buffered() const { return buf_.size() + ctl_n_ + hdr_n_; }
  size_t buffer_capacity() const { return buf_.capacity(); }

 private:
  enum class Stage : uint8_t { Header, Payload, Closed, Failed };

  // Parses the header at h (have bytes, possibly fewer than a header).
  // Returns its size, 0 when more bytes are needed, -1 after an error.
  int parse_header(const uint8_t* h, size_t have, WsSink& sink);
  // Starts the payload of the frame whose header was just read; consumes
  // what of it lies in [p, end).
  const uint8_t* begin_payload(const uint8_t* p, const uint8_t* end, WsSink& sink);
  void end_data_frame(WsSink& sink);
  void message(uint8_t opcode, Span data, WsSink& sink);
  void control(Span payload, WsSink& sink);
  void fail(WsSink& sink, uint16_t code, std::string message);

  const size_t max_;
  Stage stage_ = Stage::Header;
  std::string error_;

  // The header being read when it straddles chunks.
  uint8_t hdr_[10];
  size_t hdr_n_ = 0;

  // The current frame.
  uint8_t op_ = 0;
  bool fin_ = false;
  uint64_t left_ = 0;  // payload bytes still to read

  // The message being assembled: its opcode (1 text, 2 binary) while
  // fragments are expected, else 0; its bytes so far in buf_.
  uint8_t msg_op_ = 0;
  Buffer buf_;

  // A control frame's payload when it straddles chunks.
  uint8_t ctl_[125];
  size_t ctl_n_ = 0;
};

}  // namespace fh
