// What `firehose-redis decode` prints, built natively: one JSON line per
// entry for stdout (with --all, also per silent or failed message), one
// line per failed message or left-out op for stderr. Byte for byte what the
// TypeScript formatting in src/commands/decode.ts prints for the same
// results. Lines gather in two buffers that the caller writes out with
// write_all.
#pragma once

#include <utility>
#include <vector>

#include "capture.h"
#include "frame.h"

namespace fh {

// What the closing summary line counts.
struct DecodeTally {
  size_t frames = 0;
  size_t entries = 0;
  size_t silent = 0;
  size_t failed = 0;
  size_t ops_skipped = 0;
  // Entries per type, in the order the types first appeared.
  std::vector<std::pair<EntryType, size_t>> types;

  void count_entry(EntryType t, size_t n = 1);
  // Adds the tally of the messages that come after these.
  void add(const DecodeTally& later);
};

class LineWriter {
 public:
  explicit LineWriter(bool all) : all_(all) {}

  // Appends the lines for one message and its decoding.
  void add(const CapturedMessage& m, const FrameResult& r);

  Buffer& out() { return out_; }
  Buffer& err() { return err_; }
  const DecodeTally& tally() const { return tally_; }
  // Forgets the lines and the counts, keeping the buffers' memory.
  void clear();

 private:
  bool all_;
  Buffer out_;
  Buffer err_;
  DecodeTally tally_;
};

// Writes all of bytes to fd; a non-blocking descriptor (a pipe Node has set
// up) is waited on rather than failed. Returns 0, or the errno that stopped it.
int write_all(int fd, Span bytes);

}  // namespace fh
