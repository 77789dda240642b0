// The `decode` command's work for a whole capture: its messages decoded on
// worker threads, a batch of about batch_bytes each, and their lines (see
// line_writer.h) written to two descriptors in capture order by the
// calling thread. The output is the same whatever the number of threads.
#pragma once

#include "capture.h"
#include "frame.h"
#include "line_writer.h"

namespace fh {

struct PrintOptions {
  int out_fd = 1;
  int err_fd = 2;
  bool all = false;      // also lines for silent and failed messages
  unsigned threads = 0;  // decoding threads; 0: one per core
  size_t batch_bytes = 1u << 20;
  // The capture is a file mapping whose pages may be dropped once their
  // lines are written: memory stays flat however large the capture.
  bool release_input = false;
};

struct PrintResult {
  DecodeTally tally;
  CaptureEnd end;       // where the capture stopped making sense
  int write_error = 0;  // errno of a failed write; printing stopped there
};

PrintResult print_capture(Span capture, const DecoderOptions& decoder, const PrintOptions& opts);

}  // namespace fh
