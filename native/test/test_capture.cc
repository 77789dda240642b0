#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>

#include "capture.h"
#include "capture_printer.h"
#include "check.h"
#include "frame.h"
#include "line_writer.h"
#include "util.h"

using fh::CapturedMessage;
using fh::CaptureEnd;
using fh::CaptureWalker;
using testutil::span;
using testutil::unhex;

namespace {

std::string le32(uint32_t n) { return std::string{char(n), char(n >> 8), char(n >> 16), char(n >> 24)}; }

// The messages a walk yields, and how it ended.
struct Walk {
  std::vector<std::string> messages;
  std::vector<size_t> offsets;
  CaptureEnd end;
};

Walk walk(const std::string& capture) {
  CaptureWalker w(span(capture));
  Walk r;
  CapturedMessage m;
  while (w.next(m)) {
    CHECK_EQ(m.index, r.messages.size());
    r.messages.emplace_back(m.bytes.view());
    r.offsets.push_back(m.offset);
  }
  r.end = w.end();
  return r;
}

// The header of a #commit message, {"t": "#commit", "op": 1}, then a body.
const std::string kCommit = unhex("a2 61 74 67 23 63 6f 6d 6d 69 74 62 6f 70 01 a0");
const std::string kError = unhex("a1 62 6f 70 20 a0");  // {"op": -1}, {}

}  // namespace

TEST(capture_whole) {
  Walk r = walk(le32(uint32_t(kCommit.size())) + kCommit + le32(uint32_t(kError.size())) + kError);
  CHECK(r.end.kind == CaptureEnd::Kind::Complete);
  CHECK_EQ(r.messages.size(), 2u);
  CHECK_EQ(r.messages[0], kCommit);
  CHECK_EQ(r.messages[1], kError);
  CHECK_EQ(r.offsets[1], 4 + kCommit.size());
}

TEST(capture_real_fixture) {
  std::string all = testutil::read_fixture("jetstream-corpus/frames.bin");
  Walk r = walk(all);
  CHECK(r.end.kind == CaptureEnd::Kind::Complete);
  CHECK_EQ(r.messages.size(), 100u);
}

TEST(capture_empty_file_has_no_messages) {
  Walk r = walk("");
  CHECK(r.end.kind == CaptureEnd::Kind::Complete);
  CHECK(r.messages.empty());
}

TEST(capture_not_a_capture) {
  // 1-3 bytes cannot hold a length prefix.
  for (size_t n = 1; n < 4; n++) {
    Walk r = walk(kCommit.substr(0, n));
    CHECK(r.end.kind == CaptureEnd::Kind::TooShort);
    CHECK(r.end.not_a_capture());
    CHECK(r.messages.empty());
  }
  // Text: "# fi" is a length of 1768300579 bytes.
  Walk text = walk("# firehose-redis\n");
  CHECK(text.end.kind == CaptureEnd::Kind::BadLength);
  CHECK_EQ(text.end.length, 0x69662023u);
  CHECK(walk(le32(0) + kCommit).end.kind == CaptureEnd::Kind::BadLength);
  CHECK(walk(le32(fh::kMaxCaptureMessage + 1) + kCommit).end.kind == CaptureEnd::Kind::BadLength);
  // A plausible length, but no header map after it.
  Walk json = walk(le32(2) + "{}");
  CHECK(json.end.kind == CaptureEnd::Kind::NotAMessage);
  CHECK(json.messages.empty());
  CHECK(walk(le32(4) + unhex("a2 61 78 01")).end.kind == CaptureEnd::Kind::NotAMessage);
  CHECK(walk(le32(4) + unhex("a3 61 74 01")).end.kind == CaptureEnd::Kind::NotAMessage);
}

TEST(capture_start_judged_on_what_is_there) {
  // Cut inside the first message's header: still a capture, truncated.
  for (size_t n = 0; n < 4; n++) {
    Walk r = walk(le32(uint32_t(kCommit.size())) + kCommit.substr(0, n));
    CHECK(r.end.kind == CaptureEnd::Kind::Truncated);
    CHECK_EQ(r.end.frame, 0u);
    CHECK_EQ(r.end.remain, n);
  }
  // A one-byte first message is judged on that byte alone.
  Walk one = walk(le32(1) + "\xa1");
  CHECK(one.end.kind == CaptureEnd::Kind::Complete);
  CHECK_EQ(one.messages.size(), 1u);
  // The maximum length itself is plausible.
  CHECK(walk(le32(fh::kMaxCaptureMessage) + kCommit).end.kind == CaptureEnd::Kind::Truncated);
}

