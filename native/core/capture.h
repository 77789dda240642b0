// Capture files, as `firehose-redis record` writes them: each subscribeRepos
// message after its length, a u32 little-endian. The rules are those of
// src/capture.ts, which reads captures in TypeScript:
//
// - A file is taken for a capture only when its first length is plausible
//   (1 to kMaxCaptureMessage bytes) and the bytes after it that the file
//   holds (up to 4) begin a DAG-CBOR header map: 0xa1 or 0xa2, then the key
//   "t" or "op". Anything else, or fewer than 4 bytes, is not a capture.
//   An empty file is a capture with no messages.
// - A capture that ends inside a message (or with 1-3 stray bytes) still
//   yields every complete message before that point; the end says where it
//   stopped.
#pragma once

#include <string>

#include "bytes.h"

namespace fh {

// The largest message `record` accepts from a relay (ws maxPayload).
constexpr uint32_t kMaxCaptureMessage = 64u << 20;

// How the walk over a capture ended.
struct CaptureEnd {
  enum class Kind : uint8_t {
    Complete,     // every byte was a whole message
    TooShort,     // not a capture: fewer than 4 bytes
    BadLength,    // not a capture: first length 0 or over kMaxCaptureMessage
    NotAMessage,  // not a capture: the first message is no header map
    Truncated,    // message `frame` at `offset` claims `length` bytes, `remain` are there
    Stray,        // `remain` (1-3) bytes at `offset` after `frame` complete messages
  };
  Kind kind = Kind::Complete;
  size_t frame = 0;
  size_t offset = 0;
  uint64_t length = 0;
  size_t remain = 0;

  bool not_a_capture() const { return kind == Kind::TooShort || kind == Kind::BadLength || kind == Kind::NotAMessage; }
};

const char* capture_end_name(CaptureEnd::Kind k);

struct CapturedMessage {
  size_t index = 0;
  size_t offset = 0;  // of its length prefix
  Span bytes;
};

// Walks the messages of a capture held in memory. The "not a capture"
// check happens at construction: next() then yields nothing.
class CaptureWalker {
 public:
  explicit CaptureWalker(Span capture);

  // The next complete message; false at the end (see end()).
  bool next(CapturedMessage& m);
  const CaptureEnd& end() const { return end_; }

 private:
  Span all_;
  size_t off_ = 0;
  size_t index_ = 0;
  bool done_ = false;
  CaptureEnd end_;
};

// A capture file's bytes, mapped read-only (a regular file: the kernel
// reads ahead, nothing is copied).
class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // Maps all of the open file fd; on failure, why says what the system said.
  bool map(int fd, std::string& why);
  Span bytes() const { return Span(static_cast<const uint8_t*>(addr_), size_); }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace fh
