// What `firehose-redis decode` prints, built natively: one JSON line per
// entry on stdout (with --all, also per silent or failed message), one line
// per failed message or left-out op on stderr. Byte for byte what the
// TypeScript formatting in src/commands/decode.ts prints for the same
// results. Lines gather in large buffers written with write(2).
#pragma once

#include <utility>
#include <vector>

#include "capture.h"
#include "frame.h"

namespace fh {

// A file descriptor written in large blocks. A non-blocking descriptor (a
// pipe Node has set up) is waited on rather than failed.
class FdWriter {
 public:
  explicit FdWriter(int fd) : fd_(fd) {}

  Buffer& buf() { return buf_; }
  // Writes everything buffered; false on failure, with errno in error().
  bool flush();
  int error() const { return error_; }

 private:
  int fd_;
  int error_ = 0;
  Buffer buf_;
};

// What the closing summary line counts.
struct DecodeTally {
  size_t frames = 0;
  size_t entries = 0;
  size_t silent = 0;
  size_t failed = 0;
  size_t ops_skipped = 0;
  // Entries per type, in the order the types first appeared.
  std::vector<std::pair<EntryType, size_t>> types;
};

class LineWriter {
 public:
  LineWriter(int out_fd, int err_fd, bool all) : out_(out_fd), err_(err_fd), all_(all) {}

  // The lines for one message and its decoding; false when a write failed.
  bool add(const CapturedMessage& m, const FrameResult& r);
  // Writes what is still buffered; false when a write failed.
  bool finish();

  const DecodeTally& tally() const { return tally_; }
  // errno of the failed write, or 0.
  int error() const { return out_.error() ? out_.error() : err_.error(); }

 private:
  void count_entry(EntryType t);

  FdWriter out_;
  FdWriter err_;
  bool all_;
  DecodeTally tally_;
};

}  // namespace fh