TEST(capture_truncated_keeps_complete_messages) {
  std::string two = le32(uint32_t(kCommit.size())) + kCommit + le32(uint32_t(kError.size())) + kError;
  Walk r = walk(two + le32(100) + "abc");
  CHECK_EQ(r.messages.size(), 2u);
  CHECK(r.end.kind == CaptureEnd::Kind::Truncated);
  CHECK_EQ(r.end.frame, 2u);
  CHECK_EQ(r.end.offset, two.size());
  CHECK_EQ(r.end.length, 100u);
  CHECK_EQ(r.end.remain, 3u);
  for (size_t n = 1; n < 4; n++) {
    Walk s = walk(two + std::string(n, '\0'));
    CHECK_EQ(s.messages.size(), 2u);
    CHECK(s.end.kind == CaptureEnd::Kind::Stray);
    CHECK_EQ(s.end.frame, 2u);
    CHECK_EQ(s.end.offset, two.size());
    CHECK_EQ(s.end.remain, n);
  }
}

namespace {

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

}  // namespace

TEST(line_writer_lines) {
  fh::FrameDecoder decoder;
  fh::LineWriter lines(true);
  std::string bad = unhex("a1 61 74");
  std::string future = unhex("a1 62 6f 70 20 a2") + testutil::text("error") + testutil::text("FutureCursor") +
                       testutil::text("message") + testutil::text("cursor \"ahead\"");
  lines.add(CapturedMessage{0, 0, span(kError)}, decoder.decode(span(kError)));
  lines.add(CapturedMessage{1, 10, span(bad)}, decoder.decode(span(bad)));
  lines.add(CapturedMessage{2, 17, span(future)}, decoder.decode(span(future)));
  const fh::DecodeTally& t = lines.tally();
  CHECK_EQ(t.frames, 3u);
  CHECK_EQ(t.failed, 2u);
  CHECK_EQ(t.silent, 1u);
  CHECK_EQ(t.entries, 0u);
  // The first error frame has no error name: it is invalid.
  CHECK_EQ(lines.out().view(),
           "{\"index\":0,\"offset\":0,\"error\":\"error frame has no error name\"}\n"
           "{\"index\":1,\"offset\":10,\"error\":\"header: unexpected end of input at byte 3\"}\n"
           "{\"frame\":\"error\",\"reason\":\"error\",\"seq\":null,\"error\":\"FutureCursor\","
           "\"message\":\"cursor \\\"ahead\\\"\"}\n");
  CHECK_EQ(lines.err().view(),
           "frame 0 (offset 0, 6 bytes): error frame has no error name\n"
           "frame 1 (offset 10, 3 bytes): header: unexpected end of input at byte 3\n");
  lines.clear();
  CHECK(lines.out().view().empty());
  CHECK_EQ(lines.tally().frames, 0u);
}

TEST(tally_keeps_first_appearance_order) {
  fh::DecodeTally a, b;
  a.count_entry(fh::EntryType::Commit);
  b.count_entry(fh::EntryType::Account);
  b.count_entry(fh::EntryType::Commit, 2);
  a.add(b);
  CHECK_EQ(a.entries, 4u);
  CHECK_EQ(a.types.size(), 2u);
  CHECK(a.types[0] == std::make_pair(fh::EntryType::Commit, size_t(3)));
  CHECK(a.types[1] == std::make_pair(fh::EntryType::Account, size_t(1)));
}

namespace {

// print_capture's output, whatever the threads and batch size.
struct Printed {
  std::string out, err;
  fh::PrintResult result;
};

Printed print(fh::Span capture, unsigned threads, size_t batch_bytes, bool all, bool release = false) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  Printed p;
  if (!CHECK(out && err)) return p;
  fh::PrintOptions o;
  o.out_fd = fileno(out);
  o.err_fd = fileno(err);
  o.all = all;
  o.threads = threads;
  o.batch_bytes = batch_bytes;
  o.release_input = release;
  p.result = fh::print_capture(capture, fh::DecoderOptions{}, o);
  p.out = read_all(out);
  p.err = read_all(err);
  return p;
}

}  // namespace

TEST(print_capture_same_lines_on_any_number_of_threads) {
  std::string pds = testutil::read_fixture("pds-capture/frames.bin");
  // Corrupt one message (frame 3's header map becomes an array) and cut the
  // last one short.
  std::string capture = pds;
  size_t third = 0;
  for (int i = 0; i < 3; i++) {
    third += 4 + (uint8_t(capture[third]) | uint8_t(capture[third + 1]) << 8 | uint8_t(capture[third + 2]) << 16 |
                  size_t(uint8_t(capture[third + 3])) << 24);
  }
  capture[third + 4] = char(0x82);
  capture.resize(capture.size() - 5);
  Printed one = print(span(capture), 1, size_t(1) << 20, true);
  CHECK_EQ(one.result.tally.frames, 304u);
  CHECK_EQ(one.result.tally.failed, 1u);
  CHECK(one.result.end.kind == CaptureEnd::Kind::Truncated);
  CHECK_EQ(one.result.end.frame, 304u);
  CHECK_EQ(one.result.write_error, 0);
  CHECK_EQ(std::count(one.out.begin(), one.out.end(), '\n'), 304);
  CHECK(one.err.rfind("frame 3 (offset ", 0) == 0);
  for (unsigned threads : {2u, 3u, 8u}) {
    for (size_t batch : {size_t(1), size_t(5000), size_t(1) << 20}) {
      Printed p = print(span(capture), threads, batch, true);
      CHECK_EQ(p.out, one.out);
      CHECK_EQ(p.err, one.err);
      CHECK_EQ(p.result.tally.frames, one.result.tally.frames);
      CHECK(p.result.tally.types == one.result.tally.types);
      CHECK_EQ(p.result.end.offset, one.result.end.offset);
    }
  }
}

TEST(print_capture_not_a_capture_prints_nothing) {
  Printed p = print(fh::Span(std::string_view("# firehose-redis\n")), 2, 1000, true);
  CHECK(p.result.end.kind == CaptureEnd::Kind::BadLength);
  CHECK_EQ(p.result.tally.frames, 0u);
  CHECK(p.out.empty() && p.err.empty());
}

TEST(print_capture_of_a_mapped_file_dropping_written_pages) {
  std::string pds = testutil::read_fixture("pds-capture/frames.bin");
  std::FILE* f = std::tmpfile();
  if (!CHECK(f && std::fwrite(pds.data(), 1, pds.size(), f) == pds.size() && std::fflush(f) == 0)) return;
  fh::MappedFile file;
  std::string why;
  if (!CHECK(file.map(fileno(f), why))) return;
  CHECK(file.bytes().equals(span(pds)));
  Printed kept = print(span(pds), 2, 5000, false);
  Printed dropped = print(file.bytes(), 2, 5000, false, true);
  CHECK_EQ(dropped.out, kept.out);
  CHECK_EQ(dropped.result.tally.entries, 295u);
  // The pages come back from the file if read again.
  CHECK(file.bytes().equals(span(pds)));
  std::fclose(f);
}

TEST(print_capture_stops_at_a_failed_write) {
  int fds[2];
  if (!CHECK(pipe(fds) == 0)) return;
  close(fds[0]);  // nobody reads: EPIPE (Node ignores SIGPIPE; so does this test)
  std::signal(SIGPIPE, SIG_IGN);
  std::string pds = testutil::read_fixture("pds-capture/frames.bin");
  fh::PrintOptions o;
  o.out_fd = o.err_fd = fds[1];
  o.threads = 2;
  o.batch_bytes = 1000;
  fh::PrintResult r = fh::print_capture(span(pds), fh::DecoderOptions{}, o);
  CHECK_EQ(r.write_error, EPIPE);
  CHECK(r.tally.frames < 305u);
  close(fds[1]);
}
